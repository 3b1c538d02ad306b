"""The monthly report and its exports, checked against the runs and entries written.

Every export is opened back with its own library (csv, openpyxl, python-docx, Pillow) and
compared cell by cell with numbers recomputed here from the raw rows, on SQLite and
PostgreSQL, for the province and for a unit. Runs are communication runs (issue 17): the
seed's web menu tap is an interaction of the chatbot, not a run; the loudspeaker entry without
a number of people reads "không rõ".
"""
from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json

import docx
import openpyxl
from PIL import Image
from sqlalchemy import update
from support.cli import CliResult, run_cli
from support.env import database_env
from support.outreach import (
    MONTH,
    PROVINCE_NAME,
    ROOT,
    TODAY,
    database,
    expected_official,
    seed,
    tr,
)

from bot.features.outreach import service as outreach
from bot.features.outreach.reports import exports
from bot.features.outreach.reports.chart import trend_png
from bot.features.outreach.reports.document import to_docx
from bot.features.outreach.reports.model import build_report

HEADERS = ["STT", "Hình thức truyền thông", "Số lượt thực hiện", "Phương tiện truyền thông",
           "Số người tiếp cận", "Ghi chú"]
TITLES = {"timeline": "Khi nào tắt sóng 2G?", "affected": "Máy nào bị ảnh hưởng khi tắt sóng 2G?",
          "contact": "Gọi đâu để được giúp?"}
LABELS = {"meeting": "Hội nghị / họp dân", "leaflet": "Tờ rơi / pa-nô / áp phích",
          "loudspeaker": "Loa truyền thanh cơ sở", "chatbot_qa": "Hỏi đáp qua chatbot",
          "broadcast": "Tin nhắn thông báo", "other": "Khác"}
# The official order: the province's list, Loa's own forms, "other" last.
ORDER = ["meeting", "leaflet", "loudspeaker", "chatbot_qa", "broadcast", "other"]


async def _province_and_units(url: str):  # type: ignore[no-untyped-def]
    async with database(url) as db:
        data = await seed(db)
        async with db.begin() as conn:   # xa-24175 submitted on time, on 10/11
            await outreach.submit_month(conn, data.actors["xa-24175"], MONTH, TODAY, tr)
            await conn.execute(update(outreach.SUBMISSION).values(
                submitted_at=dt.datetime(2026, 11, 10, 3, tzinfo=dt.UTC)))
        async with db.connect() as conn:
            province = await build_report(conn, MONTH, tr, province_name=PROVINCE_NAME,
                                          today=TODAY, topic_labels=TITLES)
            ward = await build_report(conn, MONTH, tr, unit_code="xa-24133",
                                      province_name=PROVINCE_NAME, today=TODAY)
            sở = await build_report(conn, MONTH, tr, unit_code="tinh",
                                    province_name=PROVINCE_NAME, today=TODAY)
    return data, province, ward, sở


