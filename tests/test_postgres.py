"""The same app on a real PostgreSQL: migrations, the web chat, dedupe, runs and report."""
from __future__ import annotations

import datetime as dt
from dataclasses import replace

from aiohttp.test_utils import TestClient, TestServer

from bot.app import build_app
from bot.reports.monthly import TZ, monthly_counts
from bot.store.db import Database, make_engine, upgrade_database_async

SESSION = "postgres-session-0123456789"


async def test_web_chat_on_postgres(settings, postgres_url):
    await upgrade_database_async(postgres_url)
    await upgrade_database_async(postgres_url)          # a second upgrade is a no-op
    pg_settings = replace(settings, database_url=postgres_url)
    async with TestClient(TestServer(build_app(pg_settings))) as client:
        for message_id, text in (("pgmsg001", "1"), ("pgmsg002", "khi nao tat song 2g"),
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
