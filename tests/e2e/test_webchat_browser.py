"""The web chat page (bot/channels/web/static) in a real browser against the real Loa app.

What a citizen would notice: the greeting and menu appear, buttons and typed questions get
answers, the keyboard alone is enough, the page fits a small phone, a reload keeps the
conversation, network trouble is retried with the same message id, server errors are shown
without losing the typed text, and the portal's one-line embed opens the chat.

Uses Debian's chromium at /usr/bin/chromium (`make test` installs it); Playwright cannot
download browsers here. `live_server` (tests/conftest.py) runs the app on 127.0.0.1.
Set LOA_SCREENSHOTS=1 to save a phone-size screenshot in tests/artifacts/.
"""
from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import web
from playwright.async_api import Browser, Locator, Page, Route, expect

# What a browser shows and does is the subject here, not the database: these run on SQLite
# only (the pages' database work runs on both in tests/integration).
pytestmark = pytest.mark.sqlite_only

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TITLE = "Loa – Hỏi đáp về tắt sóng 2G"
PLACEHOLDER = "Gõ câu hỏi hoặc số…"
MENU_LABEL = "Lịch tắt sóng 2G"
UPDATED = "Cập nhật ngày"
OFFLINE = "Không kết nối được. Đang thử lại…"
LAUNCHER = "Hỏi Loa về tắt sóng 2G"
SESSION_RE = re.compile(r"^[A-Za-z0-9_-]{22,64}$")
MESSAGE_ID_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"

expect.set_options(timeout=15_000)




class Chat:
    """One browser tab on the chat page, with the page errors it raised."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    @property
    def bots(self) -> Locator:
        return self.page.locator(".msg.bot")

    @property
    def newest(self) -> Locator:
        return self.bots.last

    @property
    def input(self) -> Locator:
        return self.page.get_by_placeholder(PLACEHOLDER)

    @property
    def send_button(self) -> Locator:
        return self.page.get_by_role("button", name="Gửi", exact=True)

    async def open(self, base: str) -> None:
        await self.page.goto(base + "/")
        await expect(self.bots.first).to_be_visible()
        await expect(self.bots.first.locator("button").first).to_be_visible()

    async def wait_for_bots(self, count: int) -> None:
        await expect(self.bots).to_have_count(count)

    async def focused(self) -> dict[str, object]:
        return await self.page.evaluate("""() => {
            const el = document.activeElement;
            const bots = document.querySelectorAll('.msg.bot');
            const newest = bots[bots.length - 1];
            return {tag: el.tagName, id: el.id, text: (el.textContent || '').trim(),
                    placeholder: el.getAttribute('placeholder'),
                    inNewest: !!(newest && newest.contains(el)),
                    outline: getComputedStyle(el).outlineStyle,
                    outlineWidth: parseFloat(getComputedStyle(el).outlineWidth),
                    shadow: getComputedStyle(el).boxShadow};
        }""")

    def assert_no_errors(self) -> None:
        assert not self.errors, f"JavaScript errors on the page: {self.errors}"


async def new_chat(browser: Browser, **options: object) -> Chat:
    context = await browser.new_context(locale="vi-VN", **options)
    return Chat(await context.new_page())


async def menu_button(chat: Chat) -> Locator:
    """The greeting's "Lịch tắt sóng 2G" button, or its first button if the menu changed."""
    wanted = chat.bots.first.get_by_role("button", name=MENU_LABEL)
    if await wanted.count():
        return wanted.first
    return chat.bots.first.locator("button").first


