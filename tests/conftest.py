"""Shared fixtures: settings on a fresh database, a live Loa server, a PostgreSQL database.

`LOA_TEST_DB` picks the database of the whole run: `sqlite` (default: a fresh SQLite file per
test) or `postgres` (a fresh PostgreSQL database per test at LOA_TEST_PG_HOST:LOA_TEST_PG_PORT,
created and dropped by the fixture, migrated with Alembic). Tests marked `sqlite_only` are about
SQLite itself and are deselected on the PostgreSQL pass. Tests read and write rows directly
with `sql_connect(settings)` (a sqlite3 connection, or the same interface on PostgreSQL).
"""
from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

sys.path.insert(0, str(Path(__file__).resolve().parent))   # for tests/support

from support.env import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    ON_POSTGRES,
    PG_HOST,
    PG_PORT,
    TEST_DB,
    _copy_sqlite,
    _create_database,
    _drop_database,
    _pg_url,
    _postgres_reachable,
    _require_postgres,
    make_settings,
    start_server,
)

from bot.app import build_app  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.store.db import upgrade_database  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    if TEST_DB not in ("sqlite", "postgres"):
        raise pytest.UsageError(f"LOA_TEST_DB={TEST_DB!r}: use 'sqlite' (default) or 'postgres'")
    if ON_POSTGRES and os.environ.get("CI") and not _postgres_reachable():
        # here, before pytest-xdist starts its workers (elsewhere the pass is skipped loudly)
        raise pytest.UsageError(f"LOA_TEST_DB=postgres but PostgreSQL is not reachable at "
                                f"{PG_HOST}:{PG_PORT}; CI must run it")


def pytest_report_header(config: pytest.Config) -> str:
    if ON_POSTGRES:
        return (f"test database: PostgreSQL at {PG_HOST}:{PG_PORT} (LOA_TEST_DB=postgres), "
                "sqlite_only tests deselected")
    return "test database: SQLite (set LOA_TEST_DB=postgres for the PostgreSQL pass)"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On the PostgreSQL pass, tests about SQLite itself are deselected (as `-m` would), and
    without a server the pass fails under CI and is skipped loudly elsewhere."""
    if not ON_POSTGRES:
        return
    # Tests that pick PostgreSQL themselves (postgres_url, a private cluster) already ran on
    # it in the first pass; running them again would repeat the same thing.
    def drop(item: pytest.Item) -> bool:
        return bool(item.get_closest_marker("sqlite_only")) or bool(
            {"postgres_url", "pg_cluster"} & set(getattr(item, "fixturenames", ())))
    dropped = [item for item in items if drop(item)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if not drop(item)]
    if items and not _postgres_reachable():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable at {PG_HOST}:{PG_PORT}; CI must run it",
                        pytrace=False)
        skip = pytest.mark.skip(reason=f"LOUD SKIP: the PostgreSQL pass needs a server at "
                                       f"{PG_HOST}:{PG_PORT}; start it to run this pass")
        for item in items:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def _pg_template() -> Iterator[str]:
    """A database migrated from empty by Alembic once per session (per xdist worker); each
    test's database is a copy of it (CREATE DATABASE … TEMPLATE), which is much faster than
    running every migration per test. The `settings` fixture still runs the (no-op) upgrade."""
    _require_postgres()
    name = _create_database()
    try:
        upgrade_database(_pg_url(name))
        yield name
    finally:
        _drop_database(name)


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database of this test's own, for tests that migrate it themselves or
    hand it to a `python -m bot` process (BOT_DATABASE_URL): a SQLite file not yet created, or
    on the PostgreSQL pass an empty PostgreSQL database, dropped afterwards."""
    if not ON_POSTGRES:
        yield f"sqlite+aiosqlite:///{tmp_path / 'loa.db'}"
        return
    _require_postgres()
    name = _create_database()
    try:
        yield _pg_url(name)
    finally:
        _drop_database(name)


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database migrated from empty by Alembic once per session (per xdist worker);
    each test's database is a copy of it (SQLite's backup API), as on PostgreSQL. Running every
    migration per test took about a second of each test's time."""
    import sqlite3
    path = tmp_path_factory.mktemp("template") / "loa.db"
    upgrade_database(f"sqlite+aiosqlite:///{path}")
    sqlite3.connect(path).close()   # the last connection to close checkpoints the WAL
    return path


@pytest.fixture
def settings(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Settings]:
    """Settings on a migrated database of this test's own: a fresh SQLite file in tmp_path (a
    copy of the migrated template), or on the PostgreSQL pass a fresh PostgreSQL database
    (dropped afterwards)."""
    if not ON_POSTGRES:
        s = make_settings(tmp_path)
        _copy_sqlite(request.getfixturevalue("_sqlite_template"), tmp_path / "loa.db")
        upgrade_database(s.database_url)   # a no-op check that the copy is current
        yield s
        return
    template = request.getfixturevalue("_pg_template")
    name = _create_database(template)
    try:
        s = make_settings(tmp_path, database_url=_pg_url(name))
        upgrade_database(s.database_url)
        yield s
    finally:
        _drop_database(name)


@pytest.fixture
async def live_server(settings: Settings) -> AsyncIterator[str]:
    """The real Loa app (web chat, admin) on 127.0.0.1 with a fresh database."""
    runner, url = await start_server(build_app(settings))
    try:
        yield url
    finally:
        await runner.cleanup()


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(build_app(settings))) as c:
        yield c


@pytest.fixture
async def browser():
    """Debian's chromium driven by Playwright (which cannot download browsers here)."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"!!! BROWSER TESTS NOT RUN: {CHROMIUM} is missing. Run `make test` "
                    "(the Makefile installs Debian's chromium) !!!")
    from playwright.async_api import async_playwright
    async with async_playwright() as p:
        launched = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database for one test (on either pass), dropped afterwards."""
    _require_postgres()
    name = await asyncio.to_thread(_create_database)
    try:
        yield _pg_url(name)
    finally:
        await asyncio.to_thread(_drop_database, name)


