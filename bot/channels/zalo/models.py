"""Zalo tables and their queries: the OA token pair (a secret: never logged) with its refresh
lease, and each OA contact's free-reply window."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Text, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import Field, SQLModel

from bot.store.erasure import Erasure
from bot.store.models import utcnow


class ZaloToken(SQLModel, table=True):
    """The OA's current token pair. The refresh token is single-use: whoever holds the lease
    refreshes, and stores the new pair before anyone uses it."""

    __tablename__ = "zalo_token"
    app_id: str = Field(primary_key=True, max_length=32)
    access_token: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    refresh_token: str = Field(sa_column=Column(Text, nullable=False))
    expires_at: dt.datetime | None = None
    seed_hash: str = Field(default="", max_length=64)   # sha256 of the configured refresh token
    lease_owner: str | None = Field(default=None, max_length=32)
    lease_until: dt.datetime | None = None
    refreshed_at: dt.datetime | None = None
    refresh_count: int = 0
    updated_at: dt.datetime = Field(default_factory=utcnow)


class ZaloWindow(SQLModel, table=True):
    """Free replies used since the contact's last message (Zalo: 8 within 48 hours)."""

    __tablename__ = "zalo_window"
    pseudonym: str = Field(primary_key=True, max_length=64)
    opened_at: dt.datetime
    used: int = 0
    paid: int = 0       # messages sent outside the window (only when paid sending is on)


TOKEN = ZaloToken.__table__        # type: ignore[attr-defined]
WINDOW = ZaloWindow.__table__      # type: ignore[attr-defined]

# A citizen's erasure (bot/features/privacy/forget.py) deletes their free-reply window.
ERASURE: tuple[Erasure, ...] = (Erasure(WINDOW, "pseudonym"),)


def aware(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands datetimes back without a zone; all of ours are UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)


def _insert(conn: AsyncConnection):  # type: ignore[no-untyped-def]
    return pg_insert if conn.dialect.name == "postgresql" else sqlite_insert


# -- tokens --------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class TokenRow:
    access_token: str | None
    refresh_token: str
    expires_at: dt.datetime | None
    seed_hash: str
    lease_owner: str | None
    lease_until: dt.datetime | None
    refreshed_at: dt.datetime | None
    refresh_count: int

    def __repr__(self) -> str:      # a stray log line must never print a token
        return f"TokenRow(expires_at={self.expires_at}, refresh_count={self.refresh_count})"


async def load_token(conn: AsyncConnection, app_id: str) -> TokenRow | None:
    row = (await conn.execute(select(TOKEN).where(TOKEN.c.app_id == app_id))).first()
    if row is None:
        return None
    return TokenRow(row.access_token, row.refresh_token, aware(row.expires_at), row.seed_hash,
                    row.lease_owner, aware(row.lease_until), aware(row.refreshed_at),
                    row.refresh_count)


async def seed_token(conn: AsyncConnection, app_id: str, access: str | None, refresh: str,
                     expires_at: dt.datetime | None, seed_hash: str) -> bool:
    """Store a configured pair unless this same configured value was stored before (the
    stored pair has moved on since); True when something was written."""
    current = await load_token(conn, app_id)
    if current is not None and current.seed_hash == seed_hash:
        return False
    values: dict[str, Any] = {"access_token": access, "refresh_token": refresh,
                              "expires_at": expires_at, "seed_hash": seed_hash,
                              "lease_owner": None, "lease_until": None, "updated_at": utcnow()}
    if current is None:
        await conn.execute(TOKEN.insert().values(app_id=app_id, refresh_count=0, **values))
    else:
        await conn.execute(update(TOKEN).where(TOKEN.c.app_id == app_id).values(**values))
    return True


async def take_lease(conn: AsyncConnection, app_id: str, owner: str, until: dt.datetime,
                     now: dt.datetime) -> bool:
    result = await conn.execute(
        update(TOKEN).where(TOKEN.c.app_id == app_id,
                            (TOKEN.c.lease_until.is_(None)) | (TOKEN.c.lease_until < now))
        .values(lease_owner=owner, lease_until=until))
    return (result.rowcount or 0) == 1


async def release_lease(conn: AsyncConnection, app_id: str, owner: str) -> None:
    await conn.execute(update(TOKEN).where(TOKEN.c.app_id == app_id,
                                           TOKEN.c.lease_owner == owner)
                       .values(lease_owner=None, lease_until=None))


async def save_refreshed(conn: AsyncConnection, app_id: str, owner: str | None, access: str,
                         refresh: str, expires_at: dt.datetime, now: dt.datetime) -> bool:
    """Store a refreshed pair if `owner` still holds the lease (None: unconditionally)."""
    where = [TOKEN.c.app_id == app_id]
    if owner is not None:
        where.append(TOKEN.c.lease_owner == owner)
    result = await conn.execute(
        update(TOKEN).where(*where)
        .values(access_token=access, refresh_token=refresh, expires_at=expires_at,
                lease_owner=None, lease_until=None, refreshed_at=now,
                refresh_count=TOKEN.c.refresh_count + 1, updated_at=now))
    return (result.rowcount or 0) == 1


# -- reply windows -------------------------------------------------------------------------

async def open_window(conn: AsyncConnection, pseudonym: str, at: dt.datetime) -> None:
    """A user message at `at` starts a fresh window (older messages never shrink it)."""
    stmt = _insert(conn)(WINDOW).values(pseudonym=pseudonym, opened_at=at, used=0, paid=0)
    stmt = stmt.on_conflict_do_update(
        index_elements=["pseudonym"], set_={"opened_at": stmt.excluded.opened_at, "used": 0},
        where=WINDOW.c.opened_at < stmt.excluded.opened_at)
    await conn.execute(stmt)


async def reserve_free(conn: AsyncConnection, pseudonym: str, count: int, since: dt.datetime,
                       free: int) -> bool:
    """Take `count` free replies in one statement, only if they all fit in an open window."""
    result = await conn.execute(
        update(WINDOW).where(WINDOW.c.pseudonym == pseudonym, WINDOW.c.opened_at > since,
                             WINDOW.c.used + count <= free)
        .values(used=WINDOW.c.used + count))
    return (result.rowcount or 0) == 1


async def give_back(conn: AsyncConnection, pseudonym: str, count: int) -> None:
    await conn.execute(update(WINDOW).where(WINDOW.c.pseudonym == pseudonym,
                                            WINDOW.c.used >= count)
                       .values(used=WINDOW.c.used - count))


async def add_paid(conn: AsyncConnection, pseudonym: str, count: int) -> None:
    await conn.execute(update(WINDOW).where(WINDOW.c.pseudonym == pseudonym)
                       .values(paid=WINDOW.c.paid + count))


async def load_window(conn: AsyncConnection, pseudonym: str) -> tuple[dt.datetime, int] | None:
    row = (await conn.execute(select(WINDOW.c.opened_at, WINDOW.c.used)
                              .where(WINDOW.c.pseudonym == pseudonym))).first()
    if row is None:
        return None
    opened = aware(row.opened_at)
    assert opened is not None
    return opened, int(row.used)


async def count_open_windows(conn: AsyncConnection, since: dt.datetime) -> int:
    from sqlalchemy import func
    return int((await conn.execute(select(func.count()).select_from(WINDOW)
                                   .where(WINDOW.c.opened_at > since))).scalar_one())
