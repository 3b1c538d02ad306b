"""Test helpers: create an officer and log a test client in through a real login link."""
from __future__ import annotations

import secrets

from bot.features.officers import service as officers
from bot.settings import Settings
from bot.store.db import Database, make_engine


async def make_officer(settings: Settings, unit: str, role: str, name: str = "Cán bộ",
                       language: str | None = None) -> tuple[int, str]:
    """An officer of `unit` with `role`; returns (officer id, one-time login token)."""
    db = Database(make_engine(settings.database_url))
    try:
        async with db.begin() as conn:
            await officers.sync_units(conn, settings.unit)
            code = await officers.create_invite(conn, unit, role, "test", language)
            officer = await officers.redeem_invite(conn, code, "cli", secrets.token_hex(8), "",
                                                   name)
            token = await officers.create_login_link(conn, officer.id)
    finally:
        await db.dispose()
    return officer.id, token


async def login_as(client, settings: Settings, unit: str, role: str,
                   language: str | None = None) -> int:
    """Log the aiohttp test client in; returns the officer id."""
    officer_id, token = await make_officer(settings, unit, role, language=language)
    response = await client.get(f"/admin/login?token={token}", allow_redirects=False)
    assert response.status == 302 and response.headers["Location"] == "/admin"
    return officer_id


async def login_link(settings: Settings, officer_id: int) -> str:
    """A fresh one-time login token for an existing officer (as /quantri gives)."""
    db = Database(make_engine(settings.database_url))
    try:
        async with db.begin() as conn:
            return await officers.create_login_link(conn, officer_id)
    finally:
        await db.dispose()
