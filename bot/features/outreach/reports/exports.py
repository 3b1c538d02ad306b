"""The report as files: CSV (UTF-8 with BOM, for Excel) and XLSX (one sheet per table).

People reached that nobody gave are written "không rõ" (never 0), and the counting rule
("Cách tính") goes with every file."""
from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:   # openpyxl (with lxml, Pillow, numpy: ~30 MB) loads with the first XLSX
    from openpyxl import Workbook
    from openpyxl.worksheet.worksheet import Worksheet

from bot.core.text import fold
from bot.features.outreach.reports import forms
from bot.features.outreach.reports.model import Line, MonthReport, OfficialRow, counting_rule

Tr = Callable[..., str]
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def official_headers(tr: Tr) -> list[str]:
    return [tr("No."), tr("Form of outreach"), tr("Number of runs"), tr("Media used"),
            tr("People reached"), tr("Notes")]


def title(report: MonthReport, tr: Tr) -> str:
    """The heading: the whole province under the province unit's stored name, a unit's report
    under the unit's own."""
    if report.province:
        return tr("Outreach on the end of 2G service, {month} – {unit} (whole province)",
                  month=forms.month_label(report.month), unit=report.unit_name)
    return tr("Outreach on the end of 2G service, {month} – {unit}",
              month=forms.month_label(report.month), unit=report.unit_name)


def people_value(people: int | None, tr: Tr) -> int | str:
    """A number of people, or "not known": never 0 for a number nobody gave."""
    return tr("not known") if people is None else people


def people_text(people: int | None, unknown: int, tr: Tr) -> int | str:
    """People reached in one cell, for a table without a column of entries that gave none:
    "không rõ" when none gave a number, "440 (1 lần ghi không rõ)" when some did not; a bare
    number only when every entry gave one."""
    if people is None or not unknown:
        return people_value(people, tr)
    return f"{people:,}".replace(",", ".") + " (" + tr("{n} entries not known", n=unknown) + ")"


def unknown_note(n: int, tr: Tr) -> str:
    return tr("People reached not known for {n} entries.", n=n) if n else ""


# The whole province's report in a file name (a unit's carries the unit's name).
PROVINCE_SLUG = "tinh-dak-lak"


def slug(name: str, limit: int = 60) -> str:
    """A name in plain ASCII for a file name: "Xã Hòa Phú" -> "xa-hoa-phu" (whole words, at
    most `limit` characters)."""
    out = ""
    for word in fold(name).split():
        if len(out) + len(word) + 1 > limit:
            break
        out = f"{out}-{word}" if out else word
    return out


def filename(report: MonthReport, ext: str) -> str:
    """bao-cao-truyen-thong-2g-2026-11-xa-hoa-phu.xlsx: the unit's name, never its code (the
    code only when its name has no letter or digit at all)."""
    scope = PROVINCE_SLUG if report.province else slug(report.unit_name) or report.unit_code
    return f"bao-cao-truyen-thong-2g-{report.month}-{scope}.{ext}"


