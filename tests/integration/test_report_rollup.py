"""Rollups: kept equal to the runs they sum, whoever writes the runs, on SQLite and PostgreSQL.

`add_runs` (every writer of runs) must leave run_rollup/run_reach exactly as a full recount
(`rebuild_rollups`, also the migration's backfill) would, so the monthly report read from the
rollups equals a scan of the runs.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections import Counter

from alembic import command
from sqlalchemy import func, select
from support.outreach import PROVINCE_NAME, run

from bot.delivery.runs import REACH, ROLLUP, add_runs, rebuild_rollups, run_groups, run_month
from bot.features.outreach.reports.monthly import monthly_counts
from bot.store import queries
from bot.store.db import Database, alembic_config, make_engine, upgrade_database_async

VN = dt.timezone(dt.timedelta(hours=7))


def test_a_run_counts_in_its_vietnam_month():
    assert run_month(dt.datetime(2026, 10, 31, 16, 59, tzinfo=dt.UTC)) == "2026-10"
    assert run_month(dt.datetime(2026, 10, 31, 17, 0, tzinfo=dt.UTC)) == "2026-11"
    assert run_month(dt.datetime(2026, 10, 31, 17, 0)) == "2026-11"   # naive = UTC (SQLite)
    assert run_month(dt.datetime(2026, 12, 31, 23, 0, tzinfo=VN)) == "2026-12"


def _random_runs(seed: int, n: int) -> list[dict[str, object]]:
    rng = random.Random(seed)
    start = dt.datetime(2026, 9, 30, 12, tzinfo=dt.UTC)
    out = []
    for _ in range(n):
        broadcast = rng.random() < 0.2
        out.append(run(start + dt.timedelta(minutes=rng.randrange(0, 60 * 24 * 40)),
                       unit=rng.choice([PROVINCE_NAME, "Xã Hòa Phú", "Phường Tân An"]),
                       form="broadcast" if broadcast else "chatbot_qa",
                       medium=rng.choice(["telegram", "web", "zalo"]),
                       kind=rng.choice(["answer", "menu", "check", "unmatched"]),
                       topic=rng.choice([None, "timeline", "affected", "contact"]),
                       language=rng.choice(["vi", "vi", "rad", "jra"]),
                       commune=rng.choice([None, "24175", "24133"]),
                       who=None if broadcast else f"p{rng.randrange(40)}",
                       reached=rng.randrange(1, 900) if broadcast else 1))
    return out


async def _snapshot(db: Database) -> tuple[list[tuple], list[tuple]]:
    async with db.connect() as conn:
        rollup = sorted(tuple(r) for r in (await conn.execute(select(ROLLUP))).all())
        reach = sorted(tuple(r) for r in (await conn.execute(select(REACH))).all())
    return rollup, reach


async def _same_as_recount(url: str) -> None:
    db = Database(make_engine(url))
    try:
        runs = _random_runs(7, 1500)
        for chunk in range(0, len(runs), 97):          # batches, as the handler writes them
            async with db.begin() as conn:
                await add_runs(conn, runs[chunk:chunk + 97])
        incremental = await _snapshot(db)
        async with db.begin() as conn:
            await rebuild_rollups(conn)
        assert await _snapshot(db) == incremental
        async with db.begin() as conn:                 # a partial rebuild of one month
            await rebuild_rollups(conn, ["2026-10"])
        assert await _snapshot(db) == incremental
        # And the sums equal a plain count of the runs.
        async with db.connect() as conn:
            counts = await monthly_counts(conn, "2026-10")
            rows = await queries.runs_between(conn, dt.datetime(2026, 9, 30, 17, tzinfo=dt.UTC),
                                              dt.datetime(2026, 10, 31, 17, tzinfo=dt.UTC))
            people = (await conn.execute(select(func.sum(ROLLUP.c.people)).where(
                ROLLUP.c.month == "2026-10", ROLLUP.c.dim == "total"))).scalar_one()
        # Communication runs: answers, verdicts and announcements; every chat turn is an
        # interaction (issue 17).
        runs = [r for r in rows if r.form != "chatbot_qa" or r.kind in ("answer", "verdict")]
        assert 0 < len(runs) < len(rows)
        assert counts.total == len(runs)
        assert counts.interactions == sum(r.form == "chatbot_qa" for r in rows)
        assert counts.by_topic == dict(Counter(r.topic or "none" for r in runs))
        assert counts.by_language == dict(Counter(r.language for r in runs))
        assert counts.by_medium == dict(Counter(r.medium for r in runs))
        assert counts.by_kind == dict(Counter(r.kind for r in rows))
        assert counts.by_group == dict(Counter(g for r in runs for g in run_groups(
            {"topic": r.topic, "language": r.language})))
        # a chat contact is a person only once Loa answered it (not for a menu alone), on
        # every medium (issue 17)
        counted = [r for r in rows if r.form != "chatbot_qa" or r.kind in ("answer", "verdict")]
        assert len(counted) < len(rows)
        assert {r.medium for r in rows if r not in counted} == {"telegram", "web", "zalo"}
        assert counts.contacts == len({r.contact_pseudonym for r in counted
                                       if r.contact_pseudonym})
        assert people == sum(r.reached for r in counted if not r.contact_pseudonym) + len(
            {(r.unit, r.form, r.medium, r.contact_pseudonym) for r in counted
             if r.contact_pseudonym})
    finally:
        await db.dispose()


async def test_add_runs_equals_a_recount_on_sqlite(settings):
    await _same_as_recount(settings.database_url)


async def test_add_runs_equals_a_recount_on_postgres(migrated_postgres_url):
    await _same_as_recount(migrated_postgres_url)


async def test_concurrent_writers_on_postgres_neither_deadlock_nor_lose_counts(
        migrated_postgres_url):
    db = Database(make_engine(migrated_postgres_url))
    try:
        runs = _random_runs(11, 800)

        async def writer(part: list[dict[str, object]]) -> None:
            for chunk in range(0, len(part), 50):
                async with db.begin() as conn:
                    await add_runs(conn, part[chunk:chunk + 50])

        await asyncio.gather(*(writer(runs[i::4]) for i in range(4)))
        incremental = await _snapshot(db)
        async with db.begin() as conn:
            await rebuild_rollups(conn)
        assert await _snapshot(db) == incremental
    finally:
        await db.dispose()


async def test_migration_backfills_rollups_of_runs_stored_before_it(database_url):
    url = database_url
    await asyncio.to_thread(command.upgrade, alembic_config(url), "0003")   # before issue 7
    runs = _random_runs(3, 300)
    db = Database(make_engine(url))
    try:
        async with db.begin() as conn:
            await queries.insert_runs(conn, runs)       # the old way: no rollups
        await upgrade_database_async(url)
        backfilled = await _snapshot(db)
        assert sum(r[6] for r in backfilled[0] if r[1] == "total") == 300
        async with db.begin() as conn:
            await rebuild_rollups(conn)
        assert await _snapshot(db) == backfilled
    finally:
        await db.dispose()


async def test_chatbot_turns_write_their_rollups(client):
    """The web chat through the real handler: rollups follow the runs it logs."""
    for i, text in enumerate(["2", "khi nao tat song 2g", "may cuc gach con dung dc ko"]):
        response = await client.post("/api/chat", json={"session": "rollup-session-0123456789",
                                                         "id": f"rollup{i:03d}", "text": text})
        assert response.status == 200
    from bot.web.keys import RUNTIME
    db = client.server.app[RUNTIME].db
    month = dt.datetime.now(VN).strftime("%Y-%m")
    async with db.connect() as conn:
        counts = await monthly_counts(conn, month)
        total = (await conn.execute(select(func.count()).select_from(queries.RUN))).scalar_one()
    assert counts.total == total == 3 and counts.by_form == {"chatbot_qa": 3}
    assert counts.by_topic == {"timeline": 2, "affected": 1} and counts.contacts == 1
    incremental = await _snapshot(db)
    async with db.begin() as conn:
        await rebuild_rollups(conn)
    assert await _snapshot(db) == incremental
