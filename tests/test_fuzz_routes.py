"""Hostile input: thousands of malformed bodies to the web chat API and the Telegram webhook
get a 4xx answer, never a 500 or a stack trace, and the server keeps answering real users."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app import build_app

SECRET = "fuzz-secret-token-123"
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=50),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30)
chat_bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({}, optional={
        "session": st.text(max_size=80), "id": st.text(max_size=80),
        "text": st.one_of(st.text(max_size=3000), st.integers(), st.none()),
        "choice": st.one_of(st.text(max_size=100), st.integers()),
        "command": st.text(max_size=10)}).map(lambda d: json.dumps(d).encode()))
telegram_bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"update_id": st.integers(min_value=1, max_value=2**40)}, optional={
        "message": json_values, "callback_query": json_values, "edited_message": json_values,
        "my_chat_member": json_values}).map(lambda d: json.dumps(d).encode()))


@pytest.fixture
async def fuzz_client(settings):
    s = replace(settings, telegram_token="1:FUZZ", telegram_api_url="http://127.0.0.1:9/bot",
                telegram_webhook_secret=SECRET,
                telegram_webhook_url="http://127.0.0.1:1/telegram/webhook")
    async with TestClient(TestServer(build_app(s))) as client:
        yield client


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=chat_bodies)
async def test_web_chat_never_fails_on_garbage(client, body):
    response = await client.post("/api/chat", data=body,
                                 headers={"Content-Type": "application/json"})
    assert response.status in (200, 400, 413, 429), response.status
    text = await response.text()
    assert "Traceback" not in text


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=telegram_bodies)
async def test_telegram_webhook_never_fails_on_garbage(fuzz_client, body):
    forged = await fuzz_client.post("/telegram/webhook", data=body)
    assert forged.status == 401
    response = await fuzz_client.post("/telegram/webhook", data=body,
                                      headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
    assert response.status in (200, 400), response.status
    assert "Traceback" not in await response.text()


async def test_after_the_storm_citizens_are_still_answered(fuzz_client):
    for body in (b"\xff\xfe", b"{", b'{"update_id": 1, "message": {"chat": 5}}', b"[]" * 5000):
        await fuzz_client.post("/telegram/webhook", data=body,
                               headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
    response = await fuzz_client.post("/api/chat", json={
        "session": "after-the-storm-session-1", "id": "storm0001", "text": "1"})
    assert response.status == 200
    assert "Cập nhật ngày" in (await response.json())["messages"][0]["text"]
