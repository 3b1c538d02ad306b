"""SQL statements and transactions per webhook update, counted inside one Loa process.

Round trips to the database cost PostgreSQL and Loa CPU on the way to every reply (issue 16),
so this counts them where they happen: a real Loa app (bot.app.build_app) in this process, in
webhook mode on a fresh database, answering the local fake Bot API
(tests/support/fakebotapi.py). Updates are posted one at a time, each waiting for its reply,
so each update's statements are its own: first messages of new chats, then second messages
of the same chats (a known contact). SQLAlchemy's cursor and transaction events count; the
most frequent statement shapes are printed with their counts per update.

    .venv/bin/python bench/statements.py [--db postgres|sqlite] [--chats 40] [--top 15]
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import re
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import aiohttp
from sqlalchemy import event

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from load import Database  # noqa: E402  (bench/load.py)
from support.env import free_port, make_settings, start_server  # noqa: E402
from support.fakebotapi import FakeBotApi, text_update  # noqa: E402

from bot.app import LOA, build_app  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.store import direct  # noqa: E402
from bot.store.db import upgrade_database  # noqa: E402

SECRET = "statements-bench-secret"
UPDATE_IDS = itertools.count(50_000)
QUESTIONS = ["khi nao tat song 2g", "1", "doi may co mat so khong", "mua may 4g bao nhieu tien",
             "tong dai viettel", "menu"]


class Counter:
    def __init__(self) -> None:
        self.statements: collections.Counter[str] = collections.Counter()
        self.transactions = 0
        self.on = False

    def attach(self, engine) -> None:  # type: ignore[no-untyped-def]
        @event.listens_for(engine.sync_engine, "before_cursor_execute")
        def _statement(conn, cursor, statement, params, context, many):  # type: ignore
            if self.on:
                self.statements[shape(statement)] += 1

        @event.listens_for(engine.sync_engine, "commit")
        def _commit(conn):  # type: ignore[no-untyped-def]
            if self.on:
                self.transactions += 1

        # PostgreSQL's hot statements run on asyncpg itself (bot/store/direct.py), past the
        # events above: counted here (always in a transaction: its commit is counted above)
        if getattr(direct.run, "counted", False):
            return
        run = direct.run

        async def counted(conn, stmt, params):  # type: ignore[no-untyped-def]
            out = await run(conn, stmt, params)
            if out is not None and params and self.on:
                self.statements[shape(direct.sql_of(stmt, params) or str(stmt))] += 1
            return out
        counted.counted = True  # type: ignore[attr-defined]
        direct.run = counted  # type: ignore[assignment]

    def reset(self) -> None:
        self.statements.clear()
        self.transactions = 0


def shape(sql: str) -> str:
    sql = re.sub(r"\s+", " ", sql).strip()
    sql = re.sub(r"\(\$\d+(?:::\w+)?(?:, \$\d+(?:::\w+)?)*\)", "(…)", sql)
    return sql[:110]


async def post_and_wait(http: aiohttp.ClientSession, url: str, api: FakeBotApi,
                        chat: int, text: str) -> None:
    before = len(api.sent_messages(chat))
    update = {**text_update(chat, text), "update_id": next(UPDATE_IDS)}
    async with http.post(url, json=update,
                         headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}) as r:
        assert r.status == 200, r.status
    await api.wait_for_calls("sendMessage", before + 1, chat_id=chat, timeout=30)


async def main(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="loa-statements-"))
    if args.db == "sqlite":
        settings = make_settings(tmp)
        await asyncio.to_thread(upgrade_database, settings.database_url)
        await measure(settings, args)
        return
    async with Database("shared") as database:   # bench/load.py's: fresh, migrated, dropped
        await measure(make_settings(tmp, database_url=database.url), args)


async def measure(settings: Settings, args: argparse.Namespace) -> None:
    async with FakeBotApi(token="616161:STATEMENTS") as api:
        port = free_port()
        url = f"http://127.0.0.1:{port}/telegram/webhook"
        s = replace(settings, telegram_token=api.token, telegram_api_url=api.base_url,
                    port=port, public_url=f"http://127.0.0.1:{port}", quiet_hours="",
                    telegram_webhook_secret=SECRET, telegram_webhook_url=url)
        app = build_app(s)
        counter = Counter()
        counter.attach(app[LOA].runtime.db.engine)
        runner, _ = await start_server(app, port)
        try:
            async with aiohttp.ClientSession() as http:
                await post_and_wait(http, url, api, 1, "xin chao")   # warm up
                # The same chats twice: new the first time, known the second.
                for label in ("first message of a new chat", "next message of a known chat"):
                    await asyncio.sleep(0.5)   # let background rounds settle
                    counter.reset()
                    counter.on = True
                    for i in range(args.chats):
                        await post_and_wait(http, url, api, 1000 + i,
                                            QUESTIONS[i % len(QUESTIONS)])
                    counter.on = False
                    report(label, counter, args)
        finally:
            await runner.cleanup()


def report(label: str, counter: Counter, args: argparse.Namespace) -> None:
    n = args.chats
    total = sum(counter.statements.values())
    print(f"\n{label} ({args.db}, {n} updates, one at a time): "
          f"{total / n:.1f} statements, {counter.transactions / n:.1f} commits per update")
    for sql, count in counter.statements.most_common(args.top):
        print(f"  {count / n:5.2f}  {sql}")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", choices=("postgres", "sqlite"), default="postgres")
    p.add_argument("--chats", type=int, default=40)
    p.add_argument("--top", type=int, default=15)
    return p.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
