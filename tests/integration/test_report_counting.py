"""What the report counts (issue 17): a communication run is an answer or an announcement
delivered, never a menu tap, a language screen, a step of the phone check or a "Bạn muốn hỏi
về…?" question; those, with the answers, are the chatbot's interactions, shown apart. Counted
from real conversation turns through the handler (the web chat), read back from the report
page, its CSV and the overview; target groups of Loa's runs; and the migration that adds
the rollups of communication runs to a database that already has runs."""
from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import re

from alembic import command
from sqlalchemy import select, text
from support.officers import login_as
from support.outreach import PROVINCE_NAME, run

from bot.delivery.runs import ROLLUP, add_runs, counts_run, rebuild_rollups, run_groups
from bot.features.officers import service as officers
from bot.features.outreach.reports.monthly import monthly_counts
from bot.store import queries
from bot.store.db import Database, alembic_config, make_engine, upgrade_database_async
from bot.web.keys import RUNTIME

VN = dt.timezone(dt.timedelta(hours=7))
SESSION = "counting-session-0123456789"
# One citizen's conversation on the web chat: (what they send, what Loa's turn is).
TURNS = [
    ({"command": "start"}, "menu"),
    ({"choice": "langs"}, "language screen"),
    ({"text": "doi"}, "clarification"),                       # "Bạn muốn hỏi về…?"
    ({"choice": "topic:helping_family"}, "answer"),            # asked for a parent
    ({"choice": "topic:at_sea"}, "answer"),                    # a seafarer's question
    ({"choice": "check"}, "check step"),
    ({"choice": "check:internet:no"}, "check step"),
    ({"choice": "check:lte:unknown"}, "verdict"),              # the check's result
    ({"text": "khi nao tat song 2g"}, "answer"),
]


def cells(html: str, table_id: str) -> list[list[str]]:
    table = re.search(rf'<table id="{table_id}".*?</table>', html, re.S)[0]
    return [[re.sub(r"<[^>]+>", "", c).strip()
             for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)]
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table, re.S)]


async def test_runs_and_interactions_from_real_turns(client, settings):
    for n, (body, kind) in enumerate(TURNS):
        response = await client.post("/api/chat", json={"session": SESSION, "id": f"count{n:04d}",
                                                        **body})
        assert response.status == 200, kind
        reply = (await response.json())["messages"][0]["text"]
        if kind == "clarification":
            assert reply.startswith("Bạn muốn hỏi về…?")
        if kind == "verdict":
            assert reply.startswith("Máy của tôi có bị ảnh hưởng không?")
    month = dt.datetime.now(VN).strftime("%Y-%m")
    async with client.server.app[RUNTIME].db.connect() as conn:
        stored = (await conn.execute(select(queries.RUN.c.kind).order_by(queries.RUN.c.id))
                  ).scalars().all()
        counts = await monthly_counts(conn, month)
    # Every turn is stored (9 interactions); 4 of them are communication runs.
    assert stored == ["menu", "menu", "unmatched", "answer", "answer", "check", "check",
                      "verdict", "answer"]
    assert counts.interactions == 9 and counts.total == 4 and counts.contacts == 1
    assert counts.by_topic == {"helping_family": 1, "at_sea": 1, "check.affected": 1,
                               "timeline": 1}
    assert counts.by_group == {"elderly": 1, "seafarers": 1, "general": 2}

    await login_as(client, settings, "tinh", "viewer")
    page = await (await client.get(f"/admin/reports?month={month}")).text()
    official = cells(page, "official")
    (chatbot,) = [r for r in official if r[1:2] == ["Hỏi đáp qua chatbot"]]
    assert chatbot[2:5] == ["4", "Trò chuyện trên trang web", "1"]
    assert "Lượt tương tác với chatbot (mọi lượt trò chuyện, kể cả câu trả lời): 9" in chatbot[5]
    assert re.search(r'id="interactions">[^<]*<strong>9</strong>', page)
    rule = re.search(r'<section id="rule".*?</section>', page, re.S)[0]
    assert "Cách tính: lượt truyền thông là một câu trả lời Loa đã đưa ra" in rule
    assert "&#34;Bạn muốn hỏi về…?&#34;" in rule or "&quot;Bạn muốn hỏi về…?&quot;" in rule
    groups = cells(page, "groups")
    assert groups[0][2:] == ["Người cao tuổi", "Đồng bào dân tộc thiểu số",
                             "Ngư dân và người đi biển", "Vùng sâu, vùng xa", "Xã biên giới",
                             "Chung"]
    assert groups[1][1:] == [PROVINCE_NAME, "1", "0", "1", "0", "0", "2"]
    assert groups[-1][1:] == ["Toàn tỉnh (tổng các đơn vị)", "1", "0", "1", "0", "0", "2"]
    # Topics by their Vietnamese titles, never their ids; the check's result by the check.
    topics = {r[0]: r[1] for r in cells(page, "topics")[1:]}
    assert topics == {"Giúp ông bà, cha mẹ đổi sang máy 4G thế nào?": "1",
                      "Đi biển, điện thoại còn gọi được không?": "1",
                      "Máy của tôi có bị ảnh hưởng không? – kết quả: máy bị ảnh hưởng": "1",
                      "Khi nào tắt sóng 2G?": "1"}
    assert cells(page, "channels")[1] == ["Hỏi đáp qua chatbot – Trò chuyện trên trang web",
                                          "4", "1", "9"]

    export = await client.get(f"/admin/reports/export.csv?month={month}")
    rows = list(csv.reader(io.StringIO((await export.read()).decode("utf-8-sig"))))
    (summed,) = [r for r in rows if r[9] == "Toàn tỉnh"]
    assert (summed[4], summed[5], summed[7], summed[10]) == ("Hỏi đáp qua chatbot", "4", "1", "9")
    overview = await (await client.get("/admin")).text()
    assert 'id="total">4<' in overview and 'id="interactions">9<' in overview
    assert "Giúp ông bà, cha mẹ đổi sang máy 4G thế nào?" in overview
    assert "helping_family" not in overview


