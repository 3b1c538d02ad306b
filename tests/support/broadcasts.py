"""Shared by several test modules (moved from tests/test_broadcast.py)."""
from __future__ import annotations

import asyncio

from bot.store.models import utcnow
from support.env import sql_connect


async def seed_contacts(settings, n: int, first_chat: int = 100_000,
                        commune: str | None = "24175", subscribed: bool = True) -> list[int]:
    """Citizens who opted in (as the chat dialogue leaves them), straight into the table;
    by default in xã Hòa Phú (24175), the commune of the test officers, who can announce only
    to their own commune. Written from a thread: a blocking write on the event loop would
    wait for Loa's own open transaction, which cannot finish while the loop is blocked."""
    return await asyncio.to_thread(_seed_contacts, settings, n, first_chat, commune,
                                   subscribed)


def _seed_contacts(settings, n: int, first_chat: int, commune: str | None,
                   subscribed: bool) -> list[int]:
    now = utcnow().isoformat(sep=" ")
    chats = list(range(first_chat, first_chat + n))
    with sql_connect(settings) as db:
        db.executemany(
            "insert into contact (channel, pseudonym, address, lang, state, status, "
            "commune_code, created_at, last_seen_at, subscribed) values "
            "('telegram', ?, ?, 'vi', '{}', 'active', ?, ?, ?, ?)",
            [(f"p{chat}", str(chat), commune, now, now, subscribed) for chat in chats])
    return chats


class DeletingChannel:
    """Telegram as a retraction sees it, without a Bot API: every sent message it is asked to
    delete is deleted (deleteMessage), and it remembers which."""

    name = "telegram"

    def __init__(self) -> None:
        self.deleted: list[tuple[str, str]] = []

    async def delete(self, address: str, message_id: str):  # noqa: ANN201
        from bot.delivery.channel import Sent
        self.deleted.append((address, message_id))
        return Sent()


def can_delete(app) -> DeletingChannel:  # noqa: ANN001
    """Give an app built without Telegram a channel that deletes sent announcements."""
    from bot.features.broadcasts.pages import PAGES
    channel = DeletingChannel()
    app[PAGES].broadcast_runner.channels["telegram"] = channel
    return channel
