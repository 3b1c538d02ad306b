"""Retention: free text older than BOT_RETENTION_DAYS is blanked or deleted on a real
database, recent text stays, and the monthly report's counts do not change."""
from __future__ import annotations

import datetime as dt
import json
import logging

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import insert, select, update
from support.outreach import add_officer, tr

from bot.app import build_app, retention_parts
from bot.channels.web import limits as webchat_limits
from bot.channels.zalo.models import WINDOW
from bot.cli import main
from bot.delivery.jobs import LEASE, JobScheduler
from bot.features.outreach.reports.model import build_report
from bot.features.outreach.reports.monthly import TZ, monthly_counts
from bot.features.outreach.service import DIALOG
from bot.features.privacy.retention import retention_job, run_retention
from bot.features.questions import service as questions
from bot.settings import Settings
from bot.store import queries
from bot.store.db import Database, make_engine
from bot.store.models import utcnow
from bot.store.retention import BLANK_REPLY, EXPIRED, Part, apply_retention

SESSION = "retention-session-0123456789"
OLD = dt.timedelta(days=100)
WORDS = "cái điện thoại cũ của mẹ tôi 0912345678"
ORDER = ["inbox_payloads", "inbox_expired", "outbox_payloads", "outreach_dialogs",
         "zalo_windows", "questions"]


def parts(question_days: int | None, webchat_days: int | None = None) -> tuple[Part, ...]:
    """What each owner declares, as the composition root gathers it (bot/app.py)."""
    return retention_parts(Settings(question_retention_days=question_days,
                                    webchat_retention_days=webchat_days))


def configured(settings) -> tuple[Part, ...]:  # type: ignore[no-untyped-def]
    return retention_parts(settings)


async def chat(client: TestClient, message_id: str, text: str) -> None:
    response = await client.post("/api/chat", json={"session": SESSION, "id": message_id,
                                                    "text": text})
    assert response.status == 200


async def report_figures(db: Database) -> tuple[object, ...]:
    month = dt.datetime.now(TZ).strftime("%Y-%m")
    async with db.connect() as conn:
        counts = await monthly_counts(conn, month)
        report = await build_report(conn, month, tr)
        runs = (await conn.execute(select(queries.RUN).order_by(queries.RUN.c.id))).all()
    return counts, report.totals, report.by_topic, report.by_channel, [tuple(r) for r in runs]


async def plant(settings) -> tuple[Database, dict[str, int]]:  # type: ignore[no-untyped-def]
    """Real traffic through the web chat, then rows of every kind, some aged 100 days."""
    async with TestClient(TestServer(build_app(settings))) as client:
        for index, text in enumerate(["1", "khi nao tat song 2g", "5"]):
            await chat(client, f"ret{index:05d}", text)
    db = Database(make_engine(settings.database_url))
    now, old = utcnow(), utcnow() - OLD
    officer = await add_officer(db, "xa-24175", "editor", channel="telegram")
    async with db.begin() as conn:
        ids = {}
        ids["failed_old"] = await queries.insert_inbox(conn, "telegram", "1001", WORDS)
        ids["failed_new"] = await queries.insert_inbox(conn, "telegram", "1002", WORDS)
        ids["stuck_old"] = await queries.insert_inbox(conn, "telegram", "1003", WORDS)
        await conn.execute(update(queries.INBOX).where(queries.INBOX.c.id.in_(
            [ids["failed_old"], ids["failed_new"]])).values(status="failed", error="ParseError"))
        first_outbox = (await conn.execute(select(queries.OUTBOX.c.id, queries.OUTBOX.c.inbox_id)
                                           .order_by(queries.OUTBOX.c.id))).first()
        ids["web_inbox_old"], ids["sent_old"] = first_outbox.inbox_id, first_outbox.id
        contact = (await conn.execute(select(queries.CONTACT.c.id))).scalar_one()
        await queries.insert_outbox(conn, [
            {"contact_id": contact, "channel": "telegram", "address": "1", "lane": "reply",
             "payload": json.dumps({"text": WORDS}, ensure_ascii=False), "status": status,
             "attempts": 0, "not_before": now, "created_at": old, "ambiguous": False}
            for status in ("pending", "failed")])
        await questions.insert_questions(conn, [
            {"asked_at": when, "channel": "web", "language": "vi", "contact_pseudonym": "p1",
             "text": questions.mask(WORDS), "outcome": "unmatched", "score": 0.1,
             "topic": None, "runner_up": None, "status": "new"} for when in (old, now)])
        await conn.execute(insert(DIALOG).values(officer_id=officer.officer_id,
                                                 channel="telegram", pseudonym="o1",
                                                 state=json.dumps({"note": WORDS}),
                                                 updated_at=old))
        await conn.execute(insert(WINDOW), [{"pseudonym": "z-old", "opened_at": old, "used": 8,
                                             "paid": 0},
                                            {"pseudonym": "z-new", "opened_at": now, "used": 1,
                                             "paid": 0}])
        # Age what is old: the first web chat message with its reply, and the planted rows.
        i, o = queries.INBOX.c, queries.OUTBOX.c
        await conn.execute(update(queries.INBOX).where(i.id.in_(
            [ids["failed_old"], ids["stuck_old"], ids["web_inbox_old"]])).values(received_at=old))
        await conn.execute(update(queries.OUTBOX).where(o.inbox_id == ids["web_inbox_old"])
                           .values(created_at=old))
    return db, ids


