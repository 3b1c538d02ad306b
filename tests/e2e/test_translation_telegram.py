"""Voice clips on Telegram, end to end: real python-telegram-bot inside Loa against the local
fake Bot API. An approved, current clip of the chosen language follows the (Vietnamese) text
as a voice note; a stale clip is never sent."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from support.clips import shipped_clip
from support.env import free_port, start_server
from support.fakebotapi import FakeBotApi, callback_update, command_update
from support.translations import copy_tree, make_ready

from bot.app import build_app
from bot.core.content import load_content

CHAT = 5550042


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    content, locales = copy_tree(tmp_path)
    make_ready(content)   # Ê Đê offered; "scams" (not a core topic) has no approved text
    return content, locales


async def test_approved_clip_is_a_voice_note_and_a_stale_one_is_not_sent(settings, tree):
    content, locales = tree
    path = shipped_clip(content, "rad", "scams", seconds=45)
    shipped_clip(content, "rad", "cost", source_hash="0123456789abcdef")   # Vietnamese changed
    size = (content / "media" / path).stat().st_size
    async with FakeBotApi(token="4242:VOICE-test") as api:
        port = free_port()
        s = replace(settings, telegram_token=api.token, telegram_api_url=api.base_url, port=port,
                    telegram_webhook_secret="v" * 20, content_dir=content, locales_dir=locales,
                    languages=("vi", "rad"))
        runner, _ = await start_server(build_app(s), port)
        try:
            api.push_update(command_update(CHAT, "/lang"))
            (picker,) = await api.wait_for_calls("sendMessage", 1, chat_id=CHAT)
            buttons = [b["callback_data"] for row in picker.params["reply_markup"][
                "inline_keyboard"] for b in row]
            assert buttons == ["lang:vi", "lang:rad"]
            for data in ("lang:rad", "topic:scams", "topic:cost", "topic:scams"):
                api.push_update(callback_update(CHAT, data))
            await api.wait_for_calls("sendVoice", 2, chat_id=CHAT)
            await api.wait_for_calls("sendMessage", 5, chat_id=CHAT)
        finally:
            await runner.cleanup()
    sent = [(c.method, c.params) for c in api.calls
            if c.method in ("sendMessage", "sendVoice") and c.ok]
    methods = [m for m, _ in sent]
    assert methods == ["sendMessage", "sendMessage", "sendMessage", "sendVoice", "sendMessage",
                       "sendMessage", "sendVoice"]
    scams_text = sent[2][1]["text"]
    assert scams_text.startswith("Nội dung này chưa có bản tiếng Ê Đê")   # text: Vietnamese
    voice = sent[3][1]["voice"]
    assert voice.size == size and voice.filename == Path(path).name
    cost = load_content(content, "vi").topics["cost"]
    assert cost.title in sent[4][1]["text"] and sent[5][0] == "sendMessage"  # no stale voice
