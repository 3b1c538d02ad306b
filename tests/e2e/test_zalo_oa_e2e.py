"""End to end: Loa as a Zalo Official Account against a local fake Open API and OAuth server:
signed webhooks, replies, -216 refresh-and-resend, one refresh for many racing sends, quota."""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time
from dataclasses import replace

import aiohttp
import pytest
from support.env import free_port, sql_connect, sql_write, start_server
from support.fakezalo import FakeZaloOA, oa_event, signed
from support.waiting import drained
from support.waiting import wait_for as _wait_for

from bot.app import build_app
from bot.channels.zalo import models as zq
from bot.channels.zalo.common import JsonHttp, Pacer, ReplyRenderer
from bot.channels.zalo.oa import ZaloOAChannel
from bot.channels.zalo.oa_state import OATokenStore, ReplyWindows
from bot.core.messages import Reply
from bot.delivery.channel import Blocked, Failed, Sent
from bot.store.db import Database, make_engine

APP_ID = "3608465249409039670"
OA_SECRET = "oa-webhook-secret-key"
APP_SECRET = "app-secret-x1"
USER = "2468458835291979220"


async def wait_for(predicate, timeout: float = 10.0) -> None:
    await _wait_for(predicate, timeout)


def rows(settings, sql: str, *args: object) -> list[tuple]:
    """Reads only: in WAL mode they never wait for Loa's writers."""
    with sql_connect(settings) as db:
        return db.execute(sql, args).fetchall()


@pytest.fixture
async def oa():
    async with FakeZaloOA(app_id=APP_ID, app_secret=APP_SECRET) as fake:
        yield fake


def oa_settings(settings, oa, **more):
    return replace(settings, zalo_oa_app_id=APP_ID, zalo_oa_secret_key=OA_SECRET,
                   zalo_app_secret_key=APP_SECRET, zalo_oa_access_token=oa.access_token,
                   zalo_oa_refresh_token=oa.refresh_token, zalo_oa_api_url=oa.url,
                   zalo_oauth_url=oa.url, zalo_rate=100, **more)


@pytest.fixture
async def loa(settings, oa):
    port = free_port()
    runner, url = await start_server(build_app(oa_settings(settings, oa, port=port)), port)
    try:
        yield url
    finally:
        await runner.cleanup()


async def post(url: str, event: dict, secret: str = OA_SECRET,
               headers: dict[str, str] | None = None) -> int:
    body, signed_headers = signed(event, APP_ID, secret)
    async with aiohttp.ClientSession() as http:
        response = await http.post(f"{url}/zalo/oa/webhook", data=body,
                                   headers=signed_headers if headers is None else headers)
        return response.status


async def test_signed_message_is_answered_with_the_stored_token(loa, oa, settings):
    assert await post(loa, oa_event("user_send_text", USER, "2")) == 200
    (reply,) = await oa.wait_for_calls("cs", 1)
    assert reply.ok and reply.token == "access-0"
    # the privacy notice first (once, at first contact), then the answer
    assert reply.params["text"].startswith("Loa lưu câu hỏi của bạn")
    assert "\n\nKhi nào tắt sóng 2G" in reply.params["text"]
    assert reply.params["text"].rstrip().endswith("0. ☰ Menu chính")
    await wait_for(lambda: rows(settings, "select count(*) from run")[0][0] == 1)
    assert rows(settings, "select medium, topic from run") == [("zalo_oa", "timeline")]
    (window,) = rows(settings, "select used from zalo_window")
    assert window == (1,)
    assert USER not in json.dumps(rows(settings, "select * from zalo_window"))


async def test_forged_stale_and_replayed_webhooks(loa, oa, settings, caplog):
    caplog.set_level(logging.INFO)
    event = oa_event("user_send_text", USER, "2")
    body, headers = signed(event, APP_ID, OA_SECRET)
    assert await post(loa, event, secret="not-the-secret") == 401                # bad
    assert await post(loa, event, headers={}) == 401                              # missing
    old = oa_event("user_send_text", USER, "2", timestamp_ms=int(time.time() * 1000) - 3600_000)
    assert await post(loa, old) == 401                                            # stale
    for _ in range(3):                                                            # replayed
        assert await post(loa, event) == 200
    async with aiohttp.ClientSession() as http:
        tampered = await http.post(f"{loa}/zalo/oa/webhook", data=body.replace(b'"2"', b'"3"'),
                                   headers=headers)
        assert tampered.status == 401
    await oa.wait_for_calls("cs", 1)
    await drained(settings)         # a replay, had it been stored, answered by now
    assert len(oa.sends(USER)) == 1
    assert rows(settings, "select count(*) from inbox") == [(1,)]
    assert OA_SECRET not in caplog.text and "access-0" not in caplog.text


