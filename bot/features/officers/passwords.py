"""Officer password login: argon2id hashes, the rules for passwords and login names, and the
lockout (failed attempts per login name and per client address, kept in the database)."""
from __future__ import annotations

import asyncio
import datetime as dt
import functools
import hashlib
import hmac
import re
import secrets
import threading
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Row, and_, case, delete, literal, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.features.officers import service as officers
from bot.features.officers.models import LoginThrottle
from bot.store.models import utcnow

THROTTLE = LoginThrottle.__table__
OFFICER = officers.OFFICER
MIN_LENGTH = 10
MAX_LENGTH = 256            # argon2 takes any length; a bound keeps one request cheap
ACCOUNT_FAILURES = 5        # failed passwords for one login name ...
CLIENT_FAILURES = 20        # ... or from one client address ...
WINDOW = dt.timedelta(minutes=15)   # ... within this window (from the first failure) ...
LOCK = dt.timedelta(minutes=15)     # ... lock it for this long
LOGIN_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{2,39}")
# argon2id, RFC 9106 "low memory" profile (64 MiB, 3 passes, 4 lanes): about 0.15 s here.
# A hash made with other parameters is redone at the next successful login.
HASHER = PasswordHasher.from_parameters(profiles.RFC_9106_LOW_MEMORY)
# At most two hashes at once: each takes 64 MiB, and a burst of logins must not eat the server.
_SLOTS = threading.BoundedSemaphore(2)


