"""`python -m bot backup FILE` / `restore FILE` for the embedded SQLite database.

Uses SQLite's online backup API, so a backup taken while Loa runs is consistent. For
PostgreSQL use pg_dump / pg_restore (see the README).

A backup is untrusted input: anyone who could write the file could have planted a login
session, a trigger that fires on Loa's own writes, or a schema Loa does not know. Restore
therefore works on a private copy and refuses it unless its schema, once migrated, is exactly
the schema a fresh migration creates; it then ends every admin session and login link and
records the restore in the audit log, and only then replaces the live database in one step.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import shutil
import sqlite3
import tempfile
from pathlib import Path

from bot.settings import Settings

PRIVATE_FILE = 0o600
# Tables SQLite itself may add to a Loa database (planner statistics, AUTOINCREMENT counters).
_SQLITE_OWN = re.compile(r"sqlite_(stat\d|sequence)")


class BackupError(ValueError):
    pass


def _sqlite_path(settings: Settings) -> Path:
    url = settings.database_url
    if not url.startswith("sqlite"):
        raise BackupError("backup/restore handle the embedded SQLite database; for PostgreSQL "
                          "use pg_dump and pg_restore")
    return Path(url.split("///", 1)[-1])


def _create_private(path: Path) -> None:
    """Create an empty file only its owner can read (a backup holds tokens and hashes);
    O_EXCL: never overwrite an existing file."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    except FileExistsError:
        raise BackupError(f"{path} exists; choose a new file name") from None
    except OSError as exc:
        raise BackupError(f"cannot create {path}: {exc.strerror}") from None


def backup(settings: Settings, target: Path) -> int:
    """Copy the live database to `target` (a new file, mode 600); returns its size in bytes."""
    source = _sqlite_path(settings)
    if not source.exists():
        raise BackupError(f"no database at {source}")
    _create_private(target)
    try:
        with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
            src.backup(dst)
    except sqlite3.Error as exc:
        target.unlink(missing_ok=True)
        raise BackupError(f"backup failed: {exc}") from None
    return target.stat().st_size


def running_processes(settings: Settings) -> set[int]:
    """Ids of the Loa processes holding this database now: the same 'alive' file locks that
    the processes take on each other (bot.delivery.cluster), so nothing new can go stale."""
    from bot.delivery.cluster import Cluster

    async def live() -> set[int]:
        me = Cluster(settings.database_url)
        found = await me.live_instances()
        if found is None:
            raise BackupError("cannot tell whether Loa is running; stop it and try again")
        return found - {me.instance_id}

    return asyncio.run(live())


def _refuse_if_running(settings: Settings) -> None:
    running = running_processes(settings)
    if running:
        raise BackupError(f"Loa is running on this database ({len(running)} process(es)); "
                          "stop every Loa process, then restore")


def _canonical(sql: str | None) -> str:
    """The SQL of a schema object with whitespace collapsed and the items of its outer
    parentheses sorted: Alembic's batch migrations write a table's constraints in an order
    that changes from run to run, so the same schema can be spelled differently."""
    text = " ".join((sql or "").split())
    start, end = text.find("("), text.rfind(")")
    if start < 0 or end < start:
        return text
    items, depth, quote, current = [], 0, "", ""
    for char in text[start + 1:end]:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"`[":
            quote = "]" if char == "[" else char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            items.append(current.strip())
            current = ""
            continue
        current += char
    items.append(current.strip())
    return f"{text[:start]}({', '.join(sorted(items))}){text[end + 1:]}"


def _schema(conn: sqlite3.Connection) -> dict[tuple[str, str], str]:
    """Every object of the schema: (type, name) -> its canonical SQL."""
    rows = conn.execute("select type, name, sql from sqlite_master").fetchall()
    return {(kind, name): _canonical(sql) for kind, name, sql in rows
            if not _SQLITE_OWN.fullmatch(name)}


def _known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    from bot.store.db import alembic_config
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return {rev.revision for rev in script.walk_revisions()}


