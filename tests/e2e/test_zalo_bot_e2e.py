"""End to end: Loa on the Zalo Bot Platform, polling and webhook, against a local fake API."""
from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import replace

import aiohttp
import pytest
from support.cli import run_cli
from support.env import ROOT, database_env, free_port, sql_connect, sql_write, start_server
from support.fakezalo import FakeZaloBot, bot_update, payload
from support.waiting import drained, wait_for

from bot.app import build_app
from bot.channels.zalo.bot import ZaloBotApi, ZaloBotChannel
from bot.channels.zalo.common import JsonHttp, Pacer, ReplyRenderer, utf16_len
from bot.core.messages import Reply

CHAT = "6ede9afa66b88fe6d6a9"
SECRET = "zalo-webhook-secret_123"




def rows(settings, sql: str) -> list[tuple]:
    """Reads only: in WAL mode they never wait for Loa's writers."""
    with sql_connect(settings) as db:
        return db.execute(sql).fetchall()


@pytest.fixture
async def api():
    async with FakeZaloBot() as fake:
        yield fake


async def start_loa(settings, api, *, webhook: bool, rate: int = 50):
    port = free_port()
    s = replace(settings, zalo_bot_token=api.token, zalo_api_url=api.base_url,
                zalo_webhook_secret=SECRET, port=port, zalo_rate=rate,
                zalo_webhook_url=f"http://127.0.0.1:{port}/zalo/bot/webhook" if webhook else "")
    return await start_server(build_app(s), port)


@pytest.fixture(params=["polling", "webhook"])
async def loa(request, settings, api):
    webhook = request.param == "webhook"
    runner, url = await start_loa(settings, api, webhook=webhook)
    await api.wait_for_calls("setWebhook" if webhook else "deleteWebhook", 1)
    try:
        yield url
    finally:
        await runner.cleanup()


async def test_menu_by_number_and_free_text(loa, api):
    api.push_update(bot_update(CHAT, "/start"))
    (menu,) = await api.wait_for_calls("sendMessage", 1, chat_id=CHAT)
    assert "Xin chào" in menu.params["text"] and "2. Lịch tắt sóng 2G" in menu.params["text"]
    api.push_update(bot_update(CHAT, "2"))
    api.push_update(bot_update(CHAT, "khi nao tat song 2g vay"))
    _, answer, free = await api.wait_for_calls("sendMessage", 3, chat_id=CHAT)
    assert answer.params["text"].startswith("Khi nào tắt sóng 2G")
    assert "Cập nhật ngày" in answer.params["text"]
    assert answer.params["text"].rstrip().endswith("0. ☰ Menu chính")
    assert free.params["text"].startswith("Khi nào tắt sóng 2G")


async def test_phone_check_answered_by_typed_numbers(loa, api):
    for text in ["4", "2", "3"]:          # check; internet: no; 4G: don't know -> verdict
        api.push_update(bot_update(CHAT, text))
    *_, verdict = await api.wait_for_calls("sendMessage", 3, chat_id=CHAT)
    assert "Câu 2/3" in api.sent_texts(CHAT)[1]
    assert "Cập nhật ngày" in verdict.params["text"] and "4. Kiểm tra lại" in \
        verdict.params["text"]


async def test_odd_input_never_crashes_and_later_messages_are_answered(loa, api):
    for name in ["bot_sticker", "bot_image", "bot_unsupported", "bot_group_text",
                 "bot_missing_from", "bot_missing_message", "bot_unknown_event"]:
        api.push_update(payload(name)["result"] if "result" in payload(name) else payload(name))
    api.push_update(bot_update(CHAT, "x" * 5000, message_id="long-1"))
    api.push_update(bot_update(CHAT, "🙏👍🏽 khi nào tắt 2G", message_id="emoji-1"))
    replies = await api.wait_for_calls("sendMessage", 5, chat_id=CHAT)
    assert "Cập nhật ngày" in replies[-1].params["text"]
    assert all(utf16_len(c.params["text"]) <= 2000 for c in replies)
    assert api.calls_of("sendMessage", chat_id="a1b2c3d4e5f6a7b8c9d0") == []   # group


