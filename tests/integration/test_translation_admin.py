"""The translations admin pages through the real aiohttp app and SQLite: only reviewers of a
language see its drafts (bannered) and decide; an approval records who, which organisation,
when and the Vietnamese it was checked against, serves citizens at once, survives a restart
and becomes stale when the Vietnamese changes; clips are uploaded, approved and played."""
from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from support.env import sql_connect
from support.translation_pages import REVIEWER, STATION, clip_form, login
from support.translations import (
    copy_tree,
    make_ready,
    settings_for,
    vi_sources,
    write_topic,
)

from bot.app import build_app
from bot.core.content import load_content
from bot.features.translations.audio import ogg_opus
from bot.features.translations.checks import check_translations
from bot.features.translations.files import write_approvals
from bot.features.translations.rules import Provenance, Status, digest
from bot.features.translations.service import Translations
from bot.settings import Settings
from bot.store.db import Database, make_engine


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    """Ê Đê with its core topics approved except "timeline", the one these tests translate:
    approving it is what makes the language offered (bot/core/conversation.py `ready`)."""
    content, locales = copy_tree(tmp_path)
    make_ready(content, skip=("timeline",))
    return content, locales


BANNER = "Bản dịch thử – chưa duyệt"
NOTE = "chưa có bản tiếng Ê Đê"
VI_TITLE = "Khi nào tắt sóng 2G?"
DRAFT = Provenance(Status.DRAFT, "human", "Test translator (test data)")


@pytest.fixture
def s(settings: Settings, tree) -> Settings:
    return settings_for(settings, *tree, languages=("vi", "rad", "jra"))


async def app_client(s: Settings) -> TestClient:
    client = TestClient(TestServer(build_app(s)))
    await client.start_server()
    return client


@pytest.fixture
async def client(s: Settings) -> AsyncIterator[TestClient]:
    c = await app_client(s)
    try:
        yield c
    finally:
        await c.close()




_ids = itertools.count()


async def chat(client: TestClient, *steps: dict[str, str]) -> list[dict]:
    """One citizen of the web chat; returns the messages answering each step."""
    out = []
    for step in steps:
        response = await client.post("/api/chat", json={"session": "c" * 30,
                                                        "id": f"msg{next(_ids):06d}x", **step})
        assert response.status == 200
        out.append((await response.json())["messages"])
    return out


def reviews(s: Settings) -> list[tuple]:
    with sql_connect(s) as db:
        return db.execute("select lang, unit, decision, reviewer, organisation, at, "
                          "source_hash, target_hash, note from translation_review "
                          "order by id").fetchall()


async def decide(client: TestClient, csrf: str, unit: str, target: str, decision: str,
                 lang: str = "rad", note: str = "") -> aiohttp.ClientResponse:
    return await client.post(f"/admin/translations/{lang}/review", data={
        "csrf": csrf, "unit": unit, "target_hash": target, "decision": decision, "note": note,
        "next": f"/admin/translations/{lang}/preview?topic=timeline"}, allow_redirects=False)


def service(s: Settings) -> Translations:
    return Translations(s.content_dir, s.locales_dir, ["rad"], load_content(s.content_dir, "vi"))


# -- who sees drafts -----------------------------------------------------------------------------

async def test_preview_shows_drafts_bannered_to_reviewers_of_the_language_only(client, s):
    fields = write_topic(s.content_dir, "rad", "timeline", DRAFT)
    anonymous = await client.get("/admin/translations/rad/preview?topic=timeline",
                                 allow_redirects=False)
    assert anonymous.status == 302 and anonymous.headers["Location"] == "/admin/login"
    await login(client, s, "reviewer", "rad")
    page = await client.get("/admin/translations/rad/preview?topic=timeline")
    html = await page.text()
    assert page.status == 200 and BANNER in html and fields["body"] in html
    assert "Duyệt nội dung này" in html
    # The citizen still gets the Vietnamese (Ê Đê is not offered before its core topics are).
    (_, answer) = await chat(client, {"choice": "lang:rad"}, {"choice": "topic:timeline"})
    assert fields["body"] not in answer[0]["text"] and VI_TITLE in answer[0]["text"]


