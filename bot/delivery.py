"""The reply sender: sends due outbox rows of one channel and records each outcome."""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections import OrderedDict

from sqlalchemy import update
from sqlmodel import col, select
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.channels.base import Blocked, Channel, Failed, RetryLater, SendResult, Sent, \
    reply_from_json
from bot.store import queries
from bot.store.models import Contact, ContactStatus, OutboxMessage, OutboxStatus, utcnow

log = logging.getLogger(__name__)

MAX_SEND_ATTEMPTS = 8
BATCH = 200


class ReplySender:
    """Sends replies concurrently across chats, in order within a chat, obeying flood waits."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], channel: Channel,
                 concurrency: int = 8) -> None:
        self.sessions = sessions
        self.channel = channel
        self.concurrency = concurrency
        self._wake = asyncio.Event()
        self._paused_until = 0.0      # monotonic time before which nothing is sent
        self.sent = 0

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        async with self.sessions() as session, session.begin():
            recovered = await queries.recover_in_flight(session)
        if recovered:
            log.warning("%s: %d replies were in flight at the last stop; resending",
                        self.channel.name, recovered)
        while True:
            try:
                busy = await self.send_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s sender: round failed", self.channel.name)
                busy = False
            if busy:
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self._idle_wait())
            except TimeoutError:
                pass
            self._wake.clear()

    def _idle_wait(self) -> float:
        return max(0.05, min(1.0, self._paused_until - time.monotonic())) \
            if self._paused_until > time.monotonic() else 1.0

    async def send_due(self) -> bool:
        """One round: claim due rows, send them, record outcomes. True if anything was sent."""
        if self._paused_until > time.monotonic():
            return False
        async with self.sessions() as session, session.begin():
            rows = list(await queries.due_outbox(session, self.channel.name, BATCH))
            for row in rows:
                row.status = OutboxStatus.SENDING
            contacts: dict[int, str] = {}
            if rows:
                found = await session.exec(select(Contact.id, Contact.address).where(
                    col(Contact.id).in_({row.contact_id for row in rows})))
                contacts = {cid: address for cid, address in found.all() if cid is not None}
        if not rows:
            return False
        chats: OrderedDict[int, list[OutboxMessage]] = OrderedDict()
        for row in rows:
            chats.setdefault(row.contact_id, []).append(row)
        limit = asyncio.Semaphore(self.concurrency)
        outcomes: dict[int, SendResult] = {}
        attempted: set[int] = set()

        async def send_chat(contact_id: int, messages: list[OutboxMessage]) -> None:
            async with limit:
                for message in messages:
                    if self._paused_until > time.monotonic():
                        outcomes[message.id] = RetryLater(
                            self._paused_until - time.monotonic(), "flood wait")
                        continue
                    reply, ack_id = reply_from_json(message.payload)
                    attempted.add(message.id)
                    result = await self.channel.send(contacts.get(contact_id, ""), reply, ack_id)
                    outcomes[message.id] = result
                    if isinstance(result, RetryLater) and result.whole_channel:
                        self._paused_until = max(self._paused_until,
                                                 time.monotonic() + result.after_s)
                    if not isinstance(result, Sent):
                        # keep order: later messages of this chat wait for this one
                        for rest in messages[messages.index(message) + 1:]:
                            outcomes[rest.id] = RetryLater(1.0, "waiting for earlier message") \
                                if not isinstance(result, Blocked | Failed) else result
                        break

        await asyncio.gather(*(send_chat(cid, msgs) for cid, msgs in chats.items()))
        await self._record(rows, outcomes, attempted)
        return any(isinstance(r, Sent) for r in outcomes.values())

    async def _record(self, rows: list[OutboxMessage], outcomes: dict[int, SendResult],
                      attempted: set[int]) -> None:
        now = utcnow()
        stopped: set[int] = set()
        changes: list[dict[str, object]] = []
        for row in rows:
            result = outcomes.get(row.id, RetryLater(1.0, "not attempted"))
            tries = row.attempts + (1 if row.id in attempted else 0)
            values: dict[str, object] = {"id": row.id, "attempts": tries}
            if isinstance(result, Sent):
                values.update(status=OutboxStatus.SENT, sent_at=now, last_error=None)
                self.sent += 1
            elif isinstance(result, Blocked):
                values.update(status=OutboxStatus.BLOCKED, last_error=result.reason)
                stopped.add(row.contact_id)
            elif isinstance(result, Failed):
                values.update(status=OutboxStatus.FAILED, last_error=result.reason[:200])
                log.warning("outbox %s: failed: %s", row.id, result.reason)
            else:
                gave_up = tries >= MAX_SEND_ATTEMPTS
                values.update(
                    status=OutboxStatus.FAILED if gave_up else OutboxStatus.RETRY,
                    last_error=(result.reason or "retry")[:200],
                    not_before=now + dt.timedelta(seconds=max(result.after_s, 0.0)))
            changes.append(values)
        # Group rows with the same columns so each group is one executemany UPDATE by id.
        groups: dict[tuple[str, ...], list[dict[str, object]]] = {}
        for values in changes:
            groups.setdefault(tuple(sorted(values)), []).append(values)
        async with self.sessions() as session, session.begin():
            for group in groups.values():
                await session.exec(update(OutboxMessage), params=group)  # type: ignore[call-overload]
            if stopped:
                await session.exec(update(Contact).where(col(Contact.id).in_(stopped))
                                   .values(status=ContactStatus.STOPPED))
                log.info("%d contact(s) blocked the bot; marked stopped", len(stopped))