class PasswordError(ValueError):
    """A refused password or login name; `code` picks the message shown to the officer."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Outcome(StrEnum):
    OK = "ok"
    FAILED = "failed"                 # wrong name or password (the same answer for both)
    LOCKED = "locked"                 # too many failures for this login name
    CLIENT_LOCKED = "client_locked"   # too many failures from this address


@dataclass(frozen=True)
class LoginResult:
    outcome: Outcome
    officer_id: int | None = None
    until: dt.datetime | None = None  # end of the lock


# -- rules -------------------------------------------------------------------------------------

def normalize_login_name(raw: str) -> str:
    return unicodedata.normalize("NFC", raw).strip().lower()


def check_login_name(raw: str) -> str:
    """The login name as stored (lower case), or PasswordError."""
    name = normalize_login_name(raw)
    if not LOGIN_NAME.fullmatch(name):
        raise PasswordError("bad_name", "the login name must be 3-40 characters: letters a-z "
                            "without tone marks, digits, '.', '_' or '-', starting with a "
                            "letter or digit")
    return name


def normalize_password(password: str) -> str:
    """NFC: Vietnamese keyboards type "ế" as one code point or as e + marks (Unikey's
    "Unicode dựng sẵn" or "tổ hợp"); both must open the same account (as RFC 8265 does)."""
    return unicodedata.normalize("NFC", password)


def check_password(password: str, login_name: str | None) -> None:
    password = normalize_password(password)
    if len(password) < MIN_LENGTH:
        raise PasswordError("too_short", f"the password must have at least {MIN_LENGTH} "
                            "characters")
    if len(password) > MAX_LENGTH:
        raise PasswordError("too_long", f"the password must have at most {MAX_LENGTH} "
                            "characters")
    if len(set(password)) == 1:
        raise PasswordError("one_char", "the password must not be one character repeated")
    if login_name and password.strip().casefold() == login_name.casefold():
        raise PasswordError("is_name", "the password must not be the login name")


# -- hashing (blocking: call through asyncio.to_thread) ----------------------------------------

def hash_password(password: str) -> str:
    with _SLOTS:
        return HASHER.hash(normalize_password(password))


def verify_password(stored: str | None, password: str) -> bool:
    """True if `password` matches; an unknown account is checked against a dummy hash so that
    both take the same time."""
    with _SLOTS:
        try:
            return HASHER.verify(stored or _dummy_hash(), normalize_password(password)) \
                and stored is not None
        except (VerificationError, InvalidHashError):
            return False


def needs_rehash(stored: str) -> bool:
    try:
        return HASHER.check_needs_rehash(stored)
    except InvalidHashError:
        return True


@functools.cache
def _dummy_hash() -> str:
    return HASHER.hash(secrets.token_urlsafe(16))


# -- the lockout -------------------------------------------------------------------------------

def throttle_key(secret: str, kind: str, value: str) -> str:
    """"name:<hmac>" or "client:<hmac>": neither typed names nor addresses are stored."""
    mac = hmac.new(secret.encode(), f"login-{kind}:{value}".encode(), hashlib.sha256)
    return f"{kind}:{mac.hexdigest()[:64]}"


def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    return value if value is None or value.tzinfo else value.replace(tzinfo=dt.UTC)


async def clear_throttle(conn: AsyncConnection, key: str | None = None) -> int:
    """Forget failures and locks of one key (all keys when None); returns how many rows."""
    stmt = delete(THROTTLE)
    if key is not None:
        stmt = stmt.where(THROTTLE.c.key == key)
    return (await conn.execute(stmt)).rowcount or 0


# -- accounts ----------------------------------------------------------------------------------

async def officer_by_login(conn: AsyncConnection, login_name: str) -> Row[Any] | None:
    """The active officer with this login name and a password, or None."""
    return (await conn.execute(select(OFFICER).where(
        OFFICER.c.login_name == login_name, OFFICER.c.active.is_(True),
        OFFICER.c.password_hash.is_not(None)))).first()


async def login_name_taken(conn: AsyncConnection, login_name: str, officer_id: int) -> bool:
    return (await conn.execute(select(OFFICER.c.id).where(
        OFFICER.c.login_name == login_name, OFFICER.c.id != officer_id))).first() is not None


async def store_password(conn: AsyncConnection, officer_id: int, login_name: str,
                         password_hash: str | None, actor: str,
                         keep_session: str | None = None) -> None:
    """Save the login name and hash (None: keep the password, change the name), audited
    without the hash. A new password ends the officer's other browser sessions;
    `keep_session` is the token hash of the session that asked."""
    row = await officers.officer_by_id(conn, officer_id)
    if row is None:
        raise PasswordError("no_officer", f"no officer {officer_id}")
    if await login_name_taken(conn, login_name, officer_id):
        raise PasswordError("taken", f"the login name '{login_name}' is taken")
    values: dict[str, Any] = {"login_name": login_name}
    if password_hash is not None:
        values.update(password_hash=password_hash, password_changed_at=utcnow())
    try:
        await conn.execute(update(OFFICER).where(OFFICER.c.id == officer_id).values(**values))
    except IntegrityError:      # another officer took the name in the same instant (the
        # caller's transaction is rolled back by the exception)
        raise PasswordError("taken", f"the login name '{login_name}' is taken") from None
    if password_hash is None:
        action = "login_name.change"
    else:
        action = "password.change" if row.password_hash else "password.set"
        sessions = officers.SESSION
        where = [sessions.c.officer_id == officer_id, sessions.c.expires_at > utcnow()]
        if keep_session is not None:
            where.append(sessions.c.token_hash != keep_session)
        await conn.execute(update(sessions).where(and_(*where)).values(expires_at=utcnow()))
    await officers.audit(conn, actor, action, f"officer:{officer_id}",
                         {"login_name": row.login_name}, {"login_name": login_name},
                         row.unit_id)


@dataclass(frozen=True)
class Attempt:
    """One login attempt counted against a key before its password is checked."""

    allowed: bool                  # within the limit: the password may be checked
    until: dt.datetime | None      # end of the lock that refuses it, or that it starts
    sets_lock: bool = False        # the last allowed attempt: locked unless it succeeds


async def reserve_attempt(conn: AsyncConnection, key: str, limit: int,
                          now: dt.datetime) -> Attempt:
    """Count an attempt BEFORE the password is checked, in one upsert (atomic: PostgreSQL
    locks the row until the transaction ends, SQLite has one writer), so parallel requests
    each get their own number and at most `limit` per WINDOW are ever checked. The attempt
    that reaches the limit locks the key at once (a success lifts it again); later ones are
    refused without a check. An expired lock or window starts a new count."""
    from bot.store.queries import _insert
    ts = THROTTLE.c.window_start.type
    lock_over = and_(THROTTLE.c.locked_until.is_not(None),
                     THROTTLE.c.locked_until <= literal(now, ts))
    fresh = or_(lock_over, and_(THROTTLE.c.locked_until.is_(None),
                                THROTTLE.c.window_start < literal(now - WINDOW, ts)))
    stmt = _insert(conn)(THROTTLE).values(key=key, failures=1, window_start=now,
                                          locked_until=None)
    stmt = stmt.on_conflict_do_update(
        index_elements=["key"],
        set_={"failures": case((fresh, 1), else_=THROTTLE.c.failures + 1),
              "window_start": case((fresh, literal(now, ts)), else_=THROTTLE.c.window_start),
              "locked_until": case((fresh, None), else_=THROTTLE.c.locked_until)})
    count, until = (await conn.execute(
        stmt.returning(THROTTLE.c.failures, THROTTLE.c.locked_until))).one()
    until = as_utc(until)
    if until is not None and until > now:
        return Attempt(False, until)
    if count < limit:
        return Attempt(True, None)
    lock = now + LOCK
    await conn.execute(update(THROTTLE).where(THROTTLE.c.key == key).values(locked_until=lock))
    return Attempt(count == limit, lock, sets_lock=count == limit)


async def _forget_old_windows(conn: AsyncConnection, now: dt.datetime) -> None:
    """Delete rows whose window and lock are long over. SKIP LOCKED: never wait for (or
    deadlock with) a row another login is counting on PostgreSQL; SQLite ignores it."""
    old = select(THROTTLE.c.key).where(
        THROTTLE.c.window_start < now - WINDOW - LOCK,
        or_(THROTTLE.c.locked_until.is_(None), THROTTLE.c.locked_until < now)
    ).with_for_update(skip_locked=True)
    await conn.execute(delete(THROTTLE).where(THROTTLE.c.key.in_(old)))


async def _undo_client_attempt(conn: AsyncConnection, key: str, attempt: Attempt) -> None:
    """A success is not a failure of its address: take its count back (and the lock it set)."""
    values: dict[str, Any] = {"failures": case((THROTTLE.c.failures > 0,
                                                THROTTLE.c.failures - 1), else_=0)}
    if attempt.sets_lock:
        values["locked_until"] = None
    await conn.execute(update(THROTTLE).where(THROTTLE.c.key == key).values(**values))


async def attempt_login(db: Any, secret: str, login: str, password: str,
                        client: str) -> LoginResult:
    """Check a login name and password. The attempt is counted against the address and the
    name first, in one transaction, and the password is checked only within the limits, so
    parallel requests cannot get more guesses than the lockout allows. Every outcome is
    audited, except attempts from an address that is locked (its lock was)."""
    name = normalize_login_name(login)[:80]
    name_key = throttle_key(secret, "name", name)
    client_key = throttle_key(secret, "client", client)
    now = utcnow()
    async with db.connect() as conn:
        officer = await officer_by_login(conn, name) if LOGIN_NAME.fullmatch(name) else None
    target = f"officer:{officer.id}" if officer is not None else "login:unknown"
    unit_id = officer.unit_id if officer is not None else None
    client_tag = {"client": client_key[7:19]}
    async with db.begin() as conn:   # client first, then name: one order, no deadlock
        by_client = await reserve_attempt(conn, client_key, CLIENT_FAILURES, now)
        by_name = await reserve_attempt(conn, name_key, ACCOUNT_FAILURES, now) \
            if by_client.allowed else None
        await _forget_old_windows(conn, now)
        if by_name is not None and not by_name.allowed:
            # Refusals count against the address too, so no address can fill the audit log.
            await officers.audit(conn, "anonymous", "login.refused", target, None,
                                 {"reason": Outcome.LOCKED.value, **client_tag}, unit_id)
            if by_client.sets_lock:
                await _audit_client_lock(conn, client_tag["client"], by_client.until)
    if by_name is None:                 # its lock was audited; a flood here writes no audit
        return LoginResult(Outcome.CLIENT_LOCKED, None, by_client.until)
    if not by_name.allowed:
        return LoginResult(Outcome.LOCKED, None, by_name.until)
    stored = officer.password_hash if officer is not None else None
    ok = 0 < len(password) <= MAX_LENGTH and await asyncio.to_thread(
        verify_password, stored, password)
    if ok and officer is not None:
        upgraded = await asyncio.to_thread(hash_password, password) \
            if needs_rehash(officer.password_hash) else None
        async with db.begin() as conn:
            await _undo_client_attempt(conn, client_key, by_client)
            await clear_throttle(conn, name_key)      # a success forgets the name's failures
            if upgraded is not None:
                await conn.execute(update(OFFICER).where(OFFICER.c.id == officer.id)
                                   .values(password_hash=upgraded))
            await officers.audit(conn, f"officer:{officer.id}", "login.success", target, None,
                                 {"method": "password", "rehashed": upgraded is not None,
                                  **client_tag}, unit_id)
        return LoginResult(Outcome.OK, officer.id)
    async with db.begin() as conn:
        await officers.audit(conn, "anonymous", "login.failure", target, None, client_tag,
                             unit_id)
        if by_name.sets_lock:
            await officers.audit(conn, "anonymous", "login.lockout", target, None,
                                 {"until": by_name.until.isoformat(timespec="seconds")
                                  if by_name.until else None,
                                  "failures": ACCOUNT_FAILURES}, unit_id)
        if by_client.sets_lock:
            await _audit_client_lock(conn, client_tag["client"], by_client.until)
    if by_client.sets_lock:
        return LoginResult(Outcome.CLIENT_LOCKED, None, by_client.until)
    if by_name.sets_lock:
        return LoginResult(Outcome.LOCKED, None, by_name.until)
    return LoginResult(Outcome.FAILED)


async def _audit_client_lock(conn: AsyncConnection, client: str,
                             until: dt.datetime | None) -> None:
    await officers.audit(conn, "anonymous", "login.lockout", f"client:{client}", None,
                         {"until": until.isoformat(timespec="seconds") if until else None,
                          "failures": CLIENT_FAILURES}, None)


async def unlock_officer(conn: AsyncConnection, secret: str, officer_id: int,
                         actor: str) -> bool:
    """Lift the lock and forget the failures of an officer's login name (operator)."""
    row = await officers.officer_by_id(conn, officer_id)
    if row is None or not row.login_name:
        raise PasswordError("no_login", f"officer {officer_id} has no login name")
    removed = await clear_throttle(conn, throttle_key(secret, "name", row.login_name))
    await officers.audit(conn, actor, "login.unlock", f"officer:{officer_id}", None,
                         {"cleared": removed}, row.unit_id)
    return removed > 0
