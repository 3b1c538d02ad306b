"""Learned samples change what every citizen is told, so no commune can abuse them: a sample
is the stored question's own text, is used only after a second officer of the province approved
it, is refused when it would change an evaluation question's answer, and a province
administrator removes one at once (in every process)."""
from __future__ import annotations

import re
from dataclasses import replace

from aiohttp.test_utils import TestClient, TestServer
from support.env import sql_connect, sql_write
from support.officers import login_as
from support.waiting import wait_for

from bot.app import build_app
from bot.core.matching import Matcher
from bot.settings import Settings
from bot.web.keys import RUNTIME

A, B = "xa-24175", "xa-24133"
CITIZEN = "c" * 10 + "learned-citizen-01"
OTHER = "d" * 10 + "learned-citizen-02"
BEEPS = "đèn điện thoại cứ nhấp nháy"       # Loa offers topics for it; no test question
TIMELINE = "khi nào tắt sóng 2g"
OUT_OF_SCOPE = "chỉ trả lời về việc tắt sóng 2G"
AFTER = "Sau khi tắt sóng 2G"


def sql(settings: Settings, query: str, *params: object) -> list[tuple]:
    with sql_connect(settings) as db:
        return list(db.execute(query, params))


async def say(client, session: str, message_id: str, text: str | None = None,
              choice: str | None = None) -> str:
    body = {"session": session, "id": message_id}
    body.update({"text": text} if text is not None else {"choice": choice})
    response = await client.post("/api/chat", json=body)
    assert response.status == 200, await response.text()
    return "\n".join(m["text"] for m in (await response.json())["messages"])


async def ask_from(client, commune: str, text: str, session: str = CITIZEN) -> str:
    """A citizen who chose `commune` (for announcements) asks `text`."""
    await say(client, session, f"{session[-4:]}s1{commune}", choice="sub")
    await say(client, session, f"{session[-4:]}s2{commune}", choice=f"sub:commune:{commune}")
    return await say(client, session, f"{session[-4:]}q{abs(hash(text)) % 10**8}", text)


async def as_officer(client, settings: Settings, unit: str, role: str) -> int:
    client.session.cookie_jar.clear()
    return await login_as(client, settings, unit, role)


async def page(client) -> str:
    response = await client.get("/admin/questions")
    assert response.status == 200
    return await response.text()


def csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html)[1]


def ids_of(html: str, text: str) -> str:
    start = html.index(f"“{text}”")
    form = html[html.index("<form", start):html.index("</form>", start)]
    return re.search(r'name="ids" value="([^"]*)"', form)[1]


async def propose(client, question: str, action: str = "out_of_scope", topic: str = "",
                  **extra: str):
    """Post the proposal form of the group shown as “question” (plus any `extra` field)."""
    html = await page(client)
    return await client.post("/admin/questions", data={
        "csrf": csrf(html), "ids": ids_of(html, question), "action": action, "topic": topic,
        **extra}, allow_redirects=False)


async def act(client, sample_id: int, action: str):
    html = await page(client)
    return await client.post(f"/admin/questions/samples/{sample_id}", data={
        "csrf": csrf(html), "action": action}, allow_redirects=False)


def row_of(html: str, sample_id: int) -> str:
    """The row of one sample in the list of learned samples."""
    row = html[html.index(f'id="sample-{sample_id}"'):]
    return row[:row.index("</tr>")]


def only_sample(settings: Settings) -> tuple:
    ((row),) = sql(settings, "select id, status, topic, text, created_by, decided_by "
                             "from learned_sample")
    return row


# -- approval by a second officer of the province -----------------------------------------------