def _check_numbers(data, province, ward, sở) -> None:  # type: ignore[no-untyped-def]
    expected = expected_official(data)
    assert [r.form for r in province.totals] == ORDER
    assert {r.form: (r.runs, r.people) for r in province.totals} == expected
    assert expected == {"meeting": (2, 140), "leaflet": (3, 900), "loudspeaker": (6, None),
                        "chatbot_qa": (4, 3), "broadcast": (2, 6200), "other": (1, 300)}
    assert province.total_runs == 18 and province.total_people == 7543
    assert province.total_unknown_people == 1 and province.total_interactions == 5
    by_form = {r.form: r for r in province.totals}
    assert by_form["chatbot_qa"].media == "Telegram (3); Trò chuyện trên trang web (1)"
    assert by_form["chatbot_qa"].interactions == 5 and by_form["broadcast"].interactions is None
    assert by_form["loudspeaker"].notes == ("Phát sáng và chiều; Có 1 lần ghi không rõ số "
                                            "người tiếp cận.")
    assert by_form["other"].label == "Khác" and by_form["other"].notes == "Diễu hành xe loa"
    assert {r.form: (r.runs, r.people) for r in ward.totals} == expected_official(
        data, unit_names={"Phường Buôn Ma Thuột"}, units={"xa-24133"})
    assert {r.form: (r.runs, r.people) for r in sở.totals} == expected_official(
        data, unit_names={PROVINCE_NAME}, units={"tinh"})
    assert {(u.code, u.runs) for u in province.units} == {
        ("tinh", 5), ("xa-24175", 9), ("xa-24133", 4)}
    # An entry counts in every commune and language it lists; runs without one are "none".
    assert [(x.key, x.runs) for x in province.by_commune] == [("24175", 11), ("24133", 5),
                                                              ("", 2)]
    assert [(x.key, x.runs) for x in province.by_language] == [("vi", 18), ("rad", 6)]
    # Topics by their titles; the two announcements have none; the menu tap is no run.
    assert [(x.key, x.label, x.runs) for x in province.by_topic] == [
        ("timeline", "Khi nào tắt sóng 2G?", 2),
        ("", "Không theo chủ đề (thông báo không gắn chủ đề)", 2),
        ("contact", "Gọi đâu để được giúp?", 1),
        ("affected", "Máy nào bị ảnh hưởng khi tắt sóng 2G?", 1)]
    assert [(x.key, x.runs, x.people, x.interactions) for x in province.by_channel] == [
        ("chatbot_qa:telegram", 3, 2, 3), ("broadcast:telegram", 2, 6200, None),
        ("chatbot_qa:web", 1, 1, 2)]
    # Loa's runs here are all in Vietnamese on general topics; the entries name no group.
    assert [(x.key, x.runs) for x in province.by_group] == [
        ("elderly", 0), ("minorities", 0), ("seafarers", 0), ("remote", 0), ("border", 0),
        ("general", 6), ("", 12)]
    trend = {x.key: (x.runs, x.people) for x in province.trend}
    assert len(province.trend) == 12 and province.trend[-1].key == MONTH
    assert trend["2026-09"] == (2, 51) and trend[MONTH] == (18, 7543)
    assert "2026-11" not in trend
    statuses = {s.code: s.status for s in province.statuses}
    assert len(statuses) == 103 and statuses["xa-24175"] == "submitted"
    assert statuses["xa-24133"] == "missing" and province.status_counts()["missing"] == 102


async def test_report_numbers_on_sqlite(settings):
    _check_numbers(*await _province_and_units(settings.database_url))


async def test_report_numbers_on_postgres(migrated_postgres_url):
    _check_numbers(*await _province_and_units(migrated_postgres_url))


GROUP_HEADERS = ["Số lượt: Người cao tuổi", "Số lượt: Đồng bào dân tộc thiểu số",
                 "Số lượt: Ngư dân và người đi biển", "Số lượt: Vùng sâu, vùng xa",
                 "Số lượt: Xã biên giới", "Số lượt: Chung", "Số lượt: Không ghi đối tượng"]


