"""Self-tests for the fake Telegram Bot API (tests/support/fakebotapi.py), driven by PTB."""

from __future__ import annotations

import asyncio
import datetime as dtm
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from support.fakebotapi import (
    SECRET_HEADER,
    FakeBotApi,
    UploadedFile,
    callback_update,
    command_update,
    payload,
    payload_names,
    text_update,
)
from telegram import Bot, BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
)

TOKEN = "123:ABC"


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi(token=TOKEN) as server:
        yield server


@pytest.fixture
async def bot(api: FakeBotApi) -> AsyncIterator[Bot]:
    async with Bot(api.token, base_url=api.base_url) as client:
        yield client


async def test_get_me_and_send_message_records_reply_markup(api: FakeBotApi, bot: Bot) -> None:
    assert api.base_url == f"http://127.0.0.1:{api.port}/bot"
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot) == (123, "loa_test_bot", True)

    yes = InlineKeyboardButton("Có", callback_data="yes")
    no = InlineKeyboardButton("Không", callback_data="no")
    keyboard = InlineKeyboardMarkup([[yes, no]])
    first = await bot.send_message(42, "Máy bạn có 4G không?", reply_markup=keyboard)
    second = await bot.send_message(42, "Tin thứ hai")
    elsewhere = await bot.send_message(7, "Chat khác")

    assert (first.message_id, second.message_id, elsewhere.message_id) == (1, 2, 1)
    assert first.chat.id == 42 and first.text == "Máy bạn có 4G không?"
    assert first.from_user is not None and first.from_user.id == 123
    assert first.reply_markup == keyboard  # inline keyboards are echoed back
    assert second.reply_markup is None

    params = api.sent_messages(42)
    assert [p["text"] for p in params] == ["Máy bạn có 4G không?", "Tin thứ hai"]
    assert params[0]["chat_id"] == 42
    assert params[0]["reply_markup"] == {
        "inline_keyboard": [
            [{"text": "Có", "callback_data": "yes"}, {"text": "Không", "callback_data": "no"}]
        ]
    }
    assert len(api.sent_messages()) == 3
    assert api.call_counts["sendMessage"] == 3


async def test_get_updates_long_poll_receives_pushed_update(api: FakeBotApi, bot: Bot) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await bot.get_updates(timeout=dtm.timedelta(milliseconds=200)) == ()
    assert loop.time() - started >= 0.19  # it really waited for the timeout

    poll = asyncio.create_task(bot.get_updates(timeout=120))
    await asyncio.sleep(0.1)
    assert not poll.done()  # long poll is waiting
    update_id = api.push_update(text_update(42, "xin chào"))
    # Returned because the update existed: its own timeout (120 s) is far away.
    async with asyncio.timeout(60):
        updates = await poll

    assert update_id == 1000
    assert [u.update_id for u in updates] == [1000]
    assert updates[0].message is not None and updates[0].message.text == "xin chào"
    assert updates[0].effective_chat is not None and updates[0].effective_chat.id == 42

    # Not confirmed yet, so it is served again; offset=last+1 confirms it.
    assert [u.update_id for u in await bot.get_updates(timeout=0)] == [1000]
    assert await bot.get_updates(offset=1001, timeout=0) == ()
    assert api.pending_updates == []
    assert api.push_update(text_update(42, "tiếp")) == 1001


async def test_builders_callback_and_bot_message_ids(api: FakeBotApi, bot: Bot) -> None:
    api.push_update(command_update(42, "/start ref_poster", message_id=50))
    api.push_update(callback_update(42, "faq:subsidy", message_id=51))
    command, callback = await bot.get_updates(timeout=1)

    assert command.message is not None and command.message.text == "/start ref_poster"
    assert command.message.parse_entities() == {command.message.entities[0]: "/start"}
    query = callback.callback_query
    assert query is not None and query.data == "faq:subsidy"
    assert query.message is not None and query.message.message_id == 51
    assert query.from_user.id == 42 and query.chat_instance

    # The bot's next message in this chat continues after the user's message ids.
    sent = await bot.send_message(42, "Trả lời")
    assert sent.message_id == 52
    assert await bot.answer_callback_query(query.id, text="OK")
    with pytest.raises(BadRequest, match="(?i)query is too old"):
        await bot.answer_callback_query(query.id)


