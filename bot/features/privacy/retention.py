"""Retention of free text: what citizens wrote and what Loa wrote back goes after
BOT_RETENTION_DAYS (default 90), by a daily job (bot/delivery/jobs.py) or `python -m bot retention`.

Rows stay where something counts them (inbox rows keep duplicate deliveries out, outbox rows
carry each announcement's progress); only their text is blanked. Communication runs, rollups,
offline entries, poll answers and submissions (the monthly report) are never touched, nor is
the officers' audit log. Only counts are logged.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.channels.web import limits as webchat_limits
from bot.channels.web.adapter import NAME as WEB
from bot.channels.zalo.models import ZaloWindow
from bot.features.outreach.models import OutreachDialog
from bot.features.questions import service as questions
from bot.settings import Settings
from bot.store import queries
from bot.store.db import Database
from bot.store.models import InboxStatus, OutboxStatus, utcnow

log = logging.getLogger(__name__)

BATCH = 500   # rows changed per transaction: SQLite's one writer is never held for long
BLANK_REPLY = json.dumps({"text": ""})   # still a valid reply payload (bot.channels.base)
FINAL = (OutboxStatus.SENT, OutboxStatus.BLOCKED, OutboxStatus.FAILED, OutboxStatus.CANCELLED)
EXPIRED = "expired unhandled (retention)"


@dataclass
class RetentionReport:
    """What one pass did (or, dry, would do): rows per kind, and the cut-off."""

    cutoff: dt.datetime
    dry_run: bool = False
    counts: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        return ", ".join(f"{k} {v}" for k, v in self.counts.items())


@dataclass(frozen=True)
class _Rule:
    """One kind of old free text: which rows of `table`, and what happens to them."""

    name: str
    table: Any
    where: Callable[[dt.datetime], Any]
    values: dict[str, Any] | None      # None: delete the rows


INBOX, OUTBOX = queries.INBOX, queries.OUTBOX
DIALOG = OutreachDialog.__table__
WINDOW = ZaloWindow.__table__   # type: ignore[attr-defined]
RULES = (
    # Handled updates: their text is normally cleared at once by the handler; failed ones
    # keep it for the operator, and anything still unhandled this late never will be.
    _Rule("inbox_payloads", INBOX, lambda cut: (INBOX.c.received_at < cut)
          & INBOX.c.payload.is_not(None) & (INBOX.c.status != InboxStatus.NEW),
          {"payload": None}),
    _Rule("inbox_expired", INBOX, lambda cut: (INBOX.c.received_at < cut)
          & (INBOX.c.status == InboxStatus.NEW),
          {"payload": None, "status": InboxStatus.FAILED, "error": EXPIRED}),
    # Loa's replies and announcements once they reached their final state.
    _Rule("outbox_payloads", OUTBOX, lambda cut: (OUTBOX.c.created_at < cut)
          & OUTBOX.c.status.in_(FINAL) & (OUTBOX.c.payload != BLANK_REPLY),
          {"payload": BLANK_REPLY}),
    # An officer's /ghinhan dialog abandoned half-way (it holds what they typed).
    _Rule("outreach_dialogs", DIALOG, lambda cut: DIALOG.c.updated_at < cut, None),
    # Zalo free-reply windows (48 hours) long closed: per-citizen rows with no use left.
    _Rule("zalo_windows", WINDOW, lambda cut: WINDOW.c.opened_at < cut, None),
)


async def apply_retention(db: Database, days: int, question_days: int | None = None, *,
                          now: dt.datetime | None = None, dry_run: bool = False,
                          batch: int = BATCH,
                          webchat_days: int | None = None) -> RetentionReport:
    """Blank or delete free text older than `days` (questions: the shorter of `days` and
    `question_days`); drop web chat contacts idle for `webchat_days`. Idempotent; each batch
    is its own short transaction."""
    now = now or utcnow()
    cutoff = now - dt.timedelta(days=days)
    question_cutoff = now - dt.timedelta(days=min(days, question_days or days))
    report = RetentionReport(cutoff, dry_run)
    for rule in RULES:
        where = rule.where(cutoff)
        if dry_run:
            report.counts[rule.name] = await _count(db, rule.table, where)
        else:
            report.counts[rule.name] = await _apply(db, rule.table, where, rule.values, batch)
    # Unanswered questions kept for review: features/questions' own purge, with its own limit
    # (BOT_QUESTION_RETENTION_DAYS) when that is the shorter one.
    if dry_run:
        report.counts["questions"] = await _count(
            db, questions.QUESTION, questions.QUESTION.c.asked_at < question_cutoff)
    else:
        async with db.begin() as conn:
            report.counts["questions"] = await questions.purge_questions(
                conn, (now - question_cutoff).days, now)
    if webchat_days is not None:
        report.counts.update(await _drop_idle_web_contacts(
            db, now - dt.timedelta(days=webchat_days), dry_run, batch))
        if not dry_run:
            async with db.begin() as conn:
                report.counts.update(await webchat_limits.purge(conn, now))
    return report


async def _drop_idle_web_contacts(db: Database, cut: dt.datetime, dry_run: bool,
                                  batch: int) -> dict[str, int]:
    """Web chat contacts (one per browser session, anyone can make thousands) not seen since
    `cut` go with their state, replies and session record. Their runs stay, pseudonymous, so
    the report does not change; a session that comes back starts afresh."""
    c = queries.CONTACT.c
    idle = (c.channel == WEB) & (c.last_seen_at < cut)
    if dry_run:
        return {"web_contacts": await _count(db, queries.CONTACT, idle)}
    total = sessions = 0
    while True:
        async with db.begin() as conn:
            found = (await conn.execute(select(c.id, c.pseudonym).where(idle).order_by(c.id)
                                        .limit(batch))).all()
            ids = [row.id for row in found]
            if ids:
                await conn.execute(delete(OUTBOX).where(OUTBOX.c.contact_id.in_(ids)))
                sessions += (await conn.execute(delete(webchat_limits.SESSION).where(
                    webchat_limits.SESSION.c.pseudonym.in_([row.pseudonym for row in found])))
                ).rowcount or 0
                await conn.execute(delete(queries.CONTACT).where(c.id.in_(ids)))
        total += len(ids)
        if len(ids) < batch:
            break
    sessions += await _apply(db, webchat_limits.SESSION,
                            webchat_limits.SESSION.c.last_seen_at < cut, None, batch)
    return {"web_contacts": total, "web_sessions": sessions}


async def _count(db: Database, table: Any, where: Any) -> int:
    async with db.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table)
                                       .where(where))).scalar_one())


async def _apply(db: Database, table: Any, where: Any, values: dict[str, Any] | None,
                 batch: int) -> int:
    """Batches in key order, each starting after the last key seen: one pass over the table,
    however many rows were already blank."""
    key = _key(table)
    total, after = 0, None
    while True:
        async with db.begin() as conn:
            stmt = select(key).where(where)
            if after is not None:
                stmt = stmt.where(key > after)
            ids = list((await conn.execute(stmt.order_by(key).limit(batch))).scalars())
            if ids:
                await _change(conn, table, key.in_(ids), values)
        total += len(ids)
        if len(ids) < batch:
            return total
        after = ids[-1]


async def _change(conn: AsyncConnection, table: Any, where: Any,
                  values: dict[str, Any] | None) -> None:
    if values is None:
        await conn.execute(delete(table).where(where))
    else:
        await conn.execute(update(table).where(where).values(**values))


def _key(table: Any) -> Any:
    (column,) = table.primary_key.columns    # every table above has a one-column key
    return column


async def run_retention(db: Database, settings: Settings, dry_run: bool = False,
                        now: dt.datetime | None = None) -> RetentionReport:
    """One pass with the configured limits; logs counts only."""
    report = await apply_retention(db, settings.retention_days,
                                   settings.question_retention_days, now=now, dry_run=dry_run,
                                   webchat_days=settings.webchat_retention_days)
    log.info("retention (%d days, before %s)%s: %s", settings.retention_days,
             report.cutoff.strftime("%Y-%m-%d %H:%M UTC"), " dry run" if dry_run else "",
             report.summary())
    return report


def retention_job(db: Database, settings: Settings) -> Any:
    """The daily job (bot/delivery/jobs.py)."""
    from bot.delivery.jobs import Job, daily

    async def run() -> str:
        return (await run_retention(db, settings)).summary()

    return Job("retention", daily, run, lease=dt.timedelta(minutes=30))
