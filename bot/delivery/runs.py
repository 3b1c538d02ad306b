"""Run rollups: monthly sums kept up to date in the same transaction that inserts runs.

`add_runs` is how every writer of `run` rows (chatbot turns in bot/delivery/handler.py, broadcasts)
inserts them, so a month's report reads a few hundred rollup rows instead of scanning
millions of runs. `rebuild_rollups` recomputes them from `run` (backfill, repair, bench).
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import bindparam, delete, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.delivery.models import RunReach, RunRollup
from bot.store.models import CommunicationRun
from bot.store.queries import statement

RUN = CommunicationRun.__table__
ROLLUP = RunRollup.__table__
REACH = RunReach.__table__
VN_OFFSET = dt.timedelta(hours=7)    # Asia/Ho_Chi_Minh, no daylight saving
# served: the language an answer was actually given in (fallbacks counted); answers only
DIMS = (("topic", "topic"), ("language", "language"), ("commune", "commune_code"),
        ("kind", "kind"), ("served", "served_language"))
ROLLUP_KEY = ("month", "dim", "unit", "form", "medium", "value")
WEB, CHATBOT = "web", "chatbot_qa"
WEB_PEOPLE_KINDS = ("answer", "verdict")   # RunKind values of a real answer (a topic, a verdict)
_PEOPLE_SQL = f"(medium <> '{WEB}' OR form <> '{CHATBOT}' OR kind IN {WEB_PEOPLE_KINDS!r})"


def run_month(at: dt.datetime) -> str:
    """The Vietnam-time month of a run's UTC timestamp."""
    if at.tzinfo is not None:
        at = at.astimezone(dt.UTC).replace(tzinfo=None)
    return (at + VN_OFFSET).strftime("%Y-%m")


RunObserver = Callable[[AsyncConnection, list[dict[str, Any]]], Awaitable[None]]


async def add_runs(conn: AsyncConnection, rows: list[dict[str, Any]],
                   observers: Sequence[RunObserver] = ()) -> None:
    """Insert communication runs and add them to the rollups, in the caller's transaction;
    then each observer sees them in the same transaction (the web chat counts its runs per
    address and day: bot/channels/web/limits.py)."""
    if not rows:
        return
    await conn.execute(statement(conn, "insert_runs", lambda d: RUN.insert()), rows)
    sums: dict[tuple[str, ...], list[int]] = defaultdict(lambda: [0, 0])
    reach: set[tuple[str, str, str, str, str]] = set()
    for row in rows:
        month = run_month(row["at"])
        base = (row["unit"], row["form"], row["medium"])
        total = sums[(month, "total", *base, "")]
        total[0] += 1
        pseudonym = row.get("contact_pseudonym")
        if pseudonym and counts_people(row):
            reach.add((month, *base, pseudonym))
        elif counts_people(row):
            total[1] += int(row.get("reached") or 0)
        for dim, column in DIMS:
            if dim == "served" and not row.get(column):
                continue   # only answers have a served language
            sums[(month, dim, *base, row.get(column) or "")][0] += 1
    if reach:
        stmt = statement(conn, "insert_reach", lambda d: (
            (pg_insert if d == "postgresql" else sqlite_insert)(REACH).on_conflict_do_nothing()
            .returning(REACH.c.month, REACH.c.unit, REACH.c.form, REACH.c.medium)))
        new = await conn.execute(stmt, [dict(zip(("month", "unit", "form", "medium",
                                                  "pseudonym"), key, strict=True))
                                        for key in sorted(reach)])
        for month, unit, form, medium in new.all():
            sums[(month, "total", unit, form, medium, "")][1] += 1
    # A fixed order of keys keeps concurrent writers from deadlocking on PostgreSQL.
    params = [{**dict(zip(ROLLUP_KEY, key, strict=True)), "runs": v[0], "people": v[1]}
              for key, v in sorted(sums.items())]
    def upsert(dialect: str) -> Any:
        stmt = (pg_insert if dialect == "postgresql" else sqlite_insert)(ROLLUP)
        return stmt.on_conflict_do_update(
            index_elements=list(ROLLUP_KEY),
            set_={"runs": ROLLUP.c.runs + stmt.excluded.runs,
                  "people": ROLLUP.c.people + stmt.excluded.people})
    await conn.execute(statement(conn, "upsert_rollup", upsert), params)
    for observer in observers:
        await observer(conn, rows)


def counts_people(row: dict[str, Any]) -> bool:
    """A web chat session is a person reached only once Loa answered it something: opening
    the chat, the menu or a greeting costs a script nothing and tells nobody anything."""
    return row.get("medium") != WEB or row.get("form") != CHATBOT \
        or row.get("kind") in WEB_PEOPLE_KINDS


def _month_sql(dialect: str) -> str:
    if dialect == "postgresql":
        return "to_char((at AT TIME ZONE 'UTC') + interval '7 hours', 'YYYY-MM')"
    return "strftime('%Y-%m', at, '+7 hours')"


async def rebuild_rollups(conn: AsyncConnection, months: list[str] | None = None) -> None:
    """Recompute the rollups of `months` (all when None) from the `run` table."""
    month = _month_sql(conn.dialect.name)
    where = ""
    params: dict[str, Any] = {}
    if months:
        where = f"WHERE {month} IN :months"
        params = {"months": list(months)}
        await conn.execute(delete(ROLLUP).where(ROLLUP.c.month.in_(months)))
        await conn.execute(delete(REACH).where(REACH.c.month.in_(months)))
    else:
        await conn.execute(delete(ROLLUP))
        await conn.execute(delete(REACH))
    runs = (f"(SELECT {month} AS m, unit, form, medium, kind, topic, language, commune_code, "
            f"served_language, contact_pseudonym, reached FROM run {where}) AS r")

    async def run_sql(sql: str) -> None:
        stmt = text(sql)
        if months:
            stmt = stmt.bindparams(bindparam("months", expanding=True))
        await conn.execute(stmt, params)

    await run_sql(f"INSERT INTO run_reach (month, unit, form, medium, pseudonym) "
                  f"SELECT DISTINCT m, unit, form, medium, contact_pseudonym FROM {runs} "
                  f"WHERE contact_pseudonym IS NOT NULL AND {_PEOPLE_SQL}")
    await run_sql(f"INSERT INTO run_rollup (month, dim, unit, form, medium, value, runs, people) "
                  f"SELECT m, 'total', unit, form, medium, '', count(*), "
                  f"coalesce(sum(CASE WHEN contact_pseudonym IS NULL AND {_PEOPLE_SQL} "
                  f"THEN reached ELSE 0 END), 0) + count(DISTINCT CASE WHEN {_PEOPLE_SQL} "
                  f"THEN contact_pseudonym END) FROM {runs} "
                  "GROUP BY m, unit, form, medium")
    for dim, column in DIMS:
        only = f"WHERE {column} IS NOT NULL " if dim == "served" else ""
        await run_sql(f"INSERT INTO run_rollup (month, dim, unit, form, medium, value, runs, "
                      f"people) SELECT m, '{dim}', unit, form, medium, coalesce({column}, ''), "
                      f"count(*), 0 FROM {runs} {only}GROUP BY m, unit, form, medium, "
                      f"coalesce({column}, '')")


async def forget_pseudonym(conn: AsyncConnection, pseudonym: str) -> None:
    """Erase a citizen from the reach table (/forget); the counted sums stay."""
    await conn.execute(delete(REACH).where(REACH.c.pseudonym == pseudonym))
