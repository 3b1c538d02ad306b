"""The officer's pages on a phone (issue 17): at 360 px nothing scrolls sideways, for a
commune officer and for the province (whose report has the widest tables), and no table
cell breaks a number or a word letter by letter ("S T T", "12 / 0", "Xó / a"): a wide table
scrolls sideways inside its own box instead."""
from __future__ import annotations

import datetime as dt
import os

import pytest
from support.browser import open_as
from support.officers import make_officer
from support.outreach import run

from bot.delivery.runs import add_runs
from bot.features.officers import service as officers
from bot.features.outreach import service as outreach
from bot.features.outreach.reports import forms
from bot.store.db import Database, make_engine

WIDTH = 360
PAGES = ("/admin", "/admin/reports", "/admin/outreach/new", "/admin/leaflets",
         "/admin/broadcasts", "/admin/questions", "/admin/content", "/admin/translations",
         "/admin/translations/rad")
COMMUNE = "xa-24175"

# Every word (and number) of every table cell that the browser laid out on more than one
# line: a word split by the line breaker shows as client rects on different lines. A
# hyphenated word may break after its hyphen ("pa-" / "nô"), as print does.
BROKEN_WORDS = """() => {
  const broken = [];
  for (const cell of document.querySelectorAll("main td, main th")) {
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const m of node.data.matchAll(/[^\\s-]+-?/g)) {
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const tops = new Set([...range.getClientRects()].filter(r => r.width > 0)
                                                          .map(r => Math.round(r.top)));
        if (tops.size > 1) broken.push(m[0] + " in «" + cell.textContent.trim().slice(0, 60) + "»");
      }
    }
  }
  return broken;
}"""


async def seed(settings, month_day: dt.date) -> None:   # type: ignore[no-untyped-def]
    """What makes the tables wide: the commune's offline entries of this month with a
    three-digit count and people not known, a second officer (a "Xóa" link on the overview),
    and chatbot runs on several topics and channels."""
    editor, _ = await make_officer(settings, COMMUNE, "editor", "Chị H'Hen Niê")
    db = Database(make_engine(settings.database_url))
    try:
        async with db.begin() as conn:
            unit = await officers.unit_by_code(conn, COMMUNE)
            actor = outreach.Actor(editor, unit.id, "editor")
            for form, runs, reached in (("meeting", 120, None), ("loudspeaker", 1234, 56789),
                                        ("leaflet", 7, 450)):
                await outreach.create_entry(conn, actor, outreach.EntryInput(
                    month_day, form, "Hệ thống loa truyền thanh không dây của xã", runs,
                    reached, ("24175",), ("vi", "rad"), "Phát sáng và chiều tại các buôn",
                    groups=("elderly", "minorities")), lambda msgid, **kw: msgid)
            now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
            await add_runs(conn, [run(now, unit=settings.unit, medium=medium, topic=topic,
                                      who=f"p{i}", commune="24175")
                                  for i, (medium, topic) in enumerate(
                                      [("telegram", "timeline"), ("web", "affected"),
                                       ("zalo_bot", "after_shutdown.phone_stopped")] * 40)])
    finally:
        await db.dispose()


@pytest.mark.sqlite_only      # the layout's business, not the database's
@pytest.mark.parametrize("unit", [COMMUNE, "tinh"])
async def test_every_officer_page_fits_a_360_px_phone(browser, live_server, settings, unit):
    today = outreach.today_vn()
    await seed(settings, today)
    month = forms.month_of(today)
    page = await open_as(browser, live_server, settings, unit, "admin",
                         viewport={"width": WIDTH, "height": 740}, is_mobile=True,
                         has_touch=True)
    for path in (*PAGES, f"/admin/reports?month={month}"):
        response = await page.goto(live_server + path)
        assert response is not None and response.status == 200, path
        # Not window.innerWidth: on a phone the layout viewport grows to a page too wide.
        scroll = await page.evaluate("document.documentElement.scrollWidth")
        assert scroll <= WIDTH, f"{path}: {scroll} px wide on a {WIDTH} px screen"
        assert await page.evaluate(BROKEN_WORDS) == [], path
    assert not page.errors   # type: ignore[attr-defined]


@pytest.mark.sqlite_only
async def test_the_report_table_scrolls_in_its_own_box_and_keeps_its_numbers_whole(
        browser, live_server, settings):
    today = outreach.today_vn()
    await seed(settings, today)
    page = await open_as(browser, live_server, settings, COMMUNE, "editor",
                         viewport={"width": WIDTH, "height": 740}, is_mobile=True,
                         has_touch=True)
    await page.goto(f"{live_server}/admin/reports?month={forms.month_of(today)}")
    table = page.locator("#official")
    assert "1.234" in await table.inner_text() and "không rõ" in await table.inner_text()
    if os.environ.get("LOA_SCREENSHOTS"):
        await page.screenshot(path=os.environ["LOA_SCREENSHOTS"] + "/report-phone.png",
                              full_page=True)
    # Each number (and "không rõ") stays on one line: "120", never "12 / 0".
    lines = await table.locator("td.n").evaluate_all(
        "cells => cells.map(c => { const r = document.createRange(); r.selectNodeContents(c); "
        "return [c.textContent, "
        "        new Set([...r.getClientRects()].map(x => Math.round(x.top))).size]; })")
    assert lines and all(n == 1 for _, n in lines), lines