async def test_runs_are_logged_as_zalo_bot_without_raw_ids(loa, api, settings):
    api.push_update(bot_update(CHAT, "2"))
    await api.wait_for_calls("sendMessage", 1, chat_id=CHAT)
    await wait_for(lambda: rows(settings, "select count(*) from run")[0][0] == 1)
    (run,) = rows(settings, "select medium, topic, contact_pseudonym from run")
    assert run[:2] == ("zalo_bot", "timeline") and CHAT not in run[2]
    assert rows(settings, "select payload from inbox") == [(None,)]   # words not kept


async def test_blocked_user_is_marked_stopped(loa, api, settings):
    api.block(CHAT)
    api.push_update(bot_update(CHAT, "2"))
    await api.wait_for_calls("sendMessage", 1, chat_id=CHAT)
    await wait_for(lambda: rows(settings, "select status from contact") == [("stopped",)]
                   and rows(settings, "select status from outbox") == [("blocked",)])


async def test_rate_limit_pauses_the_channel_and_retries(loa, api):
    api.fail_next(1, error_code=429, description="Too Many Requests")
    api.push_update(bot_update(CHAT, "2"))
    first, second = await api.wait_for_calls("sendMessage", 2, chat_id=CHAT, timeout=8)
    assert not first.ok and second.ok and second.at - first.at >= 1.0


async def test_polling_stores_each_update_once(settings, api):
    runner, _ = await start_loa(settings, api, webhook=False)
    try:
        update = bot_update(CHAT, "2", message_id="dup-1")
        api.push_update(update)
        api.push_update(update)             # the same message delivered twice
        api.push_update(bot_update(CHAT, "5", message_id="next-1"))
        await api.wait_for_calls("sendMessage", 2, chat_id=CHAT)
        await drained(settings)     # the duplicate, had it been stored, answered by now
        assert len(api.sent_texts(CHAT)) == 2
        stored = rows(settings, "select external_id, status from inbox order by id")
        assert stored == [("m:dup-1", "done"), ("m:next-1", "done")]
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("wrap", [False, True])
async def test_webhook_refuses_forged_requests_and_dedupes(settings, api, caplog, wrap):
    caplog.set_level(logging.INFO)
    api.wrap_webhook = wrap
    runner, url = await start_loa(settings, api, webhook=True)
    try:
        (hook,) = await api.wait_for_calls("setWebhook", 1)
        assert hook.params["secret_token"] == SECRET
        update = bot_update(CHAT, "2", message_id="hook-1")
        body = json.dumps({"ok": True, "result": update} if wrap else update)
        async with aiohttp.ClientSession() as http:
            hook_url = f"{url}/zalo/bot/webhook"
            for headers in ({"X-Bot-Api-Secret-Token": "wrong-secret"}, {}):
                forged = await http.post(hook_url, data=body, headers=headers)
                assert forged.status == 401
            good = {"X-Bot-Api-Secret-Token": SECRET}
            for _ in range(3):   # Zalo may deliver the same update more than once
                response = await http.post(hook_url, data=body, headers=good)
                assert response.status == 200
            bad = await http.post(hook_url, data="not json", headers=good)
            assert bad.status == 400
        await api.wait_for_calls("sendMessage", 1, chat_id=CHAT)
        api.push_update(bot_update(CHAT, "2"))     # delivered by the fake itself
        await api.wait_for_calls("sendMessage", 2, chat_id=CHAT)
        await drained(settings)     # a duplicate, had it been stored, answered by now
        assert len(api.sent_texts(CHAT)) == 2
        assert rows(settings, "select count(*) from inbox") == [(2,)]
    finally:
        await runner.cleanup()
    assert api.token not in caplog.text and SECRET not in caplog.text


async def test_webhook_answers_503_when_the_update_cannot_be_stored(settings, api):
    runner, url = await start_loa(settings, api, webhook=True)
    try:
        await api.wait_for_calls("setWebhook", 1)
        await sql_write(settings, "alter table inbox rename to inbox_gone")
        async with aiohttp.ClientSession() as http:
            response = await http.post(f"{url}/zalo/bot/webhook",
                                       json=bot_update(CHAT, "2"),
                                       headers={"X-Bot-Api-Secret-Token": SECRET})
            assert response.status == 503     # so Zalo delivers it again later
    finally:
        await runner.cleanup()