def _check_candidate(candidate: Path, source: Path) -> None:
    """Refuse a copy that is damaged, not Loa's, of an unknown version, or carries triggers or
    views (checked before any migration writes to it, so none can fire)."""
    try:
        with sqlite3.connect(candidate) as check:
            check.execute("pragma trusted_schema = off")
            if check.execute("pragma integrity_check").fetchone()[0] != "ok":
                raise BackupError(f"{source} is damaged (integrity check failed)")
            objects = check.execute("select type, name from sqlite_master").fetchall()
            tables = {name for kind, name in objects if kind == "table"}
            versions = {r[0] for r in check.execute("select version_num from alembic_version")} \
                if "alembic_version" in tables else set()
    except sqlite3.DatabaseError:
        raise BackupError(f"{source} is not an SQLite database") from None
    if not {"inbox", "outbox", "contact", "run", "officer", "admin_session"} <= tables:
        raise BackupError(f"{source} is not a Loa database")
    extra = sorted(f"{kind} '{name}'" for kind, name in objects if kind in ("trigger", "view"))
    if extra:
        raise BackupError(f"{source} contains {', '.join(extra[:5])}, which Loa never creates; "
                          "refused (the backup was altered)")
    unknown = sorted(versions - _known_revisions())
    if not versions or unknown:
        raise BackupError(f"{source} has schema version {', '.join(unknown) or 'none'}, which "
                          "this Loa does not know (a newer Loa, or not a Loa backup); refused")


def _migrate(url: str, what: str) -> None:
    from bot.store.db import upgrade_database
    try:
        upgrade_database(url)
    except Exception as exc:   # any failure of a migration on foreign data: refuse, no trace
        raise BackupError(f"{what} cannot be upgraded to this Loa's schema "
                          f"({exc.__class__.__name__}); refused") from None


def _compare_schema(candidate: Path, fresh: Path, source: Path) -> None:
    with sqlite3.connect(candidate) as a, sqlite3.connect(fresh) as b:
        got, want = _schema(a), _schema(b)
    differ = sorted({key for key in got.keys() | want.keys() if got.get(key) != want.get(key)})
    if differ:
        names = ", ".join(f"{kind} '{name}'" for kind, name in differ[:5])
        raise BackupError(f"{source} does not have Loa's schema (differs in {names}); refused "
                          "(the backup was altered or is not from Loa)")


def _end_sessions_and_audit(candidate: Path, source: Path) -> int:
    """Delete every admin session and login link (a backup may carry planted or stolen ones)
    and record the restore; returns how many were deleted."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    with sqlite3.connect(candidate) as conn:
        ended = conn.execute("delete from admin_session").rowcount
        conn.execute("insert into audit_log (at, actor, unit_id, action, target, before, after) "
                     "values (?, 'operator', null, 'backup.restore', ?, null, ?)",
                     (now, f"file:{source.name}"[:120],
                      json.dumps({"sessions_ended": ended}, ensure_ascii=False)))
    return ended


def restore(settings: Settings, source: Path) -> int:
    """Replace the database with a checked backup; Loa must be stopped. Returns how many admin
    sessions and login links were ended. The live database is untouched when this refuses."""
    target = _sqlite_path(settings)
    if not source.is_file():
        raise BackupError(f"no backup at {source}")
    _refuse_if_running(settings)
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".restore-", dir=target.parent))   # mode 700
    try:
        candidate, fresh = work / "candidate.db", work / "fresh.db"
        _create_private(candidate)
        try:
            with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as src, \
                    sqlite3.connect(candidate) as dst:
                src.backup(dst)
        except sqlite3.DatabaseError:
            raise BackupError(f"{source} is not an SQLite database") from None
        _check_candidate(candidate, source)
        _migrate(f"sqlite+aiosqlite:///{candidate}", str(source))   # older known versions
        _migrate(f"sqlite+aiosqlite:///{fresh}", "a fresh database")
        _compare_schema(candidate, fresh, source)
        ended = _end_sessions_and_audit(candidate, source)
        _refuse_if_running(settings)   # again: Loa may have started meanwhile
        with sqlite3.connect(candidate) as src, sqlite3.connect(target) as dst:
            src.backup(dst)            # one transaction: all of it or nothing
        from bot.store.db import secure_sqlite_files
        secure_sqlite_files(target)
        return ended
    finally:
        shutil.rmtree(work, ignore_errors=True)