async def test_preview_lists_a_vietnamese_topic_the_language_has_no_file_for(s):
    """A topic added in Vietnamese before `translations update` has run: listed, no error."""
    (s.content_dir / "rad" / "at_sea.md").unlink()
    client = await app_client(s)
    try:
        await login(client, s, "reviewer", "rad")
        page = await client.get("/admin/translations/rad/preview")
        assert page.status == 200 and "Ngư dân, người đi biển" in await page.text()
    finally:
        await client.close()


@pytest.mark.parametrize(("role", "language"), [("editor", None), ("admin", None),
                                                ("reviewer", "jra"), ("viewer", None)])
async def test_nobody_else_sees_drafts(client, s, role, language):
    fields = write_topic(s.content_dir, "rad", "timeline", DRAFT)
    await login(client, s, role, language, name="Someone (test data)")
    preview = await client.get("/admin/translations/rad/preview?topic=timeline")
    assert preview.status == 403
    page = await client.get("/admin/translations/rad")
    if role in ("editor", "admin"):
        html = await page.text()
        assert page.status == 200 and fields["body"] not in html and BANNER not in html
        assert fields["title"] not in html
    else:
        assert page.status == 403


# -- approving ------------------------------------------------------------------------------------

async def test_approval_is_recorded_serves_citizens_at_once_and_survives_restart(client, s):
    fields = write_topic(s.content_dir, "rad", "timeline", DRAFT)
    unit = next(u for u in service(s).units["rad"] if u.key == "timeline")
    csrf = await login(client, s, "reviewer", "rad")
    response = await decide(client, csrf, "t:timeline", unit.target_hash, "approved")
    assert response.status == 303
    assert response.headers["Location"].endswith("?topic=timeline&done=approved")
    ((lang, key, decision, who, organisation, at, source_hash, target_hash, note),) = reviews(s)
    assert (lang, key, decision, who, organisation) == ("rad", "t:timeline", "approved",
                                                        REVIEWER, STATION[1])
    assert at and source_hash == digest(vi_sources(s.content_dir)["timeline"])
    assert target_hash == unit.target_hash and note is None
    with sql_connect(s) as db:
        assert db.execute("select actor, action, target from audit_log where action like "
                          "'translation.%'").fetchall()[-1][1:] == ("translation.approved",
                                                                    "rad:t:timeline")
    (_, answer) = await chat(client, {"choice": "lang:rad"}, {"choice": "topic:timeline"})
    assert fields["body"] in answer[0]["text"] and NOTE not in answer[0]["text"]
    await client.close()

    restarted = await app_client(s)           # a new process: the database is the record
    try:
        (answer,) = await chat(restarted, {"choice": "topic:timeline"})
        assert fields["body"] in answer[0]["text"]
        await login(restarted, s, "reviewer", "rad", name="Another reviewer (test data)")
        page = await (await restarted.get("/admin/translations/rad")).text()
        assert REVIEWER in page and STATION[1] in page and source_hash in page
    finally:
        await restarted.close()
    # `translations export --approvals` writes the record into the file; check-content passes.
    svc = service(s)
    from bot.features.translations.store import refresh
    db = Database(make_engine(s.database_url))
    try:
        async with db.connect() as conn:
            await refresh(conn, svc)
    finally:
        await db.dispose()
    assert write_approvals(svc, "rad") == ["rad: approved 'timeline'"]
    raw = (s.content_dir / "rad" / "timeline.md").read_text(encoding="utf-8")
    assert "status: approved" in raw and f"reviewer: {REVIEWER}" in raw
    assert f"source_hash: {source_hash}" in raw
    assert check_translations(s.content_dir, s.locales_dir) == []


async def test_changing_the_vietnamese_makes_the_approval_stale(client, s):
    fields = write_topic(s.content_dir, "rad", "timeline", DRAFT)
    unit = next(u for u in service(s).units["rad"] if u.key == "timeline")
    csrf = await login(client, s, "reviewer", "rad")
    await decide(client, csrf, "t:timeline", unit.target_hash, "approved")
    await client.close()
    vi_file = s.content_dir / "vi" / "timeline.md"
    vi_file.write_text(vi_file.read_text(encoding="utf-8").replace(
        "Sóng 3G dự kiến tắt", "Theo dự kiến, sóng 3G tắt"), encoding="utf-8")
    restarted = await app_client(s)
    try:
        (_, answer) = await chat(restarted, {"choice": "lang:rad"}, {"choice": "topic:timeline"})
        assert fields["body"] not in answer[0]["text"] and VI_TITLE in answer[0]["text"]
        assert "Theo dự kiến, sóng 3G tắt" in answer[0]["text"]
        await login(restarted, s, "reviewer", "rad")
        page = await (await restarted.get("/admin/translations/rad/preview?topic=timeline")).text()
        assert 'data-state="stale"' in page and "Duyệt nội dung này" in page
    finally:
        await restarted.close()


