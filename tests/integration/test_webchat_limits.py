"""A script cannot write the monthly report through the web chat: limits per session, per
client address (through a trusted proxy: per forwarded address; IPv6: per /64) and on new
sessions, counted in the database so that several Loa app instances share them. Refused
requests store nothing; web chat sessions count as people only once Loa answered them; the
report shows how many runs came from addresses that hit a limit."""
from __future__ import annotations

import asyncio
import csv
import io
from dataclasses import replace

import openpyxl
import pytest
from aiohttp.test_utils import TestClient, TestServer
from support.env import sql_connect
from support.officers import login_as

from bot.app import build_app
from bot.features.outreach import service as outreach
from bot.features.outreach.reports import forms

QUESTION = "khi nào tắt sóng 2g"      # matched: an answer (a person reached)
LIMIT = 30                            # BOT_WEBCHAT_NEW_SESSIONS_PER_HOUR default


def session(tag: str, n: int) -> str:
    return f"{tag}-flood-session-{n:06d}-abcdef"


async def ask(client, sid: str, n: int, headers: dict[str, str] | None = None, **body):
    body = body or {"text": QUESTION}
    return await client.post("/api/chat", json={"session": sid, "id": f"m{n:010d}", **body},
                             headers=headers or {})


def counts(settings) -> dict[str, int]:
    with sql_connect(settings) as db:
        return {"inbox": db.execute("select count(*) from inbox").fetchone()[0],
                "contacts": db.execute("select count(*) from contact "
                                       "where channel = 'web'").fetchone()[0],
                "runs": db.execute("select count(*) from run").fetchone()[0]}


async def chatbot_row(client) -> tuple[int, int, list[list[str]]]:
    """(runs, people) of the province's "Hỏi đáp qua chatbot" row in the CSV export, and all
    rows (the officer is logged in)."""
    month = forms.month_of(outreach.today_vn())
    response = await client.get(f"/admin/reports/export.csv?month={month}")
    assert response.status == 200
    rows = list(csv.reader(io.StringIO((await response.read()).decode("utf-8-sig"))))
    summed = [r for r in rows if r[1] == "" and "chatbot" in r[4].lower()]
    if not summed:
        return 0, 0, rows
    (row,) = summed
    return int(row[5]), int(row[7]), rows


async def flood(client, tag: str, sessions: int, headers=lambda n: None) -> list[int]:
    statuses = []
    for start in range(0, sessions, 25):          # 25 at a time, as a script would
        batch = await asyncio.gather(*(ask(client, session(tag, n), n, headers(n))
                                       for n in range(start, min(start + 25, sessions))))
        statuses += [r.status for r in batch]
    return statuses


async def test_500_new_sessions_from_one_address_move_the_report_by_the_limit_only(
        client, settings):
    await login_as(client, settings, "tinh", "viewer")
    statuses = await flood(client, "one", 500)
    assert statuses.count(200) == LIMIT and statuses.count(429) == 500 - LIMIT
    runs, people, rows = await chatbot_row(client)
    assert runs == LIMIT and people == LIMIT
    assert counts(settings)["contacts"] == LIMIT
    # every one of those runs came from an address that was refused today: the report says so
    assert rows[-1][2].startswith("Lượt hỏi đáp trên web") and rows[-1][5] == str(LIMIT)
    month = forms.month_of(outreach.today_vn())
    page = await (await client.get(f"/admin/reports?month={month}")).text()
    assert 'id="webchat-limited"' in page
    assert f"nhiều (có thể do máy tự gửi): <strong>{LIMIT}</strong>" in page
    xlsx = await client.get(f"/admin/reports/export.xlsx?month={month}")
    sheet = openpyxl.load_workbook(io.BytesIO(await xlsx.read())).worksheets[0]
    cells = [r for r in sheet.iter_rows(values_only=True) if r[1] and "địa chỉ mạng" in r[1]]
    assert cells and cells[0][2] == LIMIT


async def test_refused_requests_store_nothing_and_say_why_in_vietnamese(client, settings):
    for n in range(LIMIT):
        assert (await ask(client, session("nothing", n), n)).status == 200
    before = counts(settings)
    refused = await ask(client, session("nothing", 999), 999)
    assert refused.status == 429
    error = (await refused.json())["error"]
    assert "quá nhiều" in error and "Traceback" not in error
    assert counts(settings) == before                # no inbox row, contact or run
    # the sessions already open keep being answered (up to the per-address limits)
    again = await ask(client, session("nothing", 0), 5000)
    assert again.status == 200 and "Cập nhật ngày" in (await again.json())["messages"][0]["text"]


