"""The async engine (SQLite with WAL by default, PostgreSQL for scale) and Alembic upgrades."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from bot.store import sqlite_driver

ROOT = Path(__file__).resolve().parent.parent.parent
PRIVATE_DIR = 0o700    # the data folder: tokens, password hashes and chat ids live there
PRIVATE_FILE = 0o600
PING_IDLE_S = 1.0      # PostgreSQL: a pooled connection idle this long is checked before use
# Prepared statements kept per connection (both drivers keep 100 by default). A statement over
# a batch is a different text for each batch size (an IN list, a multi-row insert), so the hot
# path alone has some 150 texts under load: with 100 kept, each was parsed again and again (on
# PostgreSQL a round trip more each time; issue 16).
STATEMENTS_KEPT = 1000
# SQLite: a running Loa copies the write-ahead log into the database file in the background
# (Database.checkpoints); a commit does it itself only once the log holds this many pages
# (about 40 MB), should that fall behind or no process run it (SQLite's default: 1,000).
WAL_BACKSTOP_PAGES = 10_000
CHECKPOINT_EVERY_S = 1.0

log = logging.getLogger(__name__)


def secure_sqlite_files(db_path: Path) -> None:
    """Make the SQLite file and its -wal/-shm readable by Loa's user only, whatever the umask
    or an older Loa left (SQLite gives new -wal/-shm files the mode of the database file)."""
    for path in (db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm"),
                 Path(f"{db_path}-journal")):
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_mode & 0o777 != PRIVATE_FILE:
                os.chmod(path, PRIVATE_FILE)


def prepare_sqlite_file(url: str) -> None:
    """Create the data folder (700) and an empty database file (600) before SQLite does (it
    would use the umask, usually 644), and fix the modes of existing ones."""
    if not url.startswith("sqlite"):
        return
    path = url.split("///", 1)[-1]
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    db_path = Path(path)
    folder = db_path.parent
    if not folder.exists():
        folder.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
        os.chmod(folder, PRIVATE_DIR)     # mkdir's mode is cut by the umask
    if not db_path.exists():
        with contextlib.suppress(FileExistsError):
            os.close(os.open(db_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    secure_sqlite_files(db_path)


def secure_data_dir(folder: Path) -> None:
    """Close Loa's data folder to other users at start-up (fixing what an older Loa or a
    careless umask left): folders in it 700, the database and every other file 600.
    A shared folder (sticky bit, like /tmp) or one owned by someone else is left alone."""
    try:
        info = folder.stat()
    except FileNotFoundError:
        return
    if info.st_mode & 0o1000 or info.st_uid != os.getuid():
        return
    uid = os.getuid()
    for root, dirs, files in os.walk(folder):    # evidence/, reports/, *.processes/ ...
        for name in ["", *dirs, *files]:
            path = Path(root, name) if name else Path(root)
            with contextlib.suppress(OSError):
                st = path.lstat()
                if path.is_symlink() or st.st_uid != uid or not st.st_mode & 0o077:
                    continue
                os.chmod(path, st.st_mode & (PRIVATE_DIR if path.is_dir() else PRIVATE_FILE))


def _wal(cur: Any) -> None:
    """WAL mode (kept in the file: set once, by the first connection). A connection opening
    the file while other connections of the same file start transactions was once told
    "database is locked" at once, without waiting (seen with four schedulers racing on one
    file): SQLite's busy handler does not cover every lock taken to read the WAL index. Such
    a refusal is tried again for up to a few seconds, as the busy handler would have."""
    for attempt in range(40):
        try:
            cur.execute("PRAGMA journal_mode")
            mode = cur.fetchone()[0]
            if str(mode).lower() != "wal":
                cur.execute("PRAGMA journal_mode=WAL")
            return
        except Exception as exc:    # sqlite3's OperationalError, as the driver wraps it
            if "locked" not in str(exc) or attempt == 39:
                raise
            time.sleep(0.005 * (attempt + 1))   # in the driver's thread, not the event loop


def make_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        prepare_sqlite_file(url)
        # hide_parameters: an SQL error in the log must not carry citizens' words or tokens
        engine = create_async_engine(url, connect_args={"timeout": 30,
                                                        "cached_statements": STATEMENTS_KEPT},
                                     hide_parameters=True,
                                     module=sqlite_driver.driver())

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA busy_timeout=30000")
            _wal(cur)
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute(f"PRAGMA wal_autocheckpoint={WAL_BACKSTOP_PAGES}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    engine = create_async_engine(
        url, pool_size=10, max_overflow=10, hide_parameters=True,
        connect_args={"prepared_statement_cache_size": STATEMENTS_KEPT})

    # A pooled connection may have died while idle (a server restart, a failover, a firewall
    # dropping quiet sockets): one idle longer than PING_IDLE_S is pinged when taken from the
    # pool, and replaced if dead. SQLAlchemy's pool_pre_ping would ping at every checkout, and
    # its ping on asyncpg is three round trips (BEGIN, ";", ROLLBACK): about a quarter of the
    # round trips of a reply under load (issue 16), for connections used a moment ago. One
    # that dies while in use fails its transaction either way, and the callers retry.
    @event.listens_for(engine.sync_engine, "checkin")
    def _idle_from(_dbapi_conn, record):  # type: ignore[no-untyped-def]
        record.info["idle_from"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _ping_if_idle(dbapi_conn, record, _proxy):  # type: ignore[no-untyped-def]
        idle_from = record.info.get("idle_from")
        if idle_from is not None and time.monotonic() - idle_from > PING_IDLE_S:
            try:
                dbapi_conn.ping()
            except Exception as exc:   # the pool drops it and connects again
                raise DisconnectionError("idle connection is gone") from exc

    @event.listens_for(engine.sync_engine, "do_connect")
    def _connect(dialect, _record, cargs, cparams):  # type: ignore[no-untyped-def]
        # A server that is down or restarting refuses the connection with a plain OSError,
        # which SQLAlchemy passes through unwrapped (a 500 instead of a 503). As a DB-API
        # error it becomes an SQLAlchemyError like any other database failure.
        try:
            return dialect.connect(*cargs, **cparams)
        except OSError as exc:   # refused, unreachable, timed out
            raise dialect.loaded_dbapi.OperationalError(
                f"cannot connect to the database: {exc.__class__.__name__}") from exc

    return engine


def alembic_config(url: str) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade_database(url: str) -> None:
    """Create or migrate the schema to the newest revision (blocking; runs its own loop)."""
    prepare_sqlite_file(url)
    command.upgrade(alembic_config(url), "head")   # one head (tests/integration/test_migrations.py)
    if url.startswith("sqlite"):
        prepare_sqlite_file(url)     # -wal/-shm the migration created


async def upgrade_database_async(url: str) -> None:
    await asyncio.to_thread(upgrade_database, url)


class Database:
    """Connections for reading (`db.connect()`) and write transactions (`db.begin()`).

    SQLite allows one writer; when two connections write at once, the loser sleeps in SQLite's
    busy handler for up to 100 ms at a time. An in-process lock around write transactions
    makes them queue instead, which keeps reply latency low. PostgreSQL needs no such lock.
    Hot paths use SQLAlchemy Core on connections: the ORM session costs more than the work.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._lock = asyncio.Lock() if self.dialect == "sqlite" else None
        self._arrivals = asyncio.Lock()
        self.writes = 0   # SQLite: write transactions begun (for the checkpoints)

    def connect(self) -> AsyncConnection:
        return self.engine.connect()

    @contextlib.asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        async with contextlib.AsyncExitStack() as stack:
            if self._lock is not None:
                await stack.enter_async_context(self._lock)
                self.writes += 1
            yield await stack.enter_async_context(self.engine.begin())

    @contextlib.asynccontextmanager
    async def store(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction storing an incoming event. This process runs them one at a time
        in the order they began, so inbox ids follow arrival order and the worker (which goes
        by id) handles one chat's messages in the order they came, also when a platform
        delivers them at once. SQLite's one writer gives that anyway; on PostgreSQL ids would
        follow the order in which pooled connections came free, and commits any order."""
        async with self._arrivals, self.begin() as conn:
            yield conn

    async def checkpoints(self) -> None:
        """SQLite: copy the write-ahead log into the database file once a second, off the
        path of any write. With SQLite's default, the commit that fills the log to 1,000 pages
        does it, and waits for the file to be synced to disk (tens to hundreds of ms on this
        project's machine), while every other write, and so every reply, waits behind it
        (issue 16: most of the reply p99 at 200 messages/s). A passive checkpoint waits for no
        reader or writer, and the writers only append to the log meanwhile; whatever it could
        not copy goes next time. PostgreSQL does its own."""
        if self.dialect != "sqlite":
            return
        written = 0
        while True:
            await asyncio.sleep(CHECKPOINT_EVERY_S)
            if self.writes == written:   # nothing new in the log
                continue
            written = self.writes
            try:
                async with self.engine.connect() as conn:
                    await conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
            except asyncio.CancelledError:
                raise
            except Exception as exc:   # the next round tries again; commits are the backstop
                log.warning("checkpoint failed (%s)", exc.__class__.__name__)

    async def dispose(self) -> None:
        await self.engine.dispose()
