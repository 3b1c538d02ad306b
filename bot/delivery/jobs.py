"""Scheduled jobs that run once per period across every Loa process sharing the database.

Each process runs the same scheduler. A job's run for a period (a day, say) is claimed with an
INSERT ... ON CONFLICT DO NOTHING on `job_lease` (unique on job and period): one process wins,
runs it, renews its lease while it works and marks the period finished. A claim whose holder
died (lease expired, not finished) is taken over by one atomic UPDATE, so the work still gets
done, once. Jobs must tolerate being repeated after such a takeover (they are idempotent).
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.delivery.models import JobLease
from bot.store import queries
from bot.store.db import Database
from bot.store.models import utcnow

log = logging.getLogger(__name__)

LEASE = JobLease.__table__
VN = dt.timezone(dt.timedelta(hours=7))   # Asia/Ho_Chi_Minh, no daylight saving
TICK_S = 60.0                # how often each process looks for due jobs
START_DELAY_S = 10.0         # the first look waits until start-up (and its writes) is over
MAX_ATTEMPTS = 3             # failed runs of one period before it is given up (and logged)
Clock = Callable[[], dt.datetime]


@dataclass(frozen=True)
class Job:
    """`period(now)` names the period `now` falls in (None: nothing due now); `run()` does the
    work and returns a short outcome (counts, never free text) stored on the claim row."""

    name: str
    period: Callable[[dt.datetime], str | None]
    run: Callable[[], Awaitable[str]]
    lease: dt.timedelta = dt.timedelta(minutes=10)


def daily(now: dt.datetime) -> str:
    """The period of a daily job: the date in Vietnam."""
    return now.astimezone(VN).date().isoformat()


def hourly(now: dt.datetime) -> str:
    """The period of an hourly job."""
    return now.astimezone(VN).strftime("%Y-%m-%dT%H")


def on_days(days: Collection[int]) -> Callable[[dt.datetime], str | None]:
    """A daily period only on these days of the month (Vietnam time)."""
    def period(now: dt.datetime) -> str | None:
        local = now.astimezone(VN).date()
        return local.isoformat() if local.day in days else None
    return period


def holder_id() -> str:
    """Names this process on claim rows: host, pid and a random part (pids are reused)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands datetimes back without a zone; all of ours are UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)


# -- the claim row ----------------------------------------------------------------------------

async def claim(conn: AsyncConnection, job: str, period: str, holder: str, now: dt.datetime,
                lease: dt.timedelta) -> bool:
    """Take (job, period) for `holder`: the first claim, or a takeover of an expired,
    unfinished one. True if `holder` now holds it and must run the job."""
    inserted = (await conn.execute(
        queries._insert(conn)(LEASE).values(job=job, period=period, holder=holder,
                                            claimed_at=now, expires_at=now + lease,
                                            finished_at=None, attempts=1, outcome=None)
        .on_conflict_do_nothing(index_elements=["job", "period"])
        .returning(LEASE.c.id))).scalar_one_or_none()
    if inserted is not None:
        return True
    # The WHERE is evaluated again on the row's newest version when two processes race for
    # the same expired claim (PostgreSQL) or under SQLite's single writer: one of them wins.
    taken = await conn.execute(
        update(LEASE).where(LEASE.c.job == job, LEASE.c.period == period,
                            LEASE.c.finished_at.is_(None), LEASE.c.expires_at < now,
                            LEASE.c.attempts < MAX_ATTEMPTS)
        .values(holder=holder, claimed_at=now, expires_at=now + lease,
                attempts=LEASE.c.attempts + 1)
        .returning(LEASE.c.id))
    return taken.first() is not None


async def renew(conn: AsyncConnection, job: str, period: str, holder: str, now: dt.datetime,
                lease: dt.timedelta) -> bool:
    """Extend a held lease; False if another process took it over meanwhile."""
    result = await conn.execute(
        update(LEASE).where(LEASE.c.job == job, LEASE.c.period == period,
                            LEASE.c.holder == holder, LEASE.c.finished_at.is_(None))
        .values(expires_at=now + lease))
    return (result.rowcount or 0) > 0


async def finish(conn: AsyncConnection, job: str, period: str, holder: str, now: dt.datetime,
                 outcome: str) -> None:
    await conn.execute(update(LEASE).where(LEASE.c.job == job, LEASE.c.period == period,
                                           LEASE.c.holder == holder)
                       .values(finished_at=now, outcome=outcome[:200]))


