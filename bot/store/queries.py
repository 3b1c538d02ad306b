"""Query functions over the tables (SQLAlchemy Core); each takes a connection, commits nothing.

The statements on the path of every message are built once per dialect (`statement`), with their
varying parts as bound parameters (lists as expanding ones): SQLAlchemy then reuses their cache
key and compiled form instead of building, hashing and looking up a new statement object on
every call, which cost more than the database's own work (issue 16). On PostgreSQL they run on
asyncpg itself (`fetch_built`, `execute_built`: bot/store/direct.py)."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import (
    ARRAY,
    Integer,
    Row,
    all_,
    any_,
    bindparam,
    case,
    func,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store import direct
from bot.store.models import (
    CommunicationRun,
    Contact,
    ContactStatus,
    InboxEvent,
    InboxStatus,
    OutboxMessage,
    OutboxStatus,
    utcnow,
)

INBOX = InboxEvent.__table__
OUTBOX = OutboxMessage.__table__
CONTACT = Contact.__table__
RUN = CommunicationRun.__table__
NS_CONTACT = 0x4C6F63   # advisory lock class id of contacts ("Loc"; cluster.py has "Loa", "Lob")


def _insert(conn: AsyncConnection):  # type: ignore[no-untyped-def]
    return pg_insert if conn.dialect.name == "postgresql" else sqlite_insert


_STATEMENTS: dict[tuple[str, object], Any] = {}


def statement(conn: AsyncConnection, key: object, build: Callable[[str], Any]) -> Any:
    """The statement `key` for this connection's dialect, built by `build(dialect)` once."""
    found = _STATEMENTS.get((conn.dialect.name, key))
    if found is None:
        found = _STATEMENTS[(conn.dialect.name, key)] = build(conn.dialect.name)
    return found


async def fetch_built(conn: AsyncConnection, stmt: Any,
                      params: dict[str, Any] | list[dict[str, Any]]) -> list[Any]:
    """The rows of a statement built once (module level or `statement`): on asyncpg itself on
    PostgreSQL where it can (bot/store/direct.py: named tuples), else through SQLAlchemy
    (its rows); either way read by attribute or position."""
    rows = await direct.run(conn, stmt, params)
    return rows if rows is not None else list((await conn.execute(stmt, params)).all())


async def execute_built(conn: AsyncConnection, stmt: Any,
                        params: dict[str, Any] | list[dict[str, Any]]) -> None:
    """As fetch_built, for a statement that returns no rows."""
    if await direct.run(conn, stmt, params) is None:
        await conn.execute(stmt, params)


def _ids(name: str = "ids") -> Any:
    return bindparam(name, expanding=True)


def _in(column: Any, name: str, dialect: str, negate: bool = False) -> Any:
    """`column IN :name` for a list. On PostgreSQL as `= ANY(:name)` over one array, so the
    statement has one text whatever the list's length: prepared once per connection instead
    of once per length (issue 16)."""
    if dialect == "postgresql":
        array = bindparam(name, type_=ARRAY(column.type))
        return column != all_(array) if negate else column == any_(array)
    return column.not_in(_ids(name)) if negate else column.in_(_ids(name))


def _update_by_id(table: Any, columns: Iterable[str]):  # type: ignore[no-untyped-def]
    """An executemany-able UPDATE ... WHERE id = :row_id setting :v_<column>."""
    columns = tuple(columns)
    key = ("update_by_id", table.name, columns)
    found = _STATEMENTS.get(("", key))
    if found is None:
        found = _STATEMENTS[("", key)] = (
            update(table).where(table.c.id == bindparam("row_id"))
            .values({c: bindparam(f"v_{c}") for c in columns}))
    return found


