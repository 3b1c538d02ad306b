"""Units and officers: invite codes, registration, roles, admin login links, the audit log."""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import secrets
from pathlib import Path
from typing import Any

from sqlalchemy import Row, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.features.officers.models import AdminSession, AuditEntry, Invite, Officer, Role, Unit
from bot.store.models import utcnow

UNIT = Unit.__table__
OFFICER = Officer.__table__
INVITE = Invite.__table__
SESSION = AdminSession.__table__
AUDIT = AuditEntry.__table__
COMMUNES_CSV = Path(__file__).resolve().parent / "refdata" / "communes-dak-lak-2025.csv"
PROVINCE_UNIT = "tinh"
INVITE_DAYS = 7
LOGIN_LINK_MINUTES = 15
SESSION_HOURS = 12
ROLE_NAMES = tuple(r.value for r in Role)


class OfficerError(ValueError):
    """A refused officer action; the message is for the person who asked."""


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def communes() -> list[dict[str, str]]:
    with COMMUNES_CSV.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


async def sync_units(conn: AsyncConnection, province_name: str) -> int:
    """Make sure the province unit and the 102 communes/wards exist; returns how many added."""
    have = set((await conn.execute(select(UNIT.c.code))).scalars())
    rows = []
    if PROVINCE_UNIT not in have:
        rows.append({"code": PROVINCE_UNIT, "name": province_name, "kind": "province",
                     "commune_code": None, "created_at": utcnow()})
    for commune in communes():
        code = f"xa-{commune['code']}"
        if code not in have:
            rows.append({"code": code, "name": commune["name"], "kind": "commune",
                         "commune_code": commune["code"], "created_at": utcnow()})
    if rows:
        # Several processes (and the CLI) seed at start-up at the same time: a unit another
        # one has just added is skipped, not an error (ON CONFLICT DO NOTHING, both databases).
        insert = (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(UNIT)
        await conn.execute(insert.on_conflict_do_nothing(index_elements=["code"]), rows)
    return len(rows)


async def add_unit(conn: AsyncConnection, code: str, name: str, kind: str = "other") -> int:
    code = code.strip().lower()
    if not code or len(code) > 40 or not all(c.isalnum() or c in "-_" for c in code):
        raise OfficerError("unit code must be 1-40 letters, digits, '-' or '_'")
    if await unit_by_code(conn, code) is not None:
        raise OfficerError(f"unit '{code}' already exists")
    return (await conn.execute(UNIT.insert().values(code=code, name=name.strip()[:200],
                                                    kind=kind, created_at=utcnow())
                               .returning(UNIT.c.id))).scalar_one()


async def unit_by_code(conn: AsyncConnection, code: str) -> Row[Any] | None:
    return (await conn.execute(select(UNIT).where(UNIT.c.code == code.strip().lower()))).first()


async def unit_by_id(conn: AsyncConnection, unit_id: int) -> Row[Any] | None:
    return (await conn.execute(select(UNIT).where(UNIT.c.id == unit_id))).first()


async def list_units(conn: AsyncConnection) -> list[Row[Any]]:
    return list((await conn.execute(select(UNIT).order_by(UNIT.c.kind.desc(), UNIT.c.id))).all())


async def create_invite(conn: AsyncConnection, unit_code: str, role: str, created_by: str,
                        language: str | None = None, days: int = INVITE_DAYS) -> str:
    """A one-time code an officer sends to the bot to register for a unit and role."""
    if role not in ROLE_NAMES:
        raise OfficerError(f"role must be one of: {', '.join(ROLE_NAMES)}")
    if role == Role.REVIEWER and not language:
        raise OfficerError("a reviewer needs --language (the language they review)")
    unit = await unit_by_code(conn, unit_code)
    if unit is None:
        raise OfficerError(f"unknown unit '{unit_code}' (see: python -m bot officers units)")
    code = secrets.token_hex(4).upper()   # 8 characters, easy to type on a phone
    await conn.execute(INVITE.insert().values(
        code_hash=digest(code), unit_id=unit.id, role=role, language=language,
        created_by=created_by, created_at=utcnow(),
        expires_at=utcnow() + dt.timedelta(days=days)))
    await audit(conn, created_by, "invite.create", f"unit:{unit.code}", None,
                {"role": role, "language": language}, unit.id)
    return code


async def redeem_invite(conn: AsyncConnection, code: str, channel: str, pseudonym: str,
                        address: str, name: str, replace_name: bool = False) -> Row[Any]:
    """Register the sender as an officer; raises OfficerError with a reason to show. An
    officer of this chat registered before keeps their name unless `replace_name` (a name
    they typed, rather than the chat's display name)."""
    invite = (await conn.execute(select(INVITE).where(
        INVITE.c.code_hash == digest(code.strip().upper())))).first()
    if invite is None:
        raise OfficerError("unknown")
    if invite.used_at is not None:
        raise OfficerError("used")
    if _aware(invite.expires_at) < utcnow():
        raise OfficerError("expired")
    # Also a removed officer of this chat: a new invite registers them again (one row per chat).
    existing = (await conn.execute(select(OFFICER).where(
        OFFICER.c.channel == channel, OFFICER.c.pseudonym == pseudonym))).first()
    now = utcnow()
    if existing is not None:
        await conn.execute(update(OFFICER).where(OFFICER.c.id == existing.id).values(
            unit_id=invite.unit_id, role=invite.role, language=invite.language, active=True,
            address=address, removed_at=None, removed_by=None,
            **({"name": name[:120] or "?"} if replace_name else {})))
        officer_id = existing.id
    else:
        officer_id = (await conn.execute(OFFICER.insert().values(
            unit_id=invite.unit_id, role=invite.role, language=invite.language,
            name=name[:120] or "?", channel=channel, pseudonym=pseudonym, address=address,
            active=True, created_at=now).returning(OFFICER.c.id))).scalar_one()
    await conn.execute(update(INVITE).where(INVITE.c.id == invite.id)
                       .values(used_at=now, used_by=officer_id))
    await audit(conn, f"officer:{officer_id}", "officer.register", f"officer:{officer_id}",
                None, {"role": invite.role, "unit_id": invite.unit_id}, invite.unit_id)
    officer = await officer_by_id(conn, officer_id)
    assert officer is not None
    return officer


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


async def officer_for(conn: AsyncConnection, channel: str, pseudonym: str) -> Row[Any] | None:
    return (await conn.execute(select(OFFICER).where(
        OFFICER.c.channel == channel, OFFICER.c.pseudonym == pseudonym,
        OFFICER.c.active.is_(True)))).first()


async def officer_by_id(conn: AsyncConnection, officer_id: int) -> Row[Any] | None:
    return (await conn.execute(
        select(OFFICER, UNIT.c.code.label("unit_code"), UNIT.c.name.label("unit_name"))
        .join(UNIT, UNIT.c.id == OFFICER.c.unit_id).where(OFFICER.c.id == officer_id))).first()


async def officers(conn: AsyncConnection, unit_id: int | None = None,
                   roles: tuple[str, ...] = ()) -> list[Row[Any]]:
    stmt = (select(OFFICER, UNIT.c.code.label("unit_code"), UNIT.c.name.label("unit_name"))
            .join(UNIT, UNIT.c.id == OFFICER.c.unit_id).where(OFFICER.c.active.is_(True)))
    if unit_id is not None:
        stmt = stmt.where(OFFICER.c.unit_id == unit_id)
    if roles:
        stmt = stmt.where(OFFICER.c.role.in_(roles))
    return list((await conn.execute(stmt.order_by(OFFICER.c.id))).all())


async def audit(conn: AsyncConnection, actor: str, action: str, target: str,
                before: dict[str, Any] | None, after: dict[str, Any] | None,
                unit_id: int | None = None) -> None:
    """Record an officer or operator action: who, what, when, before/after."""
    await conn.execute(AUDIT.insert().values(
        at=utcnow(), actor=actor[:80], unit_id=unit_id, action=action[:60], target=target[:120],
        before=None if before is None else json.dumps(before, ensure_ascii=False, default=str),
        after=None if after is None else json.dumps(after, ensure_ascii=False, default=str)))


async def audit_entries(conn: AsyncConnection, unit_id: int | None = None,
                        limit: int = 100) -> list[Row[Any]]:
    stmt = select(AUDIT).order_by(AUDIT.c.id.desc()).limit(limit)
    if unit_id is not None:
        stmt = stmt.where(AUDIT.c.unit_id == unit_id)
    return list((await conn.execute(stmt)).all())


# -- admin login -------------------------------------------------------------------------------

async def create_login_link(conn: AsyncConnection, officer_id: int) -> str:
    """A one-time token for GET /admin/login?token=...; valid for a few minutes."""
    token = secrets.token_urlsafe(24)
    await conn.execute(SESSION.insert().values(
        token_hash=digest(token), officer_id=officer_id, csrf=secrets.token_urlsafe(24),
        created_at=utcnow(), expires_at=utcnow() + dt.timedelta(minutes=LOGIN_LINK_MINUTES),
        used=False))
    return token


async def open_session(conn: AsyncConnection, link_token: str) -> str | None:
    """Trade a login link for a browser session token; None if unknown, used or expired."""
    row = (await conn.execute(select(SESSION).where(
        SESSION.c.token_hash == digest(link_token)))).first()
    if row is None or row.used or _aware(row.expires_at) < utcnow():
        return None
    session_token = secrets.token_urlsafe(32)
    await conn.execute(update(SESSION).where(SESSION.c.id == row.id).values(used=True))
    await conn.execute(SESSION.insert().values(
        token_hash=digest(session_token), officer_id=row.officer_id,
        csrf=secrets.token_urlsafe(24), created_at=utcnow(),
        expires_at=utcnow() + dt.timedelta(hours=SESSION_HOURS), used=True))
    return session_token


async def session_officer(conn: AsyncConnection, session_token: str) -> tuple[Row[Any], str] | None:
    """The officer and CSRF token of a live browser session."""
    row = (await conn.execute(select(SESSION).where(
        SESSION.c.token_hash == digest(session_token), SESSION.c.used.is_(True)))).first()
    if row is None or _aware(row.expires_at) < utcnow():
        return None
    officer = await officer_by_id(conn, row.officer_id)
    if officer is None or not officer.active:
        return None
    return officer, row.csrf


async def remove_officer(conn: AsyncConnection, officer_id: int, actor: str,
                         actor_officer: Row[Any] | Any | None = None) -> Row[Any]:
    """Deactivate an officer: their browser sessions and login links end at once (deleted),
    their password login and chat commands stop, their past actions stay in the audit log.

    `actor_officer` is the officer asking (None: the operator): an administrator of the
    province removes anyone, an administrator of a unit only the unit's officers. Nobody
    removes themselves, and the province keeps at least one administrator.
    """
    if conn.dialect.name == "sqlite":
        # Take SQLite's write lock first, so that what is read below cannot change before
        # the write (another process could otherwise remove an administrator meanwhile).
        await conn.execute(update(OFFICER).where(OFFICER.c.id == officer_id)
                           .values(active=OFFICER.c.active))
    target = await officer_by_id(conn, officer_id)
    if target is None or not target.active or (
            actor_officer is not None and actor_officer.unit_code != PROVINCE_UNIT
            and target.unit_id != actor_officer.unit_id):
        raise OfficerError("not_found")
    if actor_officer is not None and actor_officer.id == target.id:
        raise OfficerError("self")
    if target.role == Role.ADMIN and target.unit_code == PROVINCE_UNIT:
        # Lock the province's administrators in one order (PostgreSQL), so that two of them
        # removing each other at once cannot both succeed, nor deadlock.
        admins = (await conn.execute(
            select(OFFICER.c.id).where(OFFICER.c.unit_id == target.unit_id,
                                       OFFICER.c.role == Role.ADMIN,
                                       OFFICER.c.active.is_(True))
            .order_by(OFFICER.c.id).with_for_update())).scalars().all()
        if len(admins) <= 1 or officer_id not in admins:
            raise OfficerError("last_admin" if officer_id in admins else "not_found")
    if actor_officer is not None:
        actor_now = await officer_by_id(conn, actor_officer.id)
        if actor_now is None or not actor_now.active:   # removed meanwhile
            raise OfficerError("not_found")
    done = await conn.execute(update(OFFICER).where(
        OFFICER.c.id == officer_id, OFFICER.c.active.is_(True)).values(
        active=False, removed_at=utcnow(), removed_by=actor[:80], login_name=None,
        password_hash=None))
    if not done.rowcount:     # removed by someone else meanwhile
        raise OfficerError("not_found")
    ended = (await conn.execute(delete(SESSION).where(SESSION.c.officer_id == officer_id))
             ).rowcount or 0
    await audit(conn, actor, "officer.remove", f"officer:{officer_id}",
                {"name": target.name, "role": target.role, "unit": target.unit_code,
                 "login_name": target.login_name, "active": True},
                {"active": False, "sessions_ended": ended}, target.unit_id)
    return target


async def close_session(conn: AsyncConnection, session_token: str) -> None:
    await conn.execute(update(SESSION).where(SESSION.c.token_hash == digest(session_token))
                       .values(expires_at=utcnow()))
