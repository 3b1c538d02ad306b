"""Shared fixtures: settings on a fresh SQLite file, a live Loa server, a PostgreSQL database."""
from __future__ import annotations

import os
import socket
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bot.app import build_app  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.store.db import upgrade_database  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PG_HOST = os.environ.get("LOA_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("LOA_TEST_PG_PORT", "5432"))


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    base = Settings(data_dir=tmp_path, secret_key="test-secret-key",
                    database_url=f"sqlite+aiosqlite:///{tmp_path / 'loa.db'}")
    return replace(base, **overrides).resolved()  # type: ignore[arg-type]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    s = make_settings(tmp_path)
    upgrade_database(s.database_url)
    return s


async def start_server(app: web.Application, port: int = 0) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    sockets = site._server.sockets if site._server else []  # type: ignore[union-attr]
    bound = sockets[0].getsockname()[1]
    return runner, f"http://127.0.0.1:{bound}"


@pytest.fixture
async def live_server(settings: Settings) -> AsyncIterator[str]:
    """The real Loa app (web chat, admin) on 127.0.0.1 with a fresh SQLite database."""
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _postgres_reachable() -> bool:
    try:
        with socket.create_connection((PG_HOST, PG_PORT), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    if not _postgres_reachable():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable at {PG_HOST}:{PG_PORT}; CI must run it")
        pytest.skip(f"LOUD SKIP: no PostgreSQL at {PG_HOST}:{PG_PORT}; start it to run this test")
    import asyncpg
    name = f"loa_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user="postgres", database="test")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        admin = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user="postgres",
                                      database="test")
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
