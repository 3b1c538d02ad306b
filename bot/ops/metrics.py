"""What /metrics and /healthz report: Prometheus metrics in a registry of each app's own, the
background workers of this process (alive, heartbeats) and the queues' lag.

Counters and histograms of this process (sends by outcome, replies, latencies, HTTP requests)
are updated where things happen; figures read from the database (queue rows, updates
received, contacts, lag) are read when /metrics is scraped and are the same on every process.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store import queries
from bot.store.db import Database
from bot.store.models import InboxStatus, OutboxStatus, utcnow

log = logging.getLogger(__name__)
disable_created_metrics()   # no *_created series: counters start with the process anyway

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
REPLY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
STUCK_AFTER_S = 300.0     # an update unhandled, or a reply overdue, this long: degraded
OUTCOMES = {OutboxStatus.SENT: "sent", OutboxStatus.RETRY: "retry",
            OutboxStatus.BLOCKED: "blocked", OutboxStatus.FAILED: "failed"}


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)


# -- background workers ------------------------------------------------------------------------

class Workers:
    """The background tasks of one app: dead when a task ended with an error (or was cancelled
    while the app runs), silent when a task that beats has not beaten for too long."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self._beats: dict[str, tuple[float, float]] = {}   # name -> (last beat, stale after)

    def watch(self, tasks: Iterable[asyncio.Task[Any]]) -> None:
        for task in tasks:
            self._tasks[task.get_name()] = task

    def beat(self, name: str, stale_after_s: float) -> None:
        self._beats[name] = (self.clock(), stale_after_s)

    def states(self) -> dict[str, str]:
        """name -> "running", "finished" (a task that is done by design), "dead: Error",
        "silent 1234 s"."""
        out: dict[str, str] = {}
        now = self.clock()
        for name, task in sorted(self._tasks.items()):
            if not task.done():
                out[name] = "running"
            elif task.cancelled():
                out[name] = "dead: cancelled"
            elif task.exception() is not None:
                out[name] = f"dead: {task.exception().__class__.__name__}"
            else:
                out[name] = "finished"
        for name, (last, stale) in sorted(self._beats.items()):
            if out.get(name, "running") == "running" and now - last > stale:
                out[name] = f"silent {now - last:.0f} s"
        return out

    def problems(self) -> list[str]:
        return [f"worker {name}: {state}" for name, state in self.states().items()
                if state.startswith(("dead", "silent"))]


# -- figures read from the database -----------------------------------------------------------

@dataclass
class Snapshot:
    """The database's figures at the last scrape, and this process's senders and workers."""

    queues: list[tuple[str, str, str, int]] = field(default_factory=list)
    contacts: int = 0
    lag: dict[str, float] = field(default_factory=dict)
    senders: list[tuple[str, int, int]] = field(default_factory=list)   # name, sent, 429s
    workers: dict[str, str] = field(default_factory=dict)


async def read_lag(conn: AsyncConnection, inbox_channels: Iterable[str],
                   outbox_channels: Iterable[str], now: dt.datetime | None = None
                   ) -> dict[str, float]:
    """Seconds the oldest unhandled update has waited, and how overdue the oldest due message
    of each outbox lane is (0 when none). Web chat updates are answered in the request."""
    now = now or utcnow()
    inbox_channels, outbox_channels = list(inbox_channels), list(outbox_channels)
    i, o = queries.INBOX.c, queries.OUTBOX.c
    oldest = (await conn.execute(select(func.min(i.received_at)).where(
        i.status == InboxStatus.NEW, i.channel.in_(inbox_channels)))).scalar_one() \
        if inbox_channels else None
    lag = {"inbox": _age(now, oldest), "outbox_reply": 0.0, "outbox_bulk": 0.0}
    if outbox_channels:
        rows = await conn.execute(select(o.lane, func.min(o.not_before)).where(
            o.channel.in_(outbox_channels),
            o.status.in_([OutboxStatus.PENDING, OutboxStatus.RETRY]),
            o.not_before <= now).group_by(o.lane))
        for lane, due in rows.all():
            lag[f"outbox_{lane}"] = _age(now, due)
    return lag


