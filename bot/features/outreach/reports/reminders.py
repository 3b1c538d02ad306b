"""Reminders to units that have not submitted last month's report (the 10th and 14th by default).

The job runs once per reminder day across all Loa processes (bot/delivery/jobs.py); each reminder is
also recorded per (unit, month, day) under a unique key before its messages are queued on the
bulk lane, so a unit is reminded once per reminder day, even across restarts.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Collection
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.messages import Reply
from bot.delivery.channel import reply_to_json
from bot.delivery.jobs import Job, on_days
from bot.delivery.runtime import Runtime
from bot.features.officers import service as officers
from bot.features.outreach.models import ReportReminder, ReportSubmission
from bot.features.outreach.reports import forms
from bot.store import queries
from bot.store.models import OutboxStatus, utcnow

log = logging.getLogger(__name__)
REMINDER = ReportReminder.__table__
SUBMISSION = ReportSubmission.__table__
Tr = Callable[..., str]


async def queue_reminders(conn: AsyncConnection, today: dt.date, days: Collection[int],
                          deadline_day: int, channels: Collection[str], tr: Tr) -> set[str]:
    """Queue today's reminders (if today is a reminder day); returns the channels to wake."""
    if today.day not in days:
        return set()
    month = forms.shift_month(forms.month_of(today), -1)
    due = forms.deadline(month, deadline_day)
    if today >= due:
        return set()
    submitted = set((await conn.execute(select(SUBMISSION.c.unit_id)
                                        .where(SUBMISSION.c.month == month))).scalars())
    woken: set[str] = set()
    now = utcnow()
    for unit in await officers.list_units(conn):
        if unit.id in submitted:
            continue
        reminder_id = (await conn.execute(
            queries._insert(conn)(REMINDER).values(unit_id=unit.id, month=month, day=today,
                                                   recipients=0, sent_at=now)
            .on_conflict_do_nothing(index_elements=["unit_id", "month", "day"])
            .returning(REMINDER.c.id))).scalar_one_or_none()
        if reminder_id is None:
            continue   # already reminded today
        text = tr("Reminder: the outreach report of {unit} for {month} is due before {date}. "
                  "Type /baocao to see it and submit it, /ghinhan to log offline outreach.",
                  unit=unit.name, month=forms.month_label(month), date=due.strftime("%d/%m/%Y"))
        rows = await _outbox_rows(conn, unit.id, channels, text, now)
        await queries.insert_outbox(conn, rows)
        await conn.execute(update(REMINDER).where(REMINDER.c.id == reminder_id)
                           .values(recipients=len(rows)))
        woken |= {r["channel"] for r in rows}
        log.info("report reminder for unit %s (%s): %d officers", unit.code, month, len(rows))
    return woken


async def _outbox_rows(conn: AsyncConnection, unit_id: int, channels: Collection[str],
                       text: str, now: dt.datetime) -> list[dict[str, Any]]:
    rows = []
    for officer in await officers.officers(conn, unit_id):
        if officer.role == "reviewer" or officer.channel not in channels:
            continue
        contact = (await conn.execute(select(queries.CONTACT.c.id).where(
            queries.CONTACT.c.channel == officer.channel,
            queries.CONTACT.c.pseudonym == officer.pseudonym))).scalar_one_or_none()
        if contact is None:
            continue   # never wrote to the bot on this channel: nowhere to send
        rows.append({"inbox_id": None, "contact_id": contact, "channel": officer.channel,
                     "address": officer.address, "lane": "bulk",
                     "payload": reply_to_json(Reply(text)), "status": OutboxStatus.PENDING,
                     "attempts": 0, "not_before": now, "last_error": None, "ambiguous": False,
                     "created_at": now, "sent_at": None})
    return rows


def reminder_job(runtime: Runtime, wake_outbox: Callable[[str, str], None]) -> Job | None:
    """The reminders as a scheduled job (delivery/jobs.py): on each reminder day, once across all
    Loa processes; None when BOT_REPORT_REMINDER_DAYS is off."""
    settings, translator = runtime.settings, runtime.translator
    days = settings.report_reminder_days
    if not days:
        return None
    channels = tuple(c for c in runtime.channels if c != "web")

    def tr(msgid: str, **kw: Any) -> str:
        return translator.gettext("vi", msgid, **kw)

    async def run() -> str:
        today = dt.datetime.now(forms.VN).date()
        async with runtime.db.begin() as conn:
            woken = await queue_reminders(conn, today, days, settings.report_deadline_day,
                                          channels, tr)
        for channel in woken:
            wake_outbox(channel, "bulk")
        return f"channels woken: {len(woken)}"

    return Job("report_reminders", on_days(days), run)
