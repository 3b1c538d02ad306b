"""Query functions over the tables; each takes an AsyncSession and commits nothing itself."""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import func, update
from sqlmodel import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.store.models import (CommunicationRun, Contact, ContactStatus, InboxEvent, InboxStatus,
                              OutboxMessage, OutboxStatus, utcnow)


def _insert(session: AsyncSession):  # type: ignore[no-untyped-def]
    return pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert


async def insert_inbox(session: AsyncSession, channel: str, external_id: str,
                       payload: str) -> int | None:
    """Store a raw event; returns its id, or None when it was already stored (duplicate)."""
    stmt = (_insert(session)(InboxEvent)
            .values(channel=channel, external_id=external_id, payload=payload,
                    status=InboxStatus.NEW, attempts=0, received_at=utcnow())
            .on_conflict_do_nothing(index_elements=["channel", "external_id"])
            .returning(InboxEvent.id))
    result = await session.exec(stmt)
    return result.scalar_one_or_none()


async def insert_inbox_many(session: AsyncSession, channel: str,
                            items: list[tuple[str, str]]) -> None:
    """Store many raw events in one statement; duplicates are skipped."""
    if not items:
        return
    now = utcnow()
    stmt = _insert(session)(InboxEvent).on_conflict_do_nothing(
        index_elements=["channel", "external_id"])
    await session.exec(stmt, params=[  # type: ignore[call-overload]
        {"channel": channel, "external_id": ext, "payload": payload, "status": InboxStatus.NEW,
         "attempts": 0, "received_at": now} for ext, payload in items])


async def find_inbox(session: AsyncSession, channel: str, external_id: str) -> InboxEvent | None:
    result = await session.exec(select(InboxEvent).where(
        InboxEvent.channel == channel, InboxEvent.external_id == external_id))
    return result.one_or_none()


async def pending_inbox(session: AsyncSession, limit: int = 100,
                        exclude_channel: str | None = None) -> Sequence[InboxEvent]:
    stmt = select(InboxEvent).where(InboxEvent.status == InboxStatus.NEW)
    if exclude_channel:
        stmt = stmt.where(InboxEvent.channel != exclude_channel)
    result = await session.exec(stmt.order_by(InboxEvent.id).limit(limit))
    return result.all()


async def get_contact(session: AsyncSession, channel: str, pseudonym: str) -> Contact | None:
    result = await session.exec(select(Contact).where(
        Contact.channel == channel, Contact.pseudonym == pseudonym))
    return result.one_or_none()


async def upsert_contact(session: AsyncSession, channel: str, pseudonym: str,
                         address: str) -> Contact:
    contact = await get_contact(session, channel, pseudonym)
    now = utcnow()
    if contact is None:
        contact = Contact(channel=channel, pseudonym=pseudonym, address=address,
                          created_at=now, last_seen_at=now)
        session.add(contact)
        await session.flush()
    else:
        contact.address = address
        contact.last_seen_at = now
    return contact


async def due_outbox(session: AsyncSession, channel: str, limit: int) -> Sequence[OutboxMessage]:
    now = utcnow()
    result = await session.exec(
        select(OutboxMessage)
        .where(OutboxMessage.channel == channel,
               OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.RETRY]),
               OutboxMessage.not_before <= now)
        .order_by(OutboxMessage.id).limit(limit))
    return result.all()


async def outbox_for_inbox(session: AsyncSession, inbox_id: int) -> Sequence[OutboxMessage]:
    result = await session.exec(select(OutboxMessage).where(
        OutboxMessage.inbox_id == inbox_id).order_by(OutboxMessage.id))
    return result.all()


async def recover_in_flight(session: AsyncSession) -> int:
    """After a crash: messages caught mid-send go out again, flagged as possibly doubled."""
    result = await session.exec(
        update(OutboxMessage).where(OutboxMessage.status == OutboxStatus.SENDING)
        .values(status=OutboxStatus.RETRY, ambiguous=True))
    return result.rowcount or 0


async def stop_contact(session: AsyncSession, contact_id: int) -> None:
    await session.exec(update(Contact).where(Contact.id == contact_id)
                          .values(status=ContactStatus.STOPPED))


async def runs_between(session: AsyncSession, start: dt.datetime,
                       end: dt.datetime) -> Sequence[CommunicationRun]:
    result = await session.exec(select(CommunicationRun).where(
        CommunicationRun.at >= start, CommunicationRun.at < end).order_by(CommunicationRun.id))
    return result.all()


async def count_by_status(session: AsyncSession) -> dict[str, dict[str, int]]:
    """Queue sizes for the health and admin pages."""
    out: dict[str, dict[str, int]] = {"inbox": {}, "outbox": {}}
    for name, model in (("inbox", InboxEvent), ("outbox", OutboxMessage)):
        rows = await session.exec(select(model.status, func.count()).group_by(model.status))
        out[name] = {status: count for status, count in rows.all()}
    return out
