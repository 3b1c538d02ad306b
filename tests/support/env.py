"""Helpers of the test environment: settings, databases (SQLite or PostgreSQL by LOA_TEST_DB),
direct SQL access, servers and free ports. The fixtures that use them are in tests/conftest.py.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

ROOT = Path(__file__).resolve().parents[2]

from bot.settings import Settings  # noqa: E402

CHROMIUM = "/usr/bin/chromium"


CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


PG_HOST = os.environ.get("LOA_TEST_PG_HOST", "127.0.0.1")


PG_PORT = int(os.environ.get("LOA_TEST_PG_PORT", "5432"))


TEST_DB = os.environ.get("LOA_TEST_DB", "").strip().lower() or "both"


BACKENDS = {"sqlite": ("sqlite",), "postgres": ("postgres",)}.get(TEST_DB, ("sqlite", "postgres"))


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    base = Settings(data_dir=tmp_path, secret_key="test-secret-key",
                    database_url=f"sqlite+aiosqlite:///{tmp_path / 'loa.db'}")
    return replace(base, **overrides).resolved()  # type: ignore[arg-type]


def _postgres_reachable() -> bool:
    try:
        with socket.create_connection((PG_HOST, PG_PORT), timeout=1):
            return True
    except OSError:
        return False


def _require_postgres() -> None:
    """Fail under CI, skip loudly elsewhere, when the PostgreSQL server is not there."""
    if not _postgres_reachable():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable at {PG_HOST}:{PG_PORT}; CI must run it")
        pytest.skip(f"LOUD SKIP: no PostgreSQL at {PG_HOST}:{PG_PORT}; start it to run this test")


def _pg_url(name: str) -> str:
    return f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/{name}"


class _Loop:
    """One event loop on a daemon thread for the synchronous PostgreSQL helpers below, so they
    work the same from sync fixtures and from inside async tests (whose loop is running)."""

    _loop: asyncio.AbstractEventLoop | None = None
    _guard = threading.Lock()

    @classmethod
    def run(cls, coro: Any, timeout: float = 60) -> Any:
        return cls.submit(coro).result(timeout)

    @classmethod
    def submit(cls, coro: Any) -> Any:
        """Start `coro` on the helper loop without waiting: a concurrent.futures.Future."""
        with cls._guard:
            if cls._loop is None:
                cls._loop = asyncio.new_event_loop()
                threading.Thread(target=cls._loop.run_forever, name="pg-test-helper",
                                 daemon=True).start()
        return asyncio.run_coroutine_threadsafe(coro, cls._loop)

    @classmethod
    def call_soon(cls, callback: Any) -> None:
        if cls._loop is not None and not cls._loop.is_closed():
            cls._loop.call_soon_threadsafe(callback)


async def _admin(sql: str) -> None:
    import asyncpg
    conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user="postgres", database="test")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _create_database(template: str | None = None) -> str:
    return _Loop.run(_create(template))


async def _create(template: str | None) -> str:
    name = f"loa_test_{uuid.uuid4().hex[:12]}"
    await _admin(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return name


def _drop_database(name: str) -> None:
    _Loop.run(_drop(name))


async def _drop(name: str) -> None:
    await _close_idle(name)
    await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


_dropping: list[Any] = []   # drops still running (futures)


def _drop_database_later(name: str) -> None:
    """Drop a finished test's database on the helper thread while the next test runs (a
    drop took a quarter of a second of every test on a busy machine); `_finish_drops` waits
    for them at the end of the session."""
    _dropping[:] = [f for f in _dropping if not f.done()]
    _dropping.append(_Loop.submit(_drop(name)))


def _finish_drops() -> None:
    while _dropping:
        _dropping.pop().result(timeout=120)


class _Copies:
    """Copies of the migrated template database, one made ahead on the helper thread while
    the test that took the previous one runs (CREATE DATABASE … TEMPLATE)."""

    def __init__(self, template: str) -> None:
        self.template = template
        self.next: Any = _Loop.submit(_create(template))

    def take(self) -> str:
        name = self.next.result(timeout=120)
        self.next = _Loop.submit(_create(self.template))
        return name

    def close(self) -> None:
        _drop_database(self.next.result(timeout=120))


def _copy_sqlite(template: Path, target: Path) -> None:
    import sqlite3
    target.touch(mode=0o600)        # as Loa creates it (bot/store/db.py)
    source, copy = sqlite3.connect(template), sqlite3.connect(target)
    try:
        source.backup(copy)
    finally:
        copy.close()
        source.close()


def database_env(settings: Settings) -> dict[str, str]:
    """Environment for a `python -m bot` process on the same data folder and database."""
    return {"BOT_DATA_DIR": str(settings.data_dir), "BOT_DATABASE_URL": settings.database_url}


async def sql_write(settings: Settings, sql: str, *args: object) -> None:
    """Plant or change rows while Loa runs in this event loop: from a thread, because a
    blocking write on the loop would wait for Loa's own open transaction, which cannot finish
    while the loop is blocked."""
    def write() -> None:
        db = sql_connect(settings)
        try:
            with db:
                db.execute(sql, args)
        finally:
            db.close()
    await asyncio.to_thread(write)


def sql_connect(target: Settings | str, timeout: float = 30) -> Any:
    """A DB-API-like connection to the test's database, for checking or planting rows.

    SQLite: `sqlite3.connect` itself. PostgreSQL: an object with the parts of the sqlite3
    interface the tests use (execute/executemany returning a cursor with fetchone, fetchall,
    iteration and description; `with` commits; iterdump). `?` placeholders work on both; on
    PostgreSQL the parameters are written into the statement as untyped literals, so that, as
    in SQLite, '1' fits an integer, boolean or text column alike, and values come back as
    sqlite3 returns what SQLAlchemy stored there (booleans as 0/1, dates and times as text,
    times in UTC without offset). Every statement autocommits.
    """
    url = target if isinstance(target, str) else target.database_url
    if url.startswith("sqlite"):
        import sqlite3
        return sqlite3.connect(url.split("///", 1)[1], timeout=timeout)
    return _PgConnection(url)


def _literal(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, bytes | bytearray | memoryview):
        return f"'\\x{bytes(value).hex()}'::bytea"
    if isinstance(value, int | float | Decimal | dt.date | dt.datetime | dt.time | str):
        return "'" + str(value).replace("'", "''") + "'"
    raise TypeError(f"sql_connect: cannot pass {type(value).__name__} as a parameter")


def _as_in_sqlite(value: object) -> object:
    """A PostgreSQL value as SQLAlchemy stores it in SQLite and sqlite3 returns it."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.strftime("%H:%M:%S.%f")
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"])*\"|\?")