# Spreadsheet formula injection (OWASP "CSV Injection"): text typed by an officer, such as
# =HYPERLINK(...) in an outreach entry, must never become a formula in Excel or LibreOffice.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: Any) -> Any:
    """A text that a spreadsheet would read as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def put(ws: Worksheet, row: int, column: int, value: Any) -> Any:
    """Write one XLSX cell: text always as a text cell (never a formula), numbers as numbers."""
    cell = ws.cell(row=row, column=column, value=value)
    if isinstance(value, str):
        cell.data_type = "s"
    return cell


class _SafeWriter:
    """csv.writer whose every row goes through csv_safe."""

    def __init__(self, out: io.StringIO) -> None:
        self._raw = csv.writer(out, lineterminator="\r\n")

    def writerow(self, values: Sequence[Any]) -> None:
        self._raw.writerow([csv_safe(v) for v in values])


def _row_cells(index: int, row: OfficialRow, tr: Tr) -> list[Any]:
    return [index, row.label, row.runs, row.media, people_value(row.people, tr), row.notes]


def _total_cells(report: MonthReport, tr: Tr) -> list[Any]:
    return ["", tr("Grand total"), report.total_runs, "",
            people_value(report.total_people, tr), unknown_note(report.total_unknown_people, tr)]


# Web chat turns from addresses refused by a limit that day (bot/channels/web/limits.py): a part of
# the chatbot's interactions that may come from a script, shown so that officers can judge it.
LIMITED = "Web chat runs from network addresses that hit a limit (may be automated)"
INTERACTIONS = "Chatbot interactions (every chat turn, answers included)"


# -- CSV ---------------------------------------------------------------------------------------

def csv_headers(report: MonthReport, tr: Tr) -> list[str]:
    return [tr("Month"), tr("Unit code"), tr("Unit"), *official_headers(tr), tr("Level"),
            tr(INTERACTIONS), *(tr("Runs: {group}", group=forms.group_label(tr, code))
                                for code in report.group_codes),
            tr("Entries without a number of people")]


def to_csv(report: MonthReport, tr: Tr) -> bytes:
    """One table: every unit's official rows (level "Unit"), then, for the province, the rows
    summed over the units (level "Whole province") and the grand total on its own row (level
    "Grand total"), so that adding up the unit rows counts nothing twice. Runs by target
    group and the chatbot's interactions are columns of each row; the counting rule follows."""
    out = io.StringIO()
    writer = _SafeWriter(out)
    writer.writerow(csv_headers(report, tr))
    month = forms.month_label(report.month)
    unit_level, province_level = tr("Unit"), tr("Whole province")

    def extra(row: OfficialRow, level: str) -> list[Any]:
        return [level, "" if row.interactions is None else row.interactions,
                *(row.groups.get(code, 0) for code in report.group_codes),
                row.unknown_people]

    if report.province:
        for section in report.units:
            for i, row in enumerate(section.rows, 1):
                writer.writerow([month, section.code, section.name, *_row_cells(i, row, tr),
                                 *extra(row, unit_level)])
        summed = tr("Whole province (sum of units)")
        for i, row in enumerate(report.totals, 1):
            writer.writerow([month, "", summed, *_row_cells(i, row, tr),
                             *extra(row, province_level)])
    else:
        for i, row in enumerate(report.totals, 1):
            writer.writerow([month, report.unit_code, report.unit_name, *_row_cells(i, row, tr),
                             *extra(row, unit_level)])
    groups = {x.key: x.runs for x in report.by_group}
    writer.writerow([month, "", tr("Grand total"), "", "", report.total_runs, "",
                     people_value(report.total_people, tr),
                     unknown_note(report.total_unknown_people, tr), tr("Grand total"),
                     report.total_interactions,
                     *(groups.get(code, 0) for code in report.group_codes),
                     report.total_unknown_people])
    for text in counting_rule(tr):
        writer.writerow([month, "", text, "", "", "", "", "", "", tr("Explanation")])
    if report.webchat_limited_runs:   # after the total, which it is a part of, not added to
        writer.writerow([month, "", tr(LIMITED), "", "", report.webchat_limited_runs, "", "",
                         "", tr("Explanation")])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


# -- XLSX --------------------------------------------------------------------------------------

def _sheet(wb: Workbook, name: str, heading: str, headers: Sequence[str],
           widths: Sequence[float], rows: Sequence[Sequence[Any]],
           total: Sequence[Any] | None = None) -> Worksheet:
    """A sheet with a title in A1, the column headers in row 3 and the data from row 4."""
    from openpyxl.styles import Alignment, Border, Font, Side
    from openpyxl.utils import get_column_letter
    thin = Side(style="thin", color="808080")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    wrap = Alignment(wrap_text=True, vertical="top")
    head = Alignment(wrap_text=True, vertical="center", horizontal="center")
    ws = wb.create_sheet(name[:31])
    put(ws, 1, 1, heading).font = Font(bold=True, size=13)
    for col, (text, width) in enumerate(zip(headers, widths, strict=True), 1):
        cell = put(ws, 3, col, text)
        cell.font = Font(bold=True)
        cell.alignment = head
        cell.border = border
        ws.column_dimensions[get_column_letter(col)].width = width
    for r, values in enumerate([*rows, *([total] if total else [])], 4):
        for col, value in enumerate(values, 1):
            cell = put(ws, r, col, value)
            cell.alignment = wrap
            cell.border = border
            if isinstance(value, int) and col > 1:
                cell.number_format = "#,##0"
            if total is not None and r == 4 + len(rows):
                cell.font = Font(bold=True)
    ws.freeze_panes = "A4"
    return ws