async def test_csv_opens_in_excel_and_matches_cell_by_cell(settings):
    data, province, ward, _ = await _province_and_units(settings.database_url)
    body = exports.to_csv(province, tr)
    assert body.startswith(b"\xef\xbb\xbf")          # BOM: Excel reads it as UTF-8
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0] == ["Tháng", "Mã đơn vị", "Đơn vị", *HEADERS, "Cấp",
                       "Lượt tương tác với chatbot (mọi lượt trò chuyện, kể cả câu trả lời)",
                       *GROUP_HEADERS, "Số lần ghi không rõ số người tiếp cận"]
    level = {r[9] for r in rows[1:]}
    assert level == {"Đơn vị", "Toàn tỉnh", "Tổng cộng", "Giải thích"}
    units = [r for r in rows if r[9] == "Đơn vị"]
    summed = [r for r in rows if r[9] == "Toàn tỉnh"]
    (total,) = [r for r in rows if r[9] == "Tổng cộng"]
    expected = expected_official(data)
    assert [(r[4], int(r[5]), r[7]) for r in summed] == [
        (LABELS[f], expected[f][0], "không rõ" if expected[f][1] is None else str(expected[f][1]))
        for f in ORDER]
    assert {(r[1], r[2]) for r in summed} == {("", "Toàn tỉnh (tổng các đơn vị)")}
    assert [r[3] for r in summed] == [str(i) for i in range(1, len(ORDER) + 1)]
    assert all(r[0] == "10/2026" for r in rows[1:])
    # Adding up the unit rows gives the total once: nothing is counted twice.
    assert sum(int(r[5]) for r in units) == int(total[5]) == 18
    assert sum(int(r[7]) for r in units if r[7] != "không rõ") == int(total[7]) == 7543
    assert total[2] == "Tổng cộng" and total[8] == "Có 1 lần ghi không rõ số người tiếp cận."
    assert total[10:] == ["5", "0", "0", "0", "0", "0", "6", "12", "1"]
    chatbot = next(r for r in summed if r[4] == LABELS["chatbot_qa"])
    assert chatbot[10] == "5" and chatbot[16] == "4"          # 5 chat turns, 4 of them runs
    loudspeaker = next(r for r in units if r[4] == LABELS["loudspeaker"])
    assert loudspeaker[1:3] == ["xa-24175", "Xã Hòa Phú"] and loudspeaker[7] == "không rõ"
    assert loudspeaker[17:] == ["6", "1"]                      # no group recorded; 1 unknown
    ward_rows = [r for r in units if r[1] == "xa-24133"]
    assert [(r[2], r[4], int(r[5]), r[6], int(r[7]), r[8]) for r in ward_rows] == [
        ("Phường Buôn Ma Thuột", "Tờ rơi / pa-nô / áp phích", 3, "Tờ rơi", 900, "Phát tại chợ"),
        ("Phường Buôn Ma Thuột", "Tin nhắn thông báo", 1, "Telegram", 1200,
         "Số người: số tin nhắn đã gửi tới.")]
    rule = [r[2] for r in rows if r[9] == "Giải thích"]
    assert rule[0].startswith("Cách tính: lượt truyền thông là một câu trả lời Loa đã đưa ra")
    assert "Bạn muốn hỏi về…?" in rule[0] and rule[1].startswith("Đối tượng:")
    unit_csv = list(csv.reader(io.StringIO(exports.to_csv(ward, tr).decode("utf-8-sig"))))
    assert [r[4] for r in unit_csv if r[9] == "Đơn vị"] == [LABELS["leaflet"],
                                                             LABELS["broadcast"]]
    (unit_total,) = [r for r in unit_csv if r[9] == "Tổng cộng"]
    assert unit_total[5] == "4" and unit_total[7] == "2100"


