"""The migration tree has one head, and the plain Alembic command works from the repository."""
from __future__ import annotations

import sqlite3
import subprocess
import sys

from alembic.script import ScriptDirectory
from support.env import ROOT

from bot.store.db import alembic_config


def test_the_migrations_have_exactly_one_head():
    heads = ScriptDirectory.from_config(alembic_config("sqlite+aiosqlite:///unused.db")).get_heads()
    assert len(heads) == 1, f"several heads {heads}: add a merge revision (alembic merge heads)"


def test_alembic_upgrade_head_migrates_the_database_loa_uses(tmp_path):
    data = tmp_path / "data"
    env = {"PATH": "/usr/bin:/bin", "BOT_DATA_DIR": str(data), "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "alembic", "upgrade", "head"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(data / "loa.db") as db:
        tables = {r[0] for r in db.execute("select name from sqlite_master where type='table'")}
        (version,) = db.execute("select version_num from alembic_version").fetchone()
    assert {"contact", "inbox", "outbox", "run", "officer", "broadcast"} <= tables
    assert version == ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