async def update_many(conn: AsyncConnection, table: Any, rows: list[dict[str, Any]]) -> None:
    """Update rows by id; rows with the same set of columns go in one executemany."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(sorted(k for k in row if k != "id")), []).append(row)
    for columns, group in groups.items():
        await execute_built(conn, _update_by_id(table, columns), [
            {"row_id": r["id"], **{f"v_{c}": r[c] for c in columns}} for r in group])


# -- inbox -------------------------------------------------------------------------------------

async def insert_inbox(conn: AsyncConnection, channel: str, external_id: str,
                       payload: str) -> int | None:
    """Store a raw event; returns its id, or None when it was already stored (duplicate)."""
    stored = await store_inbox_rows(conn, channel, [(external_id, payload)])
    return stored[0].id if stored else None


async def store_inbox_rows(conn: AsyncConnection, channel: str,
                           items: list[tuple[str, str]],
                           handled_at: dt.datetime | None = None) -> list[Any]:
    """Store raw events (external id, payload) in one statement; returns the new ones as
    new_inbox_rows gives them, with their external id, in id order (repeats of stored events
    are skipped). `handled_at`: stored as handled then, without their payload (the caller
    handles them in the same transaction, and has the payloads)."""
    if not items:
        return []
    now = handled_at or utcnow()
    status = InboxStatus.NEW if handled_at is None else InboxStatus.DONE
    stmt = statement(conn, "store_inbox_rows", lambda d: (
        (pg_insert if d == "postgresql" else sqlite_insert)(INBOX)
        .on_conflict_do_nothing(index_elements=["channel", "external_id"])
        .returning(INBOX.c.id, INBOX.c.channel, INBOX.c.payload, INBOX.c.contact_key,
                   INBOX.c.received_at, INBOX.c.external_id)))
    rows = await fetch_built(conn, stmt, [
        {"channel": channel, "external_id": ext,
         "payload": payload if handled_at is None else None, "status": status,
         "attempts": 0, "received_at": now, "error": None, "handled_at": handled_at}
        for ext, payload in items])
    return sorted(rows, key=lambda row: row.id)


async def insert_inbox_many(conn: AsyncConnection, channel: str,
                            items: list[tuple[str, str]]) -> list[int]:
    """Store many raw events in one statement; returns the ids of those that were new."""
    return [row.id for row in await store_inbox_rows(conn, channel, items)]


async def find_inbox_id(conn: AsyncConnection, channel: str, external_id: str) -> int | None:
    return (await conn.execute(select(INBOX.c.id).where(
        INBOX.c.channel == channel, INBOX.c.external_id == external_id))).scalar_one_or_none()


async def pending_inbox(conn: AsyncConnection, limit: int = 100,
                        exclude_channel: str | None = None) -> list[int]:
    stmt = select(INBOX.c.id).where(INBOX.c.status == InboxStatus.NEW)
    if exclude_channel:
        stmt = stmt.where(INBOX.c.channel != exclude_channel)
    return list((await conn.execute(stmt.order_by(INBOX.c.id).limit(limit))).scalars())


async def new_inbox_rows(conn: AsyncConnection, ids: Sequence[int],
                         wait: bool = False) -> Sequence[Any]:
    """The still-unhandled rows among `ids`, locked for this transaction. On PostgreSQL rows
    another transaction holds are skipped, so each event has one effect; with `wait` they are
    waited for instead (a caller that must know the event handled, by whoever, when it
    returns: the web chat). Waiting is safe only while this transaction holds nothing else."""
    def build(dialect: str) -> Any:
        stmt = (select(INBOX.c.id, INBOX.c.channel, INBOX.c.payload, INBOX.c.contact_key,
                       INBOX.c.received_at)
                .where(_in(INBOX.c.id, "ids", dialect), INBOX.c.status == InboxStatus.NEW)
                .order_by(INBOX.c.id))
        return stmt.with_for_update(skip_locked=not wait) if dialect == "postgresql" else stmt
    return await fetch_built(conn, statement(conn, ("new_inbox_rows", wait), build),
                             {"ids": list(ids)})


async def take_writer(conn: AsyncConnection) -> None:
    """SQLite: make this transaction the database's one writer now, before it reads (a write
    that changes nothing takes the lock; pysqlite begins transactions only at the first write,
    so reads before it would see what another process is about to change). PostgreSQL locks
    rows instead: nothing to do."""
    if conn.dialect.name == "sqlite":
        await conn.execute(statement(conn, "take_writer", lambda d: update(INBOX).where(
            INBOX.c.id == -1).values(attempts=INBOX.c.attempts)))


async def lock_contacts(conn: AsyncConnection, locks: Iterable[int]) -> None:
    """PostgreSQL: hold these contacts (32-bit ids from their keys) until the transaction
    ends, waiting for any other transaction that holds one. Taken in ascending order in one
    statement, so two batches never wait for each other in a circle. SQLite: the writer lock
    (take_writer) already serializes batches."""
    ordered = sorted(set(locks))
    if conn.dialect.name != "postgresql" or not ordered:
        return
    await fetch_built(conn, statement(conn, "lock_contacts", lambda d: text(
        "SELECT count(pg_advisory_xact_lock(:ns, k)) "
        "FROM (SELECT unnest(CAST(:ks AS integer[])) AS k ORDER BY k) AS held")
        .bindparams(bindparam("ks", type_=ARRAY(Integer)))), {"ns": NS_CONTACT, "ks": ordered})


async def unhandled_of_contacts(conn: AsyncConnection, keys: Sequence[str],
                                channels: Sequence[str], before: int, exclude: Sequence[int],
                                limit: int) -> tuple[Sequence[Any], Sequence[Any]]:
    """Unhandled rows, other than `exclude`, that may be these contacts' (see Handler): those
    stamped with one of `keys` (any id, oldest first, at most `limit`), and the unstamped
    ones of `channels` before id `before`, whose contact only their payload tells (see
    inbox_payloads; the newest `limit` of them: older unstamped ones are rows nobody handles,
    e.g. a web chat message whose request died, until retention expires them)."""
    def build(dialect: str) -> Any:
        c = INBOX.c
        keyed = (select(c.id, c.channel, c.contact_key)
                 .where(c.status == InboxStatus.NEW, _in(c.contact_key, "keys", dialect),
                        _in(c.id, "exclude", dialect, negate=True))
                 .order_by(c.id).limit(limit).subquery())
        unkeyed = (select(c.id, c.channel, c.contact_key)
                   .where(c.status == InboxStatus.NEW, c.contact_key.is_(None),
                          _in(c.channel, "channels", dialect), c.id < bindparam("before"),
                          _in(c.id, "exclude", dialect, negate=True))
                   .order_by(c.id.desc()).limit(limit).subquery())
        return union_all(select(keyed), select(unkeyed))
    rows = await fetch_built(conn, statement(conn, ("unhandled_of_contacts", limit), build), {
        "keys": list(keys), "exclude": list(exclude), "channels": list(channels),
        "before": before})   # one trip
    return (sorted((r for r in rows if r.contact_key is not None), key=lambda r: r.id),
            [r for r in rows if r.contact_key is None])


async def inbox_payloads(conn: AsyncConnection, ids: Sequence[int]) -> Sequence[Row[Any]]:
    """Rows as new_inbox_rows gives them, whatever their state, without locking them."""
    return (await conn.execute(statement(conn, "inbox_payloads", lambda d: select(
        INBOX.c.id, INBOX.c.channel, INBOX.c.payload, INBOX.c.contact_key,
        INBOX.c.received_at).where(INBOX.c.id.in_(_ids()))), {"ids": list(ids)})).all()


async def add_inbox_attempt(conn: AsyncConnection, inbox_id: int, error: str,
                            max_attempts: int) -> None:
    await conn.execute(update(INBOX).where(INBOX.c.id == inbox_id).values(
        attempts=INBOX.c.attempts + 1, error=error[:200]))
    await conn.execute(update(INBOX).where(INBOX.c.id == inbox_id,
                                           INBOX.c.attempts >= max_attempts)
                       .values(status=InboxStatus.FAILED, contact_key=None))


# -- contacts ----------------------------------------------------------------------------------

async def contacts_by_pseudonym(conn: AsyncConnection, pseudonyms: list[str],
                                extra: Sequence[Any] = (), key: object = None
                                ) -> Sequence[Any]:
    """The contacts with these pseudonyms; `extra`: more columns over CONTACT to read with
    each, which `key` names (the statement is built once per key)."""
    return await fetch_built(conn, statement(conn, ("contacts_by_pseudonym", key), lambda d: select(
        CONTACT, *extra).where(_in(CONTACT.c.pseudonym, "names", d))), {"names": pseudonyms})


async def insert_contact(conn: AsyncConnection, **values: Any) -> int:
    return (await conn.execute(CONTACT.insert().values(**values)
                               .returning(CONTACT.c.id))).scalar_one()


async def insert_contacts(conn: AsyncConnection, rows: list[dict[str, Any]]) -> list[int]:
    """Insert contacts in one statement; their ids in the order given."""
    if not rows:
        return []
    return [row[0] for row in await fetch_built(
        conn, statement(conn, "insert_contacts", lambda d: CONTACT.insert()
                        .returning(CONTACT.c.id, sort_by_parameter_order=True)), rows)]


async def stop_contacts(conn: AsyncConnection, contact_ids: Iterable[int]) -> None:
    await conn.execute(update(CONTACT).where(CONTACT.c.id.in_(list(contact_ids)))
                       .values(status=ContactStatus.STOPPED))


# -- outbox ------------------------------------------------------------------------------------

async def insert_outbox(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    if rows:
        await execute_built(conn, statement(conn, "insert_outbox", lambda d: OUTBOX.insert()), rows)


async def insert_outbox_returning(conn: AsyncConnection,
                                  rows: list[dict[str, Any]]) -> list[Any]:
    """Insert and return what a sender needs, in the order given."""
    if not rows:
        return []
    return await fetch_built(conn, statement(conn, "insert_outbox_returning", lambda d: (
        OUTBOX.insert().returning(OUTBOX.c.id, OUTBOX.c.contact_id, OUTBOX.c.channel,
                                  OUTBOX.c.address, OUTBOX.c.payload, OUTBOX.c.attempts,
                                  OUTBOX.c.broadcast_id, sort_by_parameter_order=True))), rows)


async def claim_due(conn: AsyncConnection, channel: str, limit: int,
                    lane: str = "reply", claimed_by: int | None = None) -> list[Row[Any]]:
    """Mark up to `limit` due messages of a lane as being sent by process `claimed_by` and
    return them, oldest first."""
    def build(dialect: str) -> Any:   # (an UPDATE's parameters must not be column names)
        due = (select(OUTBOX.c.id)
               .where(OUTBOX.c.channel == bindparam("b_channel"),
                      OUTBOX.c.lane == bindparam("b_lane"),
                      OUTBOX.c.status.in_([OutboxStatus.PENDING, OutboxStatus.RETRY]),
                      OUTBOX.c.not_before <= bindparam("b_now", type_=OUTBOX.c.not_before.type))
               .order_by(OUTBOX.c.id).limit(bindparam("b_limit", type_=Integer)))
        if dialect == "postgresql":
            due = due.with_for_update(skip_locked=True)
        return (update(OUTBOX).where(OUTBOX.c.id.in_(due.scalar_subquery()))
                .values(status=OutboxStatus.SENDING, claimed_by=bindparam("b_claimed_by"),
                        claimed_at=bindparam("b_now"))
                .returning(OUTBOX.c.id, OUTBOX.c.contact_id, OUTBOX.c.address,
                           OUTBOX.c.payload, OUTBOX.c.attempts, OUTBOX.c.broadcast_id))
    result = await conn.execute(statement(conn, "claim_due", build), {
        "b_channel": channel, "b_lane": lane, "b_now": utcnow(), "b_limit": limit,
        "b_claimed_by": claimed_by})
    return sorted(result.all(), key=lambda row: row.id)


async def has_due(conn: AsyncConnection, channel: str, lane: str) -> bool:
    """A cheap read before claiming, so an idle lane never takes the write lock."""
    due = statement(conn, "has_due", lambda d: select(OUTBOX.c.id).where(
        OUTBOX.c.channel == bindparam("channel"), OUTBOX.c.lane == bindparam("lane"),
        OUTBOX.c.status.in_([OutboxStatus.PENDING, OutboxStatus.RETRY]),
        OUTBOX.c.not_before <= bindparam("now", type_=OUTBOX.c.not_before.type)).limit(1))
    return (await conn.execute(due, {"channel": channel, "lane": lane, "now": utcnow()})
            ).first() is not None


async def outbox_for_inbox(conn: AsyncConnection, inbox_id: int) -> Sequence[Row[Any]]:
    return (await conn.execute(select(OUTBOX.c.id, OUTBOX.c.status, OUTBOX.c.payload)
                               .where(OUTBOX.c.inbox_id == inbox_id)
                               .order_by(OUTBOX.c.id))).all()


async def mark_sent(conn: AsyncConnection, ids: list[int]) -> None:
    if ids:
        await conn.execute(update(OUTBOX).where(OUTBOX.c.id.in_(ids)).values(
            status=OutboxStatus.SENT, sent_at=utcnow(), attempts=1))
        await forget_erased_addresses(conn, ids)


async def forget_erased_addresses(conn: AsyncConnection, ids: list[int]) -> None:
    """Once the last message to a citizen who erased their data is out, drop its address."""
    if ids:
        # Correlated: one lookup by primary key per message (an IN over every erased contact
        # scanned the contact table for each round of replies: 4 ms with a few thousand).
        def build(dialect: str) -> Any:
            return update(OUTBOX).where(OUTBOX.c.id.in_(_ids()), _erased()).values(address="")
        await conn.execute(statement(conn, "forget_erased_addresses", build), {"ids": list(ids)})


def _erased() -> Any:
    """In an UPDATE of outbox: the message's contact erased their data."""
    return select(CONTACT.c.id).where(CONTACT.c.id == OUTBOX.c.contact_id,
                                      CONTACT.c.pseudonym.like("erased:%")).exists()