async def test_greeting_menu_and_a_topic_answer(browser: Browser, live_server: str) -> None:
    chat = await new_chat(browser)
    await chat.open(live_server)
    page = chat.page
    assert await page.title() == TITLE
    assert await page.evaluate("document.documentElement.lang") == "vi"
    await chat.wait_for_bots(1)

    greeting = chat.bots.first
    assert (await greeting.locator(".text").inner_text()).strip(), "the greeting has no text"
    labels = [label.strip() for label in await greeting.locator("button").all_inner_texts()]
    numbered = [label for label in labels if re.match(r"^\d+\s*[.)]", label)]
    assert len(numbered) >= 2, f"the greeting shows no numbered menu: {labels}"
    # Line breaks of the plain-text answers are kept.
    assert await greeting.locator(".text").evaluate(
        "el => getComputedStyle(el).whiteSpace") == "pre-wrap"

    button = await menu_button(chat)
    label = (await button.inner_text()).strip()
    await button.click()
    await chat.wait_for_bots(2)
    await expect(chat.newest).to_contain_text(UPDATED)
    await expect(page.locator(".msg.user .text").last).to_have_text(label)

    # Only the newest answer's buttons are marked current.
    await expect(page.locator(".msg.bot.current")).to_have_count(1)
    assert await chat.newest.evaluate("el => el.classList.contains('current')")
    # The answer is passed to screen readers through a polite live region.
    await expect(page.locator("[aria-live=polite]").filter(has_text=UPDATED)).to_have_count(1)
    chat.assert_no_errors()


async def test_keyboard_only(browser: Browser, live_server: str) -> None:
    chat = await new_chat(browser)
    await chat.open(live_server)
    page = chat.page
    await page.locator("h1").click()  # start from the top of the page

    # Tab from the top of the page reaches the input box, passing only real controls.
    for _ in range(60):
        await page.keyboard.press("Tab")
        now = await chat.focused()
        assert now["tag"] in {"BUTTON", "TEXTAREA", "INPUT", "AUDIO"}, now
        if now["placeholder"] == PLACEHOLDER:
            break
    else:
        pytest.fail("Tab never reached the input box")

    await page.keyboard.type("khi nao tat song 2g")
    await page.keyboard.press("Enter")
    await chat.wait_for_bots(2)
    await expect(chat.newest).to_contain_text("2G")
    await expect(chat.newest).to_contain_text(UPDATED)
    await expect(chat.input).to_be_focused()
    await expect(chat.input).to_have_value("")

    # Tab goes on to the send button; Shift+Tab from the input reaches the newest answer's
    # buttons, which show a visible focus ring.
    await page.keyboard.press("Tab")
    await expect(chat.send_button).to_be_focused()
    await page.keyboard.press("Shift+Tab")
    await expect(chat.input).to_be_focused()
    await page.keyboard.press("Shift+Tab")
    now = await chat.focused()
    assert now["tag"] == "BUTTON" and now["inNewest"], now
    assert now["outline"] != "none" and now["outlineWidth"] >= 2, now

    await page.keyboard.press("Enter")
    await chat.wait_for_bots(3)
    await expect(page.locator(".msg.user .text").last).to_have_text(str(now["text"]))
    await expect(chat.input).to_be_focused()
    chat.assert_no_errors()


async def test_fits_a_small_phone(browser: Browser, live_server: str) -> None:
    chat = await new_chat(browser, viewport={"width": 360, "height": 740}, is_mobile=True,
                          has_touch=True)
    await chat.open(live_server)
    page = chat.page
    viewport = await page.evaluate(
        "document.querySelector('meta[name=viewport]').getAttribute('content')")
    assert "width=device-width" in viewport

    button = await menu_button(chat)
    await button.tap()
    await chat.wait_for_bots(2)
    await expect(chat.newest).to_contain_text(UPDATED)

    for width in (360, 320):
        await page.set_viewport_size({"width": width, "height": 740})
        scroll_width, inner_width = await page.evaluate(
            "[document.scrollingElement.scrollWidth, window.innerWidth]")
        assert scroll_width <= inner_width, f"horizontal scroll at {width}px: {scroll_width}"

    await page.set_viewport_size({"width": 360, "height": 740})
    input_size = await chat.input.evaluate("el => parseFloat(getComputedStyle(el).fontSize)")
    assert input_size >= 16, f"input font {input_size}px (phones zoom in below 16px)"
    text_size = await chat.newest.locator(".text").evaluate(
        "el => parseFloat(getComputedStyle(el).fontSize)")
    assert text_size >= 18, f"answer text is {text_size}px"

    targets = [chat.send_button, *await chat.newest.locator("button").all()]
    for target in targets:
        await target.scroll_into_view_if_needed()
        box = await target.bounding_box()
        assert box and box["height"] >= 44 and box["width"] >= 44, \
            f"tap target {await target.inner_text()!r} is {box}"

    # Hotlines are one tap to call and never break across lines, even at 320 px
    await chat.input.fill("số tổng đài các nhà mạng")
    await chat.send_button.tap()
    await chat.wait_for_bots(3)
    calls = chat.newest.locator("a.tel")
    await expect(calls.first).to_be_visible()
    hrefs = await calls.evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert "tel:18008098" in hrefs and "tel:18001091" in hrefs, hrefs
    await page.set_viewport_size({"width": 320, "height": 740})
    for link in await calls.all():
        rects = await link.evaluate("a => a.getClientRects().length")
        assert rects == 1, f"{await link.inner_text()!r} wraps over {rects} lines"
    await page.set_viewport_size({"width": 360, "height": 740})

    assert await chat.input.get_attribute("maxlength") == "2000"
    await chat.input.fill("a" * 1990)
    await expect(page.locator("#limit")).to_contain_text("10")

    if os.environ.get("LOA_SCREENSHOTS"):
        await chat.input.fill("")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "webchat-360.png"))
    chat.assert_no_errors()


