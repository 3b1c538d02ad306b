"""Zalo OA state kept in the database: the free-reply windows (8 replies within 48 hours of
the user's last message, per contact pseudonym) and the token pair, refreshed by one worker at
a time."""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, exists
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.channels.zalo import models as zq
from bot.channels.zalo.common import JsonHttp, TransportError
from bot.channels.zalo.oa import NAME as ZALO_OA
from bot.channels.zalo.oa import TOKEN_PATH, Quota, TokenUnavailable
from bot.store.db import Database
from bot.store.models import utcnow
from bot.store.pseudonym import pseudonymize
from bot.store.retention import Rule

log = logging.getLogger(__name__)

FREE_REPLIES = 8
WINDOW = dt.timedelta(hours=48)

# Retention (bot/features/privacy/retention.py): free-reply windows long closed are per-citizen
# rows with no use left; they go after BOT_RETENTION_DAYS.
RETENTION: tuple[Rule, ...] = (
    Rule("zalo_windows", zq.WINDOW, lambda cut: zq.WINDOW.c.opened_at < cut, None),
)


# -- OA free-reply windows -----------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class WindowStatus:
    """Where a contact stands: what the broadcast code asks before sending on Zalo OA."""

    inside: bool               # a user message less than 48 hours ago
    remaining: int             # free replies left in the window (0 when outside)
    closes_at: dt.datetime | None


def has_free_reply(pseudonym: Any, now: dt.datetime, free: int = FREE_REPLIES,
                   window: dt.timedelta = WINDOW) -> ColumnElement[bool]:
    """A condition for queries over contacts (the broadcast code's reach): the contact whose
    pseudonym is the column `pseudonym` is inside a free-reply window at `now` with free
    replies left."""
    w = zq.WINDOW.c
    return exists().where(w.pseudonym == pseudonym, w.opened_at > now - window,
                          w.used < free)