async def test_a_communes_out_of_scope_mark_waits_for_a_second_province_officer(client,
                                                                              settings):
    first = await ask_from(client, "24175", BEEPS)
    assert OUT_OF_SCOPE not in first                               # "which one?" today
    editor = await as_officer(client, settings, A, "editor")
    response = await propose(client, BEEPS, text="bất kỳ")
    assert response.status == 303
    assert response.headers["Location"] == "/admin/questions?done=proposed"
    sample_id, status, topic, text, by, _ = only_sample(settings)
    assert (status, topic, text, by) == ("pending", None, BEEPS, f"officer:{editor}")
    # Nothing changes for any citizen until it is approved.
    assert OUT_OF_SCOPE not in await say(client, OTHER, "wait0001", BEEPS)
    listed = await page(client)
    assert "chờ duyệt" in row_of(listed, sample_id) and BEEPS in row_of(listed, sample_id)
    assert "Duyệt</button>" not in listed                          # a commune cannot approve
    assert (await act(client, sample_id, "approve")).status == 403
    assert only_sample(settings)[1] == "pending"

    approver = await as_officer(client, settings, "tinh", "approver")
    assert (await act(client, sample_id, "approve")).status == 303
    assert only_sample(settings)[1:2] == ("active",)
    assert only_sample(settings)[5] == f"officer:{approver}"
    assert OUT_OF_SCOPE in await say(client, OTHER, "wait0002", BEEPS)     # no restart
    row = row_of(await page(client), sample_id)
    assert "đang dùng" in row and "ngoài phạm vi" in row and BEEPS in row
    assert "Xã Hòa Phú" in row                                     # who proposed: the unit
    assert sql(settings, "select status from question order by id")[0] == ("out_of_scope",)
    assert sql(settings, "select action, actor from audit_log where action like 'learned.%' "
                         "order by id") == [("learned.propose", f"officer:{editor}"),
                                            ("learned.approve", f"officer:{approver}")]


async def test_the_proposer_cannot_approve_their_own_sample(client, settings):
    await ask_from(client, "24175", BEEPS)
    await as_officer(client, settings, "tinh", "admin")
    assert (await propose(client, BEEPS, "attach", "after_shutdown")).status == 303
    sample_id = only_sample(settings)[0]
    assert "Duyệt</button>" not in await page(client)
    refused = await act(client, sample_id, "approve")
    assert refused.status == 403 and "tự duyệt" in await refused.text()
    assert only_sample(settings)[1] == "pending"
    assert AFTER not in await say(client, OTHER, "own00001", BEEPS)
    await as_officer(client, settings, "tinh", "editor")            # a second officer
    assert (await act(client, sample_id, "approve")).status == 303
    assert (await say(client, OTHER, "own00002", BEEPS)).startswith(AFTER)


async def test_a_free_text_field_is_ignored(client, settings):
    await ask_from(client, "24175", BEEPS)
    await as_officer(client, settings, A, "editor")
    response = await propose(client, BEEPS, text=TIMELINE)
    assert response.status == 303
    assert only_sample(settings)[3] == BEEPS                       # the question's own words
    assert 'name="text"' not in await page(client)
    await as_officer(client, settings, "tinh", "approver")
    assert (await act(client, only_sample(settings)[0], "approve")).status == 303
    assert "Cập nhật ngày" in await say(client, OTHER, "free0001", TIMELINE)


async def test_a_sample_that_changes_an_evaluation_answer_is_refused(client, settings):
    """Marking "khi nào tắt sóng 2g" out of scope would silence the province: refused at the
    proposal, and again at the approval (a pending one made before the check existed)."""
    await sql_write(settings, "insert into question (asked_at, channel, language, "
                    "contact_pseudonym, text, outcome, score, status, commune_code) values "
                    "('2026-12-01 08:00:00', 'web', 'vi', 'p1', ?, 'answer', 0.5, 'new', "
                    "'24175')", TIMELINE)
    await as_officer(client, settings, A, "editor")
    refused = await propose(client, TIMELINE)
    assert refused.status == 409
    message = await refused.text()
    assert "Không nhận câu mẫu này" in message and "1 câu hỏi kiểm tra" in message
    assert "“khi mô tắt sóng 2g rứa”" in message
    assert sql(settings, "select count(*) from learned_sample") == [(0,)]
    assert sql(settings, "select status from question") == [("new",)]
    await sql_write(settings, "insert into learned_sample (topic, text, created_by, created_at, "
                    "status) values (NULL, ?, 'officer:999', '2026-12-01 08:00:00', 'pending')",
                    TIMELINE)
    await as_officer(client, settings, "tinh", "admin")
    again = await act(client, only_sample(settings)[0], "approve")
    assert again.status == 409 and "Không nhận câu mẫu này" in await again.text()
    assert only_sample(settings)[1] == "pending"
    assert "Cập nhật ngày" in await say(client, OTHER, "eval0001", TIMELINE)


