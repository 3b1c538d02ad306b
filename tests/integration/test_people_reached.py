"""People reached ("số người tiếp cận", issue 17): a chatbot contact counts only once Loa told
them something (a topic answered, the phone check's verdict), on Telegram and Zalo as on the
web chat. Read back as a report puller sees it (the report page of the month), and the
migration (0017) that brings the people of months not yet submitted to the rule while a
submitted month and the citizens who erased their data stay as they were."""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from dataclasses import replace

from aiohttp.test_utils import TestClient, TestServer
from alembic import command
from sqlalchemy import select, text
from support.env import sql_connect
from support.fakebotapi import callback_update, command_update, text_update
from support.officers import login_as
from support.outreach import PROVINCE_NAME, run
from support.waiting import wait_for

import bot.delivery.runs as runs_module
from bot.app import build_app
from bot.delivery.runs import REACH, ROLLUP, counts_people, forget_pseudonym, rebuild_rollups
from bot.features.officers import service as officers
from bot.features.outreach.reports.monthly import monthly_counts
from bot.store import queries
from bot.store.db import Database, alembic_config, make_engine, upgrade_database_async
from bot.web.keys import RUNTIME

VN = dt.timezone(dt.timedelta(hours=7))
SECRET = "people-reached-secret-1"
MENU_ONLY, ANSWERED = 810_001, 810_002     # two citizens' Telegram chats


def cells(html: str, table_id: str) -> list[list[str]]:
    table = re.search(rf'<table id="{table_id}".*?</table>', html, re.S)[0]
    return [[re.sub(r"<[^>]+>", "", c).strip()
             for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)]
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table, re.S)]


def test_a_chat_contact_is_a_person_only_once_answered_on_every_medium():
    for medium in ("telegram", "zalo", "web"):
        chat = {"form": "chatbot_qa", "medium": medium}
        assert [counts_people({**chat, "kind": k}) for k in (
            "answer", "verdict", "menu", "check", "unmatched", "smalltalk")] == [
            True, True, False, False, False, False], medium
    assert counts_people({"form": "broadcast", "medium": "telegram", "kind": "message"})


