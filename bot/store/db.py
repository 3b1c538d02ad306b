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
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True,
                               hide_parameters=True)


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

    def connect(self) -> AsyncConnection:
        return self.engine.connect()

    @contextlib.asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        async with contextlib.AsyncExitStack() as stack:
            if self._lock is not None:
                await stack.enter_async_context(self._lock)
            yield await stack.enter_async_context(self.engine.begin())

    async def dispose(self) -> None:
        await self.engine.dispose()