async def test_reload_keeps_the_conversation(browser: Browser, live_server: str) -> None:
    chat = await new_chat(browser)
    await chat.open(live_server)
    page = chat.page
    await (await menu_button(chat)).click()
    await chat.wait_for_bots(2)
    await expect(chat.newest).to_contain_text(UPDATED)
    before = await page.locator(".msg").all_inner_texts()

    await page.reload()
    await chat.wait_for_bots(2)
    await page.wait_for_timeout(700)  # a wrong "start" request would have answered by now
    assert await page.locator(".msg").all_inner_texts() == before
    await expect(page.locator(".msg.bot.current")).to_have_count(1)

    # The restored buttons still work.
    await chat.newest.locator("button").first.click()
    await chat.wait_for_bots(3)
    chat.assert_no_errors()


async def test_network_failure_is_retried_with_the_same_id(browser: Browser,
                                                          live_server: str) -> None:
    chat = await new_chat(browser)
    page = chat.page
    sent: list[dict[str, str]] = []
    cut_off = {"text": True}

    async def flaky(route: Route) -> None:
        body = json.loads(route.request.post_data or "{}")
        sent.append(body)
        if "text" in body and cut_off["text"]:
            cut_off["text"] = False
            await route.abort("internetdisconnected")
            return
        if "text" in body:
            await asyncio.sleep(1.5)  # a slow line: time to look at the page while retrying
        await route.continue_()

    await page.route("**/api/chat", flaky)
    await chat.open(live_server)
    assert sent[0].get("command") == "start"

    await chat.input.fill("khi nao tat song 2g")
    await chat.input.press("Enter")
    offline = page.locator(".msg.system").filter(has_text=OFFLINE)
    await expect(offline).to_be_visible()
    await expect(chat.send_button).to_be_disabled()  # while retrying
    await expect(page.get_by_text("Loa đang trả lời…")).to_be_visible()
    await chat.input.press_sequentially("gõ tiếp")  # typing is still possible
    await expect(chat.input).to_have_value("gõ tiếp")

    await chat.wait_for_bots(2)
    await expect(chat.newest).to_contain_text(UPDATED)
    await expect(offline).to_have_count(0)
    await expect(chat.send_button).to_be_enabled()

    texts = [body for body in sent if "text" in body]
    assert len(texts) == 2 and texts[0]["id"] == texts[1]["id"], texts
    assert len({body["session"] for body in sent}) == 1
    for body in sent:
        assert SESSION_RE.match(body["session"]) and MESSAGE_ID_RE.match(body["id"]), body
    assert sent[0]["id"] != texts[0]["id"]
    chat.assert_no_errors()