async def test_a_telegram_citizen_who_only_saw_the_menu_is_no_person_reached(settings):
    s = replace(settings, telegram_token="1:PEOPLE", telegram_api_url="http://127.0.0.1:9/bot",
                telegram_webhook_secret=SECRET,
                telegram_webhook_url="http://127.0.0.1:1/telegram/webhook")
    updates = [command_update(MENU_ONLY, "/start"),               # the menu
               callback_update(MENU_ONLY, "langs"),               # the language screen
               command_update(ANSWERED, "/start"),                # the menu, then an answer
               text_update(ANSWERED, "khi nao tat song 2g")]
    async with TestClient(TestServer(build_app(s))) as client:
        for n, update in enumerate(updates):
            response = await client.post("/telegram/webhook",
                                         data=json.dumps({"update_id": 61_000 + n, **update}),
                                         headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
            assert response.status == 200

        def handled() -> bool:
            with sql_connect(s) as db:
                return db.execute("select count(*) from inbox where status = 'new'"
                                  ).fetchone()[0] == 0
        await wait_for(handled, timeout=30)
        month = dt.datetime.now(VN).strftime("%Y-%m")
        async with client.server.app[RUNTIME].db.connect() as conn:
            kinds = (await conn.execute(select(queries.RUN.c.medium, queries.RUN.c.kind)
                                        .order_by(queries.RUN.c.id))).all()
            counts = await monthly_counts(conn, month)
        assert sorted(kinds) == [("telegram", "answer"), ("telegram", "menu"),
                                 ("telegram", "menu"), ("telegram", "menu")]
        assert counts.contacts == 1 and counts.total == 1 and counts.interactions == 4

        await login_as(client, s, "tinh", "viewer")
        page = await (await client.get(f"/admin/reports?month={month}")).text()
        (chatbot,) = [r for r in cells(page, "official") if r[1:2] == ["Hỏi đáp qua chatbot"]]
        assert chatbot[2:5] == ["1", "Telegram", "1"]     # 1 run, 1 person: the one answered
        assert chatbot[5].startswith("Số người: số người dân khác nhau được Loa trả lời")
        assert cells(page, "channels")[1] == ["Hỏi đáp qua chatbot – Telegram", "1", "1", "4"]
        rule = re.search(r'<section id="rule".*?</section>', page, re.S)[0]
        assert "người chỉ mở menu hoặc chọn ngôn ngữ không được tính" in rule


# The rule before issue 17's change: every chat contact counted, except a web chat session
# that got no answer (0013).
OLD_PEOPLE_SQL = "(medium <> 'web' OR form <> 'chatbot_qa' OR kind IN ('answer', 'verdict'))"


async def _rollups(db: Database, month: str) -> tuple[list[tuple], list[tuple]]:
    async with db.connect() as conn:
        rollup = sorted(tuple(r) for r in (await conn.execute(
            select(ROLLUP).where(ROLLUP.c.month == month))).all())
        reach = sorted(tuple(r) for r in (await conn.execute(
            select(REACH).where(REACH.c.month == month))).all())
    return rollup, reach


async def _people(db: Database, month: str, medium: str, form: str = "chatbot_qa") -> int:
    async with db.connect() as conn:
        return (await conn.execute(select(ROLLUP.c.people).where(
            ROLLUP.c.month == month, ROLLUP.c.dim == "total", ROLLUP.c.form == form,
            ROLLUP.c.medium == medium))).scalar_one()


async def test_the_migration_recounts_months_not_submitted_only(database_url, monkeypatch):
    """A database of 0016 whose people were summed under the old rule: October, which the
    province unit submitted, keeps its numbers; November follows the new rule, and a citizen
    who erased their data stays counted without coming back into run_reach."""
    url = database_url
    await asyncio.to_thread(command.upgrade, alembic_config(url), "0016")
    oct_, nov = dt.datetime(2026, 10, 5, 3, tzinfo=dt.UTC), dt.datetime(2026, 11, 5, 3,
                                                                        tzinfo=dt.UTC)
    rows = []
    for at in (oct_, nov):
        rows += [run(at, kind="menu", topic=None, who="menu-only"),          # Telegram
                 run(at, kind="menu", topic=None, who="menu-only", language="rad"),
                 run(at, kind="menu", topic=None, who="answered"),
                 run(at, who="answered"),
                 run(at, kind="check", topic="check", who="zalo-check", medium="zalo"),
                 run(at, kind="verdict", topic="check.affected", who="zalo-verdict",
                     medium="zalo"),
                 run(at, kind="menu", topic=None, who="web-menu", medium="web"),
                 run(at, kind="menu", topic=None, who="erased", medium="zalo"),
                 run(at, form="broadcast", kind="message", topic=None, who=None, reached=700,
                     unit="Xã Hòa Phú")]
    db = Database(make_engine(url))
    try:
        async with db.begin() as conn:
            await officers.sync_units(conn, PROVINCE_NAME)
            await queries.insert_runs(conn, rows)
            monkeypatch.setattr(runs_module, "_PEOPLE_SQL", OLD_PEOPLE_SQL)
            await rebuild_rollups(conn)          # what Loa summed before: the old rule
            monkeypatch.undo()
            # "erased" asks to be forgotten (as bot/features/privacy/forget.py does it)
            await conn.execute(queries.RUN.update().where(
                queries.RUN.c.contact_pseudonym == "erased").values(contact_pseudonym=None))
            await forget_pseudonym(conn, "erased")
            await conn.execute(text(
                "INSERT INTO report_submission (unit_id, month, submitted_at, amendments) "
                "SELECT id, '2026-10', '2026-11-03', 0 FROM unit WHERE code = 'tinh'"))
        assert await _people(db, "2026-11", "telegram") == 2
        assert await _people(db, "2026-11", "zalo") == 3        # the erased one included
        october = await _rollups(db, "2026-10")

        await upgrade_database_async(url)

        assert await _rollups(db, "2026-10") == october           # submitted: as handed in
        assert await _people(db, "2026-11", "telegram") == 1      # only "answered"
        assert await _people(db, "2026-11", "zalo") == 2          # the verdict; the erased
        assert await _people(db, "2026-11", "web") == 0
        assert await _people(db, "2026-11", "telegram", "broadcast") == 700
        nov_rollup, nov_reach = await _rollups(db, "2026-11")
        assert [r[4] for r in nov_reach] == ["answered", "zalo-verdict"]   # nobody erased
        async with db.connect() as conn:
            counts = await monthly_counts(conn, "2026-11", today=dt.date(2026, 12, 2))
        assert counts.contacts == 2
        # The same as a recount under the new rule, but for the erased citizen: a recount
        # from `run` can no longer tell their turns apart (their pseudonym is blank there).
        async with db.begin() as conn:
            await rebuild_rollups(conn, ["2026-11"])
        recount = [(*r[:7], r[7] - 1) if r[1:5] == ("total", PROVINCE_NAME, "chatbot_qa",
                                                    "zalo") else r for r in nov_rollup]
        assert await _rollups(db, "2026-11") == (recount, nov_reach)
    finally:
        await db.dispose()
