"""Scheduled jobs run once per period however many Loa processes schedule them: claim rows in
job_lease, takeover of a dead holder's claim, retries, and the jobs of a running Loa."""
from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.delivery import jobs
from bot.delivery.jobs import LEASE, Job, JobScheduler, daily, hourly, on_days
from bot.store.db import Database, make_engine

ROOT = Path(__file__).resolve().parents[2]
DAY = dt.datetime(2026, 12, 10, 3, 0, tzinfo=dt.UTC)   # 10:00 in Vietnam


class Clock:
    def __init__(self, now: dt.datetime = DAY) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def counting_job(runs: Counter[str], clock: Clock, name: str = "count", seconds: float = 0.05,
                 lease: dt.timedelta = dt.timedelta(minutes=10)) -> Job:
    async def run() -> str:
        runs[daily(clock())] += 1
        await asyncio.sleep(seconds)     # long enough for every racer to try meanwhile
        return "counted"
    return Job(name, daily, run, lease)


async def lease_rows(db: Database) -> list[tuple[str, str, int, bool, str | None]]:
    async with db.connect() as conn:
        rows = (await conn.execute(select(LEASE).order_by(LEASE.c.id))).all()
    return [(r.job, r.period, r.attempts, r.finished_at is not None, r.outcome) for r in rows]


async def race(url: str, processes: int, periods: int) -> tuple[Counter[str], list[tuple]]:
    """`processes` schedulers, each on its own engine (its own connections, as separate
    processes would have), tick together in each of `periods` days."""
    clock, runs = Clock(), Counter[str]()
    dbs = [Database(make_engine(url)) for _ in range(processes)]
    try:
        schedulers = [JobScheduler(db, [counting_job(runs, clock)], clock=clock) for db in dbs]
        for day in range(periods):
            clock.now = DAY + dt.timedelta(days=day)
            ran = await asyncio.gather(*(s.tick() for s in schedulers))
            assert sum(len(r) for r in ran) == 1
            assert await asyncio.gather(*(s.tick() for s in schedulers)) == [[]] * processes
        return runs, await lease_rows(dbs[0])
    finally:
        for db in dbs:
            await db.dispose()


@pytest.fixture
def postgres_url(migrated_postgres_url: str) -> str:
    """Here each test's PostgreSQL database is migrated already: a copy of the session's
    template (tests/conftest.py), instead of every migration run again per test."""
    return migrated_postgres_url


async def test_concurrent_schedulers_run_a_job_once_per_period(settings):
    runs, rows = await race(settings.database_url, processes=4, periods=3)
    assert runs == Counter({"2026-12-10": 1, "2026-12-11": 1, "2026-12-12": 1})
    assert rows == [("count", f"2026-12-{d}", 1, True, "counted") for d in (10, 11, 12)]


async def test_many_schedulers_on_postgres_run_a_job_once_per_period(postgres_url):
    runs, rows = await race(postgres_url, processes=8, periods=5)
    assert sorted(runs.values()) == [1] * 5 and len(rows) == 5


SCRIPT = """
import asyncio, datetime as dt, sys, time
from sqlalchemy import text
from bot.delivery.jobs import Job, JobScheduler, daily
from bot.store.db import Database, make_engine

async def main(url, start, days):
    db = Database(make_engine(url))
    now = [dt.datetime.fromisoformat(days[0])]

    async def run():
        print("ran", daily(now[0]), flush=True)
        await asyncio.sleep(0.2)
        return "ok"

    scheduler = JobScheduler(db, [Job("process-race", daily, run)], clock=lambda: now[0])
    async with db.connect() as conn:         # connected before the start signal
        await conn.execute(text("select 1"))
    for index, day in enumerate(days):       # every process ticks at the same instants
        now[0] = dt.datetime.fromisoformat(day)
        await asyncio.sleep(max(0.0, start + index - time.time()))
        await scheduler.tick()
    await db.dispose()

asyncio.run(main(sys.argv[1], float(sys.argv[2]), sys.argv[3:]))
"""


