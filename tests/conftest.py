"""Shared fixtures: settings on a fresh database, a live Loa server, a PostgreSQL database.

Every test that uses a database through the `settings` or `database_url` fixture (directly or
through `client`, `live_server`...) runs twice, as `[sqlite]` and `[postgres]`: on a fresh
SQLite file, and on a fresh PostgreSQL database at LOA_TEST_PG_HOST:LOA_TEST_PG_PORT (each a
copy of one migrated by Alembic once per worker). `LOA_TEST_DB=sqlite` or `postgres` keeps one
of the two. Tests marked `sqlite_only` are about SQLite itself, or about what a browser shows
(the pages' database work runs on both in tests/integration), and run on it only; tests that
pick PostgreSQL themselves (`postgres_url`, a private cluster) run once, with `[sqlite]` for
whatever else they keep. Tests read and write rows directly with `sql_connect(settings)` (a
sqlite3 connection, or the same interface on PostgreSQL).
"""
from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

sys.path.insert(0, str(Path(__file__).resolve().parent))   # for tests/support

from support.env import (  # noqa: E402
    BACKENDS,
    CHROMIUM,
    CHROMIUM_ARGS,
    PG_HOST,
    PG_PORT,
    TEST_DB,
    _Copies,
    _copy_sqlite,
    _create_database,
    _drop_database,
    _drop_database_later,
    _finish_drops,
    _pg_url,
    _postgres_reachable,
    _require_postgres,
    free_port,
    make_settings,
    start_server,
)
from support.fakebotapi import FakeBotApi  # noqa: E402

from bot.app import build_app  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.store.db import upgrade_database  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    if TEST_DB not in ("both", "sqlite", "postgres"):
        raise pytest.UsageError(f"LOA_TEST_DB={TEST_DB!r}: use 'sqlite' or 'postgres' (unset: "
                                "both)")
    if "postgres" in BACKENDS and os.environ.get("CI") and not _postgres_reachable():
        # here, before pytest-xdist starts its workers (elsewhere the tests skip loudly)
        raise pytest.UsageError(f"PostgreSQL is not reachable at {PG_HOST}:{PG_PORT}; CI must "
                                "run it (LOA_TEST_DB=sqlite runs the SQLite half alone)")


def pytest_sessionfinish(session: pytest.Session) -> None:
    _finish_drops()   # the tests' PostgreSQL databases still being dropped (support/env.py)


def pytest_report_header(config: pytest.Config) -> str:
    return (f"test databases: {' and '.join(BACKENDS)} (PostgreSQL at {PG_HOST}:{PG_PORT}); "
            "LOA_TEST_DB=sqlite or postgres keeps one")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test on the `settings` or `database_url` fixture runs once per database (`backend`),
    except tests about SQLite itself and tests that choose PostgreSQL themselves."""
    if "backend" not in metafunc.fixturenames:
        return
    names = set(metafunc.fixturenames)
    if metafunc.definition.get_closest_marker("sqlite_only") or \
            {"postgres_url", "migrated_postgres_url", "pg_cluster"} & names:
        backends = ["sqlite"]
    else:
        backends = list(BACKENDS)
    metafunc.parametrize("backend", backends, scope="function")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The long end-to-end tests first: a worker that takes one near the end would run on
    # alone while the other waits (the Makefile runs the workers with --dist worksteal).
    items.sort(key=lambda item: 0 if "/e2e/" in str(item.path) else 1)
    # The tests that use the session's browser run on the session's event loop, as it does
    # (see `browser`), and so do their async fixtures (`live_server`...).
    for item in items:
        if "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.asyncio(loop_scope="session"), append=False)
    on_postgres = [item for item in items
                   if getattr(item, "callspec", None) is not None
                   and item.callspec.params.get("backend") == "postgres"]
    if on_postgres and not _postgres_reachable():
        skip = pytest.mark.skip(reason=f"LOUD SKIP: no PostgreSQL at {PG_HOST}:{PG_PORT}; start "
                                       "it to run the [postgres] half")
        for item in on_postgres:
            item.add_marker(skip)


@pytest.fixture
def backend() -> str:
    """The database of this test: parametrized by pytest_generate_tests."""
    return BACKENDS[0]


@pytest.fixture(scope="session")
def _pg_template() -> Iterator[str]:
    """A database migrated from empty by Alembic once per session (per xdist worker); each
    test's database is a copy of it (CREATE DATABASE … TEMPLATE), which is much faster than
    running every migration per test."""
    _require_postgres()
    name = _create_database()
    try:
        upgrade_database(_pg_url(name))
        yield name
    finally:
        _drop_database(name)


@pytest.fixture(scope="session")
def _pg_copies(_pg_template: str) -> Iterator[_Copies]:
    """Copies of the template, each made while the test before runs."""
    copies = _Copies(_pg_template)
    try:
        yield copies
    finally:
        copies.close()


@pytest.fixture
def database_url(tmp_path: Path, backend: str) -> Iterator[str]:
    """The URL of an empty database of this test's own, for tests that migrate it themselves or
    hand it to a `python -m bot` process (BOT_DATABASE_URL): a SQLite file not yet created, or
    an empty PostgreSQL database, dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'loa.db'}"
        return
    _require_postgres()
    name = _create_database()
    try:
        yield _pg_url(name)
    finally:
        _drop_database_later(name)


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
def settings(tmp_path: Path, request: pytest.FixtureRequest, backend: str) -> Iterator[Settings]:
    """Settings on a migrated database of this test's own: a fresh SQLite file in tmp_path (a
    copy of the migrated template), or a fresh PostgreSQL database (dropped afterwards). The
    copies are of a template migrated in this session: current by construction, no upgrade
    to run."""
    if backend == "sqlite":
        s = make_settings(tmp_path)
        _copy_sqlite(request.getfixturevalue("_sqlite_template"), tmp_path / "loa.db")
        yield s
        return
    name = request.getfixturevalue("_pg_copies").take()
    try:
        yield make_settings(tmp_path, database_url=_pg_url(name))
    finally:
        _drop_database_later(name)


