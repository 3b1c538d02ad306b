"""Webhook deliveries that arrive together are stored together (group commit,
bot/channels/webhook.py: Arrivals): each is answered 200 only once stored, a repeat arriving
at the same moment as its first delivery is stored once, and every event is handled."""
from __future__ import annotations

import asyncio
import json
from dataclasses import replace

from aiohttp.test_utils import TestClient, TestServer
from support.env import sql_connect
from support.fakebotapi import text_update
from support.waiting import wait_for

from bot.app import build_app
from bot.channels import webhook

SECRET = "arrivals-secret-token-1"


async def test_a_burst_of_deliveries_with_repeats_is_stored_once_each(settings):
    s = replace(settings, telegram_token="1:ARRIVALS", telegram_api_url="http://127.0.0.1:9/bot",
                telegram_webhook_secret=SECRET,
                telegram_webhook_url="http://127.0.0.1:1/telegram/webhook")
    updates = [{**text_update(700_000 + i, "khi nao tat song 2g"), "update_id": 9_000 + i}
               for i in range(40)]
    bodies = [json.dumps(u).encode() for u in updates]
    async with TestClient(TestServer(build_app(s))) as client:
        async def deliver(body: bytes) -> int:
            response = await client.post("/telegram/webhook", data=body, headers={
                "X-Telegram-Bot-Api-Secret-Token": SECRET})
            return response.status
        # every update once, and half of them a second time, all at the same moment
        statuses = await asyncio.gather(*(deliver(b) for b in bodies + bodies[::2]))
        assert statuses == [200] * 60

        def rows() -> list[tuple[str, str]]:
            with sql_connect(s) as db:
                return db.execute("select external_id, status from inbox "
                                  "where channel = 'telegram'").fetchall()
        await wait_for(lambda: all(status != "new" for _, status in rows()), timeout=30)
    stored = rows()
    assert sorted(int(e) for e, _ in stored) == sorted(u["update_id"] for u in updates)
    assert {status for _, status in stored} == {"done"}
    with sql_connect(s) as db:    # each handled once: one reply queued per update
        assert db.execute("select count(*) from outbox where lane = 'reply'"
                          ).fetchone()[0] == 40


async def test_a_delivery_after_a_quiet_moment_is_not_held_for_more(settings, monkeypatch):
    """Under load a group waits a few milliseconds for more deliveries (LINGER_S); the first
    one after a quiet moment is stored and answered at once. Here the wait is made 10
    minutes: a lone delivery held for it would fail the test."""
    monkeypatch.setattr(webhook, "LINGER_S", 600.0)
    s = replace(settings, telegram_token="1:ARRIVALS", telegram_api_url="http://127.0.0.1:9/bot",
                telegram_webhook_secret=SECRET,
                telegram_webhook_url="http://127.0.0.1:1/telegram/webhook")
    update = {**text_update(710_000, "khi nao tat song 2g"), "update_id": 9_500}
    async with TestClient(TestServer(build_app(s))) as client:
        async with asyncio.timeout(60):
            response = await client.post("/telegram/webhook", data=json.dumps(update).encode(),
                                         headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
        assert response.status == 200
    with sql_connect(s) as db:
        assert db.execute("select status from inbox where external_id = '9500'"
                          ).fetchall() == [("done",)]
