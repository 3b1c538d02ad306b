"""Run rollups: monthly sums kept up to date in the same transaction that inserts runs.

`add_runs` is how every writer of `run` rows (chatbot turns in bot/delivery/handler.py, broadcasts)
inserts them, so a month's report reads a few hundred rollup rows instead of scanning
millions of runs. `rebuild_rollups` recomputes them from `run` (backfill, repair, bench).

A `run` row is one chat turn or one announcement delivery. The report counts as a
communication run ("lượt truyền thông") only an answer Loa gave (a topic, the phone check's
verdict) and every announcement row (`counts_run`); every chat turn is an interaction ("lượt
tương tác"). The dims of 2024-2026 ("total", "topic", "language", "commune", "kind", "served")
keep summing every row (interactions); the "counted" dims (migration 0016) sum communication
runs only: per unit, form and medium ("counted"), per topic, language, commune and served
language, and per target group ("group", `run_groups`).
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import bindparam, delete, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.delivery.models import RunReach, RunRollup
from bot.store.models import CommunicationRun
from bot.store.queries import execute_built, statement

RUN = CommunicationRun.__table__
ROLLUP = RunRollup.__table__
REACH = RunReach.__table__
VN_OFFSET = dt.timedelta(hours=7)    # Asia/Ho_Chi_Minh, no daylight saving
# served: the language an answer was actually given in (fallbacks counted); answers only
DIMS = (("topic", "topic"), ("language", "language"), ("commune", "commune_code"),
        ("kind", "kind"), ("served", "served_language"))
ROLLUP_KEY = ("month", "dim", "unit", "form", "medium", "value")
# Communication runs only (every row counted by `counts_run`); "group" is per target group.
COUNTED_DIMS = (("c_topic", "topic"), ("c_lang", "language"), ("c_comm", "commune_code"),
                ("c_served", "served_language"))
COUNTED, GROUP_DIM = "counted", "group"
WEB, CHATBOT = "web", "chatbot_qa"
# RunKind values of a real answer (a topic answered, the phone check's verdict): the only chat
# turns that are communication runs. Menus, language screens, check steps, "Bạn muốn hỏi
# về…?" (kind unmatched) and small talk are interactions only.
COUNTED_KINDS = ("answer", "verdict")
# A chat contact is a person reached ("số người tiếp cận") only once Loa told them something,
# on every medium alike (issue 17; the web chat alone until then): `counts_people`.
PEOPLE_KINDS = COUNTED_KINDS
_PEOPLE_SQL = f"(form <> '{CHATBOT}' OR kind IN {PEOPLE_KINDS!r})"   # counts_people, over `run`
COUNTED_SQL = f"(form <> '{CHATBOT}' OR kind IN {COUNTED_KINDS!r})"   # counts_run, over `run`

# Target groups ("đối tượng") the province's order names. Offline entries name their own
# (bot/features/outreach); Loa's runs are attributed where Loa knows it: a minority language
# chosen, a question asked for a relative, a seafarer's question; otherwise the general public.
GROUP_ELDERLY, GROUP_MINORITIES, GROUP_SEAFARERS = "elderly", "minorities", "seafarers"
GROUP_REMOTE, GROUP_BORDER, GROUP_GENERAL = "remote", "border", "general"
GROUPS = (GROUP_ELDERLY, GROUP_MINORITIES, GROUP_SEAFARERS, GROUP_REMOTE, GROUP_BORDER,
          GROUP_GENERAL)
TOPIC_GROUPS = (("helping_family", GROUP_ELDERLY), ("at_sea", GROUP_SEAFARERS))
SOURCE_LANGUAGE = "vi"


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
    sums, reach = _sums(rows)
    write = _add_runs_pg if conn.dialect.name == "postgresql" else _add_runs_sqlite
    await write(conn, rows, sums, reach)
    for observer in observers:
        await observer(conn, rows)


def _sums(rows: list[dict[str, Any]]
          ) -> tuple[dict[tuple[str, ...], list[int]], set[tuple[str, str, str, str, str]]]:
    """The rollup additions of these runs, key -> [runs, people], and the (month, unit, form,
    medium, pseudonym) reached, whose people count once the database says who is new."""
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
        if not counts_run(row):
            continue
        sums[(month, COUNTED, *base, "")][0] += 1
        for dim, column in COUNTED_DIMS:
            if dim == "c_served" and not row.get(column):
                continue
            sums[(month, dim, *base, row.get(column) or "")][0] += 1
        for group in run_groups(row):
            sums[(month, GROUP_DIM, *base, group)][0] += 1
    return sums, reach


async def _add_runs_sqlite(conn: AsyncConnection, rows: list[dict[str, Any]],
                           sums: dict[tuple[str, ...], list[int]],
                           reach: set[tuple[str, str, str, str, str]]) -> None:
    """SQLite: the runs, then who was reached (the new ones add their person), then the
    rollups, in key order (as on PostgreSQL)."""
    await conn.execute(statement(conn, "insert_runs", lambda d: RUN.insert()), rows)
    if reach:
        stmt = statement(conn, "insert_reach", lambda d: (
            sqlite_insert(REACH).on_conflict_do_nothing()
            .returning(REACH.c.month, REACH.c.unit, REACH.c.form, REACH.c.medium)))
        new = await conn.execute(stmt, [dict(zip(_REACH_COLUMNS, key, strict=True))
                                        for key in sorted(reach)])
        for month, unit, form, medium in new.all():
            sums[(month, "total", unit, form, medium, "")][1] += 1
    params = [{**dict(zip(ROLLUP_KEY, key, strict=True)), "runs": v[0], "people": v[1]}
              for key, v in sorted(sums.items())]

    def upsert(dialect: str) -> Any:
        stmt = sqlite_insert(ROLLUP)
        return stmt.on_conflict_do_update(
            index_elements=list(ROLLUP_KEY),
            set_={"runs": ROLLUP.c.runs + stmt.excluded.runs,
                  "people": ROLLUP.c.people + stmt.excluded.people})
    await conn.execute(statement(conn, "upsert_rollup", upsert), params)


# PostgreSQL: the runs, who was reached and the rollups in one statement (one round trip on
# the way to every reply instead of three: issue 16). Column arrays, unnested; the citizens
# new to a month's reach add one person each to their "total" row; rows are added in key
# order (as on SQLite), so that concurrent writers lock them in the same order.
_RUN_COLUMNS = ("at", "unit", "form", "medium", "kind", "topic", "language", "served_language",
                "commune_code", "contact_pseudonym", "reached", "score")
_REACH_COLUMNS = ("month", "unit", "form", "medium", "pseudonym")
_ROLLUP_COLUMNS = (*ROLLUP_KEY, "runs", "people")


def _pg_add_runs_sql() -> Any:
    from sqlalchemy.dialects import postgresql
    dialect = postgresql.dialect()

    def arrays(table: Any, columns: Sequence[str], prefix: str) -> str:
        return ", ".join(f"CAST(:{prefix}{c} AS {table.c[c].type.compile(dialect)}[])"
                         for c in columns)
    key = ", ".join(ROLLUP_KEY)
    return text(f"""
