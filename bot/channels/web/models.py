"""Web chat abuse limits: counters per client address and session, which session was opened
from which address, and per day how many runs each address produced and how often it was
refused. Addresses are stored only as keyed hashes (bot/channels/web/limits.py)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from bot.store.erasure import Erasure
from bot.store.models import utcnow


class WebLimit(SQLModel, table=True):
    """One counting window: it starts at the first hit and lasts the limit's period."""

    __tablename__ = "web_limit"
    __table_args__ = (Index("ix_web_limit_window", "window_start"),)
    key: str = Field(primary_key=True, max_length=80)   # "am:<hmac>", "sm:<hmac>" ...
    window_start: float = 0.0                           # epoch seconds (portable)
    hits: int = 0


class WebSession(SQLModel, table=True):
    """A web chat session Loa accepted: its pseudonym (as on the contact and runs), the keyed
    hash of the address it last wrote from, when it was opened and last seen."""

    __tablename__ = "web_session"
    __table_args__ = (Index("ix_web_session_seen", "last_seen_at"),)
    pseudonym: str = Field(primary_key=True, max_length=64)
    client_key: str = Field(max_length=64)
    created_at: dt.datetime = Field(default_factory=utcnow)
    last_seen_at: dt.datetime = Field(default_factory=utcnow)


class WebClientDay(SQLModel, table=True):
    """Per Vietnam day and address hash: web chat runs logged and requests refused by a limit.
    The report counts the runs of address-days with refusals."""

    __tablename__ = "web_client_day"
    day: str = Field(primary_key=True, max_length=10)          # YYYY-MM-DD, Vietnam time
    client_key: str = Field(primary_key=True, max_length=64)
    runs: int = 0
    refused: int = 0


# A citizen's erasure (bot/features/privacy/forget.py) deletes their web chat session record.
ERASURE: tuple[Erasure, ...] = (
    Erasure(WebSession.__table__, "pseudonym"),   # type: ignore[attr-defined]
)
