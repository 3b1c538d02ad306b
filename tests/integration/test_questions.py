"""The review log: unanswered questions kept (pseudonymised, limited in time, erasable), and the
admin page where an editor proposes samples from them (approval, the evaluation guard and unit
isolation: tests/test_learned_samples.py)."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from support.env import sql_connect
from support.officers import login_as
from support.waiting import after_notice

from bot.core.messages import Event, Inbound, InboundKind, RunKind
from bot.features.questions import service as questions
from bot.settings import Settings, SettingsError
from bot.store.db import Database, make_engine

SESSION = "q" * 10 + "review-session-0001"
OTHER = "r" * 10 + "review-session-0002"
WEATHER = "thời tiết ngày mai có mưa không"
UNKNOWN = "máy nóng quá"          # Loa is unsure (offers topics); not the end of 2G either


async def ask(client, text: str, message_id: str, session: str = SESSION) -> dict:
    response = await client.post("/api/chat", json={"session": session, "id": message_id,
                                                    "text": text})
    assert response.status == 200
    return await response.json()


def rows(settings: Settings, sql: str) -> list[tuple]:
    with sql_connect(settings) as db:
        return db.execute(sql).fetchall()


# -- what is kept ---------------------------------------------------------------------------

async def test_unanswered_question_is_kept_under_the_pseudonym_with_its_outcome(client,
                                                                                   settings):
    reply = await ask(client, WEATHER, "keep0001")
    assert "chỉ trả lời về việc tắt sóng 2G" in reply["messages"][0]["text"]
    kept = rows(settings, "select text, contact_pseudonym, channel, language, outcome, status "
                          "from question")
    assert len(kept) == 1
    text, pseudonym, channel, language, outcome, status = kept[0]
    assert (text, channel, language, outcome, status) == (WEATHER, "web", "vi",
                                                          "out_of_scope", "new")
    assert pseudonym and SESSION not in pseudonym
    run = rows(settings, "select kind, contact_pseudonym from run")
    assert run == [("unmatched", pseudonym)]          # reports still count the turn


async def test_answered_questions_and_buttons_are_not_kept(client, settings):
    await ask(client, "khi nào tắt sóng 2g", "keep0002")
    await client.post("/api/chat", json={"session": SESSION, "id": "keep0003",
                                         "choice": "topic:timeline"})
    await ask(client, "5", "keep0004")
    assert rows(settings, "select count(*) from question") == [(0,)]


def test_long_numbers_are_masked_and_text_is_cut():
    stored = questions.mask("gọi 0912 345 678 hay số cccd 066123456789 hoặc 1800 8098 " + "x" * 900)
    assert "0912" not in stored and "066123456789" not in stored
    assert "1800 8098" in stored                  # hotlines (8 digits) stay readable
    assert len(stored) == questions.STORED_CHARS


def test_review_row_only_for_typed_unanswered_or_unsure_questions():
    from support.waiting import conversation
    matcher = conversation().matcher
    now = dt.datetime.now(dt.UTC)
    kwargs = {"channel": "telegram", "language": "vi", "pseudonym": "p1", "at": now}
    typed = Inbound(InboundKind.TEXT, text="asdf qwer")
    assert questions.review_row(matcher, typed, (Event(RunKind.UNMATCHED, None, 0.0),),
                                **kwargs)["outcome"] == "unsure"
    pressed = Inbound(InboundKind.CHOICE, choice="topic:timeline")
    assert questions.review_row(matcher, pressed, (Event(RunKind.ANSWER, "timeline", 1.0),),
                                **kwargs) is None
    sure = Inbound(InboundKind.TEXT, text="khi nào tắt sóng 2g")
    assert questions.review_row(matcher, sure, (Event(RunKind.ANSWER, "timeline", 0.99),),
                                **kwargs) is None


async def test_erase_removes_one_citizens_questions_only(client, settings):
    await ask(client, WEATHER, "erase001")
    await ask(client, UNKNOWN, "erase002", session=OTHER)
    (mine,), (theirs,) = rows(settings, "select contact_pseudonym from question order by id")
    db = Database(make_engine(settings.database_url))
    try:
        async with db.begin() as conn:
            assert await questions.erase_questions(conn, mine) == 1
    finally:
        await db.dispose()
    assert rows(settings, "select contact_pseudonym from question") == [(theirs,)]
    with sql_connect(settings) as raw:
        assert WEATHER not in "\n".join(raw.iterdump())


async def test_questions_older_than_the_retention_limit_are_deleted(settings):
    now = dt.datetime.now(dt.UTC)
    db = Database(make_engine(settings.database_url))
    try:
        async with db.begin() as conn:
            await questions.insert_questions(conn, [
                {"asked_at": now - dt.timedelta(days=days), "channel": "web", "language": "vi",
                 "contact_pseudonym": "p", "text": f"câu {days}", "outcome": "unsure",
                 "score": 0.0, "status": "new"} for days in (1, 89, 91, 400)])
        async with db.begin() as conn:
            assert await questions.purge_questions(conn, 90, now) == 2
    finally:
        await db.dispose()
    assert rows(settings, "select text from question order by id") == [("câu 1",), ("câu 89",)]


def test_retention_days_come_from_the_environment():
    assert Settings.from_env({"BOT_SECRET_KEY": "k"}).question_retention_days == 90
    assert Settings.from_env({"BOT_SECRET_KEY": "k",
                              "BOT_QUESTION_RETENTION_DAYS": "30"}).question_retention_days == 30
    with pytest.raises(SettingsError, match="BOT_QUESTION_RETENTION_DAYS"):
        Settings.from_env({"BOT_SECRET_KEY": "k", "BOT_QUESTION_RETENTION_DAYS": "forever"})


# -- the review page ------------------------------------------------------------------------

def form_of(html: str, text: str) -> dict[str, str]:
    """The hidden fields of the review form of the group shown as “text”."""
    start = html.index(f"“{text}”")
    form = html[html.index("<form", start):html.index("</form>", start)]
    return dict(re.findall(r'name="(csrf|ids)" value="([^"]*)"', form))


async def test_page_needs_a_logged_in_editor(client, settings):
    response = await client.get("/admin/questions", allow_redirects=False)
    assert response.status == 302 and response.headers["Location"] == "/admin/login"
    await login_as(client, settings, "tinh", "viewer")
    assert (await client.get("/admin/questions")).status == 403


async def test_similar_questions_are_grouped_newest_first_with_counts(client, settings):
    await ask(client, UNKNOWN, "group001")
    await ask(client, "tien dien thang nay bao nhieu", "group002")
    await ask(client, "tiền điện tháng này bao nhiêu vậy", "group003", session=OTHER)
    await ask(client, "Tiền điện tháng này bao nhiêu?", "group004")
    await login_as(client, settings, "tinh", "editor")
    html = await (await client.get("/admin/questions")).text()
    assert "Câu hỏi Loa chưa trả lời được" in html
    assert "Đang chờ xem xét (2)" in html                       # two groups
    newest = html.index("“Tiền điện tháng này bao nhiêu?”")
    assert newest < html.index(f"“{UNKNOWN}”")                  # newest group first
    assert "Được hỏi 3 lần, bởi 2 người" in html
    assert len(form_of(html, "Tiền điện tháng này bao nhiêu?")["ids"].split(",")) == 3
    assert SESSION not in html and OTHER not in html
    assert '<label for="q1-topic">' in html and 'name="text"' not in html


async def test_attach_is_proposed_then_approved_and_records_who(client, settings):
    first = await ask(client, UNKNOWN, "teach001")
    assert "Cập nhật ngày" not in first["messages"][0]["text"]      # not answered yet
    officer_id = await login_as(client, settings, "tinh", "editor")
    html = await (await client.get("/admin/questions")).text()
    response = await client.post("/admin/questions", data={
        **form_of(html, UNKNOWN), "action": "attach", "topic": "after_shutdown"},
        allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == "/admin/questions?done=proposed"
    assert rows(settings, "select status, reviewed_by, reviewed_topic from question") == [
        ("proposed", f"officer:{officer_id}", "after_shutdown")]
    assert rows(settings, "select topic, text, created_by, status from learned_sample") == [
        ("after_shutdown", UNKNOWN, f"officer:{officer_id}", "pending")]
    audit = rows(settings, "select actor, action, target from audit_log "
                           "where action like 'learned.%'")
    assert audit == [(f"officer:{officer_id}", "learned.propose", "learned:1")]
    client.session.cookie_jar.clear()
    approver = await login_as(client, settings, "tinh", "approver")
    page = await (await client.get("/admin/questions")).text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)[1]
    approved = await client.post("/admin/questions/samples/1", data={
        "csrf": csrf, "action": "approve"}, allow_redirects=False)
    assert approved.status == 303
    assert rows(settings, "select status, decided_by from learned_sample") == [
        ("active", f"officer:{approver}")]
    assert rows(settings, "select status from question") == [("attached",)]
    again = await ask(client, UNKNOWN, "teach002", session=OTHER)    # no restart in between
    assert after_notice(again["messages"][0]["text"]).startswith("Sau khi tắt sóng 2G")
    page = await (await client.get("/admin/questions?done=approved")).text()
    assert "Đã duyệt" in page and "Không còn câu hỏi nào đang chờ." in page


async def test_a_rejected_proposal_goes_back_to_the_queue(client, settings):
    await ask(client, UNKNOWN, "reject01")
    await login_as(client, settings, "tinh", "editor")
    fields = form_of(await (await client.get("/admin/questions")).text(), UNKNOWN)
    response = await client.post("/admin/questions", data={**fields, "action": "out_of_scope"},
                                 allow_redirects=False)
    assert response.status == 303
    assert rows(settings, "select topic, text, status from learned_sample") == [
        (None, UNKNOWN, "pending")]
    client.session.cookie_jar.clear()
    await login_as(client, settings, "tinh", "approver")
    page = await (await client.get("/admin/questions")).text()
    rejected = await client.post("/admin/questions/samples/1", data={
        "csrf": re.search(r'name="csrf" value="([^"]+)"', page)[1], "action": "reject"},
        allow_redirects=False)
    assert rejected.status == 303
    assert rows(settings, "select status from learned_sample") == [("rejected",)]
    assert rows(settings, "select status, sample_id from question") == [("new", None)]
    page = await (await client.get("/admin/questions")).text()
    assert f"“{UNKNOWN}”" in page and "bị từ chối" in page


@pytest.mark.parametrize("change, message", [
    ({"csrf": "wrong"}, None),
    ({"topic": "no_such_topic"}, "Hãy chọn chủ đề"),
    ({"ids": "1,x"}, "Biểu mẫu chưa đủ thông tin"),
    ({"action": "approve"}, "Biểu mẫu chưa đủ thông tin"),
])
async def test_bad_forms_change_nothing(client, settings, change, message):
    await ask(client, UNKNOWN, "bad00001")
    await login_as(client, settings, "tinh", "editor")
    fields = form_of(await (await client.get("/admin/questions")).text(), UNKNOWN)
    response = await client.post("/admin/questions", data={
        **fields, "action": "attach", "topic": "switch", **change})
    assert response.status in (400, 403)
    if message:
        assert message in await response.text()
    assert rows(settings, "select status from question") == [("new",)]
    assert rows(settings, "select count(*) from learned_sample") == [(0,)]


async def test_approved_samples_survive_a_restart_and_pending_ones_are_not_used(settings):
    from aiohttp.test_utils import TestClient, TestServer

    from bot.app import build_app
    pending = "có nên mua iphone không"           # answered today; a pending mark changes nothing
    db = Database(make_engine(settings.database_url))
    try:
        async with db.begin() as conn:
            for topic, text, status in (("after_shutdown", UNKNOWN, "active"),
                                        (None, pending, "pending")):
                await conn.execute(questions.LEARNED.insert().values(
                    topic=topic, text=text, created_by="officer:1",
                    created_at=dt.datetime.now(dt.UTC), status=status))
    finally:
        await db.dispose()
    async with TestClient(TestServer(build_app(settings))) as client:
        reply = await ask(client, UNKNOWN, "restart1")
        held = await ask(client, pending, "restart2")
    assert after_notice(reply["messages"][0]["text"]).startswith("Sau khi tắt sóng 2G")
    assert "Cập nhật ngày" in held["messages"][0]["text"]


async def test_attach_without_a_topic_is_refused(client, settings):
    gibberish = "asdf qwer zxcv"
    await ask(client, gibberish, "notopic1")
    await login_as(client, settings, "tinh", "editor")
    html = await (await client.get("/admin/questions")).text()
    assert '<option value="" selected>' in html                      # no guess, no default
    response = await client.post("/admin/questions", data={
        **form_of(html, gibberish), "action": "attach", "topic": ""})
    assert response.status == 400 and "Hãy chọn chủ đề" in await response.text()


async def test_question_log_on_postgres(settings, migrated_postgres_url):
    from dataclasses import replace

    from aiohttp.test_utils import TestClient, TestServer

    from bot.app import build_app
    postgres_url = migrated_postgres_url
    async with TestClient(TestServer(build_app(replace(settings,
                                                       database_url=postgres_url)))) as client:
        await ask(client, WEATHER, "pgq00001")
        await ask(client, UNKNOWN, "pgq00002", session=OTHER)
    db = Database(make_engine(postgres_url))
    try:
        async with db.begin() as conn:
            rows_ = await questions.pending_questions(conn)
            assert [r.text for r in rows_] == [UNKNOWN, WEATHER]          # newest first
            assert await questions.erase_questions(conn, rows_[1].contact_pseudonym) == 1
            later = dt.datetime.now(dt.UTC) + dt.timedelta(days=91)
            assert await questions.purge_questions(conn, 90, later) == 1
            assert await questions.count_pending(conn) == 0
    finally:
        await db.dispose()