async def test_blocked_chat_raises_forbidden(api: FakeBotApi, bot: Bot) -> None:
    api.block(42)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(42, "Xin chào")
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_voice(42, voice=b"OggS" + bytes(100))
    assert (await bot.send_message(43, "Chat khác vẫn được")).chat.id == 43

    assert api.sent_messages(42) == []
    calls = await api.wait_for_calls("sendMessage", 1, chat_id=42, timeout=0.5)
    assert [(c.status, c.result) for c in calls] == [(403, None)]


async def test_flood_and_failures(
    api: FakeBotApi, bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # RetryAfter.retry_after as timedelta, no warning
    api.flood(2, retry_after=7)
    assert await bot.send_chat_action(42, "typing")  # not a send call: unaffected
    for _ in range(2):
        with pytest.raises(RetryAfter) as info:
            await bot.send_message(42, "Tin nhắn")
        assert info.value.retry_after == dtm.timedelta(seconds=7)
    assert (await bot.send_message(42, "Tin nhắn")).message_id == 1

    api.fail_next(1, status=500)
    with pytest.raises(NetworkError, match="Internal Server Error"):
        await bot.send_message(42, "Tin nhắn")
    assert (await bot.send_message(42, "Tin nhắn")).message_id == 2
    statuses = [c.status for c in api.calls if c.method == "sendMessage"]
    assert statuses == [429, 429, 200, 500, 200]
    assert len(api.sent_messages(42)) == 2


async def test_wrong_token_and_unknown_method(api: FakeBotApi, bot: Bot) -> None:
    with pytest.raises(InvalidToken):
        async with Bot("999:WRONG", base_url=api.base_url):
            pass
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("noSuchMethod")

    async with aiohttp.ClientSession() as session:
        async with session.get(f"{api.base_url}999:WRONG/getMe") as resp:
            assert resp.status == 401
            unauthorized = {"ok": False, "error_code": 401, "description": "Unauthorized"}
            assert await resp.json() == unauthorized
        async with session.post(f"{api.base_url}{api.token}/noSuchMethod") as resp:
            assert resp.status == 404
            assert await resp.json() == {"ok": False, "error_code": 404, "description": "Not Found"}


async def test_json_query_and_multipart_requests(
    api: FakeBotApi, bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # Voice.duration as timedelta, no warning
    markup = {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
    async with aiohttp.ClientSession() as session:
        url = f"{api.base_url}{api.token}"
        # JSON body, method name in another case, reply_markup as a JSON string.
        body = {"chat_id": "42", "text": "qua JSON", "reply_markup": json.dumps(markup)}
        async with session.post(f"{url}/SENDMESSAGE", json=body) as resp:
            answer = await resp.json()
            assert resp.status == 200 and answer["ok"] is True
            assert answer["result"]["text"] == "qua JSON"
            assert answer["result"]["reply_markup"] == markup
        query = {"chat_id": "42", "text": "qua GET"}
        async with session.get(f"{url}/sendMessage", params=query) as resp:
            assert resp.status == 200
    json_params, get_params = api.sent_messages(42)
    assert json_params["chat_id"] == 42 and json_params["reply_markup"] == markup
    assert get_params == {"chat_id": 42, "text": "qua GET"}

    sent = await bot.send_voice(
        42, voice=b"OggS" + bytes(2000), duration=3, filename="hello.ogg", caption="Nghe nè"
    )
    assert sent.voice is not None
    assert (sent.voice.duration, sent.voice.file_size) == (dtm.timedelta(seconds=3), 2004)
    assert sent.caption == "Nghe nè"
    uploaded = api.sent_messages(42)[-1]["voice"]
    assert uploaded == UploadedFile("voice", "hello.ogg", 2004, "audio/ogg")

    again = await bot.send_voice(42, voice=sent.voice.file_id)
    assert again.voice is not None and again.voice.file_id == sent.voice.file_id
    assert api.sent_messages(42)[-1]["voice"] == sent.voice.file_id


async def test_edits_commands_and_validation(api: FakeBotApi, bot: Bot) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Tiếp", callback_data="next")]])
    sent = await bot.send_message(42, "Câu hỏi 1", reply_markup=keyboard)
    edited = await bot.edit_message_text("Câu hỏi 2", chat_id=42, message_id=sent.message_id)
    assert isinstance(edited, type(sent)) and edited.text == "Câu hỏi 2"
    assert edited.reply_markup is None and edited.edit_date is not None  # keyboard dropped
    with pytest.raises(BadRequest, match="(?i)message is not modified"):
        await bot.edit_message_text("Câu hỏi 2", chat_id=42, message_id=sent.message_id)
    marked = await bot.edit_message_reply_markup(42, sent.message_id, reply_markup=keyboard)
    assert not isinstance(marked, bool) and marked.reply_markup == keyboard
    assert await bot.delete_message(42, sent.message_id)

    long_text = payload("long_text")["message"]["text"]
    with pytest.raises(BadRequest, match="(?i)message is too long"):
        await bot.send_message(42, long_text)
    assert (await bot.send_message(42, long_text[:4096])).text == long_text[:4096]
    too_long_data = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="x" * 65)]])
    with pytest.raises(BadRequest, match="(?i)button_data_invalid"):
        await bot.send_message(42, "nút", reply_markup=too_long_data)

    commands = [BotCommand("start", "Bắt đầu"), BotCommand("help", "Trợ giúp")]
    assert await bot.set_my_commands(commands, language_code="vi")
    assert await bot.get_my_commands(language_code="vi") == tuple(commands)
    assert await bot.get_my_commands() == ()