async def test_xlsx_has_one_sheet_per_table_with_vietnamese_headers(settings):
    data, province, _, _ = await _province_and_units(settings.database_url)
    wb = openpyxl.load_workbook(io.BytesIO(exports.to_xlsx(province, tr)))
    assert wb.sheetnames == ["Tổng hợp", "Theo đơn vị", "Theo đối tượng",
                             "Tình hình nộp báo cáo", "Theo xã, phường", "Theo ngôn ngữ",
                             "Ngôn ngữ trả lời thực tế", "Theo chủ đề", "Theo kênh",
                             "Theo tháng"]
    ws = wb["Tổng hợp"]
    # The whole province under the province unit's stored name.
    assert ws["A1"].value == ("Kết quả tuyên truyền về tắt sóng 2G tháng 10/2026 – "
                              f"{PROVINCE_NAME} (toàn tỉnh)")
    assert [c.value for c in ws[3]] == HEADERS
    expected = expected_official(data)
    for i, form in enumerate(ORDER):
        row = [c.value for c in ws[4 + i]]
        assert row[:3] == [i + 1, LABELS[form], expected[form][0]]
        assert row[4] == ("không rõ" if expected[form][1] is None else expected[form][1])
    total = [c.value for c in ws[4 + len(ORDER)]]
    assert total[1:] == ["Tổng cộng", 18, None, 7543, "Có 1 lần ghi không rõ số người tiếp cận."]
    assert ws.cell(4 + len(ORDER), 2).font.b
    switched = 4 + len(ORDER) + 2
    assert ws.cell(switched, 2).value == "Số người dân cho biết đã chuyển sang 4G"
    assert ws.cell(switched, 3).value == 0
    assert ws.cell(switched + 2, 2).value.startswith("Lượt tương tác với chatbot")
    assert ws.cell(switched + 2, 3).value == 5
    assert ws.cell(switched + 4, 2).value.startswith("Cách tính: lượt truyền thông")
    widths = [ws.column_dimensions[c].width for c in "ABCDEF"]
    assert widths == [6, 36, 14, 40, 16, 50]
    assert ws.freeze_panes == "A4" and ws["C4"].number_format == "#,##0"

    units = wb["Theo đơn vị"]
    assert [c.value for c in units[3]] == ["Đơn vị", *HEADERS]
    unit_rows = [[c.value for c in r] for r in units.iter_rows(min_row=4)]
    assert [(r[0], r[2], r[3], r[5]) for r in unit_rows] == [
        (PROVINCE_NAME, "Hỏi đáp qua chatbot", 4, 3),
        (PROVINCE_NAME, "Tin nhắn thông báo", 1, 5000),
        ("Xã Hòa Phú", "Hội nghị / họp dân", 2, 140),
        ("Xã Hòa Phú", "Loa truyền thanh cơ sở", 6, "không rõ"),
        ("Xã Hòa Phú", "Khác", 1, 300),
        ("Phường Buôn Ma Thuột", "Tờ rơi / pa-nô / áp phích", 3, 900),
        ("Phường Buôn Ma Thuột", "Tin nhắn thông báo", 1, 1200)]

    groups = wb["Theo đối tượng"]
    assert [c.value for c in groups[3]] == [
        "STT", "Đơn vị", "Người cao tuổi", "Đồng bào dân tộc thiểu số",
        "Ngư dân và người đi biển", "Vùng sâu, vùng xa", "Xã biên giới", "Chung",
        "Không ghi đối tượng"]
    assert list(groups.iter_rows(min_row=4, max_row=7, values_only=True)) == [
        (1, PROVINCE_NAME, 0, 0, 0, 0, 0, 5, 0), (2, "Xã Hòa Phú", 0, 0, 0, 0, 0, 0, 9),
        (3, "Phường Buôn Ma Thuột", 0, 0, 0, 0, 0, 1, 3),
        (None, "Toàn tỉnh (tổng các đơn vị)", 0, 0, 0, 0, 0, 6, 12)]

    # Units by name: the unit code ("Mã đơn vị") is for machines and only the CSV has it.
    status = wb["Tình hình nộp báo cáo"]
    assert [c.value for c in status[3]] == ["STT", "Đơn vị", "Trạng thái",
                                            "Thời điểm nộp", "Số lần điều chỉnh",
                                            "Số lượt thực hiện", "Số người tiếp cận",
                                            "Số lần ghi không rõ số người tiếp cận"]
    by_name = {r[1]: r for r in status.iter_rows(min_row=4, values_only=True)}
    assert len(by_name) == 103
    assert by_name["Xã Hòa Phú"][2:] == ("Đã nộp", "10/11/2026 10:00", 0, 9, 440, 1)
    assert by_name["Phường Buôn Ma Thuột"][2] == "Quá hạn, chưa nộp"
    assert not any(str(v).startswith("xa-") for row in status.iter_rows(values_only=True)
                   for v in row)

    communes = list(wb["Theo xã, phường"].iter_rows(min_row=4, values_only=True))
    assert communes == [(1, "Xã Hòa Phú", 11), (2, "Phường Buôn Ma Thuột", 5),
                        (3, "Không ghi xã, phường", 2)]
    assert list(wb["Theo ngôn ngữ"].iter_rows(min_row=4, values_only=True)) == [
        (1, "Tiếng Việt", 18), (2, "Tiếng Ê Đê", 6)]
    assert [r[1] for r in wb["Theo chủ đề"].iter_rows(min_row=4, values_only=True)] == [
        TITLES["timeline"], "Không theo chủ đề (thông báo không gắn chủ đề)", TITLES["contact"],
        TITLES["affected"]]
    assert list(wb["Theo kênh"].iter_rows(min_row=4, values_only=True)) == [
        (1, "Hỏi đáp qua chatbot – Telegram", 3, 2, 3),
        (2, "Tin nhắn thông báo – Telegram", 2, 6200, None),
        (3, "Hỏi đáp qua chatbot – Trò chuyện trên trang web", 1, 1, 2)]
    months = list(wb["Theo tháng"].iter_rows(min_row=4, values_only=True))
    assert len(months) == 12 and months[-1] == (12, "10/2026", 18, 7543)
    assert months[-2] == (11, "09/2026", 2, 51)
    assert len(wb["Theo tháng"]._charts) == 1


