"""Privacy: the notice at first contact, and "xóa dữ liệu" erasing a citizen's data."""
from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import String, Text, insert, select
from sqlmodel import SQLModel
from support.env import sql_connect
from support.outreach import add_officer

import bot.models  # noqa: F401  (every table)
from bot.app import ERASURES
from bot.channels.web import models as web_models
from bot.channels.zalo import models as zalo_models
from bot.delivery.models import RunReach
from bot.features.broadcasts.models import Broadcast
from bot.features.officers.service import sync_units
from bot.features.outreach import models as outreach_models
from bot.features.privacy.forget import erase_contact
from bot.features.questions import models as question_models
from bot.store import queries
from bot.store.db import Database, make_engine
from bot.store.erasure import POLL
from bot.store.models import utcnow

SESSION = "privacy-session-0123456789"


async def post(client, message_id: str, **body):
    response = await client.post("/api/chat", json={"session": SESSION, "id": message_id,
                                                    **body})
    assert response.status == 200
    return (await response.json())["messages"]


async def test_notice_once_then_erase_keeps_only_anonymous_counts(client, settings):
    first = await post(client, "pv000001", text="khi nao tat song 2g")
    assert "mã ẩn danh" in first[0]["text"] and "xóa dữ liệu" in first[0]["text"]
    second = await post(client, "pv000002", text="1")
    assert "mã ẩn danh" not in second[0]["text"]
    await post(client, "pv000003", choice="sub")
    await post(client, "pv000004", text="hoa phu")
    await post(client, "pv000005", text="thoi tiet hom nay the nao")   # kept for review
    with sql_connect(settings) as db:
        pseudonym = db.execute("select pseudonym from contact").fetchone()[0]
        assert db.execute("select count(*) from question").fetchone()[0] >= 1
    ask = await post(client, "pv000006", text="xóa dữ liệu")
    assert [b["choice"] for row in ask[0]["buttons"] for b in row] == ["forget:yes", "forget:no"]
    done = await post(client, "pv000007", choice="forget:yes")
    assert "Đã xóa" in done[0]["text"]
    with sql_connect(settings) as db:
        dump = "\n".join(db.iterdump())
        runs = db.execute("select count(*) from run").fetchone()[0]
        contact = db.execute("select subscribed, commune_code, state, address from contact "
                             "order by id limit 1").fetchone()
    assert pseudonym not in dump and SESSION not in dump
    assert "thoi tiet" not in dump and "thời tiết" not in dump
    assert contact == (0, None, "{}", "")
    assert runs >= 5                     # the anonymous counts stay for the report
    again = await post(client, "pv000008", text="1")      # starts afresh, notice again
    assert "mã ẩn danh" in again[0]["text"]


async def test_saying_no_erases_nothing(client, settings):
    await post(client, "pn000001", text="1")
    await post(client, "pn000002", command="start")
    await post(client, "pn000003", text="xoa du lieu")
    kept = await post(client, "pn000004", choice="forget:no")
    assert "Không xóa" in kept[0]["text"]
    with sql_connect(settings) as db:
        assert db.execute("select count(*) from contact where address != ''").fetchone()[0] == 1


