"""The retention engine: passes that blank or delete old free text, declared by the owners of
the tables (a `Rule` for "these rows of my table, older than the cut-off", a `Sweep` for
anything else), gathered by the composition root and run in that order by
bot/features/privacy/retention.py. The rules for the store's own tables (inbox, outbox) are here.

Every change goes in short batches (one transaction each), so SQLite's one writer is never held
for long; a dry run only counts.
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store import queries
from bot.store.db import Database
from bot.store.models import InboxStatus, OutboxStatus, utcnow

BATCH = 500   # rows changed per transaction: SQLite's one writer is never held for long
BLANK_REPLY = json.dumps({"text": ""})   # still a valid reply payload (bot.delivery.channel)
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
class Rule:
    """One kind of old free text: which rows of `table` (given the cut-off), and what happens
    to them: `values` written over them, or None to delete them. Counted under `name`."""

    name: str
    table: Any
    where: Callable[[dt.datetime], Any]
    values: dict[str, Any] | None      # None: delete the rows


# async (db, now, cutoff, dry_run, batch) -> {name: rows}. `cutoff` is the general one
# (now - BOT_RETENTION_DAYS); a sweep with a limit of its own may use that instead, or the
# shorter of the two. A dry run only counts (or returns nothing for what cannot be counted).
SweepRun = Callable[[Database, dt.datetime, dt.datetime, bool, int], Awaitable[dict[str, int]]]


@dataclass(frozen=True)
class Sweep:
    """A pass that is not one rule: several tables together, or a limit of its own. Its counts
    go into the report under the names it returns; `name` is for reading only."""

    name: str
    run: SweepRun


Part = Rule | Sweep


INBOX, OUTBOX = queries.INBOX, queries.OUTBOX
STORE_RULES = (
    # Handled updates: their text is normally cleared at once by the handler; failed ones
    # keep it for the operator, and anything still unhandled this late never will be.
    Rule("inbox_payloads", INBOX, lambda cut: (INBOX.c.received_at < cut)
         & INBOX.c.payload.is_not(None) & (INBOX.c.status != InboxStatus.NEW),
         {"payload": None}),
    Rule("inbox_expired", INBOX, lambda cut: (INBOX.c.received_at < cut)
         & (INBOX.c.status == InboxStatus.NEW),
         {"payload": None, "status": InboxStatus.FAILED, "error": EXPIRED}),
    # Loa's replies and announcements once they reached their final state.
    Rule("outbox_payloads", OUTBOX, lambda cut: (OUTBOX.c.created_at < cut)
         & OUTBOX.c.status.in_(FINAL) & (OUTBOX.c.payload != BLANK_REPLY),
         {"payload": BLANK_REPLY}),
)


async def apply_retention(db: Database, days: int, parts: Iterable[Part], *,
                          now: dt.datetime | None = None, dry_run: bool = False,
                          batch: int = BATCH) -> RetentionReport:
    """Run `parts` in order with the cut-off `days` before `now`: each rule blanks or deletes
    its rows older than that, each sweep does its own pass. Idempotent; each batch is its own
    short transaction."""
    now = now or utcnow()
    cutoff = now - dt.timedelta(days=days)
    report = RetentionReport(cutoff, dry_run)
    for part in parts:
        if isinstance(part, Rule):
            where = part.where(cutoff)
            if dry_run:
                report.counts[part.name] = await count_rows(db, part.table, where)
            else:
                report.counts[part.name] = await apply_in_batches(db, part.table, where,
                                                                  part.values, batch)
        else:
            report.counts.update(await part.run(db, now, cutoff, dry_run, batch))
    return report


async def count_rows(db: Database, table: Any, where: Any) -> int:
    async with db.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table)
                                       .where(where))).scalar_one())


async def apply_in_batches(db: Database, table: Any, where: Any,
                           values: dict[str, Any] | None, batch: int = BATCH) -> int:
    """Update (`values`) or delete (None) the rows of `table` matching `where`; returns how many.
    Batches in key order, each starting after the last key seen: one pass over the table,
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
    (column,) = table.primary_key.columns    # rules need tables with a one-column key
    return column