async def test_removal_by_a_province_admin_restores_the_answer_at_once(client, settings):
    await ask_from(client, "24175", BEEPS)
    await as_officer(client, settings, A, "admin")
    assert (await propose(client, BEEPS)).status == 303
    sample_id = only_sample(settings)[0]
    await as_officer(client, settings, "tinh", "approver")
    assert (await act(client, sample_id, "approve")).status == 303
    assert OUT_OF_SCOPE in await say(client, OTHER, "gone0001", BEEPS)
    for unit, role in ((A, "admin"), ("tinh", "editor"), ("tinh", "approver")):
        await as_officer(client, settings, unit, role)
        assert (await act(client, sample_id, "remove")).status in (403, 404), (unit, role)
    assert only_sample(settings)[1] == "active"
    admin = await as_officer(client, settings, "tinh", "admin")
    assert "Gỡ câu mẫu" in await page(client)
    assert (await act(client, sample_id, "remove")).status == 303
    assert only_sample(settings)[1] == "removed"
    assert OUT_OF_SCOPE not in await say(client, OTHER, "gone0002", BEEPS)
    assert "đã gỡ" in await page(client)
    assert sql(settings, "select actor from audit_log where action = 'learned.remove'") == [
        (f"officer:{admin}",)]


async def test_removal_reaches_every_process(settings, migrated_postgres_url):
    """Two Loa processes on one PostgreSQL database: a removal made on one process's admin
    page changes the other's answers (cluster NOTIFY), without a restart."""
    shared = replace(settings, database_url=migrated_postgres_url)
    async with TestClient(TestServer(build_app(shared))) as one, \
            TestClient(TestServer(build_app(shared))) as two:
        await ask_from(one, "24175", BEEPS)
        await as_officer(one, shared, A, "editor")
        assert (await propose(one, BEEPS)).status == 303
        ((sample_id,),) = sql(migrated_postgres_url, "select id from learned_sample")
        await as_officer(one, shared, "tinh", "approver")
        assert (await act(one, sample_id, "approve")).status == 303
        def matcher_two() -> Matcher:
            return two.server.app[RUNTIME].conversation.matcher

        await wait_for(lambda: len(matcher_two().learned) == 1, timeout=30)
        assert OUT_OF_SCOPE in await say(two, OTHER, "proc0001", BEEPS)
        await as_officer(one, shared, "tinh", "admin")
        assert (await act(one, sample_id, "remove")).status == 303
        await wait_for(lambda: len(matcher_two().learned) == 0, timeout=30)
        assert OUT_OF_SCOPE not in await say(two, OTHER, "proc0002", BEEPS)


# -- questions only for their own unit ----------------------------------------------------------

async def test_a_commune_editor_sees_and_acts_on_only_their_communes_questions(client,
                                                                              settings):
    mine, theirs, nobody = "đèn điện thoại cứ nhấp nháy ở xã A", \
        "đèn điện thoại nhấp nháy hoài ở phường B", "đèn điện thoại cứ nhấp nháy mà không chọn xã"
    await ask_from(client, "24175", mine, CITIZEN)
    await ask_from(client, "24133", theirs, OTHER)
    await say(client, "e" * 10 + "no-commune-0003", "nocommune", nobody)
    assert sql(settings, "select text, commune_code from question order by id") == [
        (mine, "24175"), (theirs, "24133"), (nobody, None)]
    await as_officer(client, settings, A, "editor")
    html = await page(client)
    assert mine in html and theirs not in html and nobody not in html
    ((their_id,),) = sql(settings, "select id from question where text = ?", theirs)
    ((my_id,),) = sql(settings, "select id from question where text = ?", mine)
    for ids in (str(their_id), f"{my_id},{their_id}"):
        response = await client.post("/admin/questions", data={
            "csrf": csrf(html), "ids": ids, "action": "out_of_scope"}, allow_redirects=False)
        assert response.status == 404, ids
    assert sql(settings, "select count(*) from learned_sample") == [(0,)]
    assert sql(settings, "select status from question order by id") == [("new",)] * 3
    await as_officer(client, settings, B, "editor")
    html = await page(client)
    assert theirs in html and mine not in html and nobody not in html
    await as_officer(client, settings, "tinh", "editor")
    html = await page(client)
    assert mine in html and theirs in html and nobody in html
