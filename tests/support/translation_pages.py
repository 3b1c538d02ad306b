"""Shared by several test modules (moved from tests/test_translation_admin.py)."""
from __future__ import annotations

import re

import aiohttp
from aiohttp.test_utils import TestClient

from bot.features.officers import service as officers
from bot.settings import Settings
from bot.store.db import Database, make_engine
from support.officers import make_officer

STATION = ("dai-test", "Đài PT-TH tỉnh (test data)")
REVIEWER = "Test Reviewer (test data)"


async def login(client: TestClient, s: Settings, role: str, language: str | None = None,
                name: str = REVIEWER) -> str:
    """Log in an officer of the test station; returns the page's CSRF token."""
    db = Database(make_engine(s.database_url))
    try:
        async with db.begin() as conn:
            await officers.sync_units(conn, s.unit)
            if await officers.unit_by_code(conn, STATION[0]) is None:
                await officers.add_unit(conn, *STATION)
    finally:
        await db.dispose()
    _, token = await make_officer(s, STATION[0], role, name, language)
    response = await client.get(f"/admin/login?token={token}", allow_redirects=False)
    assert response.status == 302
    page = await (await client.get("/admin")).text()
    return re.search(r'name="csrf" value="([^"]+)"', page)[1]


def clip_form(csrf: str, data: bytes, filename: str, **over: str) -> aiohttp.FormData:
    form = aiohttp.FormData()
    values = {"csrf": csrf, "topic": "timeline", "speaker": "Test speaker (test data)",
              "editor": "Test editor (test data)", "recorded": "2026-11-20",
              "licence": "test licence (test data)", **over}
    for key, value in values.items():
        form.add_field(key, value)
    form.add_field("file", data, filename=filename, content_type="application/octet-stream")
    return form