async def test_send_back_withdraws_a_text_and_keeps_the_note(s):
    fields = write_topic(s.content_dir, "rad", "timeline", None)      # approved in the file
    client = await app_client(s)
    try:
        await _send_back(client, s, fields)
    finally:
        await client.close()


async def _send_back(client: TestClient, s: Settings, fields: dict[str, str]) -> None:
    (_, answer) = await chat(client, {"choice": "lang:rad"}, {"choice": "topic:timeline"})
    assert fields["body"] in answer[0]["text"]
    unit = next(u for u in service(s).units["rad"] if u.key == "timeline")
    csrf = await login(client, s, "reviewer", "rad")
    sent = await decide(client, csrf, "t:timeline", unit.target_hash, "sent_back",
                        note="wrong date word (test data)")
    assert sent.status == 303
    assert reviews(s)[-1][2] == "sent_back" and reviews(s)[-1][8] == "wrong date word (test data)"
    (answer,) = await chat(client, {"choice": "topic:timeline"})
    assert fields["body"] not in answer[0]["text"] and VI_TITLE in answer[0]["text"]


async def test_decisions_are_refused_to_others_and_on_changed_text(client, s):
    write_topic(s.content_dir, "rad", "timeline", DRAFT)
    unit = next(u for u in service(s).units["rad"] if u.key == "timeline")
    csrf = await login(client, s, "admin")
    assert (await decide(client, csrf, "t:timeline", unit.target_hash, "approved")).status == 403
    await client.post("/admin/logout", data={"csrf": csrf})
    csrf = await login(client, s, "reviewer", "rad")
    stale = await decide(client, csrf, "t:timeline", "0" * 16, "approved")
    assert stale.status == 409 and "đã thay đổi" in await stale.text()
    bad = await client.post("/admin/translations/rad/review", data={
        "csrf": "wrong", "unit": "t:timeline", "target_hash": unit.target_hash,
        "decision": "approved"})
    assert bad.status == 403
    assert reviews(s) == []


async def test_an_incomplete_translation_cannot_be_approved(client, s):
    source = vi_sources(s.content_dir)["cost"]
    write_topic(s.content_dir, "rad", "cost", DRAFT, {k: "" if k == "body" else "RAD-TEST"
                                                      for k in source})
    unit = next(u for u in service(s).units["rad"] if u.key == "cost")
    csrf = await login(client, s, "reviewer", "rad")
    response = await decide(client, csrf, "t:cost", unit.target_hash, "approved")
    assert response.status == 400 and reviews(s) == []


# -- clips ----------------------------------------------------------------------------------------



