"""Who was reached (issue 17): target groups on the admin form and the /ghinhan dialog, in the
unit's report page and its XLSX and DOCX; "không rõ" for people nobody counted; the status
table of the units filtered by status and searched by name with a plain GET form."""
from __future__ import annotations

import datetime as dt
import io
import re

import docx
import openpyxl
import pytest
from support.officers import login_as
from support.outreach import entries_in, tr
from support.reportforms import csrf_of, form, months

from bot.core.messages import Inbound, InboundKind
from bot.features.outreach import service as outreach
from bot.features.outreach.chat import DialogContext, dialog_step, summary
from bot.web.keys import RUNTIME

pytestmark = pytest.mark.sqlite_only   # pages, forms and files: the database adds nothing here
GROUPS = ["Người cao tuổi", "Đồng bào dân tộc thiểu số", "Ngư dân và người đi biển",
          "Vùng sâu, vùng xa", "Xã biên giới", "Chung"]


def cells(html: str, table_id: str) -> list[list[str]]:
    table = re.search(rf'<table id="{table_id}".*?</table>', html, re.S)[0]
    return [[re.sub(r"<[^>]+>", "", c).strip()
             for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)]
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table, re.S)]


def checked_groups(html: str) -> list[str]:
    return re.findall(r'name="groups" value="(\w+)" checked', html)



async def test_the_form_records_who_was_reached_and_the_unit_report_shows_it(client, settings):
    last, _ = months()
    await login_as(client, settings, "xa-24175", "editor")
    csrf = await csrf_of(client)
    blank = await (await client.get("/admin/outreach/new")).text()
    labels = re.findall(r'name="groups" value="\w+"> ([^<]+)</label>', blank)
    assert labels == GROUPS and checked_groups(blank) == []
    # A wrong field elsewhere keeps the groups ticked; an unknown group is refused by name.
    refused = await client.post("/admin/outreach/new", data=form(
        csrf, runs="0", groups=["elderly", "border"]))
    assert refused.status == 400 and checked_groups(await refused.text()) == ["elderly", "border"]
    forged = await client.post("/admin/outreach/new", data=form(csrf, groups=["nobody"]))
    html = await forged.text()
    assert forged.status == 400 and "Không rõ đối tượng: nobody." in html
    assert await entries_in(client) == []
    for over in ({"groups": ["border", "elderly"]},                       # order of the list
                 {"form": "meeting", "medium": "Họp thôn", "runs": "2", "reached": "90",
                  "groups": ["general"]}):
        saved = await client.post("/admin/outreach/new", data=form(csrf, **over),
                                  allow_redirects=False)
        assert saved.status == 303
    loudspeaker, meeting = await entries_in(client)
    assert (loudspeaker.target_groups, meeting.target_groups) == ("elderly,border", "general")
    edit = await (await client.get(f"/admin/outreach/{loudspeaker.id}")).text()
    assert checked_groups(edit) == ["elderly", "border"]

    page = await (await client.get(f"/admin/reports?month={last}")).text()
    assert cells(page, "groups") == [["STT", "Đơn vị", *GROUPS],
                                     ["", "Xã Hòa Phú", "4", "0", "0", "0", "4", "2"]]
    entry = re.search(rf'<tr data-entry="{loudspeaker.id}">.*?</tr>', page, re.S)[0]
    assert "Người cao tuổi, Xã biên giới" in entry and "không rõ" in entry

    # The unit's XLSX: its own name in the title; people nobody counted are "không rõ".
    book = openpyxl.load_workbook(io.BytesIO(await (await client.get(
        f"/admin/reports/export.xlsx?month={last}")).read()))
    summary_sheet = book["Tổng hợp"]
    assert summary_sheet["A1"].value == (f"Kết quả tuyên truyền về tắt sóng 2G tháng "
                                         f"{last[5:]}/{last[:4]} – Xã Hòa Phú")
    rows = list(summary_sheet.iter_rows(min_row=4, max_row=6, values_only=True))
    assert [(r[1], r[2], r[4]) for r in rows[:2]] == [
        ("Hội nghị / họp dân", 2, 90), ("Loa truyền thanh cơ sở", 4, "không rõ")]
    assert rows[2][1:] == ("Tổng cộng", 6, None, 90, "Có 1 lần ghi không rõ số người tiếp cận.")
    assert list(book["Theo đối tượng"].iter_rows(min_row=3, max_row=4, values_only=True)) == [
        ("STT", "Đơn vị", *GROUPS), (None, "Xã Hòa Phú", 4, 0, 0, 0, 4, 2)]
    document = docx.Document(io.BytesIO(await (await client.get(
        f"/admin/reports/export.docx?month={last}")).read()))
    groups = document.tables[2]
    assert [[c.text for c in r.cells] for r in groups.rows][1:] == [
        ["Người cao tuổi", "4"], ["Đồng bào dân tộc thiểu số", "0"],
        ["Ngư dân và người đi biển", "0"], ["Vùng sâu, vùng xa", "0"], ["Xã biên giới", "4"],
        ["Chung", "2"]]
    chart = await client.get(f"/admin/reports/export.png?month={last}")
    assert chart.status == 200 and (await chart.read()).startswith(b"\x89PNG")