WITH new_runs AS (
    INSERT INTO run ({", ".join(_RUN_COLUMNS)})
    SELECT * FROM unnest({arrays(RUN, _RUN_COLUMNS, "r_")})
), new_reach AS (
    INSERT INTO run_reach ({", ".join(_REACH_COLUMNS)})
    SELECT * FROM unnest({arrays(REACH, _REACH_COLUMNS, "p_")})
    ON CONFLICT DO NOTHING
    RETURNING month, unit, form, medium
), additions AS (
    SELECT * FROM unnest({arrays(ROLLUP, _ROLLUP_COLUMNS, "s_")})
        AS a({", ".join(_ROLLUP_COLUMNS)})
    UNION ALL
    SELECT month, 'total', unit, form, medium, '', 0, 1 FROM new_reach
)
INSERT INTO run_rollup ({", ".join(_ROLLUP_COLUMNS)})
SELECT {key}, sum(runs), sum(people) FROM additions
GROUP BY {key} ORDER BY {key}
ON CONFLICT ({key}) DO UPDATE
SET runs = run_rollup.runs + excluded.runs, people = run_rollup.people + excluded.people""")


async def _add_runs_pg(conn: AsyncConnection, rows: list[dict[str, Any]],
                       sums: dict[tuple[str, ...], list[int]],
                       reach: set[tuple[str, str, str, str, str]]) -> None:
    defaults = {"language": SOURCE_LANGUAGE, "reached": 1}
    params: dict[str, list[Any]] = {}
    for c in _RUN_COLUMNS:
        params[f"r_{c}"] = [row.get(c, defaults.get(c)) for row in rows]
    reached = sorted(reach)
    for i, c in enumerate(_REACH_COLUMNS):
        params[f"p_{c}"] = [key[i] for key in reached]
    keys = sorted(sums)
    for i, c in enumerate(ROLLUP_KEY):
        params[f"s_{c}"] = [key[i] for key in keys]
    params["s_runs"] = [sums[key][0] for key in keys]
    params["s_people"] = [sums[key][1] for key in keys]
    await execute_built(conn, statement(conn, "add_runs", lambda d: _pg_add_runs_sql()), params)


def counts_run(row: dict[str, Any]) -> bool:
    """A communication run: an answer or a verdict of the chatbot, or an announcement
    delivered; a menu tap, a language screen, a check step or a clarification is not."""
    return row.get("form") != CHATBOT or row.get("kind") in COUNTED_KINDS


def run_groups(row: dict[str, Any]) -> tuple[str, ...]:
    """The target groups a run of Loa reached, as far as Loa can tell (several may apply)."""
    topic = row.get("topic") or ""
    groups = [group for prefix, group in TOPIC_GROUPS
              if topic == prefix or topic.startswith(prefix + ".")]
    if (row.get("language") or SOURCE_LANGUAGE).split("-", 1)[0] != SOURCE_LANGUAGE:
        groups.append(GROUP_MINORITIES)
    return tuple(sorted(groups, key=GROUPS.index)) or (GROUP_GENERAL,)


def groups_sql() -> list[tuple[str, str]]:
    """`run_groups` in SQL: (group, condition over the columns of `run`), for the rebuild and
    the migration's backfill (both dialects)."""
    lang = f"coalesce(language, '{SOURCE_LANGUAGE}')"
    conditions = [(group, f"(coalesce(topic, '') = '{prefix}' OR substr(coalesce(topic, ''), 1, "
                          f"{len(prefix) + 1}) = '{prefix}.')")
                  for prefix, group in TOPIC_GROUPS]
    conditions.append((GROUP_MINORITIES, f"({lang} <> '{SOURCE_LANGUAGE}' AND substr({lang}, 1, "
                                         f"{len(SOURCE_LANGUAGE) + 1}) <> '{SOURCE_LANGUAGE}-')"))
    general = "NOT (" + " OR ".join(c for _, c in conditions) + ")"
    return [*conditions, (GROUP_GENERAL, general)]


