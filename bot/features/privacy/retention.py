"""Retention of free text: what citizens wrote and what Loa wrote back goes after
BOT_RETENTION_DAYS (default 90), by a daily job (bot/delivery/jobs.py) or `python -m bot retention`.

Rows stay where something counts them (inbox rows keep duplicate deliveries out, outbox rows
carry each announcement's progress); only their text is blanked. Communication runs, rollups,
offline entries, poll answers and submissions (the monthly report) are never touched, nor is
the officers' audit log. Only counts are logged.

What goes is declared by the owners of the tables (bot/store/retention.py: `Rule`, `Sweep`);
the composition root gathers their declarations into `parts`, run in that order.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

from bot.settings import Settings
from bot.store.db import Database
from bot.store.retention import Part, RetentionReport, apply_retention

log = logging.getLogger(__name__)


async def run_retention(db: Database, settings: Settings, parts: Sequence[Part],
                        dry_run: bool = False, now: dt.datetime | None = None) -> RetentionReport:
    """One pass with the configured limit (BOT_RETENTION_DAYS); logs counts only."""
    report = await apply_retention(db, settings.retention_days, parts, now=now, dry_run=dry_run)
    log.info("retention (%d days, before %s)%s: %s", settings.retention_days,
             report.cutoff.strftime("%Y-%m-%d %H:%M UTC"), " dry run" if dry_run else "",
             report.summary())
    return report


def retention_job(db: Database, settings: Settings, parts: Sequence[Part]) -> Any:
    """The daily job (bot/delivery/jobs.py)."""
    from bot.delivery.jobs import Job, daily

    async def run() -> str:
        return (await run_retention(db, settings, parts)).summary()

    return Job("retention", daily, run, lease=dt.timedelta(minutes=30))