def _inline(sql: str, params: object) -> str:
    values = list(params) if params is not None else []  # type: ignore[call-overload]
    used = 0

    def replace_mark(match: re.Match[str]) -> str:
        nonlocal used
        if match.group(0) != "?":
            return match.group(0)
        if used >= len(values):
            raise ValueError(f"sql_connect: too few parameters for {sql!r}")
        used += 1
        return _literal(values[used - 1])

    out = _TOKENS.sub(replace_mark, sql)
    if used != len(values):
        raise ValueError(f"sql_connect: {len(values)} parameters for {used} placeholders")
    return out


class _PgCursor:
    def __init__(self, rows: list[tuple[Any, ...]], names: list[str], rowcount: int) -> None:
        self._rows = rows
        self.description = tuple((n, None, None, None, None, None, None) for n in names) or None
        self.rowcount = rowcount

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._rows.pop(0) if self._rows else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        rows, self._rows = self._rows, []
        return rows

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.fetchall())


_IDLE: dict[str, list[Any]] = {}


async def _release(database: str, conn: Any) -> None:
    if conn.is_closed():
        return
    if conn.is_in_transaction():
        await conn.close()
    else:
        _IDLE.setdefault(database, []).append(conn)


async def _close_idle(database: str) -> None:
    for conn in _IDLE.pop(database, []):
        conn.terminate()


class _PgConnection:
    def __init__(self, url: str) -> None:
        self._dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)
        self._database = self._dsn.rsplit("/", 1)[-1]
        self._conn: Any = None

    async def _run(self, sql: str) -> tuple[list[tuple[Any, ...]], list[str], int]:
        import asyncpg
        idle = _IDLE.get(self._database, [])
        while self._conn is None and idle:
            conn = idle.pop()
            self._conn = None if conn.is_closed() else conn
        if self._conn is None:
            # naive times in tests are UTC, as the app stores them in SQLite
            self._conn = await asyncpg.connect(self._dsn, server_settings={"TimeZone": "UTC"})
        if re.match(r"\s*(select|with|values|show|table)\b", sql, re.I) or \
                re.search(r"\breturning\b", sql, re.I):
            statement = await self._conn.prepare(sql)
            names = [a.name for a in statement.get_attributes()]
            rows = [tuple(map(_as_in_sqlite, r)) for r in await statement.fetch()]
            return rows, names, len(rows)
        status = await self._conn.execute(sql)
        count = status.rsplit(" ", 1)[-1]
        return [], [], int(count) if count.isdigit() else -1

    def execute(self, sql: str, params: object = ()) -> _PgCursor:
        return _PgCursor(*_Loop.run(self._run(_inline(sql, params))))

    def executemany(self, sql: str, seq: Any) -> _PgCursor:
        total = 0
        for params in seq:
            total += self.execute(sql, params).rowcount
        return _PgCursor([], [], total)

    def iterdump(self) -> Iterator[str]:
        """Every row of every table, one line each (what a privacy check searches)."""
        tables = [t for (t,) in self.execute(
            "select tablename from pg_tables where schemaname = 'public' order by tablename")]
        for table in tables:
            for row in self.execute(f'select * from "{table}"'):
                yield f'INSERT INTO "{table}" VALUES{row!r};'

    def commit(self) -> None:
        pass

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            _Loop.run(_release(self._database, conn))

    def __enter__(self) -> _PgConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if self._conn is not None:
            conn, self._conn, database = self._conn, None, self._database
            _Loop.call_soon(lambda: asyncio.ensure_future(_release(database, conn)))


async def start_server(app: web.Application, port: int = 0) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    sockets = site._server.sockets if site._server else []  # type: ignore[union-attr]
    bound = sockets[0].getsockname()[1]
    return runner, f"http://127.0.0.1:{bound}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


