"""The announcement pages on a 360 px phone (issue 17): nothing scrolls sideways, and the
confirmation button takes one click only."""
from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import expect
from support.browser import open_as

# What a browser shows and does is the subject here, not the database: these run on SQLite
# only (the pages' database work runs on both in tests/integration).
pytestmark = pytest.mark.sqlite_only

PHONE = {"viewport": {"width": 360, "height": 740}, "is_mobile": True, "has_touch": True}
WIDTH = "document.documentElement.scrollWidth"
LONG = ("Đổi máy 4G miễn phí tại UBND xã: xem https://dichvucong.gov.vn/p/home/"
        "dvc-trang-chu.html?ma-thu-tuc=doi-may-4g-mien-phi-cho-nguoi-cao-tuoi " * 3)


@pytest.mark.sqlite_only      # the layout's business, not the database's
async def test_announcement_pages_fit_a_phone_and_confirm_takes_one_click(browser, live_server,
                                                                          settings):
    page = await open_as(browser, live_server, settings, "xa-24175", "editor", **PHONE)
    await page.goto(f"{live_server}/admin/broadcasts")
    assert await page.evaluate(WIDTH) <= 360
    await page.get_by_label("Nội dung (tiếng Việt)").fill(LONG)
    await page.get_by_role("button", name="Lưu và xem trước").click()
    await expect(page.locator("#audience-total")).to_have_text("0")
    assert await page.evaluate(WIDTH) <= 360
    await page.get_by_role("button", name="Xóa…").click()
    await expect(page.locator("#what-happens")).to_contain_text("bị xóa hẳn")
    assert await page.evaluate(WIDTH) <= 360

    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)

    async def slowly(route):   # the answer takes a while: time for a second click
        await asyncio.sleep(0.5)
        await route.continue_()
    await page.route("**/delete", slowly)
    confirm = page.get_by_role("button", name="Đồng ý, xóa thông báo này")
    await confirm.scroll_into_view_if_needed()
    box = await confirm.bounding_box()
    for _ in range(2):          # an impatient second tap, while the first is on its way
        await page.mouse.click(box["x"] + 5, box["y"] + 5)
        await asyncio.sleep(0.15)
    await expect(page.get_by_role("status")).to_contain_text("Đã xóa thông báo số 1.")
    assert await page.evaluate(WIDTH) <= 360
    assert [u for u in posts if u.endswith("/delete")] == [f"{live_server}/admin/broadcasts/1/"
                                                           "delete"]   # one, not two
    assert page.errors == []    # type: ignore[attr-defined]