@pytest_asyncio.fixture(loop_scope="session")
async def live_server(settings: Settings) -> AsyncIterator[str]:
    """The real Loa app (web chat, admin) on 127.0.0.1 with a fresh database, on the session's
    event loop as the browser that visits it (see `browser`)."""
    runner, url = await start_server(build_app(settings))
    try:
        yield url
    finally:
        await runner.cleanup()


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(build_app(settings))) as c:
        yield c


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def _chromium() -> AsyncIterator[Any]:
    """Debian's chromium driven by Playwright (which cannot download browsers here), started
    once per session (per xdist worker): starting the driver and the browser took over a
    second per test."""
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


@pytest_asyncio.fixture(loop_scope="session")
async def browser(_chromium: Any) -> AsyncIterator[Any]:
    """The session's browser; every context a test opens (`browser.new_context()`: cookies
    and storage of its own) is closed after it. Playwright's objects belong to the event loop
    that made them, so the tests using the browser and their async fixtures run on the
    session's loop (pytest_collection_modifyitems marks them)."""
    before = set(_chromium.contexts)
    try:
        yield _chromium
    finally:
        for context in _chromium.contexts:
            if context not in before:
                await context.close()


@pytest.fixture
def migrated_postgres_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A PostgreSQL database of this test's own (on either pass) already migrated, for tests
    about something other than migrating: a copy of the session's template, which is much
    faster than running every migration. Dropped afterwards."""
    _require_postgres()
    name = request.getfixturevalue("_pg_copies").take()
    try:
        yield _pg_url(name)
    finally:
        _drop_database_later(name)


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database for one test (on either pass), dropped afterwards."""
    _require_postgres()
    name = await asyncio.to_thread(_create_database)
    try:
        yield _pg_url(name)
    finally:
        _drop_database_later(name)


@pytest.fixture
async def telegram(settings: Settings) -> AsyncIterator[tuple[FakeBotApi, Settings]]:
    """A running Loa on Telegram (the local fake Bot API, by webhook) on the test's database;
    (the fake, the settings Loa runs with)."""
    async with FakeBotApi(token="777:OUTREACH") as api:
        port = free_port()
        s = replace(settings, telegram_token=api.token, telegram_api_url=api.base_url,
                    port=port, public_url=f"http://127.0.0.1:{port}", quiet_hours="",
                    telegram_webhook_secret="o" * 20)
        runner, _ = await start_server(build_app(s), port)
        try:
            yield api, s
        finally:
            await runner.cleanup()