async def record_outcomes(conn: AsyncConnection, changes: list[dict[str, Any]]) -> None:
    """Senders' outcomes by outbox id (as update_many). A message recorded as sent to a
    citizen who erased their data also loses its address (forget_erased_addresses), in the
    same statement: one round trip per round of replies instead of two."""
    sent = [c for c in changes if c.get("status") == OutboxStatus.SENT]
    await update_many(conn, OUTBOX, [c for c in changes if c.get("status") != OutboxStatus.SENT])
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in sent:
        groups.setdefault(tuple(sorted(k for k in row if k != "id")), []).append(row)
    for columns, group in groups.items():
        key = ("record_sent", columns)
        stmt = _STATEMENTS.get(("", key))
        if stmt is None:
            stmt = _STATEMENTS[("", key)] = (
                update(OUTBOX).where(OUTBOX.c.id == bindparam("row_id"))
                .values({**{c: bindparam(f"v_{c}") for c in columns},
                         "address": case((_erased(), ""), else_=OUTBOX.c.address)}))
        await execute_built(conn, stmt, [
            {"row_id": r["id"], **{f"v_{c}": r[c] for c in columns}} for r in group])


def _lost_in_flight(live: set[int] | None, channel: str | None,
                    stuck_before: dt.datetime | None) -> list[Any]:
    where: list[Any] = [OUTBOX.c.status == OutboxStatus.SENDING]
    if channel is not None:
        where.append(OUTBOX.c.channel == channel)
    if live is not None:
        lost = or_(OUTBOX.c.claimed_by.is_(None), OUTBOX.c.claimed_by.not_in(sorted(live)))
        if stuck_before is not None:
            lost = or_(lost, OUTBOX.c.claimed_at < stuck_before)
        where.append(lost)
    elif stuck_before is not None:
        where.append(OUTBOX.c.claimed_at < stuck_before)
    return where


