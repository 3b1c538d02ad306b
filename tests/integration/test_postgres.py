"""The same app on a real PostgreSQL: migrations, the web chat, dedupe, runs and report."""
from __future__ import annotations

import datetime as dt
from dataclasses import replace

from aiohttp.test_utils import TestClient, TestServer

from bot.app import build_app
from bot.features.outreach.reports.monthly import TZ, monthly_counts
from bot.store.db import Database, make_engine, upgrade_database_async

SESSION = "postgres-session-0123456789"


async def test_web_chat_on_postgres(settings, postgres_url):
    await upgrade_database_async(postgres_url)
    await upgrade_database_async(postgres_url)          # a second upgrade is a no-op
    pg_settings = replace(settings, database_url=postgres_url)
    async with TestClient(TestServer(build_app(pg_settings))) as client:
        for message_id, text in (("pgmsg001", "2"), ("pgmsg002", "khi nao tat song 2g"),
                                 ("pgmsg002", "khi nao tat song 2g")):   # a browser retry
            response = await client.post("/api/chat", json={"session": SESSION,
                                                            "id": message_id, "text": text})
            assert response.status == 200
            assert "Cập nhật ngày" in (await response.json())["messages"][0]["text"]
        health = await (await client.get("/healthz")).json()
        assert health["queues"]["inbox"] == {"done": 2}
    db = Database(make_engine(postgres_url))
    try:
        async with db.connect() as conn:
            counts = await monthly_counts(conn, dt.datetime.now(TZ).strftime("%Y-%m"))
    finally:
        await db.dispose()
    assert counts.total == 2 and counts.by_topic == {"timeline": 2} and counts.contacts == 1


async def test_two_workers_on_postgres_give_each_update_one_effect(settings, postgres_url):
    """The same 200 updates delivered 3 times, to two Loa instances sharing one database."""
    import asyncio

    import aiohttp
    from support.env import free_port, start_server
    from support.fakebotapi import FakeBotApi, text_update
    from support.waiting import drained

    await upgrade_database_async(postgres_url)
    secret = "pg-webhook-secret-123"
    async with FakeBotApi(token="808:PG") as api:
        runners, urls = [], []
        for _ in range(2):
            port = free_port()
            s = replace(settings, database_url=postgres_url, telegram_token=api.token,
                        telegram_api_url=api.base_url, port=port, telegram_webhook_secret=secret,
                        telegram_webhook_url=f"http://127.0.0.1:{port}/telegram/webhook",
                        quiet_hours="")
            runner, url = await start_server(build_app(s), port)
            runners.append(runner)
            urls.append(url)
        try:
            updates = []
            for i in range(200):
                update = text_update(70_000 + i, "khi nao tat song 2g")
                update["update_id"] = 500_000 + i
                updates.append(update)
            headers = {"X-Telegram-Bot-Api-Secret-Token": secret}
            async with aiohttp.ClientSession() as http:
                async def deliver(url: str, update: dict) -> int:
                    async with http.post(f"{url}/telegram/webhook", json=update,
                                         headers=headers) as response:
                        return response.status
                statuses = await asyncio.gather(*(
                    deliver(urls[k % 2], u) for k in range(3) for u in updates))
            assert set(statuses) == {200}
            deadline = asyncio.get_running_loop().time() + 60
            while len([c for c in api.calls if c.method == "sendMessage" and c.ok]) < 200:
                assert asyncio.get_running_loop().time() < deadline, "not all answered"
                await asyncio.sleep(0.1)
            await drained(postgres_url)   # nothing left to send: a duplicate would be out
            answered = [c.params["chat_id"] for c in api.calls
                        if c.method == "sendMessage" and c.ok]
            assert sorted(answered) == sorted(70_000 + i for i in range(200))   # once each
        finally:
            for runner in runners:
                await runner.cleanup()
    db = Database(make_engine(postgres_url))
    try:
        async with db.connect() as conn:
            counts = await monthly_counts(conn, dt.datetime.now(TZ).strftime("%Y-%m"))
    finally:
        await db.dispose()
    assert counts.total == 200