async def release(conn: AsyncConnection, job: str, period: str, holder: str, now: dt.datetime,
                  error: str) -> bool:
    """A failed run: let the next tick (of any process) try again, or give up after
    MAX_ATTEMPTS. Returns True when the period was given up."""
    row = (await conn.execute(select(LEASE.c.attempts).where(
        LEASE.c.job == job, LEASE.c.period == period, LEASE.c.holder == holder))).first()
    gave_up = row is not None and row.attempts >= MAX_ATTEMPTS
    values: dict[str, Any] = {"expires_at": now, "outcome": f"error: {error}"[:200]}
    if gave_up:
        values.update(finished_at=now, outcome=f"gave up: {error}"[:200])
    await conn.execute(update(LEASE).where(LEASE.c.job == job, LEASE.c.period == period,
                                           LEASE.c.holder == holder).values(**values))
    return gave_up


async def state(conn: AsyncConnection, job: str, period: str) -> Any:
    """The claim row of (job, period), or None."""
    return (await conn.execute(select(LEASE).where(LEASE.c.job == job,
                                                   LEASE.c.period == period))).first()


# -- the scheduler ----------------------------------------------------------------------------

class JobScheduler:
    """Every process runs one; the claim rows make each job run once per period overall."""

    def __init__(self, db: Database, jobs: Collection[Job], holder: str | None = None,
                 clock: Clock = utcnow, tick_s: float = TICK_S,
                 start_delay_s: float = START_DELAY_S,
                 beat: Callable[[], None] = lambda: None) -> None:
        self.db = db
        self.jobs = tuple(jobs)
        self.holder = holder or holder_id()
        self.clock = clock
        self.tick_s = tick_s
        self.start_delay_s = start_delay_s
        self.beat = beat                     # heartbeat for /healthz
        self._done: dict[str, str] = {}      # job -> last period known to be finished

    async def run(self) -> None:
        self.beat()
        await asyncio.sleep(self.start_delay_s)
        while True:
            self.beat()
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("job scheduler: round failed")
            self.beat()
            await asyncio.sleep(self.tick_s)

    async def tick(self) -> list[str]:
        """Run every job that is due and not yet done for its period; returns those run here."""
        ran = []
        for job in self.jobs:
            now = self.clock()
            period = job.period(now)
            if period is None or self._done.get(job.name) == period:
                continue
            if await self._run_once(job, period, now):
                ran.append(job.name)
        return ran

    async def _run_once(self, job: Job, period: str, now: dt.datetime) -> bool:
        async with self.db.connect() as conn:   # a cheap read first: no write lock when idle
            row = await state(conn, job.name, period)
        if row is not None:
            if row.finished_at is not None:
                self._done[job.name] = period
                return False
            expires = _aware(row.expires_at)
            if (expires is not None and expires > now) or row.attempts >= MAX_ATTEMPTS:
                return False                 # another process is on it (or it was given up)
        async with self.db.begin() as conn:
            if not await claim(conn, job.name, period, self.holder, now, job.lease):
                return False
        log.info("job %s (%s): started", job.name, period)
        keeper = asyncio.create_task(self._keep_lease(job, period), name=f"lease-{job.name}")
        try:
            outcome = await job.run()
        except asyncio.CancelledError:
            raise                            # shutting down: the lease expires, another resumes
        except Exception as exc:
            log.exception("job %s (%s): failed", job.name, period)
            async with self.db.begin() as conn:
                if await release(conn, job.name, period, self.holder, self.clock(),
                                 exc.__class__.__name__):
                    log.error("job %s (%s): given up after %d attempts", job.name, period,
                              MAX_ATTEMPTS)
                    self._done[job.name] = period
            return True
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
        async with self.db.begin() as conn:
            await finish(conn, job.name, period, self.holder, self.clock(), outcome)
        self._done[job.name] = period
        log.info("job %s (%s): done: %s", job.name, period, outcome)
        return True

    async def _keep_lease(self, job: Job, period: str) -> None:
        """Renew the lease at a third of its length while the job runs."""
        every = max(job.lease.total_seconds() / 3, 0.05)
        while True:
            await asyncio.sleep(every)
            self.beat()
            try:
                async with self.db.begin() as conn:
                    kept = await renew(conn, job.name, period, self.holder, self.clock(),
                                       job.lease)
                if not kept:
                    log.warning("job %s (%s): lease lost to another process", job.name, period)
                    return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("job %s (%s): lease renewal failed (%s)", job.name, period,
                            exc.__class__.__name__)