async def has_lost_in_flight(conn: AsyncConnection, live: set[int] | None = None,
                             channel: str | None = None,
                             stuck_before: dt.datetime | None = None) -> bool:
    """A read before recover_in_flight, so a healthy system never takes the write lock."""
    return (await conn.execute(select(OUTBOX.c.id).where(
        *_lost_in_flight(live, channel, stuck_before)).limit(1))).first() is not None


async def recover_in_flight(conn: AsyncConnection, live: set[int] | None = None,
                            channel: str | None = None,
                            stuck_before: dt.datetime | None = None) -> int:
    """Messages caught mid-send by a process that is gone go out again, flagged as possibly
    doubled. `live`: the ids of the processes still running (their messages are left alone);
    None treats every message in flight as interrupted (a single process starting).
    `stuck_before`: also messages claimed before then by anyone (no send takes that long:
    their record was lost, e.g. to a database failure at the moment of commit)."""
    result = await conn.execute(
        update(OUTBOX).where(*_lost_in_flight(live, channel, stuck_before))
        .values(status=OutboxStatus.RETRY, ambiguous=True, claimed_by=None))
    return result.rowcount or 0


async def in_flight_of(conn: AsyncConnection, claimed_by: int) -> list[int]:
    """Ids of the messages marked as being sent by process `claimed_by`."""
    return list((await conn.execute(select(OUTBOX.c.id).where(
        OUTBOX.c.status == OutboxStatus.SENDING, OUTBOX.c.claimed_by == claimed_by))).scalars())


