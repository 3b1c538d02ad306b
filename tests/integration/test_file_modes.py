"""Files Loa writes hold Zalo tokens, password hashes, chat ids and evidence photos: whatever
the umask of the shell that started it, the data folder is 700 and every file in it 600
(the database and its -wal/-shm, backups, evidence, exports), and start-up fixes older ones."""
from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from support.env import make_settings
from support.officers import login_as

from bot.app import build_app
from bot.ops import backup
from bot.store.db import upgrade_database_async

ROOT = Path(__file__).resolve().parents[2]
PNG = b"\x89PNG\r\n\x1a\n" + b"evidence" * 8


def mode(path: Path) -> str:
    return oct(stat.S_IMODE(path.stat().st_mode))


@pytest.fixture
def careless_umask():
    """The usual shell umask (022: new files readable by everyone)."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def bot(*args: str, data: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "BOT_DATA_DIR": str(data), "BOT_SECRET_KEY": "k" * 32}
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=120, preexec_fn=lambda: os.umask(0o022))


@pytest.mark.sqlite_only
async def test_a_new_database_its_wal_and_folder_are_private(tmp_path, careless_umask):
    data = tmp_path / "data"
    settings = make_settings(data)
    await upgrade_database_async(settings.database_url)
    assert mode(data) == "0o700"
    assert mode(data / "loa.db") == "0o600"
    async with TestClient(TestServer(build_app(settings))):     # writes its units at start
        for name in ("loa.db", "loa.db-wal", "loa.db-shm"):
            assert mode(data / name) == "0o600", name
    assert {mode(p) for p in data.rglob("*") if p.is_file()} <= {"0o600"}


@pytest.mark.sqlite_only
def test_start_up_fixes_files_an_older_loa_left_readable(tmp_path):
    data = tmp_path / "data"
    assert bot("migrate", data=data).returncode == 0
    (data / "evidence").mkdir()
    (data / "evidence" / "old.png").write_bytes(PNG)
    for path, old in ((data, 0o755), (data / "loa.db", 0o644),
                      (data / "evidence", 0o755), (data / "evidence" / "old.png", 0o644)):
        os.chmod(path, old)
    migrated = bot("migrate", data=data)
    assert migrated.returncode == 0, migrated.stderr
    assert mode(data) == "0o700" and mode(data / "evidence") == "0o700"
    assert mode(data / "loa.db") == "0o600" and mode(data / "evidence" / "old.png") == "0o600"


@pytest.mark.sqlite_only
def test_backups_are_private(tmp_path, careless_umask):
    data = tmp_path / "data"
    assert bot("migrate", data=data).returncode == 0
    made = bot("backup", str(tmp_path / "by-cli.db"), data=data)
    assert made.returncode == 0, made.stderr
    assert mode(tmp_path / "by-cli.db") == "0o600"
    backup.backup(make_settings(data), tmp_path / "in-process.db")
    assert mode(tmp_path / "in-process.db") == "0o600"


@pytest.mark.sqlite_only
def test_the_process_writes_under_umask_077(tmp_path):
    """What no code path sets itself (e.g. an export an operator writes) is private too."""
    data = tmp_path / "data"
    out = data / "report.csv"
    done = bot("report", "--month", "2026-11", "--format", "csv", "--output", str(out),
               data=data)
    assert done.returncode == 0, done.stderr
    assert mode(data) == "0o700" and mode(out) == "0o600"


async def test_evidence_files_are_private(client, settings, careless_umask):
    await login_as(client, settings, "xa-24175", "editor")
    html = await (await client.get("/admin/outreach/new")).text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', html)[1]
    form = aiohttp.FormData()
    for key, value in {"csrf": csrf, "day": "2026-11-05", "form": "loudspeaker",
                       "medium": "Loa truyền thanh", "runs": "3", "reached": "",
                       "communes": "24175", "languages": "vi", "note": "ghi chú"}.items():
        form.add_field(key, value)
    form.add_field("evidence", PNG, filename="bien-ban.png",
                   content_type="application/octet-stream")
    saved = await client.post("/admin/outreach/new", data=form, allow_redirects=False)
    assert saved.status in (303, 400), await saved.text()
    (stored,) = list((settings.data_dir / "evidence").iterdir())
    assert stored.read_bytes() == PNG
    assert mode(stored) == "0o600" and mode(stored.parent) == "0o700"
