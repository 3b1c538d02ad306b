"""An officer's overview (issue 17): their own unit, what waits for them, the report's status
and deadline, recent actions in plain Vietnamese and Vietnam time; no raw keys or codes."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from support.env import sql_write
from support.officers import login_as
from support.reportforms import csrf_of

from bot.features.outreach import service as outreach

COMMUNE = "xa-24175"


def on_day(monkeypatch: pytest.MonkeyPatch, day: dt.date) -> None:
    """Loa's idea of today (Vietnam time) for the pages: the overview and the report."""
    monkeypatch.setattr(outreach, "today_vn", lambda: day)


def shown(html: str) -> str:
    """What the officer reads: the page's text without its tags, spaces made single."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def waiting(html: str) -> list[str]:
    """The lines of "Việc chờ bạn", in order."""
    block = re.search(r'id="waiting">(.*?)</(?:ul|p)>', html, re.S)[1]
    return [shown(item) for item in re.findall(r"<li>(.*?)</li>", block, re.S)] or [shown(block)]


def report_status(html: str) -> str:
    return shown(re.search(r'<p id="report-status"[^>]*>(.*?)</p>', html, re.S)[1])


async def test_a_commune_officer_sees_their_own_unit_in_plain_words(client, settings,
                                                                    monkeypatch):
    on_day(monkeypatch, dt.date(2026, 12, 3))
    await login_as(client, settings, COMMUNE, "editor")
    html = await (await client.get("/admin")).text()
    assert "Việc chờ bạn" in html
    assert "chưa nộp: hạn nộp" in html                       # the report waits, with its date
    assert 'id="report-status"' in html and "hạn nộp" in html
    assert 'id="by-form"' in html and 'id="total"' in html
    assert "đã đăng ký làm cán bộ" in html                    # the audit in a sentence
    shown = re.sub(r"<[^>]+>", " ", html)                    # what the officer reads
    for raw in ("officer.register", "officer:", "UTC", "xa-24175", "Queues", "pending"):
        assert raw not in shown, raw
    assert 'id="health"' not in html                          # queue internals: province only


async def test_the_province_administrator_sees_sending_health_in_words(client, settings):
    await login_as(client, settings, "tinh", "admin")
    html = await (await client.get("/admin")).text()
    assert 'id="health"' in html and "Tin trả lời và thông báo đang chờ gửi" in html
    assert "outbox" not in html and "(UTC)" not in html


@pytest.mark.parametrize("unit", [COMMUNE, "tinh"])
async def test_the_report_due_is_last_months_first_in_waiting_until_submitted(
        client, settings, monkeypatch, unit):
    """From the 1st of December, November's report is the one to hand in (December's cannot
    be submitted yet): first in "Việc chờ bạn", with its deadline, until it is submitted."""
    on_day(monkeypatch, dt.date(2026, 12, 3))
    await login_as(client, settings, unit, "editor")
    html = await (await client.get("/admin")).text()
    assert waiting(html)[0] == "Báo cáo tháng 11/2026 chưa nộp: hạn nộp 15/12/2026."
    # The link opens the page where that report is submitted (the province's own unit's).
    link = re.search(r'<li><a href="([^"]+)">Báo cáo tháng 11/2026 chưa nộp', html)[1]
    assert link == "/admin/reports?month=2026-11" + ("&amp;unit=tinh" if unit == "tinh" else "")
    page = await (await client.get(link.replace("&amp;", "&"))).text()
    assert 'id="submit-form"' in page
    assert "Báo cáo tháng 11/2026" in shown(html)
    assert report_status(html) == "Chưa nộp · hạn nộp 15/12/2026 · Mở báo cáo"
    assert "12/2026 chưa nộp" not in shown(html) and "15/01/2027" not in html

    submit = await client.post("/admin/reports/submit", data={
        "csrf": await csrf_of(client, "/admin/reports?month=2026-11"), "month": "2026-11",
        "confirm": "yes"}, allow_redirects=False)
    assert submit.status == 303
    await sql_write(settings, "update report_submission set submitted_at = ?",
                    "2026-12-03 02:00:00")                    # 09:00 Vietnam time
    html = await (await client.get("/admin")).text()
    assert not any("Báo cáo tháng" in line for line in waiting(html))
    assert report_status(html) == "Đã nộp ngày 03/12/2026 · Mở báo cáo"


async def test_a_late_report_says_it_is_late_on_the_overview(client, settings, monkeypatch):
    on_day(monkeypatch, dt.date(2026, 12, 20))
    await login_as(client, settings, COMMUNE, "editor")
    html = await (await client.get("/admin")).text()
    assert waiting(html)[0] == ("Báo cáo tháng 11/2026 chưa nộp, đã quá hạn nộp 15/12/2026: "
                                "xin nộp ngay khi có thể.")
    assert report_status(html) == "Quá hạn, chưa nộp · hạn nộp 15/12/2026 · Mở báo cáo"

    assert (await client.post("/admin/reports/submit", data={
        "csrf": await csrf_of(client, "/admin/reports?month=2026-11"), "month": "2026-11",
        "confirm": "yes"}, allow_redirects=False)).status == 303
    await sql_write(settings, "update report_submission set submitted_at = ?",
                    "2026-12-20 03:00:00")
    html = await (await client.get("/admin")).text()
    assert not any("Báo cáo tháng" in line for line in waiting(html))
    assert report_status(html) == "Nộp muộn, ngày 20/12/2026 (hạn nộp 15/12/2026) · Mở báo cáo"


async def test_a_viewer_sees_the_status_but_is_given_no_task(client, settings, monkeypatch):
    on_day(monkeypatch, dt.date(2026, 12, 3))
    await login_as(client, settings, COMMUNE, "viewer")
    html = await (await client.get("/admin")).text()
    assert not any("Báo cáo tháng" in line for line in waiting(html))
    assert report_status(html) == "Chưa nộp · hạn nộp 15/12/2026 · Mở báo cáo"