async def test_docx_is_an_administrative_report_ready_to_sign(settings):
    data, province, _, _ = await _province_and_units(settings.database_url)
    document = docx.Document(io.BytesIO(to_docx(province, tr)))
    heading, body, groups, statuses, annex, signature = document.tables
    left, right = (cell.text for cell in heading.rows[0].cells)
    assert PROVINCE_NAME.upper() in left and "Số: …/BC-…" in left
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in right and "Độc lập - Tự do - Hạnh phúc" in right
    assert "Đắk Lắk, ngày … tháng … năm …" in right          # the officer dates it
    paragraphs = [p.text for p in document.paragraphs]
    assert "BÁO CÁO" in paragraphs
    assert "Kết quả tuyên truyền về tắt sóng 2G tháng 10/2026" in paragraphs
    assert "Kính gửi: …" in paragraphs
    cells = [[c.text for c in row.cells] for row in body.rows]
    assert cells[0] == HEADERS
    expected = expected_official(data)
    for i, form in enumerate(ORDER, 1):
        number = lambda n: "không rõ" if n is None else f"{n:,}".replace(",", ".")  # noqa: E731
        assert cells[i][:3] == [str(i), LABELS[form], number(expected[form][0])]
        assert cells[i][4] == number(expected[form][1])
    assert cells[-1][1:] == ["Tổng cộng", "18", "", "7.543",
                             "Có 1 lần ghi không rõ số người tiếp cận."]
    assert any(p.startswith("Cách tính: lượt truyền thông") for p in paragraphs)
    assert "Lượt tương tác với chatbot (mọi lượt trò chuyện, kể cả câu trả lời): 5" in paragraphs
    assert "2. Số lượt theo đối tượng" in paragraphs
    # Issue 17: runs by target group per unit, as the XLSX sheet "Theo đối tượng" and the
    # page have them, then the province's sum (not only the province's total).
    assert [[c.text for c in row.cells] for row in groups.rows] == [
        ["STT", "Đơn vị", "Người cao tuổi", "Đồng bào dân tộc thiểu số",
         "Ngư dân và người đi biển", "Vùng sâu, vùng xa", "Xã biên giới", "Chung",
         "Không ghi đối tượng"],
        ["1", PROVINCE_NAME, "0", "0", "0", "0", "0", "5", "0"],
        ["2", "Xã Hòa Phú", "0", "0", "0", "0", "0", "0", "9"],
        ["3", "Phường Buôn Ma Thuột", "0", "0", "0", "0", "0", "1", "3"],
        ["", "Toàn tỉnh (tổng các đơn vị)", "0", "0", "0", "0", "0", "6", "12"]]
    assert all(run.bold for cell in groups.rows[-1].cells for p in cell.paragraphs
               for run in p.runs if run.text)
    status_rows = [[c.text for c in row.cells] for row in statuses.rows]
    assert status_rows[0] == ["STT", "Đơn vị", "Trạng thái", "Số lượt thực hiện",
                              "Số người tiếp cận"] and len(status_rows) == 104
    # Hòa Phú's loudspeaker entry gave no number: 440 is not all its people, and it says so.
    by_name = {r[1]: r for r in status_rows[1:]}
    assert by_name["Xã Hòa Phú"][3:] == ["9", "440 (1 lần ghi không rõ)"]
    assert by_name["Phường Buôn Ma Thuột"][3:] == ["4", "2.100"]
    assert by_name["Xã Ea Súp"][3:] == ["0", "0"]
    assert [r[0] for r in [[c.text for c in row.cells] for row in annex.rows]][1:] == [
        PROVINCE_NAME, PROVINCE_NAME, "Xã Hòa Phú", "Xã Hòa Phú", "Xã Hòa Phú",
        "Phường Buôn Ma Thuột", "Phường Buôn Ma Thuột"]
    assert any(p.startswith("3. Tình hình nộp báo cáo của các đơn vị: 1 đã nộp, 0 nộp muộn")
               for p in paragraphs)
    assert "4. Số người dân cho biết đã chuyển sang 4G: 0" in paragraphs
    sign_left, sign_right = (cell.text for cell in signature.rows[0].cells)
    assert sign_left.startswith("Nơi nhận:") and "- Như trên;" in sign_left
    assert "(Ký, ghi rõ họ tên, đóng dấu)" in sign_right
    section = document.sections[0]
    assert round(section.page_width.cm, 1) == 21.0 and round(section.page_height.cm, 1) == 29.7
    assert document.styles["Normal"].font.name == "Times New Roman"