def counted_inserts(runs: str) -> list[str]:
    """INSERTs of the "counted" and "group" rollup rows from `runs`, a FROM item with the
    columns m (month), unit, form, medium, kind, topic, language, commune_code and
    served_language (rebuild_rollups and migration 0016 share them)."""
    head = "INSERT INTO run_rollup (month, dim, unit, form, medium, value, runs, people) "
    out = [f"{head}SELECT m, '{COUNTED}', unit, form, medium, '', count(*), 0 FROM {runs} "
           f"WHERE {COUNTED_SQL} GROUP BY m, unit, form, medium"]
    for dim, column in COUNTED_DIMS:
        only = f" AND {column} IS NOT NULL" if dim == "c_served" else ""
        out.append(f"{head}SELECT m, '{dim}', unit, form, medium, coalesce({column}, ''), "
                   f"count(*), 0 FROM {runs} WHERE {COUNTED_SQL}{only} "
                   f"GROUP BY m, unit, form, medium, coalesce({column}, '')")
    for group, condition in groups_sql():
        out.append(f"{head}SELECT m, '{GROUP_DIM}', unit, form, medium, '{group}', count(*), 0 "
                   f"FROM {runs} WHERE {COUNTED_SQL} AND {condition} "
                   "GROUP BY m, unit, form, medium")
    return out


def counts_people(row: dict[str, Any]) -> bool:
    """Whether a run adds to the people reached. A chatbot contact (Telegram, Zalo or a web
    chat session alike) is a person reached only once Loa answered them a topic or gave the
    phone check's verdict: a menu, a language screen, a check step or a greeting tells nobody
    anything about the end of 2G. An announcement row always counts (its `reached`: the
    messages delivered); offline entries are no `run` row and keep the officer's number."""
    return row.get("form") != CHATBOT or row.get("kind") in PEOPLE_KINDS


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
    for sql in counted_inserts(runs):
        await run_sql(sql)


async def forget_pseudonym(conn: AsyncConnection, pseudonym: str) -> None:
    """Erase a citizen from the reach table (/forget); the counted sums stay."""
    await conn.execute(delete(REACH).where(REACH.c.pseudonym == pseudonym))
