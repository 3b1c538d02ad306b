"""A citizen flooding Loa on Telegram is limited politely, end to end through the fake Bot API.

More than 20 messages within a minute: the 21st gets one note in Vietnamese, the rest of the
minute gets nothing. Every message is still stored (inbox rows, marked as not answered), the
flood logs no communication run (the monthly report counts what was communicated), other
citizens are not slowed, and the count lives in the database, so two processes share it.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace

import aiohttp
import pytest
from support.env import free_port, sql_connect, sql_write, start_server
from support.fakebotapi import FakeBotApi, text_update
from support.processes import SECRET, start_loa, wait_healthy
from support.waiting import drained, wait_for

from bot.app import build_app
from bot.delivery.handler import FLOOD_LIMIT, FLOODED
from bot.features.outreach.reports.monthly import TZ, monthly_counts
from bot.store.db import Database, make_engine, upgrade_database_async

NOTE = "Bạn gửi nhiều tin quá"
FLOODER, NEIGHBOUR = 7_001, 7_002


def sent_to(api: FakeBotApi, chat: int) -> list[str]:
    return [c.params["text"] for c in api.calls
            if c.method == "sendMessage" and c.ok and c.params.get("chat_id") == chat]


def inbox_states(settings) -> dict[tuple[str, str | None], int]:
    with sql_connect(settings) as db:
        return {(status, error): n for status, error, n in db.execute(
            "select status, error, count(*) from inbox group by status, error").fetchall()}


@pytest.fixture
async def loa(settings):
    async with FakeBotApi(token="911:FLOOD") as api:
        port = free_port()
        s = replace(settings, telegram_token=api.token, telegram_api_url=api.base_url,
                    port=port, quiet_hours="", telegram_webhook_secret="f" * 20)
        app = build_app(s)
        runner, _ = await start_server(app, port)
        try:
            yield api, app, s
        finally:
            await runner.cleanup()


async def test_a_flooding_citizen_gets_twenty_answers_then_one_polite_note(loa):
    api, app, settings = loa
    for _ in range(30):
        api.push_update(text_update(FLOODER, "khi nao tat song 2g"))
    api.push_update(text_update(NEIGHBOUR, "khi nao tat song 2g"))
    await wait_for(lambda: sum(inbox_states(settings).values()) == 31
                   and ("new", None) not in inbox_states(settings), timeout=30)
    await wait_for(lambda: len(sent_to(api, FLOODER)) >= FLOOD_LIMIT + 1, timeout=30)
    await drained(settings)                  # nothing left to send: nothing more may come
    texts = sent_to(api, FLOODER)
    assert len(texts) == FLOOD_LIMIT + 1
    assert all("Cập nhật ngày" in t for t in texts[:FLOOD_LIMIT])
    assert NOTE in texts[FLOOD_LIMIT] and "một phút" in texts[FLOOD_LIMIT]
    assert len(sent_to(api, NEIGHBOUR)) == 1                 # the neighbour is answered
    # Stored and logged honestly: 31 rows handled, the 10 over the limit marked, no text kept.
    assert inbox_states(settings) == {("done", None): 21, ("done", FLOODED): 10}
    with sql_connect(settings) as db:
        assert db.execute("select count(*) from inbox where payload is not null"
                          ).fetchone()[0] == 0
        runs = dict(db.execute("select contact_pseudonym, count(*) from run "
                               "group by contact_pseudonym").fetchall())
        state = json.loads(db.execute("select state from contact where address = ?",
                                      (str(FLOODER),)).fetchone()[0])
    # 20 answers are 20 communication runs; the note and the unanswered messages are none.
    assert sorted(runs.values()) == [1, FLOOD_LIMIT]
    db = Database(make_engine(settings.database_url))
    try:
        async with db.connect() as conn:
            counts = await monthly_counts(conn, dt.datetime.now(TZ).strftime("%Y-%m"))
    finally:
        await db.dispose()
    assert counts.total == FLOOD_LIMIT + 1 and counts.contacts == 2
    # The conversation state survived the flood; a minute later the citizen is answered again.
    assert state["flood"]["n"] == 30 and "lang" in state
    state["flood"]["since"] -= 61
    await sql_write(settings, "update contact set state = ? where address = ?",
                    json.dumps(state), str(FLOODER))       # from a thread: Loa runs in this loop
    api.push_update(text_update(FLOODER, "doi may co mat so khong"))
    await wait_for(lambda: len(sent_to(api, FLOODER)) == FLOOD_LIMIT + 2, timeout=15)
    assert NOTE not in sent_to(api, FLOODER)[-1]


async def test_the_limit_is_shared_by_two_processes(database_url, tmp_path):
    """Two `python -m bot run` processes on one database take turns at one citizen's 30
    messages (webhook): a count kept in memory would let 15 + 15 through; the stored count
    answers 20 and sends one note."""
    await upgrade_database_async(database_url)
    async with FakeBotApi(token="912:FLOOD2") as api, aiohttp.ClientSession() as http:
        env = {"BOT_DATABASE_URL": database_url, "BOT_TELEGRAM_TOKEN": api.token,
               "BOT_TELEGRAM_API_URL": api.base_url}
        processes = [start_loa(tmp_path, tmp_path / f"loa-{i}.log", **env) for i in range(2)]
        try:
            for loa in processes:
                await wait_healthy(http, loa, telegram=True)
            for i in range(30):
                update = text_update(FLOODER, "khi nao tat song 2g", update_id=90_000 + i)
                async with http.post(f"{processes[i % 2].url}/telegram/webhook", json=update,
                                     headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
                                     ) as response:
                    assert response.status == 200
                await wait_for(lambda n=i + 1: handled(database_url) == n, timeout=20)
            await wait_for(lambda: len(sent_to(api, FLOODER)) >= FLOOD_LIMIT + 1, timeout=20)
            await drained(database_url)      # nothing left to send: nothing more may come
        finally:
            for loa in processes:
                loa.stop()
    texts = sent_to(api, FLOODER)
    assert len(texts) == FLOOD_LIMIT + 1 and NOTE in texts[-1]
    assert inbox_states(database_url) == {("done", None): 20, ("done", FLOODED): 10}


def handled(url: str) -> int:
    with sql_connect(url) as db:
        return int(db.execute("select count(*) from inbox where status = 'done'").fetchone()[0])