async def test_separate_processes_started_at_once_run_a_job_once(postgres_url):
    """Real OS processes on one PostgreSQL database, all ticking at the same instants."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    days = ["2026-12-10T03:00:00+00:00", "2026-12-11T03:00:00+00:00"]
    start = time.time() + 4.0    # enough for every interpreter to import and connect
    procs = [subprocess.Popen([sys.executable, "-c", SCRIPT, postgres_url, str(start), *days],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outputs = [await asyncio.to_thread(p.communicate, timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outputs]
    ran = sorted(line for out, _ in outputs for line in out.splitlines())
    assert ran == ["ran 2026-12-10", "ran 2026-12-11"]
    db = Database(make_engine(postgres_url))
    try:
        rows = await lease_rows(db)
    finally:
        await db.dispose()
    assert [(job, period, finished) for job, period, _, finished, _ in rows] == [
        ("process-race", "2026-12-10", True), ("process-race", "2026-12-11", True)]


async def test_a_dead_holders_claim_is_taken_over_after_its_lease(settings):
    clock, runs = Clock(), Counter[str]()
    lease = dt.timedelta(minutes=5)
    db = Database(make_engine(settings.database_url))
    try:
        async with db.begin() as conn:   # a process claimed today's run, then died
            assert await jobs.claim(conn, "count", "2026-12-10", "dead:1:x", clock(), lease)
        survivor = JobScheduler(db, [counting_job(runs, clock, lease=lease)], clock=clock)
        assert await survivor.tick() == []          # the lease still runs: it might be alive
        clock.now += dt.timedelta(minutes=4)
        assert await survivor.tick() == []
        clock.now += dt.timedelta(minutes=2)        # expired: taken over, run once
        assert await survivor.tick() == ["count"]
        assert await survivor.tick() == []
        assert runs == Counter({"2026-12-10": 1})
        (row,) = await lease_rows(db)
        assert row == ("count", "2026-12-10", 2, True, "counted")
    finally:
        await db.dispose()


async def test_a_running_job_keeps_its_lease(settings):
    """A job longer than its lease renews it, so no other process starts it meanwhile. Time is
    the schedulers' clock, moved by the test only once the lease was renewed at the current
    time: on a busy machine a renewal may come late, but it cannot be overtaken (with wall
    time, a 0.3 s lease lapsed once under load, and the second process started the job)."""
    runs = Counter[str]()
    lease = dt.timedelta(seconds=0.3)     # renewed every 0.1 s of real time
    clock, finish = Clock(), asyncio.Event()

    async def slow() -> str:
        runs["slow"] += 1
        await finish.wait()
        return "done"

    async def expires() -> dt.datetime | None:
        async with first.connect() as conn:
            row = await jobs.state(conn, "slow", daily(clock()))
        return None if row is None else jobs._aware(row.expires_at)

    async def renewed_now() -> None:
        deadline = time.monotonic() + 30
        while await expires() != clock() + lease:
            assert time.monotonic() < deadline, "the lease was not renewed"
            await asyncio.sleep(0.02)

    job = Job("slow", daily, slow, lease)
    first, second = (Database(make_engine(settings.database_url)) for _ in range(2))
    try:
        a = JobScheduler(first, [job], clock=clock)
        b = JobScheduler(second, [job], clock=clock)
        running = asyncio.create_task(a.tick())
        for _ in range(6):        # 1.2 s of the clock in all: four times the lease
            clock.now += dt.timedelta(seconds=0.2)
            await renewed_now()
            assert await b.tick() == []      # another process looks meanwhile
        finish.set()
        assert await running == ["slow"]
        assert runs == Counter({"slow": 1})
    finally:
        await first.dispose()
        await second.dispose()


async def test_a_failing_job_is_retried_then_given_up(settings, caplog):
    clock, calls = Clock(), []

    async def broken() -> str:
        calls.append(clock())
        raise RuntimeError("boom with no secrets")

    db = Database(make_engine(settings.database_url))
    try:
        scheduler = JobScheduler(db, [Job("broken", daily, broken)], clock=clock)
        for _ in range(5):
            await scheduler.tick()
            clock.now += dt.timedelta(seconds=1)
        assert len(calls) == jobs.MAX_ATTEMPTS
        (row,) = await lease_rows(db)
        assert row == ("broken", "2026-12-10", 3, True, "gave up: RuntimeError")
        clock.now += dt.timedelta(days=1)          # the next period starts afresh
        await scheduler.tick()
        assert len(calls) == jobs.MAX_ATTEMPTS + 1
    finally:
        await db.dispose()
    assert "given up after 3 attempts" in caplog.text


def test_periods():
    assert daily(DAY) == "2026-12-10"
    assert daily(dt.datetime(2026, 12, 9, 17, 30, tzinfo=dt.UTC)) == "2026-12-10"   # 00:30 VN
    reminders = on_days((10, 14))
    assert reminders(DAY) == "2026-12-10"
    assert reminders(DAY + dt.timedelta(days=1)) is None
    assert reminders(DAY + dt.timedelta(days=4)) == "2026-12-14"
    assert hourly(dt.datetime(2026, 12, 9, 17, 30, tzinfo=dt.UTC)) == "2026-12-10T00"   # VN


def test_a_running_loa_schedules_reminders_retention_and_the_question_purge(settings):
    """Background work runs only as jobs under the leases: each feature declares its own."""
    from dataclasses import replace

    from bot.app import LOA, build_app

    def job_names(s):  # type: ignore[no-untyped-def]
        return sorted(job.name for f in build_app(s)[LOA].features for job in f.jobs)

    assert job_names(settings) == ["question_purge", "report_reminders", "retention"]
    assert job_names(replace(settings, report_reminder_days=())) == ["question_purge",
                                                                     "retention"]