def _age(now: dt.datetime, then: dt.datetime | None) -> float:
    then = _aware(then)
    return round(max(0.0, (now - then).total_seconds()), 3) if then is not None else 0.0


def lag_problems(lag: Mapping[str, float], limit: float = STUCK_AFTER_S) -> list[str]:
    """Updates not handled, or replies not sent, for too long: a worker is stuck somewhere.
    (The bulk lane is left out: quiet hours hold it back on purpose.)"""
    out = []
    if lag.get("inbox", 0.0) > limit:
        out.append(f"inbox: the oldest unhandled update has waited {lag['inbox']:.0f} s")
    if lag.get("outbox_reply", 0.0) > limit:
        out.append(f"outbox: a reply is {lag['outbox_reply']:.0f} s overdue")
    return out


class _DatabaseCollector:
    """Exposes the last Snapshot in Prometheus form (collect() cannot await the database)."""

    def __init__(self) -> None:
        self.snapshot = Snapshot()

    def collect(self) -> Iterator[Metric]:
        s = self.snapshot
        rows = GaugeMetricFamily("loa_queue_rows", "Inbox and outbox rows by channel and "
                                 "state (database-wide).", labels=["queue", "channel", "status"])
        received = CounterMetricFamily("loa_updates_received", "Updates stored in the inbox, "
                                       "by channel (database-wide, all processes).",
                                       labels=["channel"])
        totals: dict[str, int] = {}
        for queue, channel, status, count in s.queues:
            rows.add_metric([queue, channel, status], count)
            if queue == "inbox":
                totals[channel] = totals.get(channel, 0) + count
        for channel, count in sorted(totals.items()):
            received.add_metric([channel], count)
        yield rows
        yield received
        yield GaugeMetricFamily("loa_contacts", "Contacts (database-wide).", value=s.contacts)
        lag = GaugeMetricFamily("loa_queue_lag_seconds", "Age of the oldest unhandled update "
                                "(inbox) and of the oldest due message per outbox lane.",
                                labels=["queue"])
        for name, seconds in sorted(s.lag.items()):
            lag.add_metric([name], seconds)
        yield lag
        sent = CounterMetricFamily("loa_sent", "Messages sent by this process since it "
                                   "started.", labels=["channel"])
        flood = CounterMetricFamily("loa_flood_waits", "Flood-control waits (HTTP 429) of "
                                    "this process since it started.", labels=["channel"])
        for name, count, waits in s.senders:
            sent.add_metric([name], count)
            flood.add_metric([name], waits)
        yield sent
        yield flood
        up = GaugeMetricFamily("loa_worker_up", "1 while a background worker of this process "
                               "runs (or finished by design), 0 when dead or silent.",
                               labels=["worker"])
        for name, state in s.workers.items():
            up.add_metric([name], 0 if state.startswith(("dead", "silent")) else 1)
        yield up


# -- the metrics of one app -------------------------------------------------------------------