def _notes(ws: Worksheet, row: int, texts: Sequence[str], last_column: int = 6) -> None:
    """Explanations under a table, one per row, each across the table's width."""
    from openpyxl.styles import Alignment, Font
    for i, text in enumerate(texts):
        cell = put(ws, row + i, 2, text)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        cell.font = Font(italic=True)
        ws.merge_cells(start_row=row + i, start_column=2, end_row=row + i,
                       end_column=max(last_column, 2))
        ws.row_dimensions[row + i].height = 15 * (1 + len(text) // 110)


def _lines(wb: Workbook, name: str, heading: str, what: str, items: Sequence[Line], tr: Tr,
           people: bool = False, interactions: bool = False) -> Worksheet:
    headers = [tr("No."), what, tr("Number of runs")] + ([tr("People reached")] if people
                                                         else [])
    headers += [tr(INTERACTIONS)] if interactions else []
    rows = [[i, x.label, x.runs] + ([people_value(x.people, tr)] if people else [])
            + (["" if x.interactions is None else x.interactions] if interactions else [])
            for i, x in enumerate(items, 1)]
    widths = [6, 44, 16] + ([18] if people else []) + ([22] if interactions else [])
    return _sheet(wb, name, heading, headers, widths, rows)


def group_rows(report: MonthReport, tr: Tr) -> tuple[list[str], list[list[Any]], list[Any]]:
    """Runs per target group: headers, a row per unit (the unit itself for a unit's report),
    and the total row (the whole province, or the unit)."""
    codes = report.group_codes
    headers = [tr("No."), tr("Unit"), *(forms.group_label(tr, c) for c in codes)]
    totals = {x.key: x.runs for x in report.by_group}
    total = ["", tr("Whole province (sum of units)") if report.province else report.unit_name,
             *(totals.get(c, 0) for c in codes)]
    if not report.province:
        return headers, [], total
    rows = [[i, s.name, *(s.groups.get(c, 0) for c in codes)]
            for i, s in enumerate(report.units, 1)]
    return headers, rows, total


def to_xlsx(report: MonthReport, tr: Tr) -> bytes:
    from openpyxl import Workbook
    from openpyxl.chart import BarChart, Reference
    wb = Workbook()
    wb.remove(wb.active)
    heading = title(report, tr)
    widths = [6, 36, 14, 40, 16, 50]
    ws = _sheet(wb, tr("Summary"), heading, official_headers(tr), widths,
                [_row_cells(i, r, tr) for i, r in enumerate(report.totals, 1)],
                _total_cells(report, tr))
    note_row = 4 + len(report.totals) + 2
    put(ws, note_row, 2, tr("Citizens who said they switched to 4G"))
    put(ws, note_row, 3, report.switched_to_4g)
    put(ws, note_row + 1, 2, tr(LIMITED))    # part of the chatbot's interactions
    put(ws, note_row + 1, 3, report.webchat_limited_runs)
    put(ws, note_row + 2, 2, tr(INTERACTIONS))   # beside the runs, never added to them
    put(ws, note_row + 2, 3, report.total_interactions)
    _notes(ws, note_row + 4, counting_rule(tr))
    if report.province:
        unit_rows = [[s.name, *_row_cells(i, r, tr)] for s in report.units
                     for i, r in enumerate(s.rows, 1)]
        _sheet(wb, tr("By unit"), heading, [tr("Unit"), *official_headers(tr)],
               [36, *widths], unit_rows)
    headers, rows, total = group_rows(report, tr)
    groups = _sheet(wb, tr("By target group"), heading, headers,
                    [6, 36, *([16] * (len(headers) - 2))], rows, total)
    _notes(groups, 4 + len(rows) + 2, counting_rule(tr)[1:2], len(headers))
    # Units by name: the unit code is for machines, and only the CSV carries it.
    status_rows = [[i, s.name, s.label,
                    forms.vn_time(s.submitted_at).strftime("%d/%m/%Y %H:%M")
                    if s.submitted_at else "", s.amendments, s.runs,
                    people_value(s.people, tr), s.unknown_people]
                   for i, s in enumerate(report.statuses, 1)]
    _sheet(wb, tr("Submission status"), heading,
           [tr("No."), tr("Unit"), tr("Status"), tr("Submitted at"),
            tr("Amendments"), tr("Number of runs"), tr("People reached"),
            tr("Entries without a number of people")],
           [6, 36, 20, 18, 14, 14, 16, 18], status_rows)
    _lines(wb, tr("By commune"), heading, tr("Commune or ward"), report.by_commune, tr)
    _lines(wb, tr("By language"), heading, tr("Language"), report.by_language, tr)
    _lines(wb, tr("Language answered in"), heading, tr("Language"), report.by_served_language,
           tr)
    _lines(wb, tr("By topic"), heading, tr("Topic"), report.by_topic, tr)
    _lines(wb, tr("By channel"), heading, tr("Channel"), report.by_channel, tr, people=True,
           interactions=True)
    trend = _lines(wb, tr("By month"), heading, tr("Month"), report.trend, tr, people=True)
    chart = BarChart()
    chart.title = tr("Runs per month")
    chart.y_axis.title = tr("Number of runs")
    chart.add_data(Reference(trend, min_col=3, min_row=3, max_row=3 + len(report.trend)),
                   titles_from_data=True)
    chart.set_categories(Reference(trend, min_col=2, min_row=4, max_row=3 + len(report.trend)))
    chart.width, chart.height = 22, 10
    trend.add_chart(chart, "F3")
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