async def test_erase_contact_does_what_the_owners_declare(settings):
    """Straight on the database: every per-citizen row of one pseudonym goes or loses it, each
    poll answer keeps its answer under an id of its own, and another citizen keeps everything."""
    who, other = "p-forget-0123456789", "p-stays-0123456789"
    db = Database(make_engine(settings.database_url))
    try:
        async with db.begin() as conn:
            await sync_units(conn, settings.unit)
        officer = await add_officer(db, "xa-24175", "editor", channel="telegram")
        now = utcnow()
        async with db.begin() as conn:
            polls = [(await conn.execute(insert(Broadcast.__table__).values(
                unit_id=officer.unit_id, kind="poll", text="4G?", variants="{}",
                variants_approved="{}", audience="{}", status="done", created_at=now,
                recipients=0).returning(Broadcast.__table__.c.id))).scalar_one()
                for _ in range(2)]
            contacts = {}
            for pseudonym in (who, other):
                contacts[pseudonym] = (await conn.execute(insert(queries.CONTACT).values(
                    channel="web", pseudonym=pseudonym, address=f"addr-{pseudonym}",
                    lang="vi", state=json.dumps({"x": 1}), status="active", commune_code="24175",
                    created_at=now, last_seen_at=now, subscribed=True)
                    .returning(queries.CONTACT.c.id))).scalar_one()
                await queries.insert_outbox(conn, [
                    {"contact_id": contacts[pseudonym], "channel": "web",
                     "address": f"addr-{pseudonym}", "lane": "reply",
                     "payload": json.dumps({"text": "hi"}), "status": status, "attempts": 0,
                     "not_before": now, "created_at": now, "ambiguous": False}
                    for status in ("pending", "sent")])
                await conn.execute(insert(queries.RUN), [
                    {"at": now, "unit": "Tỉnh", "form": "chatbot_qa", "medium": "web",
                     "kind": "answer", "language": "vi", "contact_pseudonym": pseudonym,
                     "reached": 1} for _ in range(2)])
                await conn.execute(insert(POLL), [
                    {"broadcast_id": poll, "contact_pseudonym": pseudonym,
                     "unit_id": officer.unit_id, "commune_code": "24175", "answer": "switched",
                     "at": now} for poll in polls])
                await conn.execute(insert(question_models.ReviewQuestion.__table__).values(
                    asked_at=now, channel="web", language="vi", contact_pseudonym=pseudonym,
                    text="hỏi", outcome="unmatched", score=0.0, status="new"))
                await conn.execute(insert(zalo_models.WINDOW).values(
                    pseudonym=pseudonym, opened_at=now, used=1, paid=0))
                await conn.execute(insert(web_models.WebSession.__table__).values(
                    pseudonym=pseudonym, client_key="k", created_at=now, last_seen_at=now))
                await conn.execute(insert(RunReach.__table__).values(
                    month="2025-01", unit="Tỉnh", form="chatbot_qa", medium="web",
                    pseudonym=pseudonym))
            await conn.execute(insert(outreach_models.OutreachDialog.__table__).values(
                officer_id=officer.officer_id, channel="web", pseudonym=who, state="{}",
                updated_at=now - dt.timedelta(minutes=1)))

        async with db.begin() as conn:
            touched = await erase_contact(conn, "web", who, ERASURES)
        # 2 outbox addresses, 2 runs, 2 poll answers, and one row each of question, window,
        # session, run_reach and dialog
        assert touched == 11

        async with db.connect() as conn:
            found = []
            for table in SQLModel.metadata.tables.values():
                text = [c for c in table.columns if isinstance(c.type, String | Text)]
                for row in (await conn.execute(select(*text))).all() if text else ():
                    found += [table.name for value in row if value is not None and who in value]
            assert found == []
            c = queries.CONTACT.c
            erased = (await conn.execute(select(queries.CONTACT).where(
                c.id == contacts[who]))).one()
            assert erased.pseudonym.startswith("erased:") and erased.address == ""
            assert (erased.state, erased.lang, erased.commune_code, erased.subscribed,
                    erased.status) == ("{}", None, None, False, "stopped")
            outbox = (await conn.execute(select(queries.OUTBOX.c.status, queries.OUTBOX.c.address)
                                         .where(queries.OUTBOX.c.contact_id == contacts[who])
                                         .order_by(queries.OUTBOX.c.id))).all()
            assert [tuple(r) for r in outbox] == [("cancelled", ""), ("sent", "")]
            runs = (await conn.execute(select(queries.RUN.c.contact_pseudonym))).scalars().all()
            assert sorted(runs, key=str) == [None, None, other, other]
            answers = (await conn.execute(select(POLL.c.contact_pseudonym, POLL.c.commune_code,
                                                 POLL.c.answer))).all()
            gone = [a for a in answers if a.contact_pseudonym != other]
            assert len(gone) == 2 and len({a.contact_pseudonym for a in gone}) == 2
            assert all(a.contact_pseudonym.startswith("erased:") and a.commune_code is None
                       and a.answer == "switched" for a in gone)
            for erasure in ERASURES:   # the other citizen keeps every row (they have no dialog)
                column = erasure.table.c[erasure.column]
                left = (await conn.execute(select(column).where(column == other))).all()
                assert len(left) == {"run": 2, "poll_answer": 2, "outreach_dialog": 0}.get(
                    erasure.table.name, 1), erasure.table.name
            kept = (await conn.execute(select(queries.CONTACT.c.address).where(
                c.id == contacts[other]))).scalar_one()
            assert kept == f"addr-{other}"
    finally:
        await db.dispose()


async def test_a_message_in_flight_to_an_erased_citizen_forgets_its_address_once_sent(settings):
    """A reply already 'sending' when its citizen erased their data: once its send is
    recorded, its address goes too; other citizens' sent messages keep theirs."""
    db = Database(make_engine(settings.database_url))
    now = utcnow()
    try:
        async with db.begin() as conn:
            ids = {}
            for pseudonym in ("erased:0123abcd", "citizen-kept"):
                contact = (await conn.execute(insert(queries.CONTACT).values(
                    channel="telegram", pseudonym=pseudonym, address="", lang="vi",
                    state="{}", status="active", created_at=now, last_seen_at=now,
                    subscribed=False).returning(queries.CONTACT.c.id))).scalar_one()
                (row,) = await queries.insert_outbox_returning(conn, [
                    {"contact_id": contact, "channel": "telegram", "address": "5550123",
                     "lane": "reply", "payload": json.dumps({"text": "hi"}),
                     "status": "sending", "attempts": 0, "not_before": now, "created_at": now,
                     "ambiguous": False}])
                ids[pseudonym] = row.id
            await queries.forget_erased_addresses(conn, list(ids.values()))
        async with db.connect() as conn:
            left = dict((await conn.execute(select(queries.OUTBOX.c.id, queries.OUTBOX.c.address)
                                            )).all())
        assert left == {ids["erased:0123abcd"]: "", ids["citizen-kept"]: "5550123"}
    finally:
        await db.dispose()
