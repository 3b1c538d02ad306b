"""The reply sender: sends due outbox rows of one channel and records each outcome."""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections import OrderedDict
from typing import Any

from bot.channels.base import (
    Blocked,
    Channel,
    Failed,
    RetryLater,
    SendResult,
    Sent,
    reply_from_json,
)
from bot.store import queries
from bot.store.db import Database
from bot.store.models import OutboxStatus, utcnow

log = logging.getLogger(__name__)

MAX_SEND_ATTEMPTS = 8
BATCH = 200


class ReplySender:
    """Sends replies concurrently across chats, in order within a chat, obeying flood waits."""

    def __init__(self, db: Database, channel: Channel, concurrency: int = 8) -> None:
        self.db = db
        self.channel = channel
        self.concurrency = concurrency
        self._wake = asyncio.Event()
        self._paused_until = 0.0      # monotonic time before which nothing is sent
        self.sent = 0

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        async with self.db.begin() as conn:
            recovered = await queries.recover_in_flight(conn)
        if recovered:
            log.warning("%s: %d replies were in flight at the last stop; resending",
                        self.channel.name, recovered)
        while True:
            self._wake.clear()
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

    def _idle_wait(self) -> float:
        pause = self._paused_until - time.monotonic()
        return max(0.05, min(1.0, pause)) if pause > 0 else 1.0

    async def send_due(self) -> bool:
        """One round: claim due rows, send them, record outcomes. True if any were claimed."""
        if self._paused_until > time.monotonic():
            return False
        async with self.db.begin() as conn:
            rows = await queries.claim_due(conn, self.channel.name, BATCH)
        if not rows:
            return False
        chats: OrderedDict[int, list[Any]] = OrderedDict()
        for row in rows:
            chats.setdefault(row.contact_id, []).append(row)
        limit = asyncio.Semaphore(self.concurrency)
        outcomes: dict[int, SendResult] = {}
        attempted: set[int] = set()

        async def send_chat(messages: list[Any]) -> None:
            async with limit:
                for index, message in enumerate(messages):
                    if self._paused_until > time.monotonic():
                        outcomes[message.id] = RetryLater(
                            self._paused_until - time.monotonic(), "flood wait")
                        continue
                    reply, ack_id = reply_from_json(message.payload)
                    attempted.add(message.id)
                    result = await self.channel.send(message.address, reply, ack_id)
                    outcomes[message.id] = result
                    if isinstance(result, RetryLater) and result.whole_channel:
                        self._paused_until = max(self._paused_until,
                                                 time.monotonic() + result.after_s)
                    if not isinstance(result, Sent):
                        # Keep the order within a chat: later messages wait for this one.
                        for rest in messages[index + 1:]:
                            outcomes[rest.id] = result if isinstance(result, Blocked) else \
                                RetryLater(1.0, "waiting for an earlier message")
                        break

        await asyncio.gather(*(send_chat(msgs) for msgs in chats.values()))
        await self._record(rows, outcomes, attempted)
        return True

    async def _record(self, rows: list[Any], outcomes: dict[int, SendResult],
                      attempted: set[int]) -> None:
        now = utcnow()
        stopped: set[int] = set()
        changes: list[dict[str, Any]] = []
        for row in rows:
            result = outcomes.get(row.id, RetryLater(1.0, "not attempted"))
            tries = row.attempts + (1 if row.id in attempted else 0)
            values: dict[str, Any] = {"id": row.id, "attempts": tries}
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
        async with self.db.begin() as conn:
            await queries.update_many(conn, queries.OUTBOX, changes)
            if stopped:
                await queries.stop_contacts(conn, stopped)
                log.info("%d contact(s) blocked the bot; marked stopped", len(stopped))