async def test_invalid_token_is_refreshed_once_and_the_reply_resent(loa, oa, settings, caplog):
    caplog.set_level(logging.INFO)
    oa.invalidate_access_token()
    assert await post(loa, oa_event("user_send_text", USER, "2")) == 200
    failed, sent = await oa.wait_for_calls("cs", 2, timeout=15)
    assert not failed.ok and sent.ok and sent.token == oa.access_token
    assert oa.refreshes == 1
    ((access, refresh, count),) = rows(settings, "select access_token, refresh_token, "
                                       "refresh_count from zalo_token")
    assert (access, refresh, count) == (oa.access_token, oa.refresh_token, 1)
    for secret in (oa.access_token, oa.refresh_token, "refresh-0", APP_SECRET):
        assert secret not in caplog.text


async def test_unfollow_stops_the_contact_and_follow_makes_one_without_reply(loa, oa, settings):
    assert await post(loa, oa_event("follow", USER)) == 200
    await wait_for(lambda: rows(settings, "select status from contact") == [("active",)])
    assert await post(loa, oa_event("unfollow", USER)) == 200
    await wait_for(lambda: rows(settings, "select status from contact") == [("stopped",)])
    assert oa.sends() == []


async def test_the_ninth_reply_of_a_window_is_failed_not_sent(loa, oa, settings):
    """One user message: 8 free replies, then a clear failure (paid messages are off)."""
    assert await post(loa, oa_event("user_send_text", USER, "2")) == 200
    await oa.wait_for_calls("cs", 1)
    ((contact_id, address),) = rows(settings, "select id, address from contact")
    payload = json.dumps({"text": "Thông báo", "buttons": [], "audio": None, "ack_id": None})
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    for _ in range(8):                    # 8 more, as a broadcast would queue them
        await sql_write(
            settings, "insert into outbox (contact_id, channel, address, lane, payload, "
            "status, attempts, not_before, ambiguous, created_at) values (?, 'zalo_oa', ?, "
            "'reply', ?, 'pending', 0, ?, ?, ?)", contact_id, address, payload, now, False, now)
    await wait_for(lambda: rows(settings, "select count(*) from outbox where status in "
                                "('sent', 'failed')")[0][0] == 9, timeout=20)
    assert len(oa.sends(USER)) == 8
    ((error,),) = rows(settings, "select last_error from outbox where status = 'failed'")
    assert error.startswith("zalo quota: 8 of 8 free replies used")
    assert rows(settings, "select used from zalo_window") == [(8,)]


