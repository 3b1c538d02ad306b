"""The admin pages of the report and the outreach form through the real aiohttp app: who sees
what, every refusal with its message (nothing typed is lost), evidence files, submission,
amendments and the exports."""
from __future__ import annotations

import csv
import io
import re

import openpyxl
from support.officers import login_as
from support.outreach import entries_in, tr
from support.reportforms import csrf_of, form, months

from bot.features.outreach import service as outreach
from bot.features.outreach.reports import forms

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64








def field_errors(html: str) -> list[str]:
    return re.findall(r'class="error field-error" id="[^"]+">([^<]+)<', html)



async def test_wrong_input_is_refused_with_clear_messages_and_nothing_lost(client, settings):
    await login_as(client, settings, "xa-24175", "editor")
    csrf = await csrf_of(client)
    future = outreach.today_vn().replace(year=outreach.today_vn().year + 1).isoformat()
    response = await client.post("/admin/outreach/new", data=form(
        csrf, ("biên-bản.pdf", b"%PDF-1.4 minh chung"), day=future, runs="-2",
        communes=["24175", "99999"]))
    html = await response.text()
    assert response.status == 400
    assert "những gì bạn đã nhập vẫn được giữ nguyên" in html
    errors = field_errors(html)
    assert any("chưa tới" in e for e in errors)
    assert "Số lượt thực hiện phải từ 1 trở lên." in errors
    assert any("Không tìm thấy xã, phường: 99999" in e for e in errors)
    # Every value typed is back in the form, and the uploaded file was kept.
    assert 'value="Loa truyền thanh xã"' in html and "Phát 2 buổi sáng, chiều" in html
    assert 'value="-2"' in html and re.search(r'value="rad" checked', html)
    assert "Giữ lại từ lần gửi trước: biên-bản.pdf" in html
    token = re.search(r'name="evidence_token" value="([^"]+)"', html)[1]
    assert await entries_in(client) == []

    response = await client.post("/admin/outreach/new", data=form(csrf, evidence_token=token),
                                 allow_redirects=False)
    assert response.status == 303
    (entry,) = await entries_in(client)
    assert (entry.form, entry.runs, entry.reached, entry.communes, entry.languages) == (
        "loudspeaker", 4, None, "24175", "vi,rad")
    assert entry.evidence_name == "biên-bản.pdf" and entry.source == "form"
    download = await client.get(f"/admin/outreach/{entry.id}/evidence")
    assert download.status == 200 and await download.read() == b"%PDF-1.4 minh chung"
    assert download.headers["Content-Disposition"] == (
        "attachment; filename=\"evidence.pdf\"; filename*=UTF-8''bi%C3%AAn-b%E1%BA%A3n.pdf")


async def test_evidence_must_be_a_known_type_and_small_enough(client, settings):
    await login_as(client, settings, "xa-24175", "editor")
    csrf = await csrf_of(client)
    bad = await client.post("/admin/outreach/new", data=form(csrf, ("run.exe", b"MZ")))
    assert bad.status == 400
    assert field_errors(await bad.text()) == [
        "Tệp minh chứng phải là ảnh (JPG, PNG), tệp PDF hoặc tệp văn phòng (Word, Excel)."]
    big = await client.post("/admin/outreach/new", data=form(
        csrf, ("anh.jpg", b"\xff" * (outreach.MAX_EVIDENCE + 1))))
    assert big.status == 400
    assert field_errors(await big.text()) == ["Tệp minh chứng quá lớn (tối đa 10 MB)."]
    assert await entries_in(client) == []


