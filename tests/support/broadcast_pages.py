"""The announcement pages as a test drives them (moved from
tests/integration/test_broadcast_pages.py): log in as an officer, read and post forms with
the page's CSRF token, plant recipients, read rows."""
from __future__ import annotations

import asyncio
import re

from bot.store.models import utcnow
from support.env import sql_connect
from support.officers import login_link, make_officer

A, B = "xa-24175", "xa-24133"


async def log_in(client, settings, officer_id: int) -> None:
    """This browser becomes that officer (a fresh login link, as /quantri gives)."""
    token = await login_link(settings, officer_id)
    client.session.cookie_jar.clear()
    response = await client.get(f"/admin/login?token={token}", allow_redirects=False)
    assert response.status == 302


async def officer(client, settings, unit: str, role: str, name: str) -> int:
    officer_id, _ = await make_officer(settings, unit, role, name)
    await log_in(client, settings, officer_id)
    return officer_id


async def get(client, path: str) -> tuple[int, str]:
    response = await client.get(path)
    return response.status, await response.text()


async def post(client, path: str, data: dict | list | None = None) -> tuple[int, str, str]:
    """(status, text, redirect location) of a form post carrying the page's CSRF token."""
    _, page = await get(client, "/admin/broadcasts")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)[1]
    items = list(data.items()) if isinstance(data, dict) else list(data or [])
    response = await client.post(path, data=[("csrf", csrf), *items], allow_redirects=False)
    return response.status, await response.text(), response.headers.get("Location", "")


async def compose(client, text: str, **fields: str) -> int:
    status, _, location = await post(client, "/admin/broadcasts",
                                     {"kind": "message", "text": text, **fields})
    assert status == 302, status
    return int(location.rsplit("/", 1)[1])


def sql(settings, query: str, *params) -> list[tuple]:
    with sql_connect(settings) as db:
        return list(db.execute(query, params))


async def plant_outbox(settings, broadcast_id: int, states: list[str],
                       message_id: str | None = None) -> None:
    """One recipient per state, each message queued (and the sent ones sent) just now.
    Written from a thread: the app runs on this event loop (see support.env.sql_write)."""
    await asyncio.to_thread(_plant_outbox, settings, broadcast_id, states, message_id)


def _plant_outbox(settings, broadcast_id: int, states: list[str],
                  message_id: str | None) -> None:
    now = utcnow().replace(tzinfo=None).isoformat(sep=" ")
    with sql_connect(settings) as db:
        for i in range(len(states)):
            db.execute("insert into contact (channel, pseudonym, address, lang, state, status, "
                       "commune_code, created_at, last_seen_at, subscribed) values "
                       "('telegram', ?, ?, 'vi', '{}', 'active', '24175', ?, ?, true)",
                       (f"b{broadcast_id}-{i}", str(1000 + i), now, now))
        contacts = db.execute("select id from contact where pseudonym like ? order by id",
                              (f"b{broadcast_id}-%",)).fetchall()
        for (contact_id,), state in zip(contacts, states, strict=True):
            db.execute("insert into outbox (contact_id, channel, address, lane, payload, status, "
                       "attempts, not_before, ambiguous, created_at, sent_at, broadcast_id, "
                       "external_message_id) values (?, 'telegram', '1', 'bulk', '{}', ?, 0, ?, "
                       "false, ?, ?, ?, ?)", (contact_id, state, now, now,
                                              now if state == "sent" else None, broadcast_id,
                                              message_id))


def status_of(settings, broadcast_id: int) -> str | None:
    rows = sql(settings, "select status from broadcast where id = ?", broadcast_id)
    return rows[0][0] if rows else None
