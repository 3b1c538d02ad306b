"""End to end: real python-telegram-bot inside Loa, talking HTTP to a local fake Bot API."""
from __future__ import annotations

import json
import logging
from dataclasses import replace

import aiohttp
import pytest
from support.env import free_port, sql_connect, sql_write, start_server
from support.fakebotapi import FakeBotApi, callback_update, command_update, payload, text_update
from support.waiting import after_notice, drained, wait_for

from bot.app import build_app

CHAT = 5550001
SECRET = "test-webhook-secret_123"




@pytest.fixture
async def api():
    async with FakeBotApi(token="123456:TEST-token-abc") as fake:
        yield fake


async def start_loa(settings, api, *, webhook: bool):
    port = free_port()
    s = replace(settings, telegram_token=api.token, telegram_api_url=api.base_url,
                telegram_webhook_secret=SECRET, port=port,
                telegram_webhook_url=f"http://127.0.0.1:{port}/telegram/webhook" if webhook
                else "")
    runner, url = await start_server(build_app(s), port)
    return runner, url


@pytest.fixture(params=["polling", "webhook"])
async def loa(request, settings, api):
    runner, url = await start_loa(settings, api, webhook=request.param == "webhook")
    if request.param == "webhook":
        await api.wait_for_calls("setWebhook", 1)
    try:
        yield url
    finally:
        await runner.cleanup()


def keyboard(call) -> list[str]:
    markup = call.params.get("reply_markup") or {}
    return [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row]


async def test_start_menu_button_answer(loa, api):
    api.push_update(command_update(CHAT, "/start"))
    (menu,) = await api.wait_for_calls("sendMessage", 1, chat_id=CHAT)
    assert "Xin chào" in menu.params["text"]
    assert "topic:timeline" in keyboard(menu)
    api.push_update(callback_update(CHAT, "topic:timeline", message_id=menu.result["message_id"]
                                    if getattr(menu, "result", None) else 1))
    calls = await api.wait_for_calls("sendMessage", 2, chat_id=CHAT)
    answer = calls[1]
    assert "Cập nhật ngày" in answer.params["text"] and "menu" in keyboard(answer)
    await api.wait_for_calls("answerCallbackQuery", 1)


async def test_typed_number_and_free_text(loa, api):
    api.push_update(text_update(CHAT, "6"))
    api.push_update(text_update(CHAT, "khi nao tat song 2g vay"))
    first, second = await api.wait_for_calls("sendMessage", 2, chat_id=CHAT)
    assert after_notice(first.params["text"]).startswith("Đổi máy")
    assert second.params["text"].startswith("Khi nào tắt sóng 2G")


async def test_odd_input_never_crashes_and_later_messages_are_answered(loa, api):
    api.push_update(payload("sticker") | {"update_id": None} if False else payload("sticker"))
    api.push_update(payload("group_message"))
    api.push_update(payload("malformed_no_message"))
    api.push_update({"message": {"garbage": True}})                     # malformed message
    api.push_update(text_update(CHAT, "x" * 10_000))                   # oversize
    api.push_update(text_update(CHAT, "🙏👍🏽 khi nào tắt 2G"))         # emoji
    sticker_chat = payload("sticker")["message"]["chat"]["id"]
    await api.wait_for_calls("sendMessage", 1, chat_id=sticker_chat)
    replies = await api.wait_for_calls("sendMessage", 2, chat_id=CHAT)
    assert "Cập nhật ngày" in replies[1].params["text"]
    group_chat = payload("group_message")["message"]["chat"]["id"]
    assert api.sent_messages(chat_id=group_chat) == []


async def test_blocked_user_is_marked_stopped(loa, api, settings):
    api.block(CHAT)
    api.push_update(text_update(CHAT, "2"))
    await api.wait_for_calls("sendMessage", 1, chat_id=CHAT)

    def stopped() -> bool:
        with sql_connect(settings) as db:
            row = db.execute("select status from contact").fetchone()
            out = db.execute("select status from outbox").fetchone()
        return bool(row and row[0] == "stopped" and out and out[0] == "blocked")

    await wait_for(stopped)


async def test_flood_wait_is_respected(loa, api):
    api.flood(1, retry_after=1)
    api.push_update(text_update(CHAT, "2"))
    first, second = await api.wait_for_calls("sendMessage", 2, chat_id=CHAT, timeout=8)
    assert not first.ok and second.ok
    assert second.at - first.at >= 1.0        # not re-sent before retry_after passed
    async with aiohttp.ClientSession() as http:
        metrics = await (await http.get(f"{loa}/metrics")).text()
    assert 'loa_flood_waits_total{channel="telegram"} 1.0' in metrics
    assert 'loa_sent_total{channel="telegram"} 1.0' in metrics


async def test_runs_hold_no_raw_telegram_ids(loa, api, settings):
    api.push_update(text_update(CHAT, "2", user_id=CHAT))
    await api.wait_for_calls("sendMessage", 1, chat_id=CHAT)

    def logged() -> bool:
        with sql_connect(settings) as db:
            return db.execute("select count(*) from run").fetchone()[0] == 1

    await wait_for(logged)
    with sql_connect(settings) as db:
        runs = [dict(zip([c[0] for c in db.execute("select * from run").description], r,
                             strict=True))
                for r in db.execute("select * from run")]
    assert runs[0]["medium"] == "telegram" and runs[0]["topic"] == "timeline"
    assert str(CHAT) not in json.dumps(runs, default=str)


