"""The one webhook path every channel shares: verify -> id -> store -> wake.

A channel's webhook handler checks the request is the platform's (`verify`, else 401), reads
the event's id (`identify`, else 400) and hands the body here: it is stored in the inbox (with
whatever must be stored in the same transaction) before the platform gets its 200, and the
inbox worker is woken. A repeated delivery is stored once and needs no work; a database that
cannot store it gets a 503, so the platform delivers it again.

Events that arrive while a store transaction runs are stored together in the next one (group
commit, `Arrivals`): under load one transaction serves many requests, each still answered only
after its event is stored; under load a group also waits a few milliseconds for more
(LINGER_S). Where this process handles events, the same transaction handles them (as polled
events are), so the platform's 200 also means the replies are queued.
"""
from __future__ import annotations

import asyncio
import logging
import weakref
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

# Under load, a group of events waits this long for more before its transaction begins: what
# a transaction costs (its round trips, the commit, the batch's lookups) is shared by more
# events. Without it, the faster Loa handles a group, the fewer events the next one finds
# (1.5 at 300 updates/s on PostgreSQL), and that cost is paid again for each. 5 ms of reply
# latency for about a third of Loa's and of PostgreSQL's CPU per update (issue 16,
# bench/load.py). "Under load": events arrived while the previous group was being stored; an
# event that finds Loa storing nothing is stored at once.
LINGER_S = 0.005


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


class Arrivals:
    """Stores one process's webhook events in the order they arrive; those that arrive while
    a transaction stores earlier ones wait and go together in the next (one transaction per
    channel). Where this process handles events, that transaction handles them too (as polled
    events are: `Inbox.store_and_handle`), so an update costs one transaction instead of two;
    if that fails, they are stored alone and the worker is woken. Each caller learns the id
    to wake the worker with (None: stored before, or handled already) or the error."""

    def __init__(self, db: Database, inbox: Inbox) -> None:
        self.db = db
        self.inbox = inbox
        self._waiting: list[tuple[str, str, str, asyncio.Future[int | None]]] = []
        self._storing: asyncio.Task[None] | None = None

    async def store(self, channel: str, external: str, payload: str) -> int | None:
        future: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        # read its outcome even when the request was given up meanwhile (no "exception was
        # never retrieved" in the log; the platform delivers the event again)
        future.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._waiting.append((channel, external, payload, future))
        if self._storing is None or self._storing.done():
            self._storing = asyncio.create_task(self._store_waiting())
        return await asyncio.shield(future)   # a request given up still has its event stored

    async def _store_waiting(self) -> None:
        under_load = False   # (this task began with events that found nothing being stored)
        while self._waiting:
            if under_load:   # these came while the last group was stored: let more join them
                await asyncio.sleep(LINGER_S)
            under_load = True
            group, self._waiting = self._waiting, []
            for channel in dict.fromkeys(c for c, _, _, _ in group):   # arrival order
                await self._store_channel(channel, [g for g in group if g[0] == channel])

    async def _store_channel(self, channel: str,
                             group: list[tuple[str, str, str, asyncio.Future[int | None]]]
                             ) -> None:
        items = list({e: p for _, e, p, _ in group}.items())   # the same event twice: once
        found: dict[str, int] = {}
        try:
            if await self.inbox.store_and_handle(channel, items) is None:
                async with self.db.store() as conn:   # stored alone: the worker handles them
                    found = {row.external_id: row.id for row in
                             await queries.store_inbox_rows(conn, channel, items)}
        except Exception as exc:   # every waiting request answers 503
            for *_, future in group:
                if not future.done():
                    future.set_exception(exc)
            return
        claimed: set[str] = set()
        for _, external, _, future in group:
            first = external not in claimed   # the same event twice: one id
            claimed.add(external)
            if not future.done():
                future.set_result(found.get(external) if first else None)


_ARRIVALS: weakref.WeakKeyDictionary[Inbox, Arrivals] = weakref.WeakKeyDictionary()


def arrivals(db: Database, inbox: Inbox) -> Arrivals:
    found = _ARRIVALS.get(inbox)
    if found is None or found.db is not db:
        found = _ARRIVALS[inbox] = Arrivals(db, inbox)
    return found


async def store_event(db: Database, inbox: Inbox, channel: str, external: str, body: bytes,
                      also: Also | None = None) -> web.Response:
    """Store the event (and what goes with it) before answering 200; a repeat is a no-op.
    Events with nothing going with them are stored in groups (Arrivals)."""
    try:
        payload = body.decode("utf-8")
        if also is None:
            inbox_id = await arrivals(db, inbox).store(channel, external, payload)
        else:
            async with db.store() as conn:
                inbox_id = await queries.insert_inbox(conn, channel, external, payload)
                if inbox_id is not None:
                    await also(conn)
    except (SQLAlchemyError, UnicodeDecodeError, OSError) as exc:   # class only: SQL errors
        # carry citizens' words
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
