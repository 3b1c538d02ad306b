"""Shared by several test modules (moved from tests/e2e/test_report_browser.py)."""
from __future__ import annotations

from playwright.async_api import Browser, Page, expect

from support.officers import make_officer


async def open_as(browser: Browser, live_server: str, settings, unit: str,  # type: ignore[no-untyped-def]
                  role: str, **options: object) -> Page:
    _, token = await make_officer(settings, unit, role, name="Cán bộ " + role)
    context = await browser.new_context(locale="vi-VN", **options)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors  # type: ignore[attr-defined]
    await page.goto(f"{live_server}/admin/login?token={token}")
    await expect(page).to_have_url(f"{live_server}/admin")
    return page


