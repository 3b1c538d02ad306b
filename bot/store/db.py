"""The async engine (SQLite with WAL by default, PostgreSQL for scale) and Alembic upgrades."""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

ROOT = Path(__file__).resolve().parent.parent.parent


def make_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        # hide_parameters: an SQL error in the log must not carry citizens' words or tokens
        engine = create_async_engine(url, connect_args={"timeout": 30}, hide_parameters=True)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    engine = create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True,
                                 hide_parameters=True)

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
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    # "heads": feature branches of the migration tree may each start from the same parent.
    command.upgrade(alembic_config(url), "heads")


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

    def connect(self) -> AsyncConnection:
        return self.engine.connect()

    @contextlib.asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        async with contextlib.AsyncExitStack() as stack:
            if self._lock is not None:
                await stack.enter_async_context(self._lock)
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

    async def dispose(self) -> None:
        await self.engine.dispose()
