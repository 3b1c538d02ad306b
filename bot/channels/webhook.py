"""The one webhook path every channel shares: verify -> id -> store -> wake.

A channel's webhook handler checks the request is the platform's (`verify`, else 401), reads
the event's id (`identify`, else 400) and hands the body here: it is stored in the inbox (with
whatever must be stored in the same transaction) before the platform gets its 200, and the
inbox worker is woken. A repeated delivery is stored once and needs no work; a database that
cannot store it gets a 503, so the platform delivers it again.
"""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.delivery.channel import ParseError
from bot.store import queries
from bot.store.db import Database

log = logging.getLogger(__name__)

Also = Callable[[AsyncConnection], Awaitable[None]]


class Inbox(Protocol):
    """The inbox worker of this process, or the notice to the worker processes."""

    def wake(self, ids: list[int] | None = None) -> None: ...

    async def store_and_handle(self, channel: str,
                               items: list[tuple[str, str]]) -> list[int] | None:
        """Store polled events (external id, payload) and handle them in one transaction;
        the ids stored, or None when that is not possible here or failed (nothing stored:
        store them alone, then wake)."""
        ...


def answer(data: dict[str, object], status: int = 200) -> web.Response:
    return web.json_response(data, status=status)


async def store_event(db: Database, inbox: Inbox, channel: str, external: str, body: bytes,
                      also: Also | None = None) -> web.Response:
    """Store the event (and what goes with it) before answering 200; a repeat is a no-op."""
    try:
        async with db.store() as conn:
            inbox_id = await queries.insert_inbox(conn, channel, external, body.decode("utf-8"))
            if inbox_id is not None and also is not None:
                await also(conn)
    except (SQLAlchemyError, UnicodeDecodeError) as exc:   # class only: SQL errors carry words
        log.error("%s webhook: could not store an event (%s)", channel, exc.__class__.__name__)
        return answer({"ok": False}, 503)   # the platform delivers it again
    if inbox_id is not None:   # a repeated delivery needs no work
        inbox.wake([inbox_id])
    return answer({"ok": True})


async def receive(request: web.Request, db: Database, inbox: Inbox, channel: str,
                  verify: Callable[[dict[str, str], bytes], bool],
                  identify: Callable[[bytes], tuple[str, Also | None]]) -> web.Response:
    """The whole path for one request: 401 if forged, 400 if unreadable, else store_event."""
    body = await request.read()
    if not verify(dict(request.headers), body):
        log.warning("%s webhook: request with a wrong secret or signature refused", channel)
        return answer({"ok": False, "error": "unauthorized"}, 401)
    try:
        external, also = identify(body)
    except ParseError as exc:
        return answer({"ok": False, "error": str(exc)}, 400)
    return await store_event(db, inbox, channel, external, body, also)
