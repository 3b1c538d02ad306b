"""`python -m bot backup FILE` / `restore FILE` for the embedded SQLite database.

Uses SQLite's online backup API, so a backup taken while Loa runs is consistent. For
PostgreSQL use pg_dump / pg_restore (see the README).
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

from bot.settings import Settings


class BackupError(ValueError):
    pass


def _sqlite_path(settings: Settings) -> Path:
    url = settings.database_url
    if not url.startswith("sqlite"):
        raise BackupError("backup/restore handle the embedded SQLite database; for PostgreSQL "
                          "use pg_dump and pg_restore")
    return Path(url.split("///", 1)[-1])


def backup(settings: Settings, target: Path) -> int:
    """Copy the live database to `target` (a new file); returns its size in bytes."""
    source = _sqlite_path(settings)
    if not source.exists():
        raise BackupError(f"no database at {source}")
    if target.exists():
        raise BackupError(f"{target} exists; choose a new file name")
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    return target.stat().st_size


def restore(settings: Settings, source: Path) -> None:
    """Replace the database with a backup; Loa must be stopped."""
    if not source.exists():
        raise BackupError(f"no backup at {source}")
    try:
        with sqlite3.connect(source) as check:
            if check.execute("pragma integrity_check").fetchone()[0] != "ok":
                raise BackupError(f"{source} is damaged (integrity check failed)")
            tables = {r[0] for r in check.execute("select name from sqlite_master")}
    except sqlite3.DatabaseError:
        raise BackupError(f"{source} is not an SQLite database") from None
    if not {"inbox", "outbox", "contact", "run"} <= tables:
        raise BackupError(f"{source} is not a Loa database")
    target = _sqlite_path(settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
