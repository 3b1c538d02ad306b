"""Web chat limits that a script cannot get around by opening sessions or processes: messages
per session and per client address, new sessions per address, all counted in the database
(so every Loa process on it shares them), and which addresses hit a limit on which day (the
monthly report shows how many runs those addresses produced). Addresses are only stored as
keyed hashes; an IPv6 address counts as its /64, which one subscriber usually holds whole."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, delete, func, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.channels.web.adapter import NAME as WEB
from bot.channels.web.models import WebClientDay, WebLimit, WebSession
from bot.settings import Settings
from bot.store import queries
from bot.store.db import Database
from bot.store.retention import Sweep, apply_in_batches, count_rows

LIMIT = WebLimit.__table__                 # type: ignore[attr-defined]
SESSION = WebSession.__table__             # type: ignore[attr-defined]
CLIENT_DAY = WebClientDay.__table__        # type: ignore[attr-defined]
VN = dt.timezone(dt.timedelta(hours=7))
log = logging.getLogger(__name__)
MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0


@dataclass(frozen=True)
class Limits:
    session_per_minute: int = 30
    address_per_minute: int = 60
    address_per_day: int = 600
    new_sessions_per_hour: int = 30
    new_sessions_per_day: int = 100

    @classmethod
    def from_settings(cls, s: Settings) -> Limits:
        return cls(s.webchat_session_per_minute, s.webchat_address_per_minute,
                   s.webchat_address_per_day, s.webchat_new_sessions_per_hour,
                   s.webchat_new_sessions_per_day)


def address_group(address: str) -> str:
    """What one client is: an IPv4 address, or the /64 of an IPv6 one (a phone gets a whole
    /64 and could otherwise rotate through 2^64 addresses)."""
    try:
        ip = ipaddress.ip_address(address.strip().split("%")[0])
    except ValueError:
        return address.strip()[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def client_key(secret: str, address: str) -> str:
    """A keyed hash of the client's address group: never the address itself."""
    mac = hmac.new(secret.encode(), f"webchat-client:{address_group(address)}".encode(),
                   hashlib.sha256)
    return mac.hexdigest()


def session_key(secret: str, session: str) -> str:
    """The per-session counter's key: neither the session id nor the contact's pseudonym, so
    an erased citizen leaves nothing that links to them (the counter expires within a day)."""
    return hmac.new(secret.encode(), f"webchat-session:{session}".encode(),
                    hashlib.sha256).hexdigest()


def vn_day(at: dt.datetime) -> str:
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return at.astimezone(VN).strftime("%Y-%m-%d")


def _insert(conn: AsyncConnection):  # type: ignore[no-untyped-def]
    from bot.store.queries import _insert as insert
    return insert(conn)


async def _hit(conn: AsyncConnection, key: str, period_s: float, now: float) -> int:
    """Count one request in the key's window (started by its first request, `period_s`
    long) in one atomic statement, safe across processes; returns the count so far."""
    stale = LIMIT.c.window_start < literal(now - period_s)
    stmt = _insert(conn)(LIMIT).values(key=key, window_start=now, hits=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=["key"],
        set_={"hits": case((stale, 1), else_=LIMIT.c.hits + 1),
              "window_start": case((stale, literal(now)), else_=LIMIT.c.window_start)})
    return int((await conn.execute(stmt.returning(LIMIT.c.hits))).scalar_one())


async def admit(conn: AsyncConnection, limits: Limits, pseudonym: str, session: str,
                client: str, now: dt.datetime) -> bool:
    """Count this request against every limit; True when it may be answered (the session is
    then recorded), False when one limit is exceeded (the refusal is recorded for the report
    and nothing else). Refused requests count too, so a script that keeps going stays out."""
    new = (await conn.execute(select(SESSION.c.pseudonym).where(
        SESSION.c.pseudonym == pseudonym))).first() is None
    checks = [(f"sm:{session}", MINUTE, limits.session_per_minute),
              (f"am:{client}", MINUTE, limits.address_per_minute),
              (f"ad:{client}", DAY, limits.address_per_day)]
    if new:
        checks += [(f"nh:{client}", HOUR, limits.new_sessions_per_hour),
                   (f"nd:{client}", DAY, limits.new_sessions_per_day)]
    epoch = now.timestamp()
    over = False
    for key, period, limit in checks:   # fixed order: no deadlock between processes
        over |= await _hit(conn, key, period, epoch) > limit
    if over:
        stmt = _insert(conn)(CLIENT_DAY).values(day=vn_day(now), client_key=client, runs=0,
                                                refused=1)
        stmt = stmt.on_conflict_do_update(index_elements=["day", "client_key"],
                                          set_={"refused": CLIENT_DAY.c.refused + 1})
        refused = (await conn.execute(stmt.returning(CLIENT_DAY.c.refused))).scalar_one()
        if refused == 1:    # once per address and day: a flood does not flood the log
            log.info("web chat: client %s hit a limit; refused until its window ends",
                     client[:12])
        return False
    stmt = _insert(conn)(SESSION).values(pseudonym=pseudonym, client_key=client,
                                         created_at=now, last_seen_at=now)
    await conn.execute(stmt.on_conflict_do_update(
        index_elements=["pseudonym"],
        set_={"client_key": stmt.excluded.client_key,
              "last_seen_at": stmt.excluded.last_seen_at}))
    return True