def test_what_is_a_run_and_whom_it_reached():
    def row(**kw: object) -> dict[str, object]:
        return {"form": "chatbot_qa", "kind": "answer", "topic": "timeline", "language": "vi",
                **kw}

    assert [counts_run(row(kind=k)) for k in ("answer", "verdict", "menu", "check",
                                               "unmatched", "other")] == [
        True, True, False, False, False, False]
    assert counts_run(row(form="broadcast", kind="message"))       # an announcement delivered
    assert run_groups(row()) == ("general",)
    assert run_groups(row(language="rad")) == ("minorities",)
    assert run_groups(row(topic="helping_family")) == ("elderly",)
    assert run_groups(row(topic="at_sea", language="jra")) == ("minorities", "seafarers")
    assert run_groups(row(topic="at_sea.radio")) == ("seafarers",)  # a sub-topic of it
    assert run_groups(row(topic="at_seaside", language=None)) == ("general",)
    assert run_groups(row(language="vi-VN")) == ("general",)


async def _snapshot(db: Database) -> list[tuple]:
    async with db.connect() as conn:
        return sorted(tuple(r) for r in (await conn.execute(select(ROLLUP))).all())


NEW_DIMS = ("counted", "c_topic", "c_lang", "c_comm", "c_served", "group")


async def test_the_migration_adds_the_counts_without_touching_what_was_there(database_url):
    """A database of 0015 with runs and their rollups (every run row summed, as before):
    0016 leaves those rows as they were and adds the communication runs and their target
    groups exactly as the code would have written them; its downgrade takes them out."""
    url = database_url
    await asyncio.to_thread(command.upgrade, alembic_config(url), "0015")
    at = dt.datetime(2026, 10, 5, 3, tzinfo=dt.UTC)
    runs = [run(at, kind="menu", topic=None), run(at, topic="helping_family"),
            run(at, topic="at_sea", language="rad", who="p2", medium="web"),
            run(at, kind="check", topic="check", who="p2", medium="web", language="rad"),
            run(at, kind="verdict", topic="check.affected", commune="24175"),
            run(at, form="broadcast", kind="message", topic=None, who=None, reached=700,
                language="jra", unit="Xã Hòa Phú"),
            run(at.replace(month=11), kind="unmatched", topic=None, who="p3")]
    for r in runs:
        r["served_language"] = r["language"] if r["kind"] in ("answer", "verdict") else None
    db = Database(make_engine(url))
    try:
        async with db.begin() as conn:
            await officers.sync_units(conn, PROVINCE_NAME)
            await add_runs(conn, runs)       # what Loa wrote before 0016: only the old dims
            await conn.execute(ROLLUP.delete().where(ROLLUP.c.dim.in_(NEW_DIMS)))
            await conn.execute(text(
                "INSERT INTO outreach_entry (unit_id, month, day, form, medium, runs, communes, "
                "languages, source, created_at, updated_at) SELECT id, '2026-10', '2026-10-03', "
                "'meeting', 'Họp thôn', 2, '', 'vi', 'form', '2026-10-03', '2026-10-03' "
                "FROM unit WHERE code = 'tinh'"))
        before = await _snapshot(db)
        await upgrade_database_async(url)
        after = await _snapshot(db)
        assert [r for r in after if r[1] not in NEW_DIMS] == before   # untouched
        async with db.begin() as conn:
            await rebuild_rollups(conn)
        assert await _snapshot(db) == after          # the same as a recount by the code
        async with db.connect() as conn:
            october = await monthly_counts(conn, "2026-10")
            groups = (await conn.execute(text("SELECT target_groups FROM outreach_entry"))
                      ).scalars().all()
        assert october.total == 4 and october.interactions == 5
        assert october.by_group == {"general": 1, "elderly": 1, "seafarers": 1,
                                    "minorities": 2}
        assert groups == [""]                        # an old entry: groups not recorded
        await asyncio.to_thread(command.downgrade, alembic_config(url), "0015")
        assert await _snapshot(db) == before
        await upgrade_database_async(url)
        assert await _snapshot(db) == after
    finally:
        await db.dispose()