async def test_gives_up_after_retries_and_lets_the_user_retry(browser: Browser,
                                                             live_server: str) -> None:
    chat = await new_chat(browser)
    page = chat.page
    ids: list[str] = []
    down = {"on": True}

    async def offline(route: Route) -> None:
        body = json.loads(route.request.post_data or "{}")
        if "text" in body:
            ids.append(body["id"])
            if down["on"]:
                await route.abort("internetdisconnected")
                return
        await route.continue_()

    await page.clock.install()
    await page.route("**/api/chat", offline)
    await chat.open(live_server)
    await chat.input.fill("khi nao tat song 2g")
    await chat.input.press("Enter")

    retry = page.get_by_role("button", name="Thử lại")
    for _ in range(20):
        if await retry.count():
            break
        await page.clock.run_for(5_000)
        await page.wait_for_timeout(150)
    await expect(retry).to_be_visible()
    # Nothing is lost: the text is back in the input box.
    await expect(chat.input).to_have_value("khi nao tat song 2g")

    down["on"] = False
    await retry.click()
    await chat.wait_for_bots(2)
    await expect(chat.newest).to_contain_text(UPDATED)
    await expect(chat.input).to_have_value("")
    assert len(ids) >= 3 and len(set(ids)) == 1, ids
    chat.assert_no_errors()


async def test_error_answer_is_shown_and_the_text_kept(browser: Browser,
                                                      live_server: str) -> None:
    chat = await new_chat(browser)
    page = chat.page
    error = "Bạn gửi nhanh quá (thông báo thử nghiệm)."

    async def too_many(route: Route) -> None:
        body = json.loads(route.request.post_data or "{}")
        if "text" in body:
            await route.fulfill(status=429, json={"error": error})
        else:
            await route.continue_()

    await page.route("**/api/chat", too_many)
    await chat.open(live_server)
    await chat.input.fill("khi nao tat song 2g")
    await chat.input.press("Enter")
    await expect(page.locator(".msg.system").filter(has_text=error)).to_be_visible()
    await expect(chat.input).to_have_value("khi nao tat song 2g")
    await expect(chat.send_button).to_be_enabled()
    await expect(chat.bots).to_have_count(1)

    await page.unroute("**/api/chat")
    await chat.send_button.click()
    await chat.wait_for_bots(2)
    await expect(chat.newest).to_contain_text(UPDATED)
    await expect(chat.input).to_have_value("")
    chat.assert_no_errors()


@pytest_asyncio.fixture(loop_scope="session")
async def portal(live_server: str) -> AsyncIterator[str]:
    """A stand-in for the provincial portal, on another origin, with the one-line embed."""
    html = ("<!doctype html><html lang='vi'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            "<title>Cổng thông tin điện tử tỉnh Đắk Lắk</title></head><body>"
            "<h1>Cổng thông tin điện tử tỉnh Đắk Lắk</h1><p>Tin tức.</p>"
            f"<script src=\"{live_server}/embed.js\" async></script></body></html>")

    async def page(_: web.Request) -> web.Response:
        return web.Response(text=html, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}/"
    finally:
        await runner.cleanup()


async def test_embed_snippet_opens_the_chat(browser: Browser, live_server: str,
                                            portal: str) -> None:
    chat = await new_chat(browser, viewport={"width": 1280, "height": 800})
    page = chat.page
    await page.goto(portal)
    launcher = page.get_by_role("button", name=LAUNCHER)
    await expect(launcher).to_be_visible()
    box = await launcher.bounding_box()
    assert box and box["x"] + box["width"] > 1280 - 80 and box["y"] + box["height"] > 800 - 80, \
        f"the launcher is not at the bottom right: {box}"
    assert box["height"] >= 44

    await launcher.click()
    frame_element = page.locator("iframe")
    await expect(frame_element).to_be_visible()
    assert await frame_element.get_attribute("src") == live_server + "/"
    frame = page.frame_locator("iframe")
    await expect(frame.locator(".msg.bot").first).to_be_visible()
    await expect(frame.locator(".msg.bot").first.locator("button").first).to_be_visible()

    # Escape inside the chat closes the panel and gives focus back to the launcher.
    await frame.get_by_placeholder(PLACEHOLDER).click()
    await page.keyboard.press("Escape")
    await expect(frame_element).to_be_hidden()
    await expect(launcher).to_be_focused()

    # Reopening keeps the conversation; the close button closes it too.
    await launcher.click()
    await expect(frame_element).to_be_visible()
    await expect(frame.locator(".msg.bot")).to_have_count(1)
    await page.get_by_role("button", name="Đóng cửa sổ hỏi đáp Loa").click()
    await expect(frame_element).to_be_hidden()
    chat.assert_no_errors()
