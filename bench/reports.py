"""Time of one month's province report as data grows (issue 7).

Fills a fresh PostgreSQL database with --runs communication runs (default 10 million) over
--months months (12) and --units units (200), plus offline entries, then times the province
report of the busiest month (build_report: official table per unit and summed, statuses,
breakdowns, 12-month trend) and its XLSX. Then the same on SQLite with --sqlite-runs
(default 1 million). Runs are bulk-loaded (asyncpg COPY; sqlite3 executemany) and the rollups
computed once with rebuild_rollups, which tests/test_report_rollup.py proves equal to what
add_runs maintains run by run. The write cost of rollups on the hot path is measured too:
add_runs vs a plain insert, in handler-sized batches. The bench database is dropped at the end.

    .venv/bin/python bench/reports.py [--runs 10000000] [--sqlite-runs 1000000]
        [--months 12] [--units 200] [--skip-postgres] [--skip-sqlite]
Goal: one month's province report under 1 second.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.core.i18n import GettextTranslator  # noqa: E402
from bot.delivery.runs import add_runs, rebuild_rollups  # noqa: E402
from bot.features.officers import service as officers  # noqa: E402
from bot.features.outreach.reports import exports, forms  # noqa: E402
from bot.features.outreach.reports.model import build_report  # noqa: E402
from bot.store import queries  # noqa: E402
from bot.store.db import Database, make_engine, upgrade_database  # noqa: E402

PG_HOST = os.environ.get("LOA_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("LOA_TEST_PG_PORT", "5432"))
PROVINCE = "Sở Khoa học và Công nghệ tỉnh Đắk Lắk"
COLUMNS = ["at", "unit", "form", "medium", "kind", "topic", "language", "commune_code",
           "contact_pseudonym", "reached", "score"]
TOPICS = [None, "timeline", "affected", "scams.fake_4g", "after_shutdown", "contact",
          "scams.fake_hotlines", "cost", "coverage", "keep_number", "reason", "support",
          "support.poor_households", "switch", "switch.volte", "after_shutdown.emergency",
          "coverage.report_dead_zone"]
KINDS = ["answer", "answer", "answer", "menu", "check", "verdict", "unmatched", "other"]
MEDIA = ["telegram"] * 6 + ["web"] * 3 + ["zalo"]
LANGS = ["vi"] * 18 + ["rad", "jra"]
TZ = dt.timezone(dt.timedelta(hours=7))


def tr_factory() -> Callable[..., str]:
    translator = GettextTranslator(ROOT / "locales")
    return lambda msgid, **kw: translator.gettext("vi", msgid, **kw)


def month_list(last: str, n: int) -> list[str]:
    return [forms.shift_month(last, -i) for i in range(n - 1, -1, -1)]


def generate(total: int, months: list[str], units: list[str], seed: int = 1,
             chunk: int = 200_000) -> Iterator[list[tuple[Any, ...]]]:
    """Runs spread evenly over the months, in chunks of tuples in COLUMNS order."""
    rng = random.Random(seed)
    communes = [None] * 40 + list(forms.communes())
    starts = []
    for m in months:
        year, number = (int(x) for x in m.split("-"))
        start = dt.datetime(year, number, 1, tzinfo=TZ).astimezone(dt.UTC)
        ny, nm = (int(x) for x in forms.shift_month(m, 1).split("-"))
        end = dt.datetime(ny, nm, 1, tzinfo=TZ).astimezone(dt.UTC)
        starts.append((start, int((end - start).total_seconds()) - 1))
    people = 2_000_000
    done = 0
    while done < total:
        n = min(chunk, total - done)
        month_idx = rng.choices(range(len(months)), k=n)
        unit = rng.choices(units, k=n)
        broadcast = [rng.random() < 0.05 for _ in range(n)]
        out = []
        for i in range(n):
            start, span = starts[month_idx[i]]
            at = start + dt.timedelta(seconds=rng.randrange(span))
            if broadcast[i]:
                out.append((at, unit[i], "broadcast", rng.choice(MEDIA), "message", None,
                            rng.choice(LANGS), None, None, rng.randrange(50, 5000), None))
            else:
                out.append((at, unit[i], "chatbot_qa", rng.choice(MEDIA), rng.choice(KINDS),
                            rng.choice(TOPICS), rng.choice(LANGS), rng.choice(communes),
                            f"{rng.randrange(people):032x}", 1, None))
        done += n
        yield out


def entries(units: list[tuple[int, int]], months: list[str], per_month: int,
            seed: int = 2) -> list[tuple[Any, ...]]:
    """Offline entries: (unit_id, month, day, form, medium, runs, reached, communes, langs)."""
    rng = random.Random(seed)
    codes = list(forms.communes())
    out = []
    for unit_id, officer_id in units:
        for m in months:
            for _ in range(per_month):
                day = dt.date.fromisoformat(f"{m}-{rng.randrange(1, 29):02d}")
                out.append((unit_id, m, day, rng.choice(forms.OFFLINE_CODES[:-1]), "Loa xã",
                            rng.randrange(1, 10), rng.choice([None, rng.randrange(10, 900)]),
                            rng.choice(codes), rng.choice(["vi", "vi,rad"]), officer_id))
    return out


async def setup_units(db: Database, count: int) -> tuple[list[str], list[tuple[int, int]]]:
    """The province, its 102 communes and extra units up to `count`; one officer each."""
    async with db.begin() as conn:
        await officers.sync_units(conn, PROVINCE)
        have = await officers.list_units(conn)
        for i in range(count - len(have)):
            await officers.add_unit(conn, f"dv-{i:03d}", f"Đơn vị thử {i:03d}")
        units = (await officers.list_units(conn))[:count]
        pairs = []
        for u in units:
            code = await officers.create_invite(conn, u.code, "editor", "bench")
            row = await officers.redeem_invite(conn, code, "cli", uuid.uuid4().hex, "", "bench")
            pairs.append((u.id, row.id))
    return [u.name for u in units], pairs


async def time_report(db: Database, month: str, tr: Callable[..., str],
                      repeat: int = 5) -> tuple[list[float], float, Any]:
    times = []
    report = None
    for _ in range(repeat):
        started = time.perf_counter()
        async with db.connect() as conn:
            report = await build_report(conn, month, tr, province_name=PROVINCE,
                                        today=dt.date.fromisoformat(f"{month}-28"))
        times.append(time.perf_counter() - started)
    started = time.perf_counter()
    exports.to_xlsx(report, tr)
    return times, time.perf_counter() - started, report


async def hot_path(db: Database, units: list[str], months: list[str], n: int = 20_000,
                   batch: int = 100) -> tuple[float, float]:
    """Runs/s through add_runs (runs + rollups) vs queries.insert_runs, in handler batches."""
    rows = [dict(zip(COLUMNS, r, strict=True)) for chunk in generate(2 * n, months[-1:], units,
                                                                     seed=9) for r in chunk]
    rates = []
    for write, part in ((queries.insert_runs, rows[:n]), (add_runs, rows[n:])):
        started = time.perf_counter()
        for i in range(0, len(part), batch):
            async with db.begin() as conn:
                await write(conn, part[i:i + batch])
        rates.append(len(part) / (time.perf_counter() - started))
    return rates[0], rates[1]


def report_line(label: str, times: list[float], xlsx: float, report: Any) -> None:
    print(f"  {label}: province report of {report.month}: "
          f"best {min(times) * 1000:.0f} ms, median {statistics.median(times) * 1000:.0f} ms "
          f"({len(report.statuses)} units, {report.total_runs:,} runs in the month, "
          f"{len(report.by_commune)} communes); XLSX {xlsx * 1000:.0f} ms", flush=True)


async def bench_postgres(runs: int, months: list[str], unit_count: int,
                         tr: Callable[..., str]) -> None:
    import asyncpg
    name = f"loa_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user="postgres", database="test")
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/{name}"
    print(f"PostgreSQL ({name}): {runs:,} runs, {len(months)} months, {unit_count} units",
          flush=True)
    try:
        await asyncio.to_thread(upgrade_database, url)
        db = Database(make_engine(url))
        try:
            names, pairs = await setup_units(db, unit_count)
            started = time.perf_counter()
            raw = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user="postgres",
                                        database=name)
            try:
                for chunk in generate(runs, months, names):
                    await raw.copy_records_to_table("run", records=chunk, columns=COLUMNS)
                load = time.perf_counter() - started
                rows = entries(pairs, months, 20)
                now = dt.datetime.now(dt.UTC)
                await raw.copy_records_to_table("outreach_entry", records=[
                    (u, m, d, f, md, r, rc, c, lg, "bench", o, now, now, "")
                    for u, m, d, f, md, r, rc, c, lg, o in rows], columns=[
                    "unit_id", "month", "day", "form", "medium", "runs", "reached", "communes",
                    "languages", "source", "created_by", "created_at", "updated_at", "note"])
                print(f"  filled {runs:,} runs in {load:.0f} s "
                      f"({runs / load:,.0f} runs/s, COPY) and {len(rows):,} offline entries",
                      flush=True)
                started = time.perf_counter()
                await raw.execute("SET work_mem = '256MB'")
                await raw.execute("ANALYZE run")
            finally:
                await raw.close()
            async with db.begin() as conn:
                from sqlalchemy import text
                await conn.execute(text("SET LOCAL work_mem = '256MB'"))
                await rebuild_rollups(conn)
            async with db.begin() as conn:
                from sqlalchemy import text
                await conn.execute(text("ANALYZE run_rollup"))
                await conn.execute(text("ANALYZE outreach_entry"))
                size = (await conn.execute(text("SELECT count(*) FROM run_rollup"))).scalar_one()
            print(f"  rollups computed in {time.perf_counter() - started:.0f} s "
                  f"({size:,} rollup rows)", flush=True)
            times, xlsx, report = await time_report(db, months[-1], tr)
            report_line("PostgreSQL", times, xlsx, report)
            plain, rolled = await hot_path(db, names, months)
            print(f"  hot path, batches of 100: insert_runs {plain:,.0f} runs/s, "
                  f"add_runs (with rollups) {rolled:,.0f} runs/s", flush=True)
        finally:
            await db.dispose()
    finally:
        admin = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user="postgres",
                                      database="test")
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
        print(f"  dropped {name}", flush=True)


async def bench_sqlite(runs: int, months: list[str], unit_count: int,
                       tr: Callable[..., str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.db"
        url = f"sqlite+aiosqlite:///{path}"
        print(f"SQLite ({path}): {runs:,} runs, {len(months)} months, {unit_count} units",
              flush=True)
        await asyncio.to_thread(upgrade_database, url)
        db = Database(make_engine(url))
        try:
            names, pairs = await setup_units(db, unit_count)
            started = time.perf_counter()
            with sqlite3.connect(path) as raw:
                raw.execute("PRAGMA journal_mode=WAL")
                raw.execute("PRAGMA synchronous=OFF")
                sql = (f"INSERT INTO run ({', '.join(COLUMNS)}) VALUES "
                       f"({', '.join('?' for _ in COLUMNS)})")
                for chunk in generate(runs, months, names):
                    raw.executemany(sql, [(r[0].strftime("%Y-%m-%d %H:%M:%S.%f"), *r[1:])
                                          for r in chunk])
                now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
                rows = entries(pairs, months, 20)
                raw.executemany(
                    "INSERT INTO outreach_entry (unit_id, month, day, form, medium, runs, "
                    "reached, communes, languages, source, created_by, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'bench', ?, ?, ?)",
                    [(u, m, d.isoformat(), f, md, r, rc, c, lg, o, now, now)
                     for u, m, d, f, md, r, rc, c, lg, o in rows])
            load = time.perf_counter() - started
            print(f"  filled {runs:,} runs in {load:.0f} s ({runs / load:,.0f} runs/s) "
                  f"and {len(rows):,} offline entries", flush=True)
            started = time.perf_counter()
            async with db.begin() as conn:
                await rebuild_rollups(conn)
            async with db.begin() as conn:
                from sqlalchemy import text
                await conn.execute(text("ANALYZE"))
            print(f"  rollups computed in {time.perf_counter() - started:.0f} s", flush=True)
            times, xlsx, report = await time_report(db, months[-1], tr)
            report_line("SQLite", times, xlsx, report)
            plain, rolled = await hot_path(db, names, months)
            print(f"  hot path, batches of 100: insert_runs {plain:,.0f} runs/s, "
                  f"add_runs (with rollups) {rolled:,.0f} runs/s", flush=True)
        finally:
            await db.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10_000_000, help="PostgreSQL runs")
    parser.add_argument("--sqlite-runs", type=int, default=1_000_000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--units", type=int, default=200)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    last = forms.shift_month(forms.month_of(dt.datetime.now(TZ).date()), -1)
    months = month_list(last, args.months)
    tr = tr_factory()
    began = time.perf_counter()
    if not args.skip_postgres:
        asyncio.run(bench_postgres(args.runs, months, args.units, tr))
    if not args.skip_sqlite:
        asyncio.run(bench_sqlite(args.sqlite_runs, months, args.units, tr))
    print(f"total {time.perf_counter() - began:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