async def test_officers_see_only_their_unit_and_the_province_sees_all(client, settings):
    last, _ = months()
    await login_as(client, settings, "xa-24133", "editor")
    csrf = await csrf_of(client)
    assert (await client.post("/admin/outreach/new", data=form(
        csrf, ("to-roi.png", PNG), form="leaflet", medium="Tờ rơi", runs="7", reached="350",
        communes=["24133"]), allow_redirects=False)).status == 303
    (theirs,) = await entries_in(client)
    client.session.cookie_jar.clear()

    await login_as(client, settings, "xa-24175", "editor")
    page = await (await client.get(f"/admin/reports?month={last}&unit=xa-24133")).text()
    main = page.split("<main>")[1]
    assert "Xã Hòa Phú" in main and "Tờ rơi / pa-nô" not in main  # own unit, whatever asked
    exported = await client.get(f"/admin/reports/export.csv?month={last}&unit=xa-24133")
    rows = list(csv.reader(io.StringIO((await exported.read()).decode("utf-8-sig"))))
    (total,) = [r for r in rows if r[9:10] == ["Tổng cộng"]]      # the "Cấp" column
    assert total[2:9] == ["Tổng cộng", "", "", "0", "", "0", ""]
    assert (await client.get(f"/admin/outreach/{theirs.id}")).status == 404
    assert (await client.get(f"/admin/outreach/{theirs.id}/evidence")).status == 404
    csrf = await csrf_of(client)
    refused = await client.post(f"/admin/outreach/{theirs.id}/delete", data={"csrf": csrf})
    assert refused.status == 404
    client.session.cookie_jar.clear()

    await login_as(client, settings, "tinh", "viewer")
    page = await (await client.get(f"/admin/reports?month={last}")).text()
    assert 'id="statuses"' in page and page.count("data-status=") == 103
    assert "Phường Buôn Ma Thuột" in page and "Tờ rơi / pa-nô / áp phích" in page
    unit_page = await (await client.get(f"/admin/reports?month={last}&unit=xa-24133")).text()
    assert 'id="entries"' in unit_page and f'data-entry="{theirs.id}"' in unit_page
    assert "Sửa</a>" not in unit_page                               # province only reads
    download = await client.get(f"/admin/outreach/{theirs.id}/evidence")
    assert download.status == 200 and await download.read() == PNG
    xlsx = await client.get(f"/admin/reports/export.xlsx?month={last}")
    sheet = openpyxl.load_workbook(io.BytesIO(await xlsx.read()))["Theo đơn vị"]
    assert [(r[0], r[2], r[3], r[5]) for r in sheet.iter_rows(min_row=4, values_only=True)] == [
        ("Phường Buôn Ma Thuột", "Tờ rơi / pa-nô / áp phích", 7, 350)]


async def test_roles_without_write_access_are_refused(client, settings):
    await login_as(client, settings, "xa-24175", "viewer")
    assert (await client.get("/admin/outreach/new")).status == 403
    page = await (await client.get("/admin/reports")).text()
    assert "Ghi nhận hoạt động</a>" not in page and "submit-form" not in page
    client.session.cookie_jar.clear()
    await login_as(client, settings, "tinh", "reviewer", language="rad")
    assert (await client.get("/admin/reports")).status == 403
    client.session.cookie_jar.clear()
    assert (await client.get("/admin/reports", allow_redirects=False)).status == 302


async def test_forms_need_the_csrf_token(client, settings):
    await login_as(client, settings, "xa-24175", "editor")
    last, _ = months()
    assert (await client.post("/admin/outreach/new", data=form("forged"))).status == 403
    assert (await client.post("/admin/reports/submit", data={"csrf": "x", "month": last})
            ).status == 403
    assert await entries_in(client) == []


