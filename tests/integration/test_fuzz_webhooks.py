"""Hostile input on the Zalo webhooks, and deeply nested JSON on every webhook and API route:
a 4xx answer (401 when forged), never a 500, and citizens are still answered afterwards."""
from __future__ import annotations

import functools
import hashlib
import json
import sys
import time
from dataclasses import replace

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.fuzz import json_values, odd_numbers, odd_text, odd_values

from bot.app import build_app

TG_SECRET = "fuzz-secret-token-123"
ZALO_SECRET = "zalo-fuzz-secret-123"
APP_ID, OA_SECRET = "4242", "oa-secret-key-for-fuzz"
FUZZ = dict(max_examples=200, deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

zalo_bot_bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({}, optional={
        "ok": st.booleans(), "result": json_values, "event_name": json_values,
        "message": json_values}).map(lambda d: json.dumps(d).encode()))
oa_events = st.fixed_dictionaries(
    {"timestamp": st.just(None)},
    optional={"event_name": json_values, "app_id": json_values, "sender": json_values,
              "recipient": json_values, "message": json_values, "user_id_by_app": json_values})


odd_oa_events = st.fixed_dictionaries(
    {"timestamp": odd_numbers},
    optional={"event_name": st.one_of(st.just("user_send_text"), odd_values),
              "sender": st.fixed_dictionaries({"id": odd_values}),
              "message": st.fixed_dictionaries({}, optional={"text": odd_text,
                                                             "msg_id": odd_values})})
odd_zalo_bot_bodies = st.fixed_dictionaries(
    {"ok": st.just(True)},
    optional={"result": st.fixed_dictionaries(
        {"event_name": st.one_of(st.just("message.text.received"), odd_values)},
        optional={"message": st.fixed_dictionaries({}, optional={
            "text": odd_text, "message_id": odd_values, "date": odd_numbers,
            "from": st.fixed_dictionaries({"id": odd_values}),
            "chat": st.fixed_dictionaries({"id": odd_values})})})},
).map(lambda d: json.dumps(d).encode())


def deep(levels: int, opener: str = "[", closer: str = "]") -> str:
    return opener * levels + closer * levels


def oa_sign(body: bytes, stamp: str) -> str:
    return "mac=" + hashlib.sha256(APP_ID.encode() + body + stamp.encode()
                                   + OA_SECRET.encode()).hexdigest()


@pytest.fixture
async def loa(settings):
    """Telegram, the Zalo bot and a Zalo OA configured; their APIs unreachable (port 9)."""
    s = replace(settings, telegram_token="1:FUZZ", telegram_api_url="http://127.0.0.1:9/bot",
                telegram_webhook_secret=TG_SECRET,
                telegram_webhook_url="http://127.0.0.1:1/telegram/webhook",
                zalo_bot_token="1:ZFUZZ", zalo_api_url="http://127.0.0.1:9",
                zalo_webhook_secret=ZALO_SECRET,
                zalo_webhook_url="http://127.0.0.1:1/zalo/bot/webhook",
                zalo_oa_app_id=APP_ID, zalo_oa_secret_key=OA_SECRET,
                zalo_oa_api_url="http://127.0.0.1:9", zalo_oauth_url="http://127.0.0.1:9")
    async with TestClient(TestServer(build_app(s))) as client:
        yield client


@settings(**FUZZ)
@given(body=zalo_bot_bodies)
async def test_zalo_bot_webhook_never_fails_on_garbage(loa, body):
    forged = await loa.post("/zalo/bot/webhook", data=body)
    assert forged.status == 401
    response = await loa.post("/zalo/bot/webhook", data=body,
                              headers={"X-Bot-Api-Secret-Token": ZALO_SECRET})
    assert response.status in (200, 400), response.status
    assert "Traceback" not in await response.text()