async def test_old_free_text_goes_recent_stays_and_report_counts_do_not_change(settings):
    db, ids = await plant(settings)
    try:
        before = await report_figures(db)
        dry = await apply_retention(db, 90, parts(90), dry_run=True)
        expected = {"inbox_payloads": 1, "inbox_expired": 1, "outbox_payloads": 2,
                    "outreach_dialogs": 1, "zalo_windows": 1, "questions": 1}
        assert dry.counts == expected and list(dry.counts) == ORDER
        assert await report_figures(db) == before
        done = await apply_retention(db, 90, parts(90), batch=1)   # a row a batch: keyset paging
        assert done.counts == expected and list(done.counts) == ORDER
        assert await report_figures(db) == before          # counts, runs and rollups untouched

        o = queries.OUTBOX.c
        async with db.connect() as conn:
            inbox = {r.id: r for r in (await conn.execute(select(queries.INBOX))).all()}
            outbox = (await conn.execute(select(queries.OUTBOX).order_by(o.id))).all()
            kept = (await conn.execute(select(questions.QUESTION.c.asked_at))).all()
            dialogs = (await conn.execute(select(DIALOG))).all()
            windows = (await conn.execute(select(WINDOW.c.pseudonym))).scalars().all()
        assert inbox[ids["failed_old"]].payload is None
        assert inbox[ids["failed_old"]].error == "ParseError"       # the row itself stays
        assert inbox[ids["failed_new"]].payload == WORDS            # recent: kept
        assert (inbox[ids["stuck_old"]].status, inbox[ids["stuck_old"]].payload,
                inbox[ids["stuck_old"]].error) == ("failed", None, EXPIRED)
        assert len(inbox) == 6                                      # dedupe keys all kept
        blanked = [r for r in outbox if r.payload == BLANK_REPLY]
        assert {r.id for r in blanked} >= {ids["sent_old"]}
        assert [r.status for r in blanked] == ["sent", "failed"]
        assert [r.status for r in outbox if WORDS in r.payload] == ["pending"]  # not final
        assert sum("Cập nhật ngày" in r.payload for r in outbox) == 2   # recent replies stay
        assert len(kept) == 1 and dialogs == [] and windows == ["z-new"]
        again = await apply_retention(db, 90, parts(90))
        assert set(again.counts.values()) == {0}                    # idempotent
    finally:
        await db.dispose()


async def test_questions_follow_the_shorter_limit(settings):
    db = Database(make_engine(settings.database_url))
    try:
        async with db.begin() as conn:
            await questions.insert_questions(conn, [
                {"asked_at": utcnow() - dt.timedelta(days=days), "channel": "web",
                 "language": "vi", "contact_pseudonym": "p1", "text": "hỏi", "outcome": "x",
                 "score": 0.0, "topic": None, "runner_up": None, "status": "new"}
                for days in (5, 20, 40)])
        assert (await apply_retention(db, 30, parts(90), dry_run=True)).counts["questions"] == 1
        assert (await apply_retention(db, 90, parts(10))).counts["questions"] == 2
    finally:
        await db.dispose()


async def test_the_daily_job_runs_once_and_records_its_counts(settings, caplog):
    caplog.set_level(logging.INFO)
    db, _ = await plant(settings)
    try:
        job = retention_job(db, settings, configured(settings))
        first, second = JobScheduler(db, [job]), JobScheduler(db, [job])
        assert await first.tick() == ["retention"]
        assert await second.tick() == [] and await first.tick() == []
        async with db.connect() as conn:
            (row,) = (await conn.execute(select(LEASE))).all()
        assert row.job == "retention" and row.finished_at is not None
        assert "inbox_payloads 1" in row.outcome and "outbox_payloads 2" in row.outcome
    finally:
        await db.dispose()
    assert "retention (90 days" in caplog.text
    assert WORDS not in caplog.text