async def test_fifty_sends_racing_an_expired_token_refresh_it_once(settings, oa):
    db = Database(make_engine(settings.database_url))
    http = JsonHttp(pool=64)
    try:
        async with db.begin() as conn:
            await zq.seed_token(conn, APP_ID, "access-0", "refresh-0", None, "seed")
            await conn.execute(zq.TOKEN.update().values(   # expired by its expires_in
                expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
        oa.refresh_delay = 0.2            # a slow token endpoint widens the race
        stores = [OATokenStore(APP_ID, APP_SECRET, oa.url, http, db) for _ in range(2)]
        windows = ReplyWindows("test-secret-key", db)
        users = [f"{USER[:-2]}{i:02d}" for i in range(50)]
        async with db.begin() as conn:
            for user in users:
                await windows.open(conn, user, dt.datetime.now(dt.UTC))
        # two "workers", each with its own store (own lock): only the lease keeps them apart
        channels = [ZaloOAChannel(APP_ID, OA_SECRET, oa.url, http, store, windows,
                                  ReplyRenderer({}, lambda m: m), Pacer(1000))
                    for store in stores]
        results = await asyncio.gather(*(channels[i % 2].send(user, Reply(f"Tin {i}"))
                                         for i, user in enumerate(users)))
        assert all(isinstance(r, Sent) for r in results)
        assert oa.refreshes == 1 and sum(s.refreshes for s in stores) == 1
        assert len(oa.sends()) == 50 and {c.token for c in oa.sends()} == {oa.access_token}
        async with db.connect() as conn:
            row = await zq.load_token(conn, APP_ID)
        assert row is not None and row.refresh_token == oa.refresh_token
        assert row.lease_owner is None and row.refresh_count == 1
        assert row.expires_at is not None and row.expires_at > dt.datetime.now(dt.UTC)
    finally:
        await http.close()
        await db.dispose()


async def test_quota_outcomes_and_paid_setting(settings, oa):
    db = Database(make_engine(settings.database_url))
    http = JsonHttp()
    try:
        async with db.begin() as conn:
            await zq.seed_token(conn, APP_ID, "access-0", "refresh-0", None, "seed")
        store, windows = OATokenStore(APP_ID, APP_SECRET, oa.url, http, db), ReplyWindows("k", db)

        def channel(paid: bool) -> ZaloOAChannel:
            return ZaloOAChannel(APP_ID, OA_SECRET, oa.url, http, store, windows,
                                 ReplyRenderer({}, lambda m: m), Pacer(1000), allow_paid=paid)

        never = await channel(False).send("never-wrote", Reply("Xin chào"))
        assert isinstance(never, Failed) and "no message from this user" in never.reason
        async with db.begin() as conn:
            await windows.open(conn, USER, dt.datetime.now(dt.UTC) - dt.timedelta(hours=49))
        closed = await channel(False).send(USER, Reply("Xin chào"))
        assert isinstance(closed, Failed) and "48-hour" in closed.reason
        async with db.begin() as conn:
            await windows.open(conn, USER, dt.datetime.now(dt.UTC))
            status = await windows.status(conn, windows.pseudonym(USER))
        assert status.inside and status.remaining == 8
        long = Reply("Câu dài. " * 500)            # 3 chunks need 3 free replies at once
        results = [await channel(False).send(USER, long) for _ in range(3)]
        assert [type(r) for r in results] == [Sent, Sent, Failed]
        assert "6 of 8 free replies used in this window, 3 more needed" in results[2].reason
        assert isinstance(await channel(True).send(USER, long), Sent)    # paid allowed
        async with db.connect() as conn:
            status = await windows.status(conn, windows.pseudonym(USER))
        assert status.remaining == 2 and len(oa.sends(USER)) == 9
        oa.fail_next(1, error=-201, message="Parameters invalid")
        assert isinstance(await channel(False).send(USER, Reply("x")), Failed)
        async with db.connect() as conn:              # a refused send gives its reply back
            assert (await windows.status(conn, windows.pseudonym(USER))).remaining == 2
        oa.blocked.add(USER)
        assert isinstance(await channel(False).send(USER, Reply("x")), Blocked)
    finally:
        await http.close()
        await db.dispose()


async def test_a_bad_refresh_token_is_reported_without_the_token(settings, oa, caplog):
    caplog.set_level(logging.INFO)
    db = Database(make_engine(settings.database_url))
    http = JsonHttp()
    try:
        store = OATokenStore(APP_ID, APP_SECRET, oa.url, http, db)
        await store.seed("", "refresh-wrong")
        windows = ReplyWindows("k", db)
        async with db.begin() as conn:
            await windows.open(conn, USER, dt.datetime.now(dt.UTC))
        channel = ZaloOAChannel(APP_ID, OA_SECRET, oa.url, http, store, windows,
                                ReplyRenderer({}, lambda m: m), Pacer(1000))
        result = await channel.send(USER, Reply("Xin chào"))
        assert result.__class__.__name__ == "RetryLater" and result.whole_channel
        assert oa.sends() == [] and "refresh-wrong" not in caplog.text
        async with db.connect() as conn:
            row = await zq.load_token(conn, APP_ID)
        assert row is not None and row.lease_owner is None      # the lease was given back
        await store.seed("", "refresh-wrong")                   # same configured value: kept
        await store.seed("", oa.refresh_token)                  # a new one replaces it
        assert isinstance(await channel.send(USER, Reply("Xin chào")), Sent)
    finally:
        await http.close()
        await db.dispose()