async def test_submit_locks_the_month_and_corrections_become_amendments(client, settings):
    last, this = months()
    await login_as(client, settings, "xa-24175", "editor")
    csrf = await csrf_of(client)
    assert (await client.post("/admin/outreach/new", data=form(csrf),
                              allow_redirects=False)).status == 303
    (entry,) = await entries_in(client)
    # Correct it before submitting: no reason asked.
    edit = await client.post(f"/admin/outreach/{entry.id}", data=form(csrf, runs="5"),
                             allow_redirects=False)
    assert edit.status == 303
    page = await (await client.get(f"/admin/reports?month={last}")).text()
    assert "submit-form" in page and ("Chưa nộp" in page or "Quá hạn" in page)
    current = await (await client.get(f"/admin/reports?month={this}")).text()
    assert "submit-form" not in current                    # this month is not over
    # Submitting asks first, saying the month will be locked; the first POST changes nothing
    ask = await client.post("/admin/reports/submit", data={"csrf": csrf, "month": last})
    asked = await ask.text()
    assert ask.status == 200 and 'id="what-happens"' in asked and "bị khóa" in asked
    assert "submit-form" in await (await client.get(f"/admin/reports?month={last}")).text()
    done = await client.post("/admin/reports/submit", data={"csrf": csrf, "month": last,
                                                            "confirm": "yes"})
    page = await done.text()
    assert "Đã nộp báo cáo." in page and "submit-form" not in page
    late = outreach.today_vn() >= forms.deadline(last, settings.report_deadline_day)
    assert ("Nộp muộn" if late else "Đã nộp") in re.search(r'id="status"[^>]*>(.*?)</p>',
                                                          page, re.S)[1]
    again = await client.post("/admin/reports/submit", data={"csrf": csrf, "month": last,
                                                             "confirm": "yes"})   # twice
    assert f"Báo cáo tháng {forms.month_label(last)} đã được nộp." in await again.text()

    # Locked: a plain correction is refused and asks for the reason; nothing changes.
    edit_page = await (await client.get(f"/admin/outreach/{entry.id}")).text()
    assert 'id="locked"' in edit_page and 'name="reason"' in edit_page
    refused = await client.post(f"/admin/outreach/{entry.id}", data=form(csrf, runs="6"))
    assert refused.status == 400
    assert f"Báo cáo tháng {forms.month_label(last)} đã nộp" in await refused.text()
    new = await client.post("/admin/outreach/new", data=form(csrf, runs="1"))
    assert new.status == 400 and 'name="reason"' in await new.text()
    assert [(e.id, e.runs) for e in await entries_in(client)] == [(entry.id, 5)]
    amended = await client.post(f"/admin/outreach/{entry.id}", data=form(
        csrf, runs="6", reason="Biên bản bổ sung 1 buổi"), allow_redirects=False)
    assert amended.status == 303
    gone = await client.post(f"/admin/outreach/{entry.id}/delete", data={"csrf": csrf,
                                                                          "confirm": "yes"})
    assert "Muốn thay đổi, hãy ghi lý do điều chỉnh." in await gone.text()
    page = await (await client.get(f"/admin/reports?month={last}")).text()
    assert 'id="amendments"' in page and "Biên bản bổ sung 1 buổi" in page
    assert "số lần điều chỉnh: 1" in page
    assert [(e.id, e.runs) for e in await entries_in(client)] == [(entry.id, 6)]
    asked = await client.post(f"/admin/outreach/{entry.id}/delete",
                              data={"csrf": csrf, "reason": "Ghi nhầm đơn vị"})
    assert "Xóa bản ghi này?" in await asked.text()                 # names the entry first
    assert [e.id for e in await entries_in(client)] == [entry.id]   # nothing deleted yet
    deleted = await client.post(f"/admin/outreach/{entry.id}/delete",
                                data={"csrf": csrf, "reason": "Ghi nhầm đơn vị", "confirm": "yes"})
    assert "Đã xóa mục ghi nhận." in await deleted.text()
    assert await entries_in(client) == []


async def test_report_page_shows_the_official_table_and_exports(client, settings):
    last, _ = months()
    await login_as(client, settings, "xa-24175", "editor")
    csrf = await csrf_of(client)
    for over in ({}, {"form": "meeting", "medium": "Họp thôn", "runs": "2", "reached": "90",
                      "languages": ["vi"]}):
        assert (await client.post("/admin/outreach/new", data=form(csrf, **over),
                                  allow_redirects=False)).status == 303
    page = await (await client.get(f"/admin/reports?month={last}")).text()
    table = re.search(r'<table id="official".*?</table>', page, re.S)[0]
    cells = [re.sub(r"<[^>]+>", "", c).strip()
             for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", table, re.S)]
    assert cells[:6] == ["STT", "Hình thức truyền thông", "Số lượt thực hiện",
                         "Phương tiện truyền thông", "Số người tiếp cận", "Ghi chú"]
    assert cells[6:11] == ["1", "Hội nghị / họp dân", "2", "Họp thôn", "90"]
    # The loudspeaker entry gave no number of people: "không rõ", never 0; the total says so.
    assert cells[12:17] == ["2", "Loa truyền thanh cơ sở", "4", "Loa truyền thanh xã",
                            "không rõ"]
    assert cells[-4:] == ["6", "", "90", "Có 1 lần ghi không rõ số người tiếp cận."]
    for fmt, kind in (("xlsx", "spreadsheetml"), ("docx", "wordprocessingml"),
                      ("png", "image/png"), ("csv", "text/csv")):
        response = await client.get(f"/admin/reports/export.{fmt}?month={last}")
        assert response.status == 200 and kind in response.headers["Content-Type"]
        # The unit's name in the file name, never its code (issue 17)
        assert response.headers["Content-Disposition"].endswith(
            f'filename="bao-cao-truyen-thong-2g-{last}-xa-hoa-phu.{fmt}"')
    assert (await client.get("/admin/reports/export.csv?month=2099-01")).status == 400
    assert tr("Monthly report") == "Báo cáo tháng" and "Báo cáo tháng</a>" in page
