"""The "Bản dịch" overview as officers read it (issue 17): a language is "open" exactly when
the citizens' language picker offers it (its core topics approved and the language switched
on); otherwise it says what it waits for. Only the province's administrators are told a
language is off on the server, and nobody sees a setting's name. The month's table counts
communication runs (answers and verdicts, as the monthly report does) apart from the
chatbot's interactions."""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from support.officers import login_as
from support.outreach import run
from support.translations import copy_tree, make_ready, settings_for

from bot.app import build_app
from bot.core.conversation import CORE_TOPICS
from bot.core.messages import RunKind
from bot.delivery.runs import add_runs
from bot.settings import Settings
from bot.store.db import Database, make_engine
from bot.web.keys import RUNTIME


@pytest.fixture
def s(settings: Settings, tmp_path: Path) -> Settings:
    """Ê Đê with every core topic approved but "timeline" (Lịch tắt sóng 2G); J'rai with none;
    both switched on. Bahnar has files but is not switched on."""
    content, locales = copy_tree(tmp_path)
    make_ready(content, "rad", skip=("timeline",))
    make_ready(content, "bdq")
    return settings_for(settings, content, locales, languages=("vi", "rad", "jra"))


def cell(html: str, name: str) -> str:
    """The "offered to citizens" cell of a language's row, as text."""
    row = re.search(rf'<tr>\s*<th scope="row"><a href="/admin/translations/{name}">.*?</tr>',
                    html, re.S)
    assert row, name
    found = re.search(r'<td data-open="[^"]*">(.*?)</td>', row[0], re.S)
    assert found
    return found[1].strip()


async def page(s: Settings, unit: str, role: str) -> tuple[str, TestClient]:
    client = TestClient(TestServer(build_app(s)))
    await client.start_server()
    await login_as(client, s, unit, role)
    return await (await client.get("/admin/translations")).text(), client


@pytest.mark.parametrize(("unit", "role"), [("xa-24175", "editor"), ("tinh", "admin")])
async def test_open_means_what_the_picker_offers(s, unit, role):
    html, client = await page(s, unit, role)
    try:
        conversation = client.server.app[RUNTIME].conversation
        assert conversation.ready == ("vi",)              # what citizens get: nothing yet
        rad = cell(html, "rad")
        assert rad == "Chưa mở: còn chờ duyệt phần cốt lõi (Lịch tắt sóng 2G)"
        assert cell(html, "jra") == f"Chưa mở: còn chờ duyệt cả {len(CORE_TOPICS)} chủ đề cốt lõi"
        assert "Lịch tắt sóng 2G" in re.search(r'<p id="core">(.*?)</p>', html)[1]
        bdq = cell(html, "bdq")          # every core topic approved, but not switched on
        if unit == "tinh":
            assert bdq == "Chưa mở: chưa bật trên máy chủ"
            assert "chưa bật trên máy chủ" in cell(html, "cmo")
        else:
            assert bdq == "Chưa mở"
            assert "máy chủ" not in html
        for raw in ("BOT_LANGUAGES", "Đang mở cho người dân</th>\n", ">có<"):
            assert raw not in html, raw
    finally:
        await client.close()


async def test_a_language_is_open_once_its_core_topics_are_approved(s, tmp_path):
    make_ready(s.content_dir, "rad")      # "timeline" too
    html, client = await page(s, "xa-24175", "editor")
    try:
        assert client.server.app[RUNTIME].conversation.ready == ("vi", "rad")
        assert cell(html, "rad") == "Có: người dân chọn được"
        assert cell(html, "jra").startswith("Chưa mở")
    finally:
        await client.close()


async def test_the_month_counts_runs_apart_from_interactions(s):
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    db = Database(make_engine(s.database_url))
    try:
        async with db.begin() as conn:   # menu, unclear, 2 answers, check step, verdict
            await add_runs(conn, [run(now, kind=kind.value, topic=topic, unit=s.unit)
                                  for kind, topic in ((RunKind.MENU, None),
                                                      (RunKind.UNMATCHED, None),
                                                      (RunKind.ANSWER, "timeline"),
                                                      (RunKind.ANSWER, "switch"),
                                                      (RunKind.CHECK, None),
                                                      (RunKind.VERDICT, None))])
    finally:
        await db.dispose()
    html, client = await page(s, "xa-24175", "editor")
    await client.close()
    table = re.search(r'<table id="served">(.*?)</table>', html, re.S)
    assert table
    heads = re.findall(r"<th[^>]*>(.*?)</th>", table[1])
    assert heads[2:] == ["Lượt truyền thông (câu trả lời của Loa)",
                         "Lượt tương tác với chatbot (mọi lượt trò chuyện, kể cả câu trả lời)"]
    rows = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td class=\"n\">(\d+)</td>"
                      r"<td class=\"n\">(\d+)</td></tr>", table[1])
    assert rows == [("Tiếng Việt", "Tiếng Việt", "3", "6")]

