"""Shared by several test modules (moved from tests/e2e/test_outreach_chat.py)."""
from __future__ import annotations

from bot.features.officers import service as officers
from support.fakebotapi import FakeBotApi, callback_update, command_update, text_update
from support.outreach import database


class OfficerChat:
    """One Telegram chat with Loa, reading the replies in order."""

    def __init__(self, api: FakeBotApi, chat: int) -> None:
        self.api, self.chat, self.seen = api, chat, 0

    async def send(self, value: str, replies: int = 1) -> list:  # type: ignore[type-arg]
        update = command_update(self.chat, value) if value.startswith("/") else text_update(
            self.chat, value)
        self.api.push_update(update)
        return await self.next(replies)

    async def press(self, data: str, replies: int = 1) -> list:  # type: ignore[type-arg]
        self.api.push_update(callback_update(self.chat, data))
        return await self.next(replies)

    async def next(self, n: int) -> list:  # type: ignore[type-arg]
        calls = await self.api.wait_for_calls("sendMessage", self.seen + n, chat_id=self.chat)
        self.seen += n
        return [c.params for c in calls[-n:]]


def buttons(message: dict) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    markup = message.get("reply_markup") or {"inline_keyboard": []}
    return [(b["text"], b["callback_data"]) for row in markup["inline_keyboard"] for b in row]


async def register(api: FakeBotApi, settings, chat: int, unit: str,  # type: ignore[no-untyped-def]
                   role: str) -> OfficerChat:
    async with database(settings.database_url) as db, db.begin() as conn:
        code = await officers.create_invite(conn, unit, role, "test")
    officer = OfficerChat(api, chat)
    (reply,) = await officer.send(f"/dangky {code}")
    assert "Đăng ký xong" in reply["text"]
    return officer


