"""One citizen's messages are handled one at a time, in arrival order, across Loa processes.

Each "process" here is what matters of one: its own engine, Handler and InboxWorker, all on one
database. The citizen's messages land on both, within milliseconds. The conversation state (the
flood count in it counts every message) and the order of the replies show whether each message
was handled once and after the one before it: the replies, in the order they were written,
must follow the inbox ids. Runs on SQLite and on real PostgreSQL.
"""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from support.env import _create_database, _drop_database, _pg_url, _require_postgres
from support.waiting import conversation

from bot.channels.telegram.adapter import NAME as TELEGRAM
from bot.channels.telegram.adapter import TelegramChannel
from bot.delivery import inbox as inbox_module
from bot.delivery.handler import FLOODED, Handler
from bot.delivery.inbox import InboxWorker
from bot.store import queries
from bot.store.db import Database, make_engine, upgrade_database

SECRET = "contact-order-secret"
CITIZEN = 4_242
MESSAGES = 50
# The default pass runs each test on SQLite and on PostgreSQL, the PostgreSQL pass on the latter.
DATABASES = ["sqlite", "postgres"]


def payload(n: int, chat: int = CITIZEN) -> str:
    """Telegram update number n: a private text message of the citizen."""
    user = {"id": chat, "is_bot": False, "first_name": "Ama", "language_code": "vi"}
    return json.dumps({"update_id": n, "message": {
        "message_id": n, "from": user, "chat": {"id": chat, "type": "private",
                                                "first_name": "Ama"},
        "date": int(time.time()), "text": f"khi nao tat song 2g {n}"}})


class Process:
    """What one Loa process brings to handling: an engine, a handler and an inbox worker."""

    def __init__(self, url: str, **limits: Any) -> None:
        self.db = Database(make_engine(url))
        self.handler = Handler(self.db, conversation(), {TELEGRAM: TelegramChannel(None)},
                               SECRET, "test unit", **limits)
        self.worker = InboxWorker(self.db, self.handler)

    async def store(self, n: int) -> int:
        """Store update n as a webhook does; returns its inbox id."""
        async with self.db.store() as conn:
            inbox_id = await queries.insert_inbox(conn, TELEGRAM, str(n), payload(n))
        assert inbox_id is not None
        return inbox_id


@asynccontextmanager
async def two_processes(url: str, run_workers: bool = True,
                        **limits: Any) -> AsyncIterator[tuple[Process, Process]]:
    processes = (Process(url, **limits), Process(url, **limits))
    tasks = [asyncio.create_task(p.worker.run()) for p in processes] if run_workers else []
    try:
        yield processes
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for p in processes:
            await p.db.dispose()


@pytest.fixture(params=DATABASES)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated database of the test's own."""
    if request.param == "sqlite":
        upgrade_database(f"sqlite+aiosqlite:///{tmp_path / 'loa.db'}")
        yield f"sqlite+aiosqlite:///{tmp_path / 'loa.db'}"
        return
    _require_postgres()
    name = _create_database()
    try:
        upgrade_database(_pg_url(name))
        yield _pg_url(name)
    finally:
        _drop_database(name)


async def until(check: Callable[[Database], Any], url: str, timeout: float = 60) -> None:
    """Wait until `check` (an async query) is true; fail after `timeout` seconds."""
    db = Database(make_engine(url))
    try:
        deadline = time.monotonic() + timeout
        while not await check(db):
            assert time.monotonic() < deadline, "not handled in time"
            await asyncio.sleep(0.02)
    finally:
        await db.dispose()


async def nothing_new(db: Database) -> bool:
    async with db.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(queries.INBOX).where(
            queries.INBOX.c.status == "new"))).scalar_one() == 0


async def outcome(url: str) -> tuple[dict[tuple[str, str | None], int], list[int], list[dict]]:
    """Inbox rows by (status, error); the inbox id of each reply in the order the replies were
    written; the stored states of the citizen's contacts."""
    db = Database(make_engine(url))
    try:
        async with db.connect() as conn:
            inbox = {(s, e): n for s, e, n in (await conn.execute(
                select(queries.INBOX.c.status, queries.INBOX.c.error, func.count())
                .group_by(queries.INBOX.c.status, queries.INBOX.c.error))).all()}
            replies = list((await conn.execute(select(queries.OUTBOX.c.inbox_id)
                                               .order_by(queries.OUTBOX.c.id))).scalars())
            states = [json.loads(s) for s in (await conn.execute(
                select(queries.CONTACT.c.state))).scalars()]
    finally:
        await db.dispose()
    return inbox, replies, states


def assert_in_order(replies: list[int], answered: list[int]) -> None:
    """Every answered message got replies, and all of them after those of earlier ones."""
    assert sorted(set(replies)) == sorted(answered)
    assert replies == sorted(replies), "a later message was answered before an earlier one"