def _runs_of_colour(image: Image.Image, colour: tuple[int, int, int],
                    vertical: bool) -> list[int]:
    """The lengths of the bars of one colour (columns of pixels for vertical bars, rows for
    horizontal ones), legend patches left out."""
    pixels = image.convert("RGB").load()
    outer, inner = (image.width, image.height) if vertical else (image.height, image.width)
    spans: dict[int, int] = {}
    for a in range(outer):
        hits = [b for b in range(inner) if pixels[(a, b) if vertical else (b, a)] == colour]
        if hits:
            spans[a] = max(hits) - min(hits)
    groups: list[list[int]] = []
    for a in sorted(spans):
        if groups and a == groups[-1][-1] + 1:
            groups[-1].append(a)
        else:
            groups.append([a])
    thick = 40 if vertical else 12
    return [max(spans[a] for a in g) for g in groups if len(g) >= thick]


async def test_file_names_carry_the_unit_name_never_its_code(settings):
    _, province, ward, sở = await _province_and_units(settings.database_url)
    assert exports.filename(ward, "xlsx") == \
        "bao-cao-truyen-thong-2g-2026-10-phuong-buon-ma-thuot.xlsx"
    assert exports.filename(province, "docx") == "bao-cao-truyen-thong-2g-2026-10-tinh-dak-lak.docx"
    assert exports.filename(sở, "csv") == (
        "bao-cao-truyen-thong-2g-2026-10-so-khoa-hoc-va-cong-nghe-tinh-dak-lak.csv")
    assert exports.slug("Xã Ea H'Leo") == "xa-ea-h-leo" and exports.slug("Đài PT-TH") == "dai-pt-th"
    assert len(exports.slug("Ủy ban nhân dân " * 10)) <= 60


