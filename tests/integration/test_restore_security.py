"""`python -m bot restore` treats a backup as untrusted: a tampered file (planted login
session, triggers, views, extra or altered tables, an unknown schema version) is refused with
one clear line and the live database untouched; a good one ends every admin session and login
link and is audited; nothing is restored while Loa runs on the database."""
from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from alembic import command
from alembic.script import ScriptDirectory
from support.cli import CliResult, run_cli
from support.env import database_env
from support.officers import make_officer

from bot.app import build_app
from bot.features.officers import service as officers
from bot.ops import backup
from bot.store.db import alembic_config

pytestmark = pytest.mark.sqlite_only      # the SQLite file itself (pg_restore otherwise)
ROOT = Path(__file__).resolve().parents[2]
PLANTED = "planted-session-token-of-the-attacker-0123456789"


def _env(settings) -> dict[str, str]:
    return {**database_env(settings), "PATH": "/usr/bin:/bin",
            "BOT_SECRET_KEY": settings.secret_key}


async def restore(settings, path: Path) -> CliResult:
    """`python -m bot restore` in this process (bot.cli.main), in a thread."""
    return await asyncio.to_thread(run_cli, "restore", str(path), env=_env(settings))


async def restore_process(settings, path: Path) -> subprocess.CompletedProcess[str]:
    """The same as a process of its own: beside a running Loa, another process."""
    return await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "bot", "restore", str(path)],
        capture_output=True, text=True, cwd=ROOT, env=_env(settings), timeout=180)


def db_path(settings) -> Path:
    return Path(settings.database_url.split("///", 1)[1])


def dump(settings) -> list[str]:
    with sqlite3.connect(db_path(settings)) as conn:
        return list(conn.iterdump())


def tamper(path: Path, *statements: str) -> None:
    with sqlite3.connect(path) as conn:
        for sql in statements:
            conn.execute(sql)


async def admin_status(settings, token: str) -> int:
    async with TestClient(TestServer(build_app(settings))) as browser:
        browser.session.cookie_jar.update_cookies({"loa_session": token})
        return (await browser.get("/admin", allow_redirects=False)).status


async def test_restore_ends_planted_sessions_and_links_upgrades_and_is_audited(settings,
                                                                               tmp_path):
    """A backup of an older (known) schema version carrying a planted province-admin session
    and an unused login link: restored and upgraded, but neither opens the admin pages."""
    admin_id, link = await make_officer(settings, "tinh", "admin")
    older = tmp_path / "older.db"
    await asyncio.to_thread(command.upgrade, alembic_config(f"sqlite+aiosqlite:///{older}"),
                            "0011")
    with sqlite3.connect(db_path(settings)) as live, sqlite3.connect(older) as old:
        for table in ("unit", "officer", "admin_session", "audit_log"):
            columns = [r[1] for r in old.execute(f"pragma table_info({table})")]
            rows = live.execute(f"select {', '.join(columns)} from {table}").fetchall()
            old.executemany(f"insert into {table} ({', '.join(columns)}) values "
                            f"({', '.join('?' * len(columns))})", rows)
        old.execute("insert into admin_session (token_hash, officer_id, csrf, created_at, "
                    "expires_at, used) values (?, ?, 'x', '2026-12-01 00:00:00', "
                    "'2099-01-01 00:00:00', 1)", (officers.digest(PLANTED), admin_id))
    assert await admin_status(settings, PLANTED) == 302      # not yet in the live database

    done = await restore(settings, older)
    assert done.returncode == 0, done.stderr
    assert "ended" in done.stdout
    assert await admin_status(settings, PLANTED) == 302       # the planted session is gone
    async with TestClient(TestServer(build_app(settings))) as browser:
        assert (await browser.get(f"/admin/login?token={link}",
                                  allow_redirects=False)).status == 403
    with sqlite3.connect(db_path(settings)) as conn:
        assert conn.execute("select count(*) from admin_session").fetchone() == (0,)
        (action, actor), = conn.execute(
            "select action, actor from audit_log where action = 'backup.restore'").fetchall()
        assert actor == "operator"
        heads = {r[0] for r in conn.execute("select version_num from alembic_version")}
    script = ScriptDirectory.from_config(alembic_config(settings.database_url))
    assert heads == set(script.get_heads())                   # upgraded from 0011


TAMPERING = {
    "trigger promoting new officers": "create trigger promote after insert on officer begin "
                                      "update officer set role = 'admin', unit_id = 1 "
                                      "where id = new.id; end",
    "trigger deleting the audit log": "create trigger wipe after insert on run begin "
                                      "delete from audit_log; end",
    "view": "create view officers_view as select * from officer",
    "extra table": "create table backdoor (payload text)",
    "extra index": "create index ix_backdoor on officer (name)",
    "altered table": "alter table officer add column is_root integer default 1",
}


@pytest.mark.parametrize("change", list(TAMPERING.values()), ids=list(TAMPERING))
async def test_a_tampered_backup_is_refused_and_nothing_changes(settings, tmp_path, change):
    await make_officer(settings, "tinh", "admin")
    copy = tmp_path / "copy.db"
    backup.backup(settings, copy)
    tamper(copy, change)
    before = dump(settings)
    refused = await restore(settings, copy)
    assert refused.returncode == 2
    assert "Traceback" not in refused.stderr and refused.stdout == ""
    (line,) = refused.stderr.strip().splitlines()
    assert line.startswith("error: ") and "refused" in line
    assert dump(settings) == before
    assert not list(db_path(settings).parent.glob(".restore-*"))   # no work files left


async def test_an_unknown_schema_version_is_refused(settings, tmp_path):
    copy = tmp_path / "copy.db"
    backup.backup(settings, copy)
    tamper(copy, "update alembic_version set version_num = '9999_future'")
    before = dump(settings)
    refused = await restore(settings, copy)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "9999_future" in refused.stderr and "does not know" in refused.stderr
    assert dump(settings) == before


async def test_no_restore_while_loa_runs_on_the_database(settings, tmp_path):
    copy = tmp_path / "copy.db"
    backup.backup(settings, copy)
    tamper(copy, "insert into run (at, unit, form, medium, kind, language, reached) values "
                 "('2026-11-01 00:00:00', 'Từ bản sao', 'chatbot_qa', 'web', 'answer', 'vi', 1)")
    async with TestClient(TestServer(build_app(settings))):      # a running Loa
        refused = await restore_process(settings, copy)
        assert refused.returncode == 2 and "Traceback" not in refused.stderr
        assert "Loa is running" in refused.stderr
        with sqlite3.connect(db_path(settings)) as conn:         # (Loa itself writes on)
            assert conn.execute("select unit from run").fetchall() == []
    done = await restore(settings, copy)                          # stopped: it works
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(db_path(settings)) as conn:
        assert conn.execute("select unit from run").fetchall() == [("Từ bản sao",)]
