"""Hostile input: thousands of malformed bodies to the web chat API and the Telegram webhook
get a 4xx answer, never a 500 or a stack trace, and the server keeps answering real users."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.env import sql_connect
from support.fuzz import json_values, odd_numbers, odd_text, odd_values
from support.waiting import wait_for

from bot.app import build_app

SECRET = "fuzz-secret-token-123"
chat_bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({}, optional={
        "session": st.text(max_size=80), "id": st.text(max_size=80),
        "text": st.one_of(st.text(max_size=3000), st.integers(), st.none()),
        "choice": st.one_of(st.text(max_size=100), st.integers()),
        "command": st.text(max_size=10)}).map(lambda d: json.dumps(d).encode()))
# Odd Unicode an attacker can put in any JSON string: lone surrogates (legal in JSON as \ud800,
# not encodable as UTF-8), NUL, zero-width and bidi marks, combining marks, and digits that are
# not ASCII (superscripts pass str.isdigit() but not int(); Arabic-Indic and fullwidth do).
VALID_SESSION = "odd-unicode-session-0123456789"
# a fresh well-formed session or message id per example, so the odd field is what gets judged
valid_ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=22, max_size=40)
odd_chat_bodies = st.one_of(
    # a well-formed envelope: the odd text, choice or command is what gets judged
    st.fixed_dictionaries({"session": valid_ids, "id": valid_ids},
                          optional={"text": odd_values, "choice": odd_values,
                                    "command": odd_values}),
    st.fixed_dictionaries({"session": valid_ids, "id": valid_ids, "text": odd_text}),
    st.fixed_dictionaries({"session": st.one_of(valid_ids, odd_values),
                           "id": st.one_of(valid_ids, odd_values)},
                          optional={"text": odd_text}),
).map(lambda d: json.dumps(d).encode())    # ensure_ascii: lone surrogates travel as \udXXX
telegram_bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"update_id": st.integers(min_value=1, max_value=2**40)}, optional={
        "message": json_values, "callback_query": json_values, "edited_message": json_values,
        "my_chat_member": json_values}).map(lambda d: json.dumps(d).encode()))


odd_telegram_bodies = st.fixed_dictionaries(
    {"update_id": st.one_of(st.integers(min_value=1, max_value=2**40), odd_numbers)},
    optional={"message": st.fixed_dictionaries(
        {"message_id": odd_numbers, "date": odd_numbers, "text": odd_text,
         "chat": st.fixed_dictionaries({"id": odd_numbers, "type": st.one_of(
             st.just("private"), odd_text)}),
         "from": st.fixed_dictionaries({"id": odd_numbers, "is_bot": st.just(False),
                                        "first_name": odd_text})}),
        "callback_query": st.fixed_dictionaries({"id": odd_text, "data": odd_text,
                                                 "from": st.fixed_dictionaries(
                                                     {"id": odd_numbers})})},
).map(lambda d: json.dumps(d).encode())


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


@pytest.fixture
async def unlimited_client(settings):
    """Every example is a new session from 127.0.0.1: lift the address limits so that the
    odd input itself reaches the conversation and the database."""
    s = replace(settings, webchat_address_per_minute=100_000, webchat_address_per_day=100_000,
                webchat_new_sessions_per_hour=100_000, webchat_new_sessions_per_day=100_000)
    async with TestClient(TestServer(build_app(s))) as client:
        yield client


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=odd_chat_bodies)
async def test_web_chat_odd_unicode_and_numbers_get_a_4xx_and_no_traceback(unlimited_client,
                                                                            body, caplog):
    """A lone surrogate in the text once reached the database and answered 500."""
    caplog.clear()
    response = await unlimited_client.post("/api/chat", data=body,
                                 headers={"Content-Type": "application/json"})
    assert response.status in (200, 400, 413, 429), (response.status, body[:200])
    assert "Traceback" not in await response.text()
    assert not [r for r in caplog.records if r.exc_info], body[:200]


async def test_a_lone_surrogate_in_the_text_is_refused_with_a_message(client, settings):
    body = ('{"session": "%s", "id": "surrogate01", "text": "hi \\ud800"}'
            % VALID_SESSION).encode()
    response = await client.post("/api/chat", data=body,
                                 headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert "Bạn" in (await response.json())["error"] or "bạn" in (await response.json())["error"]
    with sql_connect(settings) as db:
        assert db.execute("select count(*) from inbox").fetchone()[0] == 0


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


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=odd_telegram_bodies)
async def test_telegram_webhook_odd_unicode_and_numbers_get_a_4xx(fuzz_client, body, caplog):
    caplog.clear()
    response = await fuzz_client.post("/telegram/webhook", data=body,
                                      headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
    assert response.status in (200, 400), (response.status, body[:200])
    assert "Traceback" not in await response.text()
    assert not [r for r in caplog.records if r.exc_info], body[:200]


async def test_a_300_digit_update_id_is_refused_not_stored(fuzz_client):
    """It overflowed the dedup key column on PostgreSQL: 503 and a traceback, every retry."""
    for update_id in (b"9" * 300, b"-5", b"%d" % 2**63):
        response = await fuzz_client.post("/telegram/webhook",
                                          data=b'{"update_id": ' + update_id + b"}",
                                          headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
        assert response.status == 400, update_id


async def test_a_300_digit_chat_id_is_set_aside_without_a_traceback(fuzz_client, settings,
                                                                    caplog):
    """It overflowed the contact's address column on PostgreSQL: three failed tries, each
    with a traceback. Now the update is recorded as malformed at once."""
    body = ('{"update_id": 77, "message": {"message_id": 1, "date": 1, "text": "1", '
            '"chat": {"id": %s, "type": "private"}, "from": {"id": %s, "is_bot": false, '
            '"first_name": "A"}}}' % ("9" * 300, "9" * 300)).encode()
    response = await fuzz_client.post("/telegram/webhook", data=body,
                                      headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
    assert response.status == 200                     # stored: Telegram must not resend it

    def row():
        with sql_connect(settings) as db:
            return db.execute("select status, error from inbox where external_id = '77'"
                              ).fetchone()
    await wait_for(lambda: row() is not None and row()[0] != "new", timeout=20)
    assert row()[0] == "failed" and "out of range" in row()[1]
    assert not [r for r in caplog.records if r.exc_info]


async def test_after_the_storm_citizens_are_still_answered(fuzz_client):
    for body in (b"\xff\xfe", b"{", b'{"update_id": 1, "message": {"chat": 5}}', b"[]" * 5000):
        await fuzz_client.post("/telegram/webhook", data=body,
                               headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
    response = await fuzz_client.post("/api/chat", json={
        "session": "after-the-storm-session-1", "id": "storm0001", "text": "1"})
    assert response.status == 200
    assert "Cập nhật ngày" in (await response.json())["messages"][0]["text"]
