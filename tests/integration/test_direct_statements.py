"""On PostgreSQL the statements on every message's path run on asyncpg itself, not through
SQLAlchemy's execution layer (bot/store/direct.py, issue 16). They must keep every promise
SQLAlchemy kept: they run in the caller's transaction (also as its first statement), many
rows come back in the order given, errors are SQLAlchemy's, and a lost connection is
replaced."""
from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import DBAPIError, IntegrityError

from bot.store import direct, queries
from bot.store.db import Database, make_engine
from bot.store.models import OutboxStatus, utcnow


def _contact(name: str) -> dict[str, object]:
    now = utcnow()
    return {"channel": "telegram", "pseudonym": name, "address": f"addr-{name}", "state": "",
            "lang": "vi", "status": "active", "created_at": now, "last_seen_at": now,
            "subscribed": False, "commune_code": None}


async def _count(db: Database, table) -> int:   # type: ignore[no-untyped-def]
    async with db.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(table))).scalar_one()


@pytest.fixture
async def db(migrated_postgres_url: str):   # type: ignore[no-untyped-def]
    database = Database(make_engine(migrated_postgres_url))
    yield database
    await database.engine.dispose()


async def test_rows_come_back_in_the_order_given_and_a_rollback_takes_them_back(db):
    names = ["zeta", "alpha", "mu", "beta"]   # not in any sorted order
    with pytest.raises(RuntimeError):
        async with db.begin() as conn:   # the direct statement is the transaction's first
            stmt = queries.statement(   # (a key of its own: built once per process)
                conn, "test: contacts with their names", lambda d: queries.CONTACT.insert()
                .returning(queries.CONTACT.c.id, queries.CONTACT.c.pseudonym,
                           sort_by_parameter_order=True))
            rows = await direct.run(conn, stmt, [_contact(n) for n in names])
            assert rows is not None, "the contacts' insert went through SQLAlchemy"
            assert [r.pseudonym for r in rows] == names
            assert [r.id for r in rows] == sorted(r.id for r in rows)
            outbox = await queries.insert_outbox_returning(conn, [
                {"contact_id": r.id, "channel": "telegram", "address": f"addr-{r.pseudonym}",
                 "payload": f"reply to {r.pseudonym}", "status": OutboxStatus.SENDING,
                 "claimed_at": utcnow()} for r in reversed(rows)])
            assert [o.address for o in outbox] == [f"addr-{n}" for n in reversed(names)]
            assert [o.attempts for o in outbox] == [0] * 4   # the columns' defaults filled in
            raise RuntimeError("roll back")
    assert await _count(db, queries.CONTACT) == 0
    assert await _count(db, queries.OUTBOX) == 0

    async with db.begin() as conn:
        ids = await queries.insert_contacts(conn, [_contact(n) for n in names])
    async with db.connect() as conn:
        found = await queries.contacts_by_pseudonym(conn, names)
    assert {r.pseudonym: r.id for r in found} == dict(zip(names, ids, strict=True))
    assert all(r.created_at.tzinfo is not None for r in found)   # the column type's processor


async def test_a_write_on_a_plain_connection_is_kept_by_its_commit(db):
    async with db.connect() as conn:   # SQLAlchemy begins a transaction at the first statement
        await queries.insert_contacts(conn, [_contact("lan")])
        await conn.commit()
    async with db.connect() as conn:
        await queries.insert_contacts(conn, [_contact("minh")])   # no commit: rolled back
    async with db.connect() as conn:
        assert [r.pseudonym for r in await queries.contacts_by_pseudonym(
            conn, ["lan", "minh"])] == ["lan"]


async def test_a_duplicate_is_sqlalchemys_integrity_error_and_nothing_of_it_stays(db):
    async with db.begin() as conn:
        await queries.insert_contacts(conn, [_contact("ana")])
    with pytest.raises(IntegrityError):
        async with db.begin() as conn:
            await queries.insert_contacts(conn, [_contact("binh")])
            await queries.insert_contacts(conn, [_contact("chau"), _contact("ana")])
    async with db.connect() as conn:
        assert [r.pseudonym for r in await queries.contacts_by_pseudonym(
            conn, ["ana", "binh", "chau"])] == ["ana"]
    async with db.begin() as conn:   # the pooled connection is still good
        await queries.insert_contacts(conn, [_contact("binh")])
    assert await _count(db, queries.CONTACT) == 2


async def test_a_connection_lost_mid_transaction_fails_it_and_the_next_one_works(
        db, migrated_postgres_url):
    admin = await asyncpg.connect(migrated_postgres_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        with pytest.raises(DBAPIError) as failed:
            async with db.begin() as conn:
                await queries.insert_contacts(conn, [_contact("dao")])
                pid = (await conn.exec_driver_sql("SELECT pg_backend_pid()")).scalar_one()
                # (returns once the server process has ended: waits up to 30 s)
                assert await admin.fetchval("SELECT pg_terminate_backend($1, 30000)", pid)
                await queries.insert_contacts(conn, [_contact("em")])
        assert failed.value.connection_invalidated, "the pool would hand the dead connection out"
    finally:
        await admin.close()
    async with db.begin() as conn:
        await queries.insert_contacts(conn, [_contact("em")])
    async with db.connect() as conn:
        assert [r.pseudonym for r in await queries.contacts_by_pseudonym(
            conn, ["dao", "em"])] == ["em"]


async def test_a_statement_cancelled_midway_leaves_no_connection_behind(db, migrated_postgres_url):
    """A task cancelled while its statement waits (shutdown cancels the workers) must not
    hand the connection back mid-statement: SQLAlchemy invalidates it, and so must this."""
    admin = await asyncpg.connect(migrated_postgres_url.replace("postgresql+asyncpg", "postgresql"))

    async def lock_waits() -> int:   # statements waiting for the lock, in this test's database
        return await admin.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
            "AND objid = 7 AND database = (SELECT oid FROM pg_database "
            "WHERE datname = current_database())")
    try:
        await admin.execute("SELECT pg_advisory_lock($1, 7)", queries.NS_CONTACT)   # held
        waiting = asyncio.Event()

        async def blocked() -> None:
            async with db.begin() as conn:
                waiting.set()
                await queries.lock_contacts(conn, [7])   # waits for the admin's lock

        invalidated: list[object] = []
        event.listen(db.engine.sync_engine, "invalidate",
                     lambda *args: invalidated.append(args[2]))
        task = asyncio.create_task(blocked())
        await waiting.wait()
        # (until the server shows the statement waiting for the lock)
        while not await lock_waits():
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert len(invalidated) == 1, "the connection went back to the pool mid-statement"
        await admin.execute("SELECT pg_advisory_unlock($1, 7)", queries.NS_CONTACT)
        async with asyncio.timeout(30):
            async with db.begin() as conn:   # the pool works, and nothing still waits
                await queries.insert_contacts(conn, [_contact("phuong")])
            assert not await lock_waits()
            await db.engine.dispose()
    finally:
        await admin.close()