async def test_clip_upload_approval_and_web_chat_audio(client, s):
    csrf = await login(client, s, "editor", name="Test editor (test data)")
    mp3 = await client.post("/admin/translations/rad/clips",
                            data=clip_form(csrf, b"ID3\x04" + b"\0" * 300, "clip.mp3"))
    html = await mp3.text()
    assert mp3.status == 400 and "Đây là tệp MP3" in html and "ffmpeg" in html
    assert 'value="Test speaker (test data)"' in html        # nothing typed is lost
    # Uploads are streamed: a large file gets its message, not a bare 413.
    big = await client.post("/admin/translations/rad/clips",
                            data=clip_form(csrf, b"ID3\x04" + b"\0" * 600_000, "big.mp3"))
    assert big.status == 400 and "Đây là tệp MP3" in await big.text()
    huge = await client.post("/admin/translations/rad/clips",
                             data=clip_form(csrf, b"OggS" + b"\0" * 3_200_000, "huge.ogg"))
    assert huge.status == 400 and "Tệp lớn hơn 3 MB" in await huge.text()
    data = ogg_opus(42)
    ok = await client.post("/admin/translations/rad/clips", data=clip_form(csrf, data, "a.ogg"),
                           allow_redirects=False)
    assert ok.status == 303
    again = await client.post("/admin/translations/rad/clips", data=clip_form(csrf, data, "a.ogg"))
    assert again.status == 400 and "đã được tải lên" in await again.text()
    with sql_connect(s) as db:
        (path, speaker, editor, recorded, licence, source_hash, seconds), = db.execute(
            "select path, speaker, editor, recorded, licence, source_hash, duration_s "
            "from voice_clip").fetchall()
    assert (speaker, editor, recorded, licence) == ("Test speaker (test data)",
                                                    "Test editor (test data)", "2026-11-20",
                                                    "test licence (test data)")
    assert source_hash == digest(vi_sources(s.content_dir)["timeline"]) and seconds == 42
    assert (s.content_dir / "media" / path).read_bytes() == data
    (_, answer) = await chat(client, {"choice": "lang:rad"}, {"choice": "topic:timeline"})
    assert answer[0]["audio"] is None                          # not approved yet
    await client.post("/admin/logout", data={"csrf": csrf})

    csrf = await login(client, s, "reviewer", "rad")
    page = await (await client.get("/admin/translations/rad/preview?topic=timeline")).text()
    assert f'src="/media/{path}"' in page and "Duyệt bản ghi âm này" in page
    key = re.search(r'name="unit" value="(c:timeline:[0-9a-f]+)"', page)[1]
    import hashlib
    approved = await decide(client, csrf, key, hashlib.sha256(data).hexdigest(), "approved")
    assert approved.status == 303
    # The text approved too: Ê Đê is offered once its core topics are (timeline is one).
    fields = write_topic(s.content_dir, "rad", "timeline", DRAFT)
    unit = next(u for u in service(s).units["rad"] if u.key == "timeline")
    assert (await decide(client, csrf, "t:timeline", unit.target_hash, "approved")).status == 303
    (_, answer) = await chat(client, {"choice": "lang:rad"}, {"choice": "topic:timeline"})
    assert fields["body"] in answer[0]["text"] and answer[0]["audio"] == f"/media/{path}"
    played = await client.get(answer[0]["audio"])
    assert played.status == 200 and await played.read() == data


# -- files through the page -----------------------------------------------------------------------

async def test_export_and_import_through_the_page(client, s):
    csrf = await login(client, s, "editor", name="Test editor (test data)")
    exported = await client.get("/admin/translations/rad/export.po")
    text = await exported.text()
    assert exported.status == 200 and 'msgctxt "text:cost:body"' in text
    assert "Plural-Forms: nplurals=1; plural=0;" in text
    filled = text.replace('msgctxt "ui:Check again"\nmsgid "Kiểm tra lại"\nmsgstr ""',
                          'msgctxt "ui:Check again"\nmsgid "Kiểm tra lại"\nmsgstr "bu^on"')
    assert filled != text

    def upload(body: str) -> aiohttp.FormData:
        form = aiohttp.FormData()
        form.add_field("csrf", csrf)
        form.add_field("translator", "Test translator (test data)")
        form.add_field("method", "human")
        form.add_field("file", body.encode(), filename="rad.po")
        return form
    refused = await client.post("/admin/translations/rad/import", data=upload(filled))
    html = await refused.text()
    assert refused.status == 400 and "Chưa nhập gì" in html and "old station font" in html
    good = filled.replace('msgstr "bu^on"', 'msgstr "RAD-TEST again"')
    done = await client.post("/admin/translations/rad/import", data=upload(good),
                             allow_redirects=False)
    assert done.status == 303
    unit = next(u for u in service(s).units["rad"] if u.key == "Check again")
    assert unit.target["text"] == "RAD-TEST again" and unit.prov.status == Status.DRAFT


# -- counting -----------------------------------------------------------------------------------