async def test_webhook_delivery_with_secret_and_retry(api: FakeBotApi, bot: Bot) -> None:
    received: list[tuple[str | None, dict]] = []
    answers = [500]  # the first delivery fails, Telegram-style retry follows

    async def hook(request: web.Request) -> web.Response:
        received.append((request.headers.get(SECRET_HEADER), await request.json()))
        return web.Response(status=answers.pop(0) if answers else 200)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    hook_url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        assert await bot.set_webhook(hook_url, secret_token="s3cr3t-Token_1")
        with pytest.raises(Conflict, match="webhook is active"):
            await bot.get_updates(timeout=0)

        first = api.push_update(text_update(42, "một"))
        second = api.push_update(payload("callback_query"))
        await api.wait_webhook_idle(timeout=2)

        assert api.webhook_deliveries == [(first, 500), (first, 200), (second, 200)]
        assert [secret for secret, _ in received] == ["s3cr3t-Token_1"] * 3
        assert [body["update_id"] for _, body in received] == [first, first, second]
        assert received[2][1]["callback_query"]["data"] == "faq:2g_end_date"

        info = await bot.get_webhook_info()
        assert info.url == hook_url and info.pending_update_count == 0
        assert info.last_error_message is not None and "500" in info.last_error_message

        assert await bot.delete_webhook()
        api.push_update(text_update(42, "hai"))
        [update] = await bot.get_updates(timeout=1)
        assert update.message is not None and update.message.text == "hai"
        assert len(received) == 3  # no longer delivered to the webhook
    finally:
        await runner.cleanup()


async def test_wait_for_calls_reports_what_arrived(api: FakeBotApi, bot: Bot) -> None:
    await bot.send_message(42, "chỉ một tin")
    with pytest.raises(TimeoutError) as info:
        await api.wait_for_calls("sendMessage", 2, chat_id=42, timeout=0.1)
    message = str(info.value)
    assert "got 1" in message and "sendMessage" in message and "chỉ một tin" in message

    waiter = asyncio.create_task(api.wait_for_calls("sendMessage", 2, chat_id=42, timeout=2))
    await asyncio.sleep(0.05)
    assert not waiter.done()
    await bot.send_message(42, "tin thứ hai")
    async with asyncio.timeout(1):
        calls = await waiter
    assert [c.params["text"] for c in calls] == ["chỉ một tin", "tin thứ hai"]
    assert calls[1].at >= calls[0].at > 0
    (first,) = await api.wait_for_calls("sendMessage", 1, chat_id=42)  # the first `count` only
    assert first.params["text"] == "chỉ một tin" and first.ok


async def test_control_endpoints_for_other_processes(api: FakeBotApi, bot: Bot) -> None:
    async with aiohttp.ClientSession() as session:
        pushed = [payload("text"), text_update(42, "hai")]
        async with session.post(f"{api.url}/_fake/updates", json=pushed) as resp:
            ids = (await resp.json())["result"]
        assert ids == [payload("text")["update_id"], payload("text")["update_id"] + 1]
        updates = await bot.get_updates(timeout=0)
        assert [u.update_id for u in updates] == ids
        async with session.get(f"{api.url}/_fake/stats") as resp:
            stats = (await resp.json())["result"]
        assert stats["call_counts"]["getUpdates"] == 1 and stats["pending_updates"] == 2
        # someone trying Loa by hand reads what it answered, per chat, with its buttons
        await bot.send_message(42, "Chọn một số:", reply_markup=InlineKeyboardMarkup(
            [[InlineKeyboardButton("1. Khi nào tắt sóng 2G?", callback_data="topic:timeline")]]))
        await bot.send_message(43, "tin khác")
        async with session.get(f"{api.url}/_fake/sent", params={"chat_id": "42"}) as resp:
            sent = (await resp.json())["result"]
        assert sent == [{"method": "sendMessage", "chat_id": 42, "text": "Chọn một số:",
                         "buttons": [["1. Khi nào tắt sóng 2G?"]]}]
        async with session.get(f"{api.url}/_fake/sent") as resp:
            assert [m["text"] for m in (await resp.json())["result"]] == ["Chọn một số:",
                                                                          "tin khác"]