class Metrics:
    """One per app (tests run several apps in one process, so no global registry)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self.workers = Workers()
        self.database = _DatabaseCollector()
        self.registry.register(self.database)  # type: ignore[arg-type]
        self.outcomes = Counter("loa_send_outcomes", "Send attempts by channel and outcome "
                                "(sent, retry, blocked, failed), this process.",
                                ["channel", "outcome"], registry=self.registry)
        self.replies = Counter("loa_replies_sent", "Replies to citizens' messages delivered "
                               "by this process.", ["channel"], registry=self.registry)
        self.reply_latency = Histogram("loa_reply_latency_seconds", "From storing a citizen's "
                                       "message to its reply being sent.", ["channel"],
                                       buckets=REPLY_BUCKETS, registry=self.registry)
        self.http = Histogram("loa_http_request_duration_seconds", "HTTP requests by route, "
                              "method and status.", ["route", "method", "status"],
                              buckets=HTTP_BUCKETS, registry=self.registry)
        self._pending: set[asyncio.Task[None]] = set()

    # hooks
    def attach(self, senders: Mapping[str, Any]) -> None:
        """Have every sender report its outcomes here (idempotent; senders may come later)."""
        for sender in senders.values():
            if getattr(sender, "on_outcome", None) is None:
                sender.on_outcome = functools.partial(self.observe_sends, sender.db)

    def observe_sends(self, db: Database, channel: str, changes: list[dict[str, Any]],
                      received: Mapping[int, dt.datetime] | None = None) -> None:
        """ReplySender.on_outcome: the recorded outcome of each message of one round;
        `received`: when the inbound message of a reply was stored, where the sender knows
        (replies the handler handed over in memory)."""
        sent: dict[int, dt.datetime] = {}
        counted = self.outcomes.labels(channel, "sent")
        for change in changes:
            outcome = OUTCOMES.get(change.get("status", ""))
            if outcome is None:
                continue
            (counted if outcome == "sent" else self.outcomes.labels(channel, outcome)).inc()
            if outcome == "sent" and change.get("sent_at") is not None:
                arrived = received.get(change["id"]) if received else None
                if arrived is None:
                    sent[change["id"]] = change["sent_at"]
                else:
                    self._observe(channel, change["sent_at"], arrived)
        if sent:   # latency needs the update's arrival: read it aside, never delaying sends
            task = asyncio.create_task(self._observe_latency(db, channel, sent))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _observe_latency(self, db: Database, channel: str,
                               sent: dict[int, dt.datetime]) -> None:
        o, i = queries.OUTBOX.c, queries.INBOX.c
        try:
            async with db.connect() as conn:
                rows = (await conn.execute(
                    select(o.id, i.received_at)
                    .select_from(queries.OUTBOX.join(queries.INBOX, o.inbox_id == i.id))
                    .where(o.id.in_(list(sent)), o.lane == "reply"))).all()
        except Exception as exc:   # metrics must never disturb sending
            log.debug("reply latency not read (%s)", exc.__class__.__name__)
            return
        for outbox_id, received in rows:
            self._observe(channel, sent[outbox_id], received)

    def _observe(self, channel: str, sent_at: dt.datetime, received: dt.datetime | None
                 ) -> None:
        received = _aware(received)
        if received is not None:
            self.reply_latency.labels(channel).observe(
                max(0.0, (sent_at - received).total_seconds()))
        self.replies.labels(channel).inc()

    def observe_web_replies(self, channel: str, count: int, seconds: float) -> None:
        """Web chat replies are delivered in the HTTP response itself."""
        if count:
            self.outcomes.labels(channel, "sent").inc(count)
            self.replies.labels(channel).inc(count)
            for _ in range(count):
                self.reply_latency.labels(channel).observe(seconds)

    async def close(self) -> None:
        for task in list(self._pending):
            task.cancel()
        await asyncio.gather(*self._pending, return_exceptions=True)

    # exposition
    async def render(self, db: Database, inbox_channels: Iterable[str],
                     senders: Mapping[str, Any]) -> bytes:
        """Read the database's figures, then the whole registry in the text format."""
        self.attach(senders)
        async with db.connect() as conn:
            queues = await queries.count_by_channel(conn)
            contacts = await queries.count_contacts(conn)
            lag = await read_lag(conn, inbox_channels, senders)
        self.database.snapshot = Snapshot(
            queues, contacts, lag,
            [(name, s.sent, s.flood_waits) for name, s in sorted(senders.items())],
            self.workers.states())
        return generate_latest(self.registry)


METRICS = web.AppKey("metrics", Metrics)


def watch_workers(app: web.Application, tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Register an app's background tasks for /healthz (bot/app.py, channels/zalo)."""
    metrics = app.get(METRICS)
    if metrics is not None:
        metrics.workers.watch(tasks)


def heartbeat(app: web.Application, name: str, stale_after_s: float) -> Callable[[], None]:
    """A function a worker calls each round; /healthz flags it when it stops calling."""
    metrics = app.get(METRICS)
    if metrics is None:
        return lambda: None
    return functools.partial(metrics.workers.beat, name, stale_after_s)


@web.middleware
async def timing_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """HTTP request duration by route (the route's pattern, never the path: no ids, tokens)."""
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        metrics = request.app.get(METRICS)
        if metrics is not None:
            metrics.http.labels(route, request.method, str(status)).observe(
                time.perf_counter() - started)