@settings(**FUZZ)
@given(event=oa_events)
async def test_zalo_oa_webhook_never_fails_on_garbage(loa, event):
    stamp = str(int(time.time() * 1000))
    event["timestamp"] = stamp
    body = json.dumps(event).encode()
    forged = await loa.post("/zalo/oa/webhook", data=body,
                            headers={"X-ZEvent-Signature": "mac=" + "0" * 64})
    assert forged.status == 401
    response = await loa.post("/zalo/oa/webhook", data=body,
                              headers={"X-ZEvent-Signature": oa_sign(body, stamp)})
    assert response.status in (200, 400), response.status
    assert "Traceback" not in await response.text()


@settings(**FUZZ)
@given(event=odd_oa_events)
async def test_zalo_oa_odd_timestamps_and_unicode_get_a_4xx(loa, event, caplog):
    """`"timestamp": "²"` passed str.isdigit() and crashed int() before the signature check."""
    caplog.clear()
    body = json.dumps(event).encode()
    stamp = event["timestamp"] if isinstance(event["timestamp"], str) else str(event["timestamp"])
    for signature in ("mac=" + "0" * 64, oa_sign(body, stamp)):
        response = await loa.post("/zalo/oa/webhook", data=body,
                                  headers={"X-ZEvent-Signature": signature})
        assert response.status in (200, 400, 401), (response.status, body[:200])
        assert "Traceback" not in await response.text()
    assert not [r for r in caplog.records if r.exc_info], body[:200]


async def test_a_superscript_timestamp_is_refused_not_a_500(loa):
    for stamp in ("²", "1²", "٣", "１２３"):
        body = json.dumps({"timestamp": stamp, "event_name": "user_send_text"}).encode()
        response = await loa.post("/zalo/oa/webhook", data=body,
                                  headers={"X-ZEvent-Signature": oa_sign(body, stamp)})
        assert response.status == 401, (stamp, response.status)


@settings(**FUZZ)
@given(body=odd_zalo_bot_bodies)
async def test_zalo_bot_odd_unicode_and_numbers_get_a_4xx(loa, body, caplog):
    caplog.clear()
    response = await loa.post("/zalo/bot/webhook", data=body,
                              headers={"X-Bot-Api-Secret-Token": ZALO_SECRET})
    assert response.status in (200, 400), (response.status, body[:200])
    assert "Traceback" not in await response.text()
    assert not [r for r in caplog.records if r.exc_info], body[:200]


@pytest.mark.parametrize("recursion_limit", [None, 100_000])
async def test_deeply_nested_json_is_refused_everywhere(loa, recursion_limit, request):
    """5,000 levels of [[[…]]] are a small body that crashes a naive json.loads. Refused also
    when a library has raised the interpreter's recursion limit (Hypothesis does, for its
    own tests): the standard json module then read them as a valid update, stored it and
    answered 200; the limit must be Loa's own."""
    if recursion_limit is not None:
        request.addfinalizer(functools.partial(sys.setrecursionlimit, sys.getrecursionlimit()))
        sys.setrecursionlimit(recursion_limit)
    for path, headers in (("/api/chat", {"Content-Type": "application/json"}),
                          ("/telegram/webhook", {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}),
                          ("/zalo/bot/webhook", {"X-Bot-Api-Secret-Token": ZALO_SECRET})):
        for body in (deep(5_000), '{"update_id": 7, "message": ' + deep(5_000) + "}",
                     deep(5_000, '{"a":', "}")):
            response = await loa.post(path, data=body.encode(), headers=headers)
            assert response.status == 400, (path, response.status)
    stamp = str(int(time.time() * 1000))
    body = ('{"timestamp": "' + stamp + '", "event_name": "user_send_text", "message": '
            + deep(5_000) + "}").encode()
    response = await loa.post("/zalo/oa/webhook", data=body,
                              headers={"X-ZEvent-Signature": oa_sign(body, stamp)})
    assert response.status in (400, 401)   # its signed timestamp cannot even be read
    answered = await loa.post("/api/chat", json={"session": "after-the-nesting-session-1",
                                                 "id": "nest0001", "text": "1"})
    assert answered.status == 200
    assert "Cập nhật ngày" in (await answered.json())["messages"][0]["text"]