async def test_runs_count_the_chosen_and_the_served_language(s):
    write_topic(s.content_dir, "rad", "timeline", None)       # approved in the file
    client = await app_client(s)
    try:
        await chat(client, {"choice": "lang:rad"}, {"choice": "topic:timeline"},
                   {"choice": "topic:cost"})
        with sql_connect(s) as db:
            rows = db.execute("select kind, topic, language, served_language from run "
                              "order by id").fetchall()
        assert rows == [("menu", None, "rad", "vi"), ("answer", "timeline", "rad", "rad"),
                        ("answer", "cost", "rad", "vi")]
        from sqlalchemy import func, select

        from bot.delivery.runs import ROLLUP
        from bot.store.db import Database, make_engine
        from bot.store.queries import RUN
        db = Database(make_engine(s.database_url))
        try:
            async with db.connect() as conn:
                served = dict((await conn.execute(
                    select(ROLLUP.c.value, func.sum(ROLLUP.c.runs))
                    .where(ROLLUP.c.dim == "served").group_by(ROLLUP.c.value))).all())
                chosen = dict((await conn.execute(
                    select(ROLLUP.c.value, func.sum(ROLLUP.c.runs))
                    .where(ROLLUP.c.dim == "language").group_by(ROLLUP.c.value))).all())
                assert (await conn.execute(select(func.count()).select_from(RUN))).scalar() == 3
        finally:
            await db.dispose()
        assert chosen == {"rad": 3} and served == {"vi": 2, "rad": 1}   # the report's rollups
        await login(client, s, "editor", name="Test editor (test data)")
        page = await (await client.get("/admin/translations")).text()
        assert "Trả lời bằng" in page and "Tiếng Ê Đê" in page
    finally:
        await client.close()


async def test_approvals_on_postgres(s, migrated_postgres_url):
    pg = settings_for(s, s.content_dir, s.locales_dir, database_url=migrated_postgres_url)
    fields = write_topic(pg.content_dir, "rad", "timeline", DRAFT)
    unit = next(u for u in service(pg).units["rad"] if u.key == "timeline")
    client = await app_client(pg)
    try:
        csrf = await login(client, pg, "reviewer", "rad")
        assert (await decide(client, csrf, "t:timeline", unit.target_hash, "approved")
                ).status == 303
        (_, answer) = await chat(client, {"choice": "lang:rad"}, {"choice": "topic:timeline"})
        assert fields["body"] in answer[0]["text"]
        page = await (await client.get("/admin/translations")).text()
        assert "Trả lời bằng" in page
    finally:
        await client.close()


async def test_a_reviewer_approves_an_interface_string_from_the_language_page(s):
    from support.translations import write_string
    write_string(s.locales_dir, "rad", "☰ Main menu", "RAD-TEST menu",
                 Provenance(Status.DRAFT, "human", "Test translator (test data)"))
    write_topic(s.content_dir, "rad", "timeline", None)      # Ê Đê offered (its core topics)
    client = await app_client(s)
    try:
        csrf = await login(client, s, "reviewer", "rad")
        page = await (await client.get("/admin/translations/rad")).text()
        assert "RAD-TEST menu" in page
        unit = next(u for u in service(s).units["rad"] if u.key == "☰ Main menu")
        assert f'value="{unit.review_key}"' in page
        (before,) = await chat(client, {"choice": "lang:rad"})
        assert all(b["label"] != "RAD-TEST menu" for r in before[0]["buttons"] for b in r)
        response = await client.post("/admin/translations/rad/review", data={
            "csrf": csrf, "unit": unit.review_key, "target_hash": unit.target_hash,
            "decision": "approved", "next": "/admin/translations/rad#strings"},
            allow_redirects=False)
        assert response.status == 303
        assert response.headers["Location"] == "/admin/translations/rad?done=approved#strings"
        assert reviews(s)[-1][:5] == ("rad", unit.review_key, "approved", REVIEWER, STATION[1])
        (after,) = await chat(client, {"choice": "topic:timeline"})
        assert any(b["label"] == "RAD-TEST menu" for r in after[0]["buttons"] for b in r)
    finally:
        await client.close()


async def test_uploads_sent_as_a_plain_form_get_400_not_500(client, s):
    """A script (or an old browser) posting the upload forms urlencoded gets a clear 400."""
    csrf = await login(client, s, "editor", name="Test editor (test data)")
    for path in ("/admin/translations/rad/clips", "/admin/translations/rad/import"):
        response = await client.post(path, data={"csrf": csrf, "topic": "timeline"})
        assert response.status == 400, (path, response.status)
        assert "multipart/form-data" in await response.text()