async def _count_day(conn: AsyncConnection, day: str, runs: dict[str, int]) -> None:
    stmt = _insert(conn)(CLIENT_DAY)
    stmt = stmt.on_conflict_do_update(
        index_elements=["day", "client_key"],
        set_={"runs": CLIENT_DAY.c.runs + stmt.excluded.runs,
              "refused": CLIENT_DAY.c.refused + stmt.excluded.refused})
    await conn.execute(stmt, [{"day": day, "client_key": key, "runs": n, "refused": 0}
                              for key, n in sorted(runs.items())])


async def count_runs(conn: AsyncConnection, rows: Iterable[dict[str, Any]]) -> None:
    """Attribute newly logged web chat runs to the address their session wrote from (called
    by bot/reports/rollup.add_runs in the same transaction)."""
    web = [r for r in rows if r.get("medium") == "web" and r.get("contact_pseudonym")]
    if not web:
        return
    found = dict((await conn.execute(select(SESSION.c.pseudonym, SESSION.c.client_key).where(
        SESSION.c.pseudonym.in_(sorted({r["contact_pseudonym"] for r in web}))))).all())
    per_day: dict[str, Counter[str]] = {}
    for row in web:
        key = found.get(row["contact_pseudonym"])
        if key is not None:
            per_day.setdefault(vn_day(row["at"]), Counter())[key] += 1
    for day in sorted(per_day):
        await _count_day(conn, day, dict(per_day[day]))


async def limited_runs(conn: AsyncConnection, month: str) -> int:
    """Web chat runs of `month` (YYYY-MM) logged on a day their address was refused at least
    once: the part of the chatbot row that may be a script's."""
    return int((await conn.execute(select(func.coalesce(func.sum(CLIENT_DAY.c.runs), 0)).where(
        CLIENT_DAY.c.day.like(f"{month}-%"), CLIENT_DAY.c.refused > 0))).scalar_one())


async def purge(conn: AsyncConnection, now: dt.datetime) -> dict[str, int]:
    """Daily: forget finished counting windows, and address-days that were never refused once
    they are over (the report needs only the refused ones)."""
    epoch = now.timestamp()
    windows = (await conn.execute(delete(LIMIT).where(
        LIMIT.c.window_start < epoch - DAY))).rowcount or 0
    days = (await conn.execute(delete(CLIENT_DAY).where(
        CLIENT_DAY.c.day < vn_day(now - dt.timedelta(days=1)),
        CLIENT_DAY.c.refused == 0))).rowcount or 0
    return {"webchat_windows": windows, "webchat_client_days": days}


# -- retention (bot/features/privacy/retention.py) -------------------------------------------

def retention(days: int | None) -> tuple[Sweep, ...]:
    """The web chat's retention passes: contacts idle for `days` (BOT_WEBCHAT_RETENTION_DAYS)
    with their session records, then the limits' own purge; none when `days` is None."""
    if days is None:
        return ()

    async def idle_contacts(db: Database, now: dt.datetime, cutoff: dt.datetime,
                            dry_run: bool, batch: int) -> dict[str, int]:
        return await _drop_idle_web_contacts(db, now - dt.timedelta(days=days), dry_run, batch)

    async def purge_limits(db: Database, now: dt.datetime, cutoff: dt.datetime, dry_run: bool,
                           batch: int) -> dict[str, int]:
        if dry_run:
            return {}
        async with db.begin() as conn:
            return await purge(conn, now)

    return (Sweep("web_contacts", idle_contacts), Sweep("webchat_limits", purge_limits))


async def _drop_idle_web_contacts(db: Database, cut: dt.datetime, dry_run: bool,
                                  batch: int) -> dict[str, int]:
    """Web chat contacts (one per browser session, anyone can make thousands) not seen since
    `cut` go with their state, replies and session record. Their runs stay, pseudonymous, so
    the report does not change; a session that comes back starts afresh."""
    c = queries.CONTACT.c
    idle = (c.channel == WEB) & (c.last_seen_at < cut)
    if dry_run:
        return {"web_contacts": await count_rows(db, queries.CONTACT, idle)}
    total = sessions = 0
    while True:
        async with db.begin() as conn:
            found = (await conn.execute(select(c.id, c.pseudonym).where(idle).order_by(c.id)
                                        .limit(batch))).all()
            ids = [row.id for row in found]
            if ids:
                await conn.execute(delete(queries.OUTBOX).where(
                    queries.OUTBOX.c.contact_id.in_(ids)))
                sessions += (await conn.execute(delete(SESSION).where(
                    SESSION.c.pseudonym.in_([row.pseudonym for row in found])))).rowcount or 0
                await conn.execute(delete(queries.CONTACT).where(c.id.in_(ids)))
        total += len(ids)
        if len(ids) < batch:
            break
    sessions += await apply_in_batches(db, SESSION, SESSION.c.last_seen_at < cut, None, batch)
    return {"web_contacts": total, "web_sessions": sessions}
