"""Announcements (broadcasts). The answers to their follow-up polls are in bot/store/models.py
(`PollAnswer`): the monthly report counts them and erasure keeps them anonymous."""
from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from bot.store.models import utcnow


class BroadcastStatus(StrEnum):
    DRAFT = "draft"
    PENDING = "pending_approval"
    APPROVED = "approved"        # waits for its send time
    SENDING = "sending"
    STOPPED = "stopped"
    DONE = "done"
    REJECTED = "rejected"


class BroadcastKind(StrEnum):
    MESSAGE = "message"
    POLL = "poll"                # "have you switched to a 4G phone?" with answer buttons


class Broadcast(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="unit.id")
    author_id: int | None = Field(default=None, foreign_key="officer.id")   # None: operator
    kind: str = Field(default=BroadcastKind.MESSAGE, max_length=16)
    topic: str | None = Field(default=None, max_length=64)
    text: str = Field(sa_column=Column(Text, nullable=False))        # Vietnamese
    variants: str = Field(default="{}", sa_column=Column(Text, nullable=False))  # lang -> text
    # lang -> who approved that translation; an unreviewed variant is never sent
    variants_approved: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    audience: str = Field(default="{}", sa_column=Column(Text, nullable=False))  # JSON filter
    send_at: dt.datetime | None = None
    status: str = Field(default=BroadcastStatus.DRAFT, max_length=20)
    approver_id: int | None = Field(default=None, foreign_key="officer.id")
    created_at: dt.datetime = Field(default_factory=utcnow)
    approved_at: dt.datetime | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    recipients: int = 0
    progress_address: str | None = Field(default=None, max_length=128)   # author's chat
    progress_message_id: str | None = Field(default=None, max_length=40)

