"""A reviewer in a real Chromium: finds the drafts of their language, sees the preview bannered
"bản dịch thử – chưa duyệt", approves a topic text with the button; a citizen in another
browser gets the Vietnamese before and the approved text right after.

Uses Debian's chromium at /usr/bin/chromium (`make test` installs it)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from playwright.async_api import Page, expect
from support.env import start_server
from support.officers import make_officer
from support.translations import copy_tree, make_ready, write_topic

from bot.app import build_app
from bot.features.officers import service as officers
from bot.features.translations.rules import Provenance, Status
from bot.store.db import Database, make_engine

# What a browser shows and does is the subject here, not the database: these run on SQLite
# only (the pages' database work runs on both in tests/integration).
pytestmark = pytest.mark.sqlite_only

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
STATION = ("dai-test", "Đài PT-TH tỉnh (test data)")

expect.set_options(timeout=15_000)


async def citizen_answer(page: Page, url: str) -> str:
    """A new citizen opens the language list from the Vietnamese menu, picks Êđê when it is
    offered, then menu item 2 (the dates); returns the picker's and the answer's text."""
    await page.goto(url + "/")
    await page.get_by_role("button", name="🌐 Ngôn ngữ").click()
    await expect(page.locator(".msg.bot")).to_have_count(2)
    picker = await page.locator(".msg.bot").last.locator(".text").inner_text()
    offered = page.locator(".msg.bot").last.get_by_role("button", name="Êđê")
    if await offered.count():
        await offered.click()
    else:
        await page.locator(".msg.bot").last.get_by_role("button", name="Tiếng Việt").click()
    await expect(page.locator(".msg.bot")).to_have_count(3)
    await page.locator(".msg.bot").last.get_by_role("button").nth(1).click()
    await expect(page.locator(".msg.bot")).to_have_count(4)
    answer = await page.locator(".msg.bot").last.locator(".text").inner_text()
    return f"{picker}\n{answer}"


async def test_reviewer_previews_the_bannered_draft_and_approves_it(settings, tmp_path: Path,
                                                                   browser):
    content, locales = copy_tree(tmp_path)
    make_ready(content, skip=("timeline",))   # Ê Đê is offered once "timeline" is approved too
    fields = write_topic(content, "rad", "timeline",
                         Provenance(Status.DRAFT, "human", "Test translator (test data)"))
    s = replace(settings, content_dir=content, locales_dir=locales, languages=("vi", "rad"))
    db = Database(make_engine(s.database_url))
    try:
        async with db.begin() as conn:
            await officers.sync_units(conn, s.unit)
            await officers.add_unit(conn, *STATION)
    finally:
        await db.dispose()
    _, token = await make_officer(s, STATION[0], "reviewer", "Test Reviewer (test data)", "rad")
    runner, url = await start_server(build_app(s))
    try:
        citizen = await (await browser.new_context(locale="vi-VN")).new_page()
        before = await citizen_answer(citizen, url)
        assert fields["body"] not in before and "Tiếng Ê Đê: đang dịch" in before

        reviewer = await (await browser.new_context(locale="vi-VN")).new_page()
        await reviewer.goto(f"{url}/admin/login?token={token}")
        await reviewer.get_by_role("link", name="Bản dịch").click()
        await reviewer.get_by_role("link", name="Tiếng Ê Đê").click()
        await reviewer.get_by_role("link", name="Xem trước bản dịch thử").click()
        banner = reviewer.get_by_role("note")
        await expect(banner).to_have_text("Bản dịch thử – chưa duyệt")
        await reviewer.get_by_role("link", name=fields["menu_label"]).first.click()
        await expect(banner).to_be_visible()
        await expect(reviewer.locator(".chat")).to_contain_text(fields["body"])
        await reviewer.get_by_role("button", name="Duyệt nội dung này").click()
        await expect(reviewer.get_by_role("status")).to_contain_text("Đã duyệt")
        await expect(reviewer.locator("#text-state")).to_have_text("đã duyệt")
        await expect(reviewer.get_by_role("button", name="Duyệt nội dung này")).to_have_count(0)

        other = await (await browser.new_context(locale="vi-VN")).new_page()
        after = await citizen_answer(other, url)
        assert fields["body"] in after and "chưa có bản" not in after and "đang dịch" not in after
    finally:
        await runner.cleanup()