async def test_a_citizens_fifty_messages_split_over_two_processes(url, monkeypatch):
    """Odd messages stored by one process, even ones by the other, both handling theirs at
    once in rounds of 5: one at a time, in order, each once."""
    monkeypatch.setattr(inbox_module, "BATCH", 5)
    async with two_processes(url, flood_limit=1000, flood_window_s=3600) as (a, b):
        ids: tuple[list[int], list[int]] = ([], [])
        for n in range(1, MESSAGES + 1):
            ids[n % 2].append(await (a, b)[n % 2].store(n))
        a.worker.wake(ids[0])
        b.worker.wake(ids[1])
        await until(nothing_new, url)
    inbox, replies, states = await outcome(url)
    assert inbox == {("done", None): MESSAGES}
    assert_in_order(replies, sorted(ids[0] + ids[1]))
    assert len(states) == 1 and states[0]["flood"]["n"] == MESSAGES   # no turn lost


async def test_messages_arriving_at_two_processes_within_milliseconds(url):
    """Like two webhook processes: each message is stored by one of them, which starts
    handling it at once, while the next one arrives at the other."""
    async with two_processes(url, flood_limit=1000, flood_window_s=3600) as (a, b):
        stored = []
        for n in range(1, MESSAGES + 1):
            loa = (a, b)[n % 2]
            inbox_id = await loa.store(n)
            loa.worker.wake([inbox_id])
            stored.append(inbox_id)
        await until(nothing_new, url)
    inbox, replies, states = await outcome(url)
    assert inbox == {("done", None): MESSAGES}
    assert_in_order(replies, stored)
    assert len(states) == 1 and states[0]["flood"]["n"] == MESSAGES


async def test_the_flood_count_of_two_processes_counts_every_message(url):
    """25 messages over two processes with the limit at 20: the count reaches 25, the first 20
    are answered, the 21st gets the note, the last 4 nothing."""
    async with two_processes(url, flood_limit=20, flood_window_s=3600) as (a, b):
        stored = [await (a, b)[n % 2].store(n) for n in range(1, 26)]
        a.worker.wake([i for n, i in enumerate(stored, 1) if n % 2 == 0])
        b.worker.wake([i for n, i in enumerate(stored, 1) if n % 2 == 1])
        await until(nothing_new, url)
    inbox, replies, states = await outcome(url)
    assert inbox == {("done", None): 20, ("done", FLOODED): 5}
    assert_in_order(replies, stored[:21])
    assert states[0]["flood"]["n"] == 25


async def test_a_reply_is_written_when_handle_returns(url):
    """The web chat answers from the outbox once `handle` returns: when two processes handle
    one citizen's messages at once, each message's replies are there by then, in order."""
    async with two_processes(url, run_workers=False, flood_limit=1000,
                             flood_window_s=3600) as (a, b):
        stored = [await (a, b)[n % 2].store(n) for n in range(1, 21)]

        async def request(loa: Process, inbox_id: int) -> int:
            await loa.handler.handle(inbox_id)
            async with loa.db.connect() as conn:
                return len(await queries.outbox_for_inbox(conn, inbox_id))

        for first, second in zip(stored[::2], stored[1::2], strict=True):
            answers = await asyncio.gather(request(b, first), request(a, second))
            assert all(answers), "handle returned before the message's replies were written"
    inbox, replies, states = await outcome(url)
    assert inbox == {("done", None): 20}
    assert_in_order(replies, stored)
    assert states[0]["flood"]["n"] == 20


async def test_a_message_stored_while_the_one_before_is_in_other_hands_waits_whole(
        migrated_postgres_url):
    """PostgreSQL (on SQLite one writer makes this impossible). A citizen's message arrives
    by webhook, is stored and handled in one transaction, while their previous message is
    held by another process that has not finished it. The new one must wait: stored as an
    unhandled event with its text (it is inserted as handled, since nearly every event is),
    then answered after the one before it, once that one is done."""
    url = migrated_postgres_url
    body = payload(2)   # once: its date is the clock's
    async with two_processes(url, run_workers=False) as (a, b):
        first = await a.store(1)
        async with a.db.begin() as holder:   # a's worker has taken message 1
            assert [r.id for r in await queries.new_inbox_rows(holder, [first])] == [first]
            stored, later = await b.handler.store_and_handle(TELEGRAM, [("2", body)])
            assert stored == later and len(stored) == 1
            second = stored[0]
            async with b.db.connect() as conn:
                row = (await conn.execute(select(
                    queries.INBOX.c.status, queries.INBOX.c.payload,
                    queries.INBOX.c.contact_key, queries.INBOX.c.handled_at).where(
                    queries.INBOX.c.id == second))).one()
            assert row.status == "new" and row.payload == body
            assert row.contact_key and row.handled_at is None
        await b.handler.handle_batch([first, second])
        await until(nothing_new, url)
    inbox, replies, _ = await outcome(url)
    assert inbox == {("done", None): 2}
    assert_in_order(replies, [first, second])