async def test_one_session_spread_over_two_app_instances_is_limited_once(settings):
    """Each process used to keep its own per-session count: two processes let 60 through."""
    async with TestClient(TestServer(build_app(settings))) as one, \
            TestClient(TestServer(build_app(settings))) as two:
        statuses = [(await ask((one, two)[n % 2], session("chatty", 1), n,
                               text=str(1 + n % 5))).status for n in range(40)]
    assert statuses.count(200) == 30 and statuses[30:] == [429] * 10
    assert counts(settings)["runs"] == 30


@pytest.fixture
async def proxied(settings):
    s = replace(settings, trusted_proxies=("127.0.0.1",))
    async with TestClient(TestServer(build_app(s))) as c:
        yield c


async def test_through_a_trusted_proxy_each_forwarded_address_has_its_own_limit(
        proxied, settings):
    await login_as(proxied, settings, "tinh", "viewer")
    addresses = [f"203.0.113.{i}" for i in range(1, 5)]
    statuses = await flood(proxied, "proxy", 400, lambda n: {
        "X-Forwarded-For": f"{addresses[n % 4]}, 127.0.0.1"})
    assert statuses.count(200) == 4 * LIMIT
    # one subscriber's IPv6 /64 is one client, however many addresses it rotates through
    statuses = await flood(proxied, "ipv6", 100, lambda n: {
        "X-Forwarded-For": f"2001:db8:7:9:{n:x}::1"})
    assert statuses.count(200) == LIMIT
    runs, people, _ = await chatbot_row(proxied)
    assert runs == people == 5 * LIMIT


async def test_a_forged_forwarded_header_from_an_untrusted_peer_changes_nothing(
        client, settings):
    statuses = await flood(client, "forged", 100, lambda n: {"X-Forwarded-For": f"198.51.100.{n}"})
    assert statuses.count(200) == LIMIT


async def test_limits_hold_across_app_instances_on_one_database(settings):
    """Two Loa web processes on one database: a script spreading over both gets the limit
    once, not twice (the counts are in the database)."""
    async with TestClient(TestServer(build_app(settings))) as one, \
            TestClient(TestServer(build_app(settings))) as two:
        statuses = []
        for n in range(120):
            statuses.append((await ask((one, two)[n % 2], session("spread", n), n)).status)
        assert statuses.count(200) == LIMIT
        assert counts(settings)["contacts"] == LIMIT


async def test_opening_the_chat_or_the_menu_is_not_a_person_reached(client, settings):
    await login_as(client, settings, "tinh", "viewer")
    for n in range(5):                                  # opened, greeted, looked at the menu
        await ask(client, session("menu", n), 10 * n, command="start")
        await ask(client, session("menu", n), 10 * n + 1, text="xin chào")
        await ask(client, session("menu", n), 10 * n + 2, text="menu")
    runs, people, _ = await chatbot_row(client)
    assert runs == 0 and people == 0     # 15 interactions, no communication run (issue 17)
    answered = await ask(client, session("menu", 0), 99)       # one of them really asks
    assert "Cập nhật ngày" in (await answered.json())["messages"][0]["text"]
    runs, people, _ = await chatbot_row(client)
    assert runs == 1 and people == 1


def test_the_settings_are_checked_with_a_message_naming_them():
    from bot.settings import Settings, SettingsError
    s = Settings.from_env({"BOT_SECRET_KEY": "k"})
    assert (s.webchat_session_per_minute, s.webchat_address_per_minute,
            s.webchat_address_per_day, s.webchat_new_sessions_per_hour,
            s.webchat_new_sessions_per_day, s.webchat_retention_days) == (30, 60, 600, 30, 100, 30)
    assert Settings.from_env({"BOT_SECRET_KEY": "k", "BOT_WEBCHAT_NEW_SESSIONS_PER_HOUR": "200"}
                             ).webchat_new_sessions_per_hour == 200
    for name in ("BOT_WEBCHAT_ADDRESS_PER_DAY", "BOT_WEBCHAT_RETENTION_DAYS"):
        for bad in ("0", "lots"):
            with pytest.raises(SettingsError, match=name):
                Settings.from_env({"BOT_SECRET_KEY": "k", name: bad})
