"""Senders: deliver due outbox rows of one channel and record exactly one outcome per try.

Two lanes share one channel: replies to citizens go out at once; the bulk lane
(announcements, reminders) is paced at the channel's rate (Pacer: absolute times, and never
more than the rate within a second), waits out quiet hours, sends at most one message per
chat per round, and never delays replies, which are claimed and sent by their own loop and
count against the same pace.
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from bot.core.messages import Reply
from bot.delivery.channel import (
    Blocked,
    Channel,
    Failed,
    RetryLater,
    SendResult,
    Sent,
    reply_from_json,
)
from bot.delivery.cluster import Cluster
from bot.delivery.waiting import within, woken
from bot.store import queries
from bot.store.db import Database
from bot.store.models import OutboxStatus, utcnow

log = logging.getLogger(__name__)

MAX_SEND_ATTEMPTS = 8
RECORD_ON_STOP_S = 10.0   # how long a stopping sender waits to record what it sent
BATCH = 200
VN = dt.timezone(dt.timedelta(hours=7))   # Asia/Ho_Chi_Minh, no daylight saving


class Clock:
    """Monotonic time and sleeping, as the senders' pacing sees them. Loa runs on the real
    one (`REAL_CLOCK`); a test may give a sender another (virtual time, so that thousands of
    paced sends need no real waiting) through `ReplySender(clock=...)` or `use_clock`."""

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


REAL_CLOCK = Clock()


class Pacer:
    """The pace of one channel's sends: `rate` a second, the platform's limit.

    Announcements go at absolute times, the k-th at start + k/rate, so the time a request or
    a database round takes does not slow the pace: a send that starts late lets the next ones
    catch up, up to a quarter second late; later than that (or after a pause) the schedule
    starts anew from now, never with a burst. What keeps the platform's limit is a
    window: a send starts only when fewer than `rate` sends finished within the last second
    (a send counts from when its answer came back, after the platform counted it, so the
    network's jitter cannot squeeze `rate` + 1 sends into one of the platform's seconds).
    Replies never wait (`debit`): the announcements after them make room, and every send,
    reply or announcement, enters the window when it finishes (`finished`). `clock` tells the
    time and `sleep` waits (time.monotonic and asyncio.sleep by default; tests use virtual
    time)."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.rate = rate
        self.interval = 1.0 / rate
        self.per_window = max(1, int(rate))
        self.catch_up = max(1, int(rate) // 4) * self.interval
        self.clock = clock
        self.sleep = sleep
        self.finishes: deque[float] = deque(maxlen=self.per_window)   # the last sends' ends
        self.next_at = clock()                                         # the next slot

    def restart(self) -> None:
        """Start afresh (a process that just became the sender of announcements)."""
        self.next_at = self.clock() + self.interval

    def debit(self, n: float = 1.0) -> None:
        """`n` sends go now without waiting (replies); announcements make room for them."""
        self.next_at = max(self.next_at, self.clock()) + n * self.interval

    def finished(self) -> None:
        """A send's answer came back."""
        self.finishes.append(self.clock())

    def _earliest(self, now: float) -> float:
        if self.next_at < now - self.catch_up:   # idle, or too late to catch up: start anew
            self.next_at = now
        at = self.next_at
        if len(self.finishes) == self.per_window:   # a window's worth: wait for the oldest
            at = max(at, self.finishes[0] + 1.0)
        return at

    async def take(self) -> None:
        """Wait for the next slot of an announcement."""
        while True:
            now = self.clock()
            at = self._earliest(now)
            if at <= now:
                self.next_at += self.interval
                return
            await self.sleep(at - now)

    def per_second(self) -> int:
        return self.per_window

    def use_clock(self, clock: Callable[[], float],
                  sleep: Callable[[float], Awaitable[None]]) -> None:
        """Go on by another clock; the schedule and the window move over to it."""
        shift = clock() - self.clock()
        self.clock, self.sleep = clock, sleep
        self.next_at += shift
        self.finishes = deque((t + shift for t in self.finishes), maxlen=self.per_window)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """An outbox row handed to a sender in memory (by the handler, already 'sending'), with
    the time its inbound message was stored, for the reply latency metric."""

    id: int
    contact_id: int | None
    channel: str
    address: str
    payload: str
    attempts: int
    broadcast_id: int | None
    received_at: dt.datetime | None = None
    reply: tuple[Reply, str | None] | None = None   # the payload as the handler built it

    @classmethod
    def of(cls, row: Any, received_at: dt.datetime | None,
           reply: tuple[Reply, str | None] | None = None) -> Outgoing:
        return cls(row.id, row.contact_id, row.channel, row.address, row.payload, row.attempts,
                   row.broadcast_id, received_at, reply)


class InFlight:
    """The outbox rows this process holds in state 'sending': claimed (or handed over by the
    handler) and not yet recorded. Ids are held before the transaction that marks them commits
    and let go when their outcome is recorded, or when that transaction fails.

    A transaction whose COMMIT reached the database but whose answer was lost (the connection
    died at that moment) leaves rows 'sending' under this process that nothing here will send:
    they are exactly the rows 'sending' under this process's id and not held, and
    `recover_loop` hands them back within seconds, not flagged (they were never sent)."""

    def __init__(self) -> None:
        self.ids: set[int] = set()

    def hold(self, ids: Iterable[int]) -> None:
        self.ids.update(ids)

    def release(self, ids: Iterable[int]) -> None:
        self.ids.difference_update(ids)

    def __contains__(self, outbox_id: object) -> bool:
        return outbox_id in self.ids

    @contextlib.asynccontextmanager
    async def claiming(self) -> AsyncIterator[Callable[[Iterable[Any]], None]]:
        """Rows marked 'sending' inside the block (`hold(rows)`) are held before that
        transaction commits, and let go again if the block fails (the commit may have
        reached the database all the same: recover_loop)."""
        held: list[int] = []

        def hold(rows: Iterable[Any]) -> None:
            held.extend(row.id for row in rows)
            self.hold(held)

        try:
            yield hold
        except BaseException:
            self.release(held)
            raise


def parse_quiet_hours(text: str) -> tuple[dt.time, dt.time] | None:
    """'21:00-07:00' -> (21:00, 07:00); '' -> None (no quiet hours)."""
    text = text.strip()
    if not text:
        return None
    try:
        start, end = (dt.time.fromisoformat(part.strip()) for part in text.split("-", 1))
    except ValueError:
        raise ValueError(f"quiet hours {text!r} must look like 21:00-07:00") from None
    return start, end


def quiet_until(now: dt.datetime, quiet: tuple[dt.time, dt.time] | None) -> dt.datetime | None:
    """When the quiet period that `now` falls in ends (UTC), or None if sending is allowed."""
    if quiet is None:
        return None
    local = now.astimezone(VN)
    start, end = quiet
    t = local.time()
    inside = (start <= t or t < end) if start > end else (start <= t < end)
    if not inside:
        return None
    end_day = local.date() if t < end else local.date() + dt.timedelta(days=1)
    return dt.datetime.combine(end_day, end, tzinfo=VN).astimezone(dt.UTC)


class ReplySender:
    """Sends one channel's outbox: the reply lane at once, the bulk lane paced."""

    def __init__(self, db: Database, channel: Channel, concurrency: int = 8,
                 rate: float | None = None, quiet: tuple[dt.time, dt.time] | None = None,
                 on_sent: Callable[[list[Any]], None] | None = None,
                 cluster: Cluster | None = None, in_flight: InFlight | None = None,
                 clock: Clock | None = None, bulk_concurrency: int = 1) -> None:
        self.db = db
        # Announcements go one at a time (when a flood wait comes back no other one is on the
        # wire), unless the platform lifts its limit for them (Telegram's paid broadcasts).
        self.bulk_concurrency = bulk_concurrency
        self.clock = clock if clock is not None else REAL_CLOCK   # pacing and flood waits
        self.in_flight = in_flight if in_flight is not None else InFlight()
        self.cluster = cluster             # several processes: leader-only bulk lane etc.
        self.claimed_by = cluster.instance_id if cluster is not None else None
        self._reports = 0
        self.channel = channel
        self.concurrency = concurrency
        self.pace = Pacer(rate, clock=self.clock.monotonic, sleep=self.clock.sleep) \
            if rate else None
        self.quiet = quiet
        self.on_sent = on_sent             # told which bulk rows finished (progress)
        self._wake = asyncio.Event()
        self._bulk_wake = asyncio.Event()
        self._paused_until = 0.0           # clock time before which nothing is sent
        self._handed: list[Any] = []        # replies handed over in memory, already claimed
        # Whether the reply lane must look in the outbox table: at start, when woken (replies
        # stored for a claim, another process's notice, recovered messages), after a claim
        # that found some, and every idle second (retries come due). Not after sending what
        # the handler handed over: that round put nothing in the table for this lane.
        self._look = True
        self._recording: set[asyncio.Future[None]] = set()   # replies' outcomes being recorded
        self.sent = 0
        self.flood_waits = 0
        # metrics: (channel, recorded changes, {outbox id: when its inbound was stored})
        self.on_outcome: Callable[[str, list[dict[str, Any]], dict[int, dt.datetime]],
                                  None] | None = None
        if cluster is not None:
            cluster.on("loa_flood", self._remote_flood)
            cluster.on("loa_sent", self._remote_sent)
            cluster.on("loa_outbox", lambda channel: self.wake()
                       if channel == self.channel.name else None)

    def use_clock(self, clock: Clock) -> None:
        """Pace by `clock` from now on (a test's virtual time, set before anything is sent);
        a flood wait and the pace carry over."""
        paused = max(0.0, self._paused_until - self.clock.monotonic())
        if self.pace is not None:
            self.pace.use_clock(clock.monotonic, clock.sleep)
        self.clock = clock
        self._paused_until = clock.monotonic() + paused if paused else 0.0

    # -- other processes ---------------------------------------------------------------------
    def _remote_flood(self, payload: str) -> None:
        """Another process got a flood wait for this bot: nobody sends until it is over."""
        instance, channel, seconds = _fields(payload, 3)
        if channel == self.channel.name and instance != str(self.claimed_by):
            with contextlib.suppress(ValueError):
                self._paused_until = max(self._paused_until,
                                         self.clock.monotonic() + float(seconds))

    def _remote_sent(self, payload: str) -> None:
        """Another process sent replies: the leader's announcements make room for them."""
        instance, channel, count, _ = _fields(payload, 4)
        if channel == self.channel.name and instance != str(self.claimed_by) \
                and self.pace is not None and self.cluster is not None \
                and self.cluster.is_leader:
            with contextlib.suppress(ValueError):
                self.pace.debit(float(count))

    def wake(self, lane: str = "reply") -> None:
        if lane == "bulk":
            self._bulk_wake.set()
        else:
            self._look = True
            self._wake.set()

    def take(self, rows: list[Any]) -> None:
        """Replies just committed by the handler in state 'sending': send without a claim."""
        self._handed.extend(rows)
        self._wake.set()

    async def run(self) -> None:
        if self.cluster is None:   # alone: whatever was in flight was interrupted
            async with self.db.begin() as conn:
                recovered = await queries.recover_in_flight(conn, None, self.channel.name)
            if recovered:
                log.warning("%s: %d messages were in flight at the last stop; resending, "
                            "flagged ambiguous", self.channel.name, recovered)
        bulk = asyncio.create_task(self._bulk_lane(), name="bulk-lane")
        try:
            await self._loop("reply", self._wake)
        finally:
            # Awaited: a lane still unwinding after stop held a database connection while
            # the engine was disposed, and the loop closed under it (a connection leaked).
            bulk.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await bulk
            await self.recorded()

    async def recorded(self) -> None:
        """Wait until the outcomes of every reply sent so far are recorded (on stop: at most
        RECORD_ON_STOP_S, then they stay 'sending' and go out again, flagged, after a
        restart)."""
        if self._recording:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await within(asyncio.shield(asyncio.gather(*self._recording)),
                             RECORD_ON_STOP_S)

    async def _bulk_lane(self) -> None:
        """Announcements go out from one process only (the leader), so this pace is
        the pace of the whole bot. A round in progress ends before leadership is given up."""
        cluster = self.cluster
        if cluster is None:
            await self._loop("bulk", self._bulk_wake)
            return
        while True:
            await cluster.wait_leading()
            if self.pace is not None:   # start afresh: the old leader just sent
                self.pace.restart()
            await self._loop("bulk", self._bulk_wake, while_=lambda: cluster.is_leader)

    async def _loop(self, lane: str, wake: asyncio.Event,
                    while_: Callable[[], bool] = lambda: True) -> None:
        while while_():
            wake.clear()
            try:
                busy = await (self.send_due() if lane == "reply" else self.send_bulk())
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s sender (%s lane): round failed", self.channel.name, lane)
                busy = False
            if busy:
                continue
            if not await woken(wake, self._idle_wait()):
                self._look = True   # (reply lane) retries and anything missed come due

    def _idle_wait(self) -> float:
        pause = self._paused_until - self.clock.monotonic()
        return max(0.05, min(1.0, pause)) if pause > 0 else 1.0

    # -- the two lanes ---------------------------------------------------------------------
    async def send_due(self) -> bool:
        """Reply lane: claim every due reply, send, record. True if any were claimed."""
        if self._handed:   # handed over in memory (flood waits are applied while sending)
            rows, self._handed = self._handed, []
            await self._send_rows(rows, priority=True)
            return True
        if self._paused_until > self.clock.monotonic() or not self._look:
            return False
        self._look = False
        async with self.db.connect() as conn:   # a read first: an idle lane takes no lock
            if not await queries.has_due(conn, self.channel.name, "reply"):
                return False
        async with self.in_flight.claiming() as held, self.db.begin() as conn:
            rows = await queries.claim_due(conn, self.channel.name, BATCH, "reply",
                                           self.claimed_by)
            held(rows)
        if not rows:
            return False
        self._look = True   # there may be more than one claim's worth
        await self._send_rows(rows, priority=True)
        return True

    async def send_bulk(self) -> bool:
        """Bulk lane: at most a second's worth of messages, one per chat, outside quiet hours."""
        if self._paused_until > self.clock.monotonic():
            return False
        if quiet_until(utcnow(), self.quiet) is not None:
            return False
        budget = self.pace.per_second() if self.pace else BATCH   # a second's worth
        async with self.db.connect() as conn:
            if not await queries.has_due(conn, self.channel.name, "bulk"):
                return False
        async with self.in_flight.claiming() as held, self.db.begin() as conn:
            rows = await queries.claim_due(conn, self.channel.name, min(budget, BATCH), "bulk",
                                           self.claimed_by)
            rows, later = _one_per_chat(rows)
            held(rows)
            if later:   # a chat's second message waits for the next round, a second later
                await queries.update_many(conn, queries.OUTBOX, [
                    {"id": r.id, "status": OutboxStatus.PENDING,
                     "not_before": utcnow() + dt.timedelta(seconds=1)} for r in later])
        if not rows:
            return False
        # Outcomes are recorded every fifth of a second's worth: if this process dies, at
        # most that many messages were sent without their record (and go out again, flagged).
        step = max(1, budget // 5)
        for start in range(0, len(rows), step):
            await self._send_rows(rows[start:start + step], priority=False)
        if self.on_sent is not None:
            self.on_sent(rows)
        return True

    async def _send_rows(self, rows: list[Any], priority: bool) -> None:
        chats: OrderedDict[int, list[Any]] = OrderedDict()
        for row in rows:
            chats.setdefault(row.contact_id, []).append(row)
        # Bulk sends go one at a time: when a flood wait comes back no other bulk request is
        # on the wire, so nothing reaches the platform before the wait is over (paid
        # broadcasts, which have no flood limit up to their rate, go several at a time).
        limit = asyncio.Semaphore(self.concurrency if priority else self.bulk_concurrency)
        outcomes: dict[int, SendResult] = {}
        attempted: set[int] = set()

        async def send_chat(messages: list[Any]) -> None:
            async with limit:
                for index, message in enumerate(messages):
                    if self.pace is not None:
                        if priority:
                            self.pace.debit()
                        else:
                            await self.pace.take()
                    if self._paused_until > self.clock.monotonic():
                        outcomes[message.id] = RetryLater(
                            self._paused_until - self.clock.monotonic(), "flood wait")
                        continue
                    # handed over in memory: the reply itself, not parsed back from its JSON
                    reply, ack_id = getattr(message, "reply", None) \
                        or reply_from_json(message.payload)
                    attempted.add(message.id)
                    result = await self.channel.send(message.address, reply, ack_id,
                                                     bulk=not priority)
                    if self.pace is not None:
                        self.pace.finished()
                    outcomes[message.id] = result
                    if isinstance(result, RetryLater) and result.whole_channel:
                        self._paused_until = max(self._paused_until,
                                                 self.clock.monotonic() + result.after_s)
                        self.flood_waits += 1
                        if self.cluster is not None:
                            self.cluster.notify("loa_flood", f"{self.claimed_by}:"
                                                f"{self.channel.name}:{result.after_s}")
                        log.warning("%s: flood control, pausing %.1f s", self.channel.name,
                                    result.after_s)
                    if not isinstance(result, Sent):
                        # Keep the order within a chat: later messages wait for this one.
                        for rest in messages[index + 1:]:
                            outcomes[rest.id] = result if isinstance(result, Blocked) else \
                                RetryLater(1.0, "waiting for an earlier message")
                        break

        await asyncio.gather(*(send_chat(msgs) for msgs in chats.values()))
        if priority and attempted and self.cluster is not None and not self.cluster.is_leader:
            self._reports += 1
            self.cluster.notify("loa_sent", f"{self.claimed_by}:{self.channel.name}:"
                                f"{len(attempted)}:{self._reports}")
        # What was sent is recorded even when Loa is stopping (SIGTERM cancels this task):
        # an unrecorded send would go out again, as a duplicate, after the restart. Replies
        # are recorded aside, so the next replies go out while the database takes these
        # outcomes (a chat's next message still waits for this round's sends to finish);
        # run() waits for those records when the sender stops.
        record = asyncio.ensure_future(self._record(rows, outcomes, attempted))
        if priority:
            self._recording.add(record)
            record.add_done_callback(self._recording.discard)
            return
        try:
            await asyncio.shield(record)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await within(record, RECORD_ON_STOP_S)
            raise

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
                values.update(status=OutboxStatus.SENT, sent_at=now, last_error=None,
                              external_message_id=result.message_id)
                self.sent += 1
            elif isinstance(result, Blocked):
                values.update(status=OutboxStatus.BLOCKED, last_error=result.reason)
                stopped.add(row.contact_id)
            elif isinstance(result, Failed):
                values.update(status=OutboxStatus.FAILED, last_error=result.reason[:200])
                log.warning("outbox %s: failed: %s", row.id, result.reason)
            else:
                gave_up = tries >= MAX_SEND_ATTEMPTS
                wait = result.after_s if result.whole_channel or row.id not in attempted \
                    else max(result.after_s, min(300.0, 2.0 ** tries))   # backoff on errors
                values.update(
                    status=OutboxStatus.FAILED if gave_up else OutboxStatus.RETRY,
                    last_error=(f"gave up: {result.reason}" if gave_up else
                                result.reason or "retry")[:200],
                    not_before=now + dt.timedelta(seconds=max(wait, 0.0)))
            changes.append(values)
        delay = 0.5
        while True:   # the database may be restarting: a sent message left 'sending' would wait
            try:      # for a restart of Loa, an unsent one would never be tried again
                async with self.db.begin() as conn:
                    await queries.record_outcomes(conn, changes)
                    if stopped:
                        await queries.stop_contacts(conn, stopped)
                break
            except Exception as exc:   # SQLAlchemy's errors, and OSErrors while reconnecting
                log.warning("%s: could not record %d outcomes (%s); retrying in %.1f s",
                            self.channel.name, len(changes), exc.__class__.__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        self.in_flight.release(row.id for row in rows)   # recorded: no longer ours to send
        if stopped:
            log.info("%d contact(s) blocked the bot; marked stopped", len(stopped))
        if self.on_outcome is not None:   # bot/ops/metrics.py: outcomes and reply latency
            self.on_outcome(self.channel.name, changes, {
                row.id: row.received_at for row in rows
                if isinstance(row, Outgoing) and row.received_at is not None})


def _fields(payload: str, n: int) -> list[str]:
    parts = payload.rsplit(":", n - 1) if payload.count(":") >= n - 1 else []
    return parts if len(parts) == n else [""] * n


STUCK_S = 120.0   # a message 'sending' this long lost its record (no send takes so long)


async def recover_loop(db: Database, cluster: Cluster, on_recovered: Callable[[], None],
                       in_flight: InFlight | None = None, every_s: float = 5.0) -> None:
    """Hand back what dead processes had in flight (at once, and every few seconds after),
    what any process has had 'sending' for minutes, and what this process marked 'sending' in
    a transaction whose answer it lost (`InFlight`)."""
    while True:
        live = await cluster.live_instances()
        if live is not None and (cluster.instance_id not in live or not cluster.settled()):
            live = None   # reconnecting, or others may be: only the stuck ones are sure
        stuck_before = utcnow() - dt.timedelta(seconds=STUCK_S)
        try:
            orphans = 0
            async with db.connect() as conn:   # usually nothing: no write lock taken
                lost = await queries.has_lost_in_flight(conn, live, stuck_before=stuck_before)
                if in_flight is not None:
                    mine = await queries.in_flight_of(conn, cluster.instance_id)
                    own = [i for i in mine if i not in in_flight]
            if in_flight is not None and own:
                async with db.begin() as conn:
                    orphans = await queries.hand_back(conn, own, cluster.instance_id)
                log.warning("%d messages of this process were left 'sending' by a transaction "
                            "whose answer was lost; sending them now", orphans)
            recovered = 0
            if lost:
                async with db.begin() as conn:
                    recovered = await queries.recover_in_flight(conn, live,
                                                                stuck_before=stuck_before)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("recovery of in-flight messages failed (%s)", exc.__class__.__name__)
        else:
            if recovered:
                log.warning("%d messages were in flight in a process that stopped (or lost "
                            "their record); resending, flagged ambiguous", recovered)
            if recovered or orphans:
                on_recovered()
        await asyncio.sleep(every_s)


def _one_per_chat(rows: list[Any]) -> tuple[list[Any], list[Any]]:
    seen: set[int] = set()
    first, later = [], []
    for row in rows:
        (later if row.contact_id in seen else first).append(row)
        seen.add(row.contact_id)
    return first, later