async def test_long_reply_goes_out_in_chunks_on_grapheme_boundaries(api):
    http = JsonHttp()
    channel = ZaloBotChannel(ZaloBotApi(api.token, api.base_url, http), SECRET,
                             ReplyRenderer({}, lambda m: m), Pacer(1000))
    text = ("Ê̆ đê ƀuôn 👨\u200d👩\u200d👧 sóng 2G. " * 200).strip()
    try:
        result = await channel.send(CHAT, Reply(text))
    finally:
        await http.close()
    sent = api.sent_texts(CHAT)
    assert result.__class__.__name__ == "Sent" and len(sent) >= 3
    assert all(utf16_len(t) <= 2000 for t in sent)
    assert "".join(sent).replace(" ", "") == text.replace(" ", "")


async def test_sends_are_paced_to_the_configured_rate(settings, api):
    """Lower bound only: 6 replies at 5 per second cannot take less than one second."""
    runner, _ = await start_loa(settings, api, webhook=False, rate=5)
    try:
        for i in range(6):
            api.push_update(bot_update(f"chat-{i}", "2"))
        sends = await api.wait_for_calls("sendMessage", 6, timeout=10)
        times = sorted(c.at for c in sends)
        assert times[-1] - times[0] >= 5 / 5 - 0.05
    finally:
        await runner.cleanup()


async def test_operator_commands_against_the_fake(settings, api):
    env = {**database_env(settings), "BOT_SECRET_KEY": "test-secret-key",
           "BOT_ZALO_BOT_TOKEN": api.token, "BOT_ZALO_API_URL": api.base_url,
           "BOT_ZALO_WEBHOOK_URL": "https://loa.example.gov.vn/zalo/bot/webhook",
           "BOT_ZALO_WEBHOOK_SECRET": SECRET, "PATH": "/usr/bin:/bin"}

    async def run(*args: str) -> tuple[int, str]:   # in this process, in a thread
        result = await asyncio.to_thread(run_cli, "zalo", *args, env=env, cwd=ROOT)
        return result.returncode, result.stdout + result.stderr

    code, out = await run("set-webhook")
    assert code == 0 and api.webhook_url == env["BOT_ZALO_WEBHOOK_URL"]
    assert api.webhook_secret == SECRET
    code, out = await run("status")
    assert code == 0 and "zalo_bot: configured (webhook)" in out
    assert "https://loa.example.gov.vn/zalo/bot/webhook" in out
    code, out = await run("delete-webhook")
    assert code == 0 and api.webhook_url == ""
    for secret in (api.token, SECRET):
        assert secret not in out


async def test_language_line_and_general_news_by_a_short_word(settings, api):
    """With Ê Đê configured the numbered menu ends with the language line, whose number opens
    the languages; "no commune" is chosen by typing the short words shown (finding F18)."""
    runner, _ = await start_loa(replace(settings, languages=("vi", "rad")), api, webhook=False)
    try:
        api.push_update(bot_update(CHAT, "/start"))
        (menu,) = await api.wait_for_calls("sendMessage", 1, chat_id=CHAT)
        assert "\n17. 🌐 Ngôn ngữ" in menu.params["text"], menu.params["text"]
        api.push_update(bot_update(CHAT, "17"))
        _, picker = await api.wait_for_calls("sendMessage", 2, chat_id=CHAT)
        assert "Tiếng Ê Đê: đang dịch, tạm dùng tiếng Việt" in picker.params["text"]
        assert "Chọn ngôn ngữ:" in picker.params["text"]
        api.push_update(bot_update(CHAT, "🔔 Nhận thông báo"))
        *_, asked = await api.wait_for_calls("sendMessage", 3, chat_id=CHAT)
        assert 'Không chọn xã (nhận tin chung): gõ "tin chung"' in asked.params["text"]
        api.push_update(bot_update(CHAT, "tin chung"))
        *_, done = await api.wait_for_calls("sendMessage", 4, chat_id=CHAT)
        assert "thông báo chung" in done.params["text"], done.params["text"]
        await wait_for(lambda: rows(settings, "select subscribed, commune_code from contact")
                       in ([(1, None)], [(True, None)]))
    finally:
        await runner.cleanup()