def test_payloads_parse_as_ptb_updates() -> None:
    expected = {
        "text", "command_start", "callback_query", "sticker", "photo", "voice", "location",
        "contact", "edited_message", "group_message", "channel_post", "my_chat_member_kicked",
        "emoji", "long_text", "malformed_no_message",
    }
    assert expected <= set(payload_names())
    updates = {name: Update.de_json(payload(name), None) for name in expected}
    for name, update in updates.items():
        assert update.update_id == payload(name)["update_id"], name

    assert updates["command_start"].message.entities[0].type == "bot_command"
    assert updates["callback_query"].callback_query.data == "faq:2g_end_date"
    assert updates["sticker"].message.sticker.emoji == "👍"
    assert updates["photo"].message.photo[-1].width == 960
    assert updates["voice"].message.voice.mime_type == "audio/ogg"
    assert updates["location"].message.location.latitude == pytest.approx(12.667917)
    assert updates["contact"].message.contact.user_id == 5123456789
    assert updates["edited_message"].edited_message.edit_date is not None
    assert updates["group_message"].effective_chat.type == "group"
    assert updates["channel_post"].channel_post.sender_chat.type == "channel"
    kicked = updates["my_chat_member_kicked"].my_chat_member
    assert kicked.new_chat_member.status == "kicked" and kicked.old_chat_member.status == "member"
    assert "\U0001f3fd" in updates["emoji"].message.text  # skin-tone modifier
    assert len(updates["long_text"].message.text) == 10_000
    malformed = updates["malformed_no_message"]
    assert malformed.effective_message is None and "some_future_update" in malformed.api_kwargs


async def test_flood_limits_are_counted_on_the_fakes_clock() -> None:
    """With a clock of the test's (virtual time), a second is a second of that clock."""
    now = [100.0]
    async with FakeBotApi(token=TOKEN, clock=lambda: now[0]) as api, \
            Bot(api.token, base_url=api.base_url) as bot:
        api.limit(global_per_s=2, per_chat_per_s=None, retry_after=1)
        await bot.send_message(1, "một")
        await bot.send_message(2, "hai")
        with pytest.raises(RetryAfter):   # a third within the same second of the clock
            await bot.send_message(3, "ba")
        now[0] += 0.5
        with pytest.raises(RetryAfter):   # before retry_after is over: counted as early
            await bot.send_message(3, "ba")
        assert (api.flood_answers, api.early_sends) == (1, 1)
        now[0] += 1.0
        await bot.send_message(3, "ba")   # a second later on the clock, whatever the real time
        assert [c.at for c in api.calls if c.method == "sendMessage" and c.ok] == \
            [100.0, 100.0, 101.5]


async def test_held_sends_wait_until_released(api: FakeBotApi, bot: Bot) -> None:
    api.hold_sends()
    sending = asyncio.create_task(bot.send_message(42, "chờ"))
    async with asyncio.timeout(10):
        await _until(lambda: api.held == 1)
    assert not sending.done() and api.sent_messages(42) == []
    api.release_sends()
    async with asyncio.timeout(10):
        assert (await sending).text == "chờ"
    assert api.held == 0 and len(api.sent_messages(42)) == 1


async def _until(predicate) -> None:  # type: ignore[no-untyped-def]
    while not predicate():
        await asyncio.sleep(0.01)


async def test_paid_broadcasts_pass_the_free_limit_up_to_their_own() -> None:
    now = [100.0]
    async with FakeBotApi(token=TOKEN, clock=lambda: now[0]) as api, \
            Bot(api.token, base_url=api.base_url) as bot:
        api.limit(global_per_s=2, per_chat_per_s=None, retry_after=1)
        for chat in range(1, 51):      # 50 paid in one second of the clock: all go
            await bot.send_message(chat, "trả phí", allow_paid_broadcast=True)
        await bot.send_message(51, "miễn phí")
        await bot.send_message(52, "miễn phí")
        with pytest.raises(RetryAfter):   # the free limit still holds for free messages
            await bot.send_message(53, "miễn phí")
        assert api.flood_answers == 1