@pytest.fixture
def cli_env(settings, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("BOT_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("BOT_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("BOT_SECRET_KEY", settings.secret_key)
    return settings


def test_cli_dry_run_counts_and_run_applies(cli_env, capsys):
    import asyncio
    db, _ = asyncio.run(plant(cli_env))
    asyncio.run(db.dispose())
    assert main(["retention", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "retention: 90 days (questions 90)" in out and "would change" in out
    assert "  inbox_payloads: 1" in out and "  outbox_payloads: 2" in out
    assert main(["retention"]) == 0
    assert "  outbox_payloads: 2" in capsys.readouterr().out
    assert main(["retention", "--days", "120"]) == 0
    assert "  outbox_payloads: 0" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["retention", "--days", "0"])


def test_the_setting():
    from bot.settings import Settings, SettingsError
    assert Settings.from_env({"BOT_SECRET_KEY": "k"}).retention_days == 90
    assert Settings.from_env({"BOT_SECRET_KEY": "k",
                              "BOT_RETENTION_DAYS": "30"}).retention_days == 30
    for bad in ("0", "3651", "ninety"):
        with pytest.raises(SettingsError, match="BOT_RETENTION_DAYS"):
            Settings.from_env({"BOT_SECRET_KEY": "k", "BOT_RETENTION_DAYS": bad})


async def test_idle_web_chat_contacts_go_after_their_own_limit_and_counts_stay(settings):
    """Anyone can open thousands of web chat sessions: each is a contact with its state. Those
    idle for BOT_WEBCHAT_RETENTION_DAYS go, with their replies; runs and the report stay."""
    idle, active = "idle-web-session-0123456789", "active-web-session-0123456789"
    async with TestClient(TestServer(build_app(settings))) as client:
        for sid in (idle, active):
            for index, text in enumerate(["1", "khi nao tat song 2g"]):
                response = await client.post("/api/chat", json={
                    "session": sid, "id": f"{sid[:4]}{index:05d}", "text": text})
                assert response.status == 200
    db = Database(make_engine(settings.database_url))
    try:
        c = queries.CONTACT.c
        async with db.begin() as conn:
            contacts = dict((await conn.execute(select(c.id, c.last_seen_at).where(
                c.channel == "web").order_by(c.id))).all())
            idle_id = min(contacts)
            await conn.execute(update(queries.CONTACT).where(c.id == idle_id).values(
                last_seen_at=utcnow() - dt.timedelta(days=31)))
            await conn.execute(update(webchat_limits.SESSION).where(
                webchat_limits.SESSION.c.last_seen_at < utcnow()).values(
                last_seen_at=utcnow() - dt.timedelta(days=31)).where(
                webchat_limits.SESSION.c.pseudonym == select(c.pseudonym).where(
                    c.id == idle_id).scalar_subquery()))
        before = await report_figures(db)
        assert settings.webchat_retention_days == 30
        dry = await run_retention(db, settings, configured(settings), dry_run=True)
        assert dry.counts["web_contacts"] == 1
        done = await run_retention(db, settings, configured(settings))
        assert done.counts["web_contacts"] == 1 and done.counts["web_sessions"] == 1
        assert list(done.counts) == [*ORDER, "web_contacts", "web_sessions", "webchat_windows",
                                     "webchat_client_days"]
        assert await report_figures(db) == before              # runs, rollups, people: same
        async with db.connect() as conn:
            left = (await conn.execute(select(c.id).where(c.channel == "web"))).scalars().all()
            replies = (await conn.execute(select(queries.OUTBOX.c.contact_id))).scalars().all()
            sessions = (await conn.execute(select(webchat_limits.SESSION))).all()
        assert left == [max(contacts)] and set(replies) == {max(contacts)}
        assert len(sessions) == 1
        assert (await run_retention(db, settings, configured(settings))).counts["web_contacts"] == 0
    finally:
        await db.dispose()
    async with TestClient(TestServer(build_app(settings))) as client:   # it may come back
        response = await client.post("/api/chat", json={"session": idle, "id": "back00001",
                                                        "text": "khi nao tat song 2g"})
        assert response.status == 200
        assert "Cập nhật ngày" in (await response.json())["messages"][0]["text"]
