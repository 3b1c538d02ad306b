"""The announcements admin page in a real Chromium: an editor writes and submits, a second
officer approves in another browser, and the progress shows the delivery."""
from __future__ import annotations

from dataclasses import replace

import pytest
from playwright.async_api import expect
from support.broadcasts import seed_contacts
from support.env import free_port, sql_connect, start_server
from support.fakebotapi import FakeBotApi
from support.officers import make_officer

from bot.app import build_app

# What a browser shows and does is the subject here, not the database: these run on SQLite
# only (the pages' database work runs on both in tests/integration).
pytestmark = pytest.mark.sqlite_only

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


async def test_compose_preview_submit_approve_and_watch_progress(settings, browser):
    async with FakeBotApi(token="558:BROWSER") as api:
        port = free_port()
        s = replace(settings, telegram_token=api.token, telegram_api_url=api.base_url,
                    port=port, public_url=f"http://127.0.0.1:{port}", quiet_hours="",
                    telegram_webhook_secret="b" * 20)
        await seed_contacts(settings, 12, commune="24175")
        await seed_contacts(settings, 5, 900_000, commune="24133")
        _, editor_token = await make_officer(settings, "xa-24175", "editor", "Chị Biên")
        _, approver_token = await make_officer(settings, "xa-24175", "approver", "Anh Duyệt")
        runner, url = await start_server(build_app(s), port)
        try:
            editor = await (await browser.new_context()).new_page()
            await editor.goto(f"{url}/admin/login?token={editor_token}")
            await editor.get_by_role("link", name="Thông báo").click()
            await editor.get_by_label("Nội dung (tiếng Việt)").fill(
                "Chủ nhật này Viettel đổi máy 4G tại nhà văn hóa thôn.")
            # a commune officer is told what they reach, not offered the whole province
            await expect(editor.locator("#reach")).to_contain_text("Xã Hòa Phú")
            assert await editor.get_by_text("toàn tỉnh").count() == 0
            await editor.get_by_role("button", name="Lưu và xem trước").click()
            await expect(editor.locator("#audience-total")).to_have_text("12")
            await expect(editor.get_by_text("nhà văn hóa thôn").first).to_be_visible()
            await editor.get_by_role("button", name="Gửi duyệt").click()
            await expect(editor.get_by_text("Cần một cán bộ thứ hai")).to_be_visible()
            assert await editor.get_by_role("button", name="Duyệt và gửi").count() == 0

            approver = await (await browser.new_context()).new_page()
            await approver.goto(f"{url}/admin/login?token={approver_token}")
            assert editor.url.startswith(f"{url}/admin/broadcasts/1?")
            await approver.goto(f"{url}/admin/broadcasts/1")
            await approver.get_by_role("button", name="Duyệt và gửi").click()
            await expect(approver.get_by_role("status")).to_contain_text("Đã duyệt")
            await approver.reload()
            await expect(approver.locator("#status")).to_have_text("đã gửi xong",
                                                                   timeout=20_000)
            await expect(approver.locator("td[data-status=sent]")).to_have_text("12")
        finally:
            await runner.cleanup()
    with sql_connect(settings) as db:
        assert db.execute("select count(*) from outbox where broadcast_id = 1 and "
                          "status = 'sent'").fetchone() == (12,)