async def test_chart_png_shows_twelve_months_and_the_target_groups(settings):
    _, province, _, _ = await _province_and_units(settings.database_url)
    image = Image.open(io.BytesIO(trend_png(province, tr)))
    assert image.format == "PNG" and image.size == (1100, 836)
    # Two months have runs: September (2) and October (18): two bars, October's much taller.
    september, october = _runs_of_colour(image, (11, 61, 145), vertical=True)
    assert abs(october / september - 18 / 2) < 1        # heights in proportion to the runs
    # October by target group: "Chung" 6 and "Không ghi đối tượng" 12, the others 0.
    general, not_recorded = _runs_of_colour(image, (42, 127, 98), vertical=False)
    assert abs(not_recorded / general - 2) < 0.1


async def _cli(settings, *args: str) -> CliResult:
    """`python -m bot report ...` in this process (bot.cli.main; in a thread: it runs its
    own event loop)."""
    env = {**database_env(settings), "PATH": "/usr/bin:/bin",
           "BOT_SECRET_KEY": settings.secret_key}
    return await asyncio.to_thread(run_cli, "report", *args, env=env, cwd=ROOT)


async def test_cli_writes_each_format_for_a_unit_or_the_province(settings, tmp_path):
    data, _, _, _ = await _province_and_units(settings.database_url)
    out = tmp_path / "r.xlsx"
    done = await _cli(settings, "--month", MONTH, "--unit", "xa-24175", "--format", "xlsx",
                      "--output", str(out))
    assert done.returncode == 0, done.stderr
    sheet = openpyxl.load_workbook(out)["Tổng hợp"]
    assert [(r[1], r[2], r[4]) for r in sheet.iter_rows(min_row=4, max_row=6,
                                                        values_only=True)] == [
        ("Hội nghị / họp dân", 2, 140), ("Loa truyền thanh cơ sở", 6, "không rõ"),
        ("Khác", 1, 300)]
    assert "Sheet" not in openpyxl.load_workbook(out).sheetnames
    docx_out = tmp_path / "r.docx"
    assert (await _cli(settings, "--month", MONTH, "--format", "docx", "--output",
                       str(docx_out))).returncode == 0
    assert docx.Document(str(docx_out)).tables[1].rows[-1].cells[2].text == "18"
    csv_out = await _cli(settings, "--month", MONTH, "--unit", "xa-24133", "--format", "csv")
    lines = list(csv.reader(io.StringIO(csv_out.stdout.lstrip("\ufeff"))))
    (total,) = [line for line in lines if line[9:10] == ["Tổng cộng"]]
    assert total[5] == "4"
    data_json = json.loads((await _cli(settings, "--month", MONTH)).stdout)
    assert data_json["total"] == 6 and data_json["by_form"] == {"chatbot_qa": 4, "broadcast": 2}
    assert data_json["interactions"] == 5 and data_json["by_group"] == {"general": 6}
    assert data_json["report"]["total_runs"] == 18
    assert data_json["report"]["total_interactions"] == 5
    assert data_json["report"]["people_unknown_entries"] == 1
    assert {r["form"]: r["runs"] for r in data_json["report"]["official"]} == {
        f: v[0] for f, v in expected_official(data).items()}
    unit_json = json.loads((await _cli(settings, "--month", MONTH, "--unit", "xa-24175")).stdout)
    assert unit_json["report"]["scope"] == "unit" and unit_json["report"]["total_runs"] == 9
    missing = await _cli(settings, "--month", MONTH, "--format", "docx")
    assert missing.returncode == 2 and "--output" in missing.stderr
    unknown = await _cli(settings, "--month", MONTH, "--unit", "xa-00000")
    assert unknown.returncode == 2 and "unknown unit 'xa-00000'" in unknown.stderr
    assert "Traceback" not in unknown.stderr
