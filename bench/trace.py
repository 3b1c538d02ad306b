"""Where the time of Loa's replies goes: one traced Loa process (bench/tracing/sitecustomize.py).

`.venv/bin/python bench/trace.py [--rate 200] [--seconds 10] [--stock-sqlite] [--keep FILE]`
starts Loa as bench/replies.py does (`python -m bot run`, a fresh SQLite file, the local fake
Bot API), sends one message per new chat at a steady rate, and prints the reply latency, then
from the trace: the polled batches (size; time to store and handle them), the write
transactions of each caller (waiting for SQLite's writer lock, held, the commit itself), the
statements per batch and how many distinct statement texts ran, and the Bot API calls.
`--stock-sqlite` runs Loa on SQLAlchemy's own aiosqlite driver instead of Loa's one-trip one.

`.venv/bin/python bench/trace.py --read FILE` prints the same from a trace another run wrote,
for example the Loa process of bench/load.py on PostgreSQL:
    PYTHONPATH=bench/tracing LOA_TRACE=/tmp/pg.trace .venv/bin/python bench/load.py \\
        --quick --procs 1 --fixed-rate 300 --rates 300
(with several Loa processes or runs, the file holds the last one started).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

import replies  # noqa: E402
from support.fakebotapi import FakeBotApi  # noqa: E402


def spread(values: list[float]) -> str:
    """p50 / p99 / max in ms."""
    if not values:
        return "-"
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (f"{1000 * statistics.median(ordered):6.1f} {1000 * p99:7.1f} "
            f"{1000 * ordered[-1]:7.1f}")


def report(path: str, since: float = 0.0) -> None:
    """Print what the trace at `path` holds, from monotonic time `since` on."""
    batches, txns, http = [], defaultdict(list), defaultdict(list)
    sql: list[tuple[str, str]] = []
    for line in Path(path).read_text().splitlines():
        kind, *f = line.split()
        if kind == "batch" and float(f[1]) >= since:
            batches.append((int(f[0]), float(f[2]) - float(f[1])))
        elif kind == "txn" and float(f[1]) >= since:
            asked, got, body, end = map(float, f[1:5])
            txns[f[0]].append((got - asked, end - got, end - body))
        elif kind == "http" and float(f[1]) >= since:
            http[f[0]].append(float(f[2]) - float(f[1]))
        elif kind == "sql" and float(f[0]) >= since:
            sql.append((f[2], f[3]))
    updates = sum(n for n, _ in batches)
    print(f"\n{'':34}{'p50':>6} {'p99':>7} {'max':>7}   (ms)")
    if batches:
        print(f"batches stored and handled: {len(batches)}, {updates / len(batches):.2f} "
              "updates each")
        print(f"  {'store and handle':32}{spread([t for _, t in batches])}")
    for caller, rows in sorted(txns.items(), key=lambda kv: -len(kv[1])):
        if len(rows) < 5:
            continue
        print(f"transactions of {caller}: {len(rows)}")
        print(f"  {'to begin (SQLite: writer lock)':32}{spread([w for w, _, _ in rows])}")
        print(f"  {'held':32}{spread([h for _, h, _ in rows])}")
        print(f"  {'commit':32}{spread([c for _, _, c in rows])}")
    for method, times in sorted(http.items(), key=lambda kv: -len(kv[1])):
        if len(times) >= 5:
            print(f"Bot API {method}: {len(times)}".ljust(34) + spread(times))
    if sql:
        texts = Counter(h for _, h in sql)
        print(f"statements: {len(sql)} ({len(sql) / max(updates, 1):.1f} per update handled), "
              f"{len(texts)} distinct texts")
        per_text = defaultdict(set)
        for words, digest in sql:
            per_text[words].add(digest)
        for words, count in Counter(w for w, _ in sql).most_common(12):
            print(f"  {count:6d} {count / max(updates, 1):5.2f}/update "
                  f"{len(per_text[words]):3d} texts  {words}")


async def traced_run(args: argparse.Namespace, path: str) -> None:
    os.environ.update({"PYTHONPATH": str(ROOT / "bench" / "tracing"), "LOA_TRACE": path})
    if args.stock_sqlite:
        os.environ["LOA_TRACE_STOCK_SQLITE"] = "1"
    with tempfile.TemporaryDirectory() as data_dir:   # replies.start_bot passes os.environ on
        async with FakeBotApi(token=replies.TOKEN) as api:
            proc = replies.start_bot("loa", api, data_dir)
            try:
                await replies.wait_polling(api, 0)
                ps = psutil.Process(proc.pid)
                await replies.burst(api, 50, 10_000)   # warm-up
                since = time.monotonic()
                before = ps.cpu_times()
                p50, p99, rss = await replies.steady(api, args.rate, args.seconds, 1_000_000,
                                                     ps)
                after = ps.cpu_times()
            finally:
                proc.terminate()
                proc.wait(timeout=15)
    cpu = (after.user - before.user + after.system - before.system) / (args.rate * args.seconds)
    print(f"steady {args.rate:.0f} msg/s for {args.seconds:.0f} s, "
          f"{'stock' if args.stock_sqlite else 'one-trip'} SQLite driver: reply p50 {p50:.1f} "
          f"ms, p99 {p99:.1f} ms; Loa CPU {1000 * cpu:.2f} ms per message, RSS {rss:.0f} MB")
    report(path, since)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--stock-sqlite", action="store_true")
    parser.add_argument("--keep", help="write the trace here (default: a temporary file)")
    parser.add_argument("--read", help="print a trace written by another run")
    args = parser.parse_args()
    if args.read:
        report(args.read)
        return
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(traced_run(args, args.keep or str(Path(folder) / "loa.trace")))


if __name__ == "__main__":
    main()
