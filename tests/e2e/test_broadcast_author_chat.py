"""A commune's announcement through Telegram (issue 17): the author is told in their chat when it
is sent back (with the approver's reason), approved and finished; citizens read who sent it and
how to stop it, in their language where that line is approved; typing DỪNG stops them."""
from __future__ import annotations

import re
from dataclasses import replace

import aiohttp
import pytest
from support.broadcasts import seed_contacts
from support.env import free_port, sql_connect, sql_write, start_server
from support.fakebotapi import FakeBotApi, text_update
from support.outreach_chat import buttons, register

from bot.app import build_app
from bot.features.translations.service import StringCatalog
from bot.web.keys import RUNTIME

STOP_LINE_RAD = "RAD-TEST Gõ DỪNG"          # an approved Ê Đê translation of the stop line


class Browser:
    """The author's admin page, logged in with the link /quantri sent to the chat."""

    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http, self.url, self.csrf = http, url, ""

    async def login(self, link: str) -> None:
        page = await (await self.http.get(link)).text()
        self.csrf = re.search(r'name="csrf" value="([^"]+)"', page)[1]

    async def post(self, path: str, data: dict) -> str:
        response = await self.http.post(f"{self.url}{path}", data={"csrf": self.csrf, **data})
        assert response.status == 200, response.status
        return await response.text()


async def test_the_author_hears_in_the_chat_and_citizens_read_who_sent_it(settings):
    async with FakeBotApi(token="559:AUTHOR") as api:
        port = free_port()
        s = replace(settings, telegram_token=api.token, telegram_api_url=api.base_url,
                    port=port, public_url=f"http://127.0.0.1:{port}", quiet_hours="",
                    telegram_webhook_secret="a" * 20, languages=("vi", "rad"))
        app = build_app(s)
        runner, url = await start_server(app, port)
        app[RUNTIME].translator.set_catalog("rad", StringCatalog({
            "Type DỪNG to stop receiving these.": STOP_LINE_RAD}))
        citizens = await seed_contacts(s, 3, 700_000, commune="24175")
        await sql_write(s, "update contact set lang = 'rad' where address = ?",
                        str(citizens[2]))
        try:
            author = await register(api, s, 31, "xa-24175", "editor")
            approver = await register(api, s, 32, "xa-24175", "approver")
            (link,) = await author.send("/quantri")
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
                page = Browser(http, url)
                await page.login(re.search(r"http://\S+", link["text"])[0])
                shown = await page.post("/admin/broadcasts", {"kind": "message",
                                                              "text": "Đổi máy 4G ngày 30/11."})
                broadcast_id = int(re.search(r"Thông báo số (\d+)", shown)[1])
                shown = await page.post(f"/admin/broadcasts/{broadcast_id}/submit", {})
                assert "đã báo cho 1 người duyệt" in shown
                (ask,) = await approver.next(1)
                assert "Thông báo của UBND xã Hòa Phú:" in ask["text"]
                assert ask["text"].endswith("Gõ DỪNG để không nhận nữa.")
                (how,) = await approver.press(f"bc:reject:{broadcast_id}")   # needs a reason
                assert f"/tralai {broadcast_id}" in how["text"]
                (done,) = await approver.send(f"/tralai {broadcast_id} Sai ngày, là 29/11")
                assert "Người soạn đã được báo lý do" in done["text"]
                (back,) = await author.next(1)
                assert f"Thông báo số {broadcast_id} của bạn bị" in back["text"]
                assert "Lý do: Sai ngày, là 29/11" in back["text"]

                await page.post(f"/admin/broadcasts/{broadcast_id}/edit",
                                {"kind": "message", "text": "Đổi máy 4G ngày 29/11."})
                await page.post(f"/admin/broadcasts/{broadcast_id}/submit", {})
                (ask,) = await approver.next(1)
                assert ("approve", f"bc:approve:{broadcast_id}") in [
                    (d.split(":")[1], d) for _, d in buttons(ask)]
                await approver.press(f"bc:approve:{broadcast_id}")
            # approved (a notice and the progress message), then finished
            told = await author.next(3)
            texts = [m["text"] for m in told]
            assert any(f"Thông báo số {broadcast_id} của bạn đã được" in t and "duyệt" in t
                       for t in texts), texts
            assert any(f"Thông báo số {broadcast_id} của bạn đã gửi xong" in t
                       and "đã gửi 3 người" in t for t in texts), texts
        finally:
            received = {c.params["chat_id"]: c.params["text"] for c in api.calls
                        if c.method == "sendMessage" and c.params.get("chat_id") in citizens}
            await runner.cleanup()
    vi = "Thông báo của UBND xã Hòa Phú:\nĐổi máy 4G ngày 29/11.\n\nGõ DỪNG để không nhận nữa."
    assert received[citizens[0]] == received[citizens[1]] == vi
    assert received[citizens[2]] == ("Thông báo của UBND xã Hòa Phú:\nĐổi máy 4G ngày 29/11."
                                     f"\n\n{STOP_LINE_RAD}")


@pytest.mark.sqlite_only   # the conversation's business: the database adds nothing
async def test_typing_dung_as_the_announcement_says_stops_them(telegram):
    api, s = telegram          # a running Loa on the fake Bot API (tests/conftest.py)
    chat = 800_001
    for n, typed in enumerate(("nhan thong bao", "hoa phu"), 1):
        api.push_update(text_update(chat, typed))
        await api.wait_for_calls("sendMessage", n, chat_id=chat)
    with sql_connect(s) as db:
        assert db.execute("select subscribed, commune_code from contact").fetchone() \
            == (1, "24175")
    api.push_update(text_update(chat, "DỪNG"))     # as the announcement's last line says
    stopped = (await api.wait_for_calls("sendMessage", 3, chat_id=chat))[2]
    assert "Bạn sẽ không nhận thông báo nữa" in stopped.params["text"]
    with sql_connect(s) as db:
        assert db.execute("select subscribed from contact").fetchone() == (0,)