class ReplyWindows:
    """Zalo OA's quota: each user message opens a window of 8 free replies within 48 hours.
    Kept per contact pseudonym (never the raw Zalo id) in the zalo_window table."""

    def __init__(self, secret: str, db: Database, free: int = FREE_REPLIES,
                 window: dt.timedelta = WINDOW,
                 clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.secret = secret
        self.db = db
        self.free = free
        self.window = window
        self.clock = clock

    def pseudonym(self, user_id: str) -> str:
        return pseudonymize(self.secret, ZALO_OA, user_id)

    async def open(self, conn: AsyncConnection, user_id: str, at: dt.datetime) -> None:
        """Called in the transaction that stores the user's message."""
        await zq.open_window(conn, self.pseudonym(user_id), min(at, self.clock()))

    async def reserve(self, user_id: str, count: int) -> Quota:
        pseudonym, now = self.pseudonym(user_id), self.clock()
        async with self.db.begin() as conn:
            if await zq.reserve_free(conn, pseudonym, count, now - self.window, self.free):
                return Quota(True)
            found = await zq.load_window(conn, pseudonym)
        if found is None:
            return Quota(False, "no message from this user yet, so no free reply")
        opened, used = found
        if opened <= now - self.window:
            return Quota(False, "the 48-hour reply window has closed")
        return Quota(False, f"{used} of {self.free} free replies used in this window, "
                            f"{count} more needed")

    async def release(self, user_id: str, count: int) -> None:
        async with self.db.begin() as conn:
            await zq.give_back(conn, self.pseudonym(user_id), count)

    async def record_paid(self, user_id: str, count: int) -> None:
        async with self.db.begin() as conn:
            await zq.add_paid(conn, self.pseudonym(user_id), count)

    async def status(self, conn: AsyncConnection, pseudonym: str) -> WindowStatus:
        """For the broadcast code: is this contact (by pseudonym) inside a free window?"""
        found = await zq.load_window(conn, pseudonym)
        now = self.clock()
        if found is None or found[0] <= now - self.window:
            return WindowStatus(False, 0, None)
        return WindowStatus(True, max(0, self.free - found[1]), found[0] + self.window)


# -- OA tokens -----------------------------------------------------------------------------

class OATokenStore:
    """The OA access token, refreshed with the single-use refresh token.

    In-process, a lock lets one coroutine refresh while the others wait and reuse its result;
    across processes, a lease on the token row does the same. The new pair is committed
    before it is returned, so it is never used (nor the old refresh token reused) unsaved.
    """

    MARGIN = dt.timedelta(seconds=60)     # refresh this long before expires_in runs out
    LEASE = dt.timedelta(seconds=30)
    WAIT_S = 45.0                         # how long to wait for another worker's refresh

    def __init__(self, app_id: str, app_secret: str, oauth_url: str, http: JsonHttp,
                 db: Database, clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.app_id = app_id
        self.app_secret = app_secret
        self.url = oauth_url.rstrip("/") + TOKEN_PATH
        self.http = http
        self.db = db
        self.clock = clock
        self.refreshes = 0                # refreshes done by this process (for tests, status)
        self._lock = asyncio.Lock()
        self._access: str | None = None
        self._expires: dt.datetime | None = None

    def _fresh(self, expires: dt.datetime | None) -> bool:
        return expires is None or expires - self.MARGIN > self.clock()

    async def seed(self, access: str, refresh: str) -> None:
        """Store the configured pair unless it was stored before (the stored pair may have
        been refreshed since; a new configured refresh token replaces it)."""
        if not refresh:
            return
        seed_hash = hashlib.sha256(refresh.encode()).hexdigest()
        async with self.db.begin() as conn:
            written = await zq.seed_token(conn, self.app_id, access or None, refresh, None,
                                          seed_hash)
        if written:
            log.info("zalo_oa: configured token pair stored for app %s", self.app_id)

    async def _row(self) -> zq.TokenRow | None:
        async with self.db.connect() as conn:
            return await zq.load_token(conn, self.app_id)

    async def current(self) -> str:
        if self._access is not None and self._fresh(self._expires):
            return self._access
        row = await self._row()
        if row is not None and row.access_token and self._fresh(row.expires_at):
            self._access, self._expires = row.access_token, row.expires_at
            return row.access_token
        return await self.refresh(row.access_token if row else None)

    async def refresh(self, stale: str | None) -> str:
        """A token other than `stale`: someone else's fresh refresh, or our own."""
        async with self._lock:
            deadline = time.monotonic() + self.WAIT_S
            while True:
                row = await self._row()
                if row is None:
                    raise TokenUnavailable("no token pair stored; set BOT_ZALO_OA_REFRESH_TOKEN")
                if row.access_token and row.access_token != stale \
                        and self._fresh(row.expires_at):
                    self._access, self._expires = row.access_token, row.expires_at
                    return row.access_token
                owner = uuid.uuid4().hex
                now = self.clock()
                async with self.db.begin() as conn:
                    leased = await zq.take_lease(conn, self.app_id, owner, now + self.LEASE, now)
                if leased:
                    return await self._refresh_leased(owner, stale)
                if time.monotonic() > deadline:
                    raise TokenUnavailable("another worker's refresh did not finish")
                await asyncio.sleep(0.05)   # another worker is refreshing: use its result

    async def _refresh_leased(self, owner: str, stale: str | None) -> str:
        try:
            row = await self._row()
            assert row is not None
            if row.access_token and row.access_token != stale and self._fresh(row.expires_at):
                async with self.db.begin() as conn:   # refreshed just before our lease
                    await zq.release_lease(conn, self.app_id, owner)
                return row.access_token
            access, refresh, expires_in = await self._call(row.refresh_token)
        except BaseException:
            with contextlib.suppress(Exception):
                async with self.db.begin() as conn:
                    await zq.release_lease(conn, self.app_id, owner)
            raise
        self.refreshes += 1
        now = self.clock()
        expires = now + dt.timedelta(seconds=expires_in)
        for attempt in range(5):    # the old refresh token is spent: this write must happen
            try:
                async with self.db.begin() as conn:
                    saved = await zq.save_refreshed(conn, self.app_id, owner, access, refresh,
                                                    expires, now)
                break
            except SQLAlchemyError as exc:   # not log.exception: SQL errors carry the tokens
                log.error("zalo_oa: could not store the refreshed token pair (try %d, %s)",
                          attempt + 1, exc.__class__.__name__)
                await asyncio.sleep(0.5)
        else:
            raise TokenUnavailable("refreshed token pair could not be stored")
        if not saved:   # our refresh outlived the lease; still the newest pair: keep it
            log.error("zalo_oa: token lease expired during a refresh; pair stored anyway")
            async with self.db.begin() as conn:
                await zq.save_refreshed(conn, self.app_id, None, access, refresh, expires, now)
        log.info("zalo_oa: access token refreshed for app %s (valid %d s)", self.app_id,
                 expires_in)
        self._access, self._expires = access, expires
        return access

    async def _call(self, refresh_token: str) -> tuple[str, str, int]:
        try:
            answer = await self.http.post(
                self.url, headers={"secret_key": self.app_secret},
                form={"app_id": self.app_id, "grant_type": "refresh_token",
                      "refresh_token": refresh_token})
        except TransportError as exc:
            raise TokenUnavailable(f"token endpoint unreachable ({exc})") from None
        data: Any = answer.data if isinstance(answer.data, dict) else {}
        access, refresh, expires_in = (data.get("access_token"), data.get("refresh_token"),
                                       data.get("expires_in"))
        seconds = int(expires_in) if isinstance(expires_in, int) or (
            isinstance(expires_in, str) and expires_in.isdigit()) else None
        if isinstance(access, str) and access and isinstance(refresh, str) and refresh \
                and seconds:
            return access, refresh, seconds
        error, name = data.get("error"), str(data.get("error_name") or "")[:80]
        log.error("zalo_oa: token refresh refused (HTTP %s, error %s %s)", answer.status,
                  error, name)
        raise TokenUnavailable(f"refresh refused (error {error})")
