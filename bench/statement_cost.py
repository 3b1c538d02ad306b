"""Loa's CPU per SQL statement on PostgreSQL: through SQLAlchemy's asyncio layer (as Loa runs
its statements) against the plain asyncpg connection underneath (issue 16).

One connection to the server's `test` database (LOA_TEST_PG_HOST/PORT, default 127.0.0.1:5432);
the same small cached SELECT, `--count` times after a warm-up, each way; prints this process's
CPU time (user + system) per statement, which leaves out the server's own.

    .venv/bin/python bench/statement_cost.py [--count 2000] [--rounds 2]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Awaitable, Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

HOST = os.environ.get("LOA_TEST_PG_HOST", "127.0.0.1")
PORT = int(os.environ.get("LOA_TEST_PG_PORT", "5432"))


async def main(args: argparse.Namespace) -> None:
    engine = create_async_engine(f"postgresql+asyncpg://postgres@{HOST}:{PORT}/test")
    stmt = text("SELECT 1 WHERE :a = 'x'")
    try:
        async with engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection

            def ten(sync_conn) -> None:  # type: ignore[no-untyped-def]
                for _ in range(10):
                    sync_conn.execute(stmt, {"a": "y"})

            async def sqlalchemy() -> None:
                await conn.execute(stmt, {"a": "y"})

            async def driver_sql() -> None:
                await conn.exec_driver_sql("SELECT 1 WHERE $1::text = 'x'", ("y",))

            async def run_sync() -> None:
                await conn.run_sync(ten)

            async def asyncpg_plain() -> None:
                await raw.fetch("SELECT 1 WHERE $1::text = 'x'", "y")

            ways: list[tuple[str, Callable[[], Awaitable[None]], int]] = [
                ("SQLAlchemy AsyncConnection.execute", sqlalchemy, 1),
                ("SQLAlchemy exec_driver_sql", driver_sql, 1),
                ("SQLAlchemy run_sync, 10 per call", run_sync, 10),
                ("plain asyncpg fetch", asyncpg_plain, 1)]
            for round_ in range(1, args.rounds + 1):
                for label, call, per in ways:
                    for _ in range(100 // per):
                        await call()
                    calls = args.count // per
                    start = time.process_time()
                    for _ in range(calls):
                        await call()
                    cpu = (time.process_time() - start) / (calls * per)
                    print(f"round {round_}  {label:38s} {cpu * 1e6:6.0f} µs CPU per statement")
    finally:
        await engine.dispose()


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=2000)
    p.add_argument("--rounds", type=int, default=2)
    return p.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
