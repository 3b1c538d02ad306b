"""The tables. Citizens appear only under pseudonyms; raw chat ids live only in contact.address."""
from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class InboxStatus(StrEnum):
    NEW = "new"
    DONE = "done"
    FAILED = "failed"      # gave up after repeated errors; kept for the operator


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    RETRY = "retry"
    SENT = "sent"
    BLOCKED = "blocked"
    FAILED = "failed"
    CANCELLED = "cancelled"   # an officer stopped the broadcast before this was sent


class ContactStatus(StrEnum):
    ACTIVE = "active"
    STOPPED = "stopped"    # blocked the bot or left


class Contact(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("channel", "pseudonym", name="uq_contact_channel_pseudo"),)
    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    pseudonym: str = Field(max_length=64)
    # Where to deliver replies (Telegram chat id, web session). Needed to answer; never logged.
    address: str = Field(max_length=128)
    lang: str | None = Field(default=None, max_length=16)
    state: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))
    status: str = Field(default=ContactStatus.ACTIVE, max_length=16)
    commune_code: str | None = Field(default=None, max_length=8)
    created_at: dt.datetime = Field(default_factory=utcnow)
    last_seen_at: dt.datetime = Field(default_factory=utcnow)
    subscribed: bool = False           # opted in to announcements (migration 0006)


class InboxEvent(SQLModel, table=True):
    __tablename__ = "inbox"
    __table_args__ = (UniqueConstraint("channel", "external_id", name="uq_inbox_channel_ext"),
                      Index("ix_inbox_status", "status", "id"),
                      Index("ix_inbox_contact", "contact_key",
                            postgresql_where=text("contact_key IS NOT NULL"),
                            sqlite_where=text("contact_key IS NOT NULL")))
    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    external_id: str = Field(max_length=80)
    # The raw update; cleared once handled so citizens' words are not kept.
    payload: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    status: str = Field(default=InboxStatus.NEW, max_length=16)
    attempts: int = 0
    error: str | None = Field(default=None, max_length=200)
    received_at: dt.datetime = Field(default_factory=utcnow)
    handled_at: dt.datetime | None = None
    # migration 0015: which contact an unhandled row is for (a keyed hash of channel and
    # pseudonym, never the platform's user id), stamped by the handler when it leaves the row
    # for later, so one contact's rows are handled in order (bot/delivery/handler.py); cleared
    # once the row is handled.
    contact_key: str | None = Field(default=None, max_length=32)


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "channel", "status", "not_before"),
                      Index("ix_outbox_inbox", "inbox_id"))
    id: int | None = Field(default=None, primary_key=True)
    inbox_id: int | None = Field(default=None, foreign_key="inbox.id")
    contact_id: int = Field(foreign_key="contact.id")
    channel: str = Field(max_length=16)
    address: str = Field(max_length=128)   # copied from the contact when queued
    lane: str = Field(default="reply", max_length=8)
    payload: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default=OutboxStatus.PENDING, max_length=16)
    attempts: int = 0
    not_before: dt.datetime = Field(default_factory=utcnow)
    last_error: str | None = Field(default=None, max_length=200)
    ambiguous: bool = False   # may have been sent twice (crash while in flight)
    created_at: dt.datetime = Field(default_factory=utcnow)
    sent_at: dt.datetime | None = None
    # migration 0006: announcements
    broadcast_id: int | None = Field(default=None, foreign_key="broadcast.id")
    external_message_id: str | None = Field(default=None, max_length=40)
    retracted_at: dt.datetime | None = None     # deleted from the chat after sending
    # migration 0010: the process (bot/delivery/cluster.py instance id) sending it while 'sending'
    claimed_by: int | None = None
    claimed_at: dt.datetime | None = None


class CommunicationRun(SQLModel, table=True):
    """One reportable communication run ("lượt truyền thông")."""

    __tablename__ = "run"
    __table_args__ = (Index("ix_run_at", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = Field(default_factory=utcnow)
    unit: str = Field(max_length=200)
    form: str = Field(max_length=32)         # code, e.g. "chatbot_qa"; labels in reports
    medium: str = Field(max_length=16)       # channel code: telegram, web, zalo, ...
    kind: str = Field(max_length=16)         # RunKind
    topic: str | None = Field(default=None, max_length=64)
    language: str = Field(default="vi", max_length=16)
    served_language: str | None = Field(default=None, max_length=16)  # 0007: fallbacks counted
    commune_code: str | None = Field(default=None, max_length=8)
    contact_pseudonym: str | None = Field(default=None, max_length=64)
    reached: int = 1
    score: float | None = None


class PollAnswer(SQLModel, table=True):
    """A citizen's answer to an announcement's follow-up poll (features/broadcasts): counted in
    the monthly report (features/outreach), kept under a random id when they are erased."""

    __tablename__ = "poll_answer"
    __table_args__ = (UniqueConstraint("broadcast_id", "contact_pseudonym",
                                       name="uq_poll_answer"),)
    id: int | None = Field(default=None, primary_key=True)
    broadcast_id: int = Field(foreign_key="broadcast.id")
    contact_pseudonym: str = Field(max_length=64)
    unit_id: int | None = Field(default=None, foreign_key="unit.id")
    commune_code: str | None = Field(default=None, max_length=8)
    answer: str = Field(max_length=16)          # switched / not_yet / planning
    at: dt.datetime = Field(default_factory=utcnow)