async def test_webhook_refuses_forged_requests_and_dedupes(settings, api, caplog):
    caplog.set_level(logging.INFO)
    runner, url = await start_loa(settings, api, webhook=True)
    try:
        await api.wait_for_calls("setWebhook", 1)
        (hook,) = [c for c in api.calls if c.method == "setWebhook"]
        assert hook.params["secret_token"] == SECRET
        update = text_update(CHAT, "2")
        update["update_id"] = 777
        body = json.dumps(update)
        async with aiohttp.ClientSession() as http:
            forged = await http.post(f"{url}/telegram/webhook", data=body,
                                     headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"})
            assert forged.status == 401
            missing = await http.post(f"{url}/telegram/webhook", data=body)
            assert missing.status == 401
            good = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
            for _ in range(3):   # Telegram may deliver the same update more than once
                response = await http.post(f"{url}/telegram/webhook", data=body, headers=good)
                assert response.status == 200
            bad = await http.post(f"{url}/telegram/webhook", data="not json", headers=good)
            assert bad.status == 400
        await api.wait_for_calls("sendMessage", 1, chat_id=CHAT)
        await drained(settings)     # a duplicate, had it been stored, answered by now
        assert len(api.sent_messages(chat_id=CHAT)) == 1
        with sql_connect(settings) as db:
            assert db.execute("select count(*) from inbox").fetchone()[0] == 1
    finally:
        await runner.cleanup()
    assert api.token not in caplog.text and SECRET not in caplog.text


async def test_polling_stores_before_confirming(settings, api):
    """An update fetched by getUpdates is in the inbox before the next offset confirms it."""
    runner, _ = await start_loa(settings, api, webhook=False)
    confirmations: list[tuple[int, list[str]]] = []   # (offset, the inbox at that moment)

    def on_call(method: str, params: dict) -> None:
        offset = params.get("offset")
        if method == "getUpdates" and isinstance(offset, int) and offset > update_id:
            with sql_connect(settings) as db:   # a read: it waits for no writer
                confirmations.append(
                    (offset, [r[0] for r in db.execute("select external_id from inbox")]))

    try:
        update_id = api.push_update(text_update(CHAT, "2"))
        api.before_call = on_call
        await api.wait_for_calls("sendMessage", 1, chat_id=CHAT)
        with sql_connect(settings) as db:
            stored = db.execute("select external_id, status, payload from inbox").fetchall()
        assert len(stored) == 1 and stored[0][1] == "done"
        assert stored[0][2] is None            # the citizen's words are not kept
        await wait_for(lambda: confirmations)   # the next poll confirms the update...
        assert confirmations[0] == (update_id + 1, [str(update_id)])   # ...already stored
    finally:
        await runner.cleanup()


async def test_server_errors_are_retried_and_bad_requests_recorded(loa, api, settings):
    api.fail_next(1, status=502)
    api.push_update(text_update(CHAT, "2"))
    first, second = await api.wait_for_calls("sendMessage", 2, chat_id=CHAT, timeout=10)
    assert first.status == 502 and second.ok
    other = CHAT + 1
    api.fail_next(1, status=400, description="Bad Request: chat not found")
    api.push_update(text_update(other, "2"))
    await api.wait_for_calls("sendMessage", 1, chat_id=other)

    def recorded() -> bool:
        with sql_connect(settings) as db:
            rows = dict(db.execute("select status, last_error from outbox where status "
                                   "in ('failed')").fetchall())
        return "failed" in rows and "chat not found" in rows["failed"].lower()

    await wait_for(recorded)


async def test_replies_caught_mid_send_by_a_crash_go_out_again_flagged(settings, api):
    # A reply that was being sent when the process died is in state 'sending'.
    runner, _ = await start_loa(settings, api, webhook=False)
    api.push_update(text_update(CHAT, "2"))
    await api.wait_for_calls("sendMessage", 1, chat_id=CHAT)
    await runner.cleanup()
    await sql_write(settings, "update outbox set status = 'sending'")   # from a thread
    runner, _ = await start_loa(settings, api, webhook=False)
    try:
        await api.wait_for_calls("sendMessage", 2, chat_id=CHAT)

        def resent() -> bool:
            with sql_connect(settings) as db:
                return db.execute("select status, ambiguous from outbox").fetchone() == \
                    ("sent", 1)

        await wait_for(resent)
    finally:
        await runner.cleanup()


async def test_webhook_answers_503_when_the_update_cannot_be_stored(settings, api):
    runner, url = await start_loa(settings, api, webhook=True)
    try:
        await api.wait_for_calls("setWebhook", 1)
        # From a thread: a blocking write on this loop would wait for Loa's own open
        # transaction, which cannot finish while the loop is blocked ("database is locked").
        await sql_write(settings, "alter table inbox rename to inbox_gone")
        async with aiohttp.ClientSession() as http:
            response = await http.post(f"{url}/telegram/webhook",
                                       data=json.dumps(text_update(CHAT, "2", update_id=4242)),
                                       headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
            assert response.status == 503    # so Telegram delivers it again later
    finally:
        await runner.cleanup()