async def test_the_status_table_filters_by_status_and_searches_by_name(client, settings):
    last, _ = months()
    db = client.server.app[RUNTIME].db
    from support.outreach import add_officer
    actor = await add_officer(db, "xa-24175", "editor")
    async with db.begin() as conn:
        await outreach.submit_month(conn, actor, last, outreach.today_vn(), tr)
    await login_as(client, settings, "tinh", "viewer")

    async def shown(query: str) -> tuple[int, list[str], str]:
        response = await client.get(f"/admin/reports?month={last}&{query}")
        assert response.status == 200
        html = await response.text()
        names = [r[1] for r in cells(html, "statuses")[1:] if len(r) > 1]
        return len(re.findall("data-status=", html)), names, html

    count, _, html = await shown("")
    assert count == 103 and "Đang hiện 103/103 đơn vị" in html
    assert re.search(r'<form method="get" action="/admin/reports#statuses"[^>]*id="status-filter"',
                     html)                                       # works without script
    count, names, html = await shown("status=submitted")
    assert names == ["Xã Hòa Phú"] and "Đang hiện 1/103 đơn vị" in html
    assert '<option value="submitted" selected>' in html
    _, names, _ = await shown("q=ea sup")                          # without the marks
    assert names == ["Xã Ea Súp"]
    _, names, _ = await shown("q=Ea&status=submitted")
    assert names == []
    count, names, html = await shown("q=%3Cscript%3Ealert(1)%3C/script%3E")
    assert count == 0 and "Không có đơn vị nào phù hợp với bộ lọc" in html
    assert "<script>alert(1)" not in html and 'value="&lt;script&gt;alert(1)' in html
    count, _, _ = await shown("status=bogus&q=" + "x" * 5000)      # ignored, cut: no error
    assert count == 0
    count, _, _ = await shown("status=bogus")
    assert count == 103
    # A commune's officer has no table of units, whatever the query asks.
    client.session.cookie_jar.clear()
    await login_as(client, settings, "xa-24133", "viewer")
    page = await (await client.get(f"/admin/reports?month={last}&status=submitted&q=hoa")).text()
    assert 'id="statuses"' not in page and "Xã Hòa Phú" not in page.split("<main>")[1]


def press(value: str) -> Inbound:
    return Inbound(InboundKind.CHOICE, choice=f"og:{value}")


def test_the_chat_dialog_asks_who_was_reached_and_takes_none_or_several():
    ctx = DialogContext(dt.date(2026, 11, 20), frozenset(), "24175", tr)
    state = {"step": "languages", "day": "2026-11-19", "form": "meeting", "medium": "Họp thôn",
             "runs": 2, "reached": None, "communes": ["24175"], "languages": []}
    replies, state, _ = dialog_step(state, press("languages:done"), ctx)
    assert state["step"] == "groups" and replies[0].text.startswith("Bước 8/9 – Đối tượng")
    labels = [b.label for row in replies[0].buttons for b in row]
    assert labels[:6] == GROUPS and labels[6:] == ["Xong", "Hủy"]
    for bad in ("groups:", "groups:nobody", "groups:" + "x" * 500):     # forged buttons
        replies, state, entry = dialog_step(state, press(bad), ctx)
        assert state["step"] == "groups" and entry is None and replies
    _, state, _ = dialog_step(state, press("groups:seafarers"), ctx)
    _, state, _ = dialog_step(state, press("groups:elderly"), ctx)
    assert state["groups"] == ["elderly", "seafarers"]                  # the list's order
    _, state, _ = dialog_step(state, press("groups:seafarers"), ctx)   # untick
    replies, state, _ = dialog_step(state, press("groups:done"), ctx)
    assert state["groups"] == ["elderly"] and state["step"] == "note"
    assert "Đối tượng: Người cao tuổi" in summary(state, tr)
    # None chosen is allowed: the entry says the groups were not recorded.
    state = {**state, "step": "groups", "groups": []}
    _, state, _ = dialog_step(state, press("groups:done"), ctx)
    assert "Đối tượng: không ghi" in summary(state, tr)
    _, state, _ = dialog_step({**state, "step": "groups"}, Inbound(InboundKind.TEXT,
                                                                   text="1, 6"), ctx)
    assert state["groups"] == ["elderly", "general"]