async def hand_back(conn: AsyncConnection, ids: list[int], claimed_by: int) -> int:
    """Messages of process `claimed_by` that it never sent go back to the queue (not flagged:
    they did not go out), if they are still its and still 'sending'."""
    result = await conn.execute(
        update(OUTBOX).where(OUTBOX.c.id.in_(ids), OUTBOX.c.status == OutboxStatus.SENDING,
                             OUTBOX.c.claimed_by == claimed_by)
        .values(status=OutboxStatus.RETRY, claimed_by=None, not_before=utcnow()))
    return result.rowcount or 0


# -- runs and health ---------------------------------------------------------------------------

async def insert_runs(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(statement(conn, "insert_runs", lambda d: RUN.insert()), rows)


async def runs_between(conn: AsyncConnection, start: dt.datetime,
                       end: dt.datetime) -> Sequence[Row[Any]]:
    return (await conn.execute(select(RUN).where(RUN.c.at >= start, RUN.c.at < end)
                               .order_by(RUN.c.id))).all()


async def count_by_status(conn: AsyncConnection) -> dict[str, dict[str, int]]:
    """Queue sizes for the health and admin pages."""
    out: dict[str, dict[str, int]] = {}
    for name, table in (("inbox", INBOX), ("outbox", OUTBOX)):
        rows = await conn.execute(select(table.c.status, func.count())
                                  .group_by(table.c.status))
        out[name] = {status: count for status, count in rows.all()}
    return out


async def count_by_channel(conn: AsyncConnection) -> list[tuple[str, str, str, int]]:
    """(queue, channel, status, rows) for the metrics endpoint."""
    out: list[tuple[str, str, str, int]] = []
    for name, table in (("inbox", INBOX), ("outbox", OUTBOX)):
        rows = await conn.execute(select(table.c.channel, table.c.status, func.count())
                                  .group_by(table.c.channel, table.c.status))
        out += [(name, channel, status, int(n)) for channel, status, n in rows.all()]
    return sorted(out)


async def count_contacts(conn: AsyncConnection) -> int:
    return (await conn.execute(select(func.count()).select_from(CONTACT))).scalar_one()
