"""Telling an announcement's author what became of it (approved, sent back with the reason,
withdrawn, stopped, finished) in their chat: a reply-lane message queued in the same
transaction as the change, so it is sent once the change is committed and never for a change
rolled back."""
from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.i18n import Translator
from bot.core.messages import Reply
from bot.delivery.channel import reply_to_json
from bot.features.broadcasts.labels import vn_time
from bot.features.officers import service as officers
from bot.store import queries
from bot.store.models import OutboxStatus, utcnow


async def tell_author(conn: AsyncConnection, channels: Collection[str], row: Any,
                      text: str, skip_officer: int | None = None) -> str | None:
    """Queue `text` to the author's chat; returns the channel to wake, or None when the
    author has no chat on a configured channel (an operator, or an officer who never wrote to
    the bot): they read it on the announcements page instead."""
    if row.author_id is None or row.author_id == skip_officer:
        return None
    author = await officers.officer_by_id(conn, row.author_id)
    if author is None or not author.active or author.channel not in channels:
        return None
    contact = (await conn.execute(select(queries.CONTACT.c.id, queries.CONTACT.c.address).where(
        queries.CONTACT.c.channel == author.channel,
        queries.CONTACT.c.pseudonym == author.pseudonym))).first()
    if contact is None:
        return None
    now = utcnow()
    await queries.insert_outbox(conn, [{
        "inbox_id": None, "contact_id": contact.id, "channel": author.channel,
        "address": author.address or contact.address, "lane": "reply",
        "payload": reply_to_json(Reply(text)), "status": OutboxStatus.PENDING, "attempts": 0,
        "not_before": now, "last_error": None, "ambiguous": False, "created_at": now,
        "sent_at": None, "broadcast_id": None}])
    return str(author.channel)


def approved(t: Translator, row: Any, by: str, starts: str) -> str:
    return t.gettext("vi", "✅ Your announcement #{id} was approved by {name}. Sending starts "
                     "at {time}.", id=row.id, name=by, time=starts)


def sent_back(t: Translator, row: Any, by: str, reason: str) -> str:
    return t.gettext("vi", "↩ Your announcement #{id} was sent back by {name}. Reason: {reason}"
                     "\nEdit it and submit it again on the Announcements page (/quantri opens "
                     "it).", id=row.id, name=by, reason=reason)


def stopped(t: Translator, row: Any, by: str, cancelled: int) -> str:
    return t.gettext("vi", "⏹ Your announcement #{id} was stopped by {name}: {n} recipients "
                     "will not get it.", id=row.id, name=by, n=cancelled)


def withdrawn(t: Translator, row: Any, by: str) -> str:
    return t.gettext("vi", "⏹ Your announcement #{id} was withdrawn by {name} before it was "
                     "approved: it will not be sent to anyone.", id=row.id, name=by)


def finished(t: Translator, row: Any, by_status: dict[str, int]) -> str:
    return t.gettext("vi", "📬 Your announcement #{id} has been sent ({time}): delivered to "
                     "{sent}, blocked {blocked}, errors {failed}.", id=row.id,
                     time=vn_time(utcnow()), sent=by_status.get(OutboxStatus.SENT, 0),
                     blocked=by_status.get(OutboxStatus.BLOCKED, 0),
                     failed=by_status.get(OutboxStatus.FAILED, 0))


def operator_name(t: Translator) -> str:
    return t.gettext("vi", "operator")
