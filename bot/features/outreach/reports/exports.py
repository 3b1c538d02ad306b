"""The report as files: CSV (UTF-8 with BOM, for Excel) and XLSX (one sheet per table)."""
from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:   # openpyxl (with lxml, Pillow, numpy: ~30 MB) loads with the first XLSX
    from openpyxl import Workbook
    from openpyxl.worksheet.worksheet import Worksheet

from bot.features.outreach.reports import forms
from bot.features.outreach.reports.model import Line, MonthReport, OfficialRow

Tr = Callable[..., str]
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def official_headers(tr: Tr) -> list[str]:
    return [tr("No."), tr("Form of outreach"), tr("Number of runs"), tr("Media used"),
            tr("People reached"), tr("Notes")]


def title(report: MonthReport, tr: Tr) -> str:
    return tr("Outreach on the end of 2G service, {month} – {unit}",
              month=forms.month_label(report.month), unit=report.unit_name)


def filename(report: MonthReport, ext: str) -> str:
    scope = "tinh" if report.province else report.unit_code
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


def _row_cells(index: int, row: OfficialRow) -> list[Any]:
    return [index, row.label, row.runs, row.media, row.people, row.notes]


# Web chat runs from addresses refused by a limit that day (bot/channels/web/limits.py): a part of
# the chatbot row that may come from a script, shown so that officers can judge it.
LIMITED = "Web chat runs from network addresses that hit a limit (may be automated)"


# -- CSV ---------------------------------------------------------------------------------------

def to_csv(report: MonthReport, tr: Tr) -> bytes:
    """The official table of every unit in scope, then the summed table and the total."""
    out = io.StringIO()
    writer = _SafeWriter(out)
    writer.writerow([tr("Month"), tr("Unit code"), tr("Unit"), *official_headers(tr)])
    month = forms.month_label(report.month)
    if report.province:
        for section in report.units:
            for i, row in enumerate(section.rows, 1):
                writer.writerow([month, section.code, section.name, *_row_cells(i, row)])
        summed = tr("Whole province (sum of units)")
        for i, row in enumerate(report.totals, 1):
            writer.writerow([month, "", summed, *_row_cells(i, row)])
    else:
        for i, row in enumerate(report.totals, 1):
            writer.writerow([month, report.unit_code, report.unit_name, *_row_cells(i, row)])
    writer.writerow([month, "", tr("Grand total"), "", "", report.total_runs, "",
                     report.total_people, ""])
    if report.webchat_limited_runs:   # after the total, which it is a part of, not added to
        writer.writerow([month, "", tr(LIMITED), "", "", report.webchat_limited_runs, "", "",
                         ""])
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


def _lines(wb: Workbook, name: str, heading: str, what: str, items: Sequence[Line], tr: Tr,
           people: bool = False) -> Worksheet:
    headers = [tr("No."), what, tr("Number of runs")] + ([tr("People reached")] if people else [])
    rows = [[i, x.label, x.runs] + ([x.people or 0] if people else [])
            for i, x in enumerate(items, 1)]
    return _sheet(wb, name, heading, headers, [6, 44, 16] + ([18] if people else []), rows)


def to_xlsx(report: MonthReport, tr: Tr) -> bytes:
    from openpyxl import Workbook
    from openpyxl.chart import BarChart, Reference
    wb = Workbook()
    wb.remove(wb.active)
    heading = title(report, tr)
    widths = [6, 36, 14, 40, 16, 50]
    total = ["", tr("Grand total"), report.total_runs, "", report.total_people, ""]
    ws = _sheet(wb, tr("Summary"), heading, official_headers(tr), widths,
                [_row_cells(i, r) for i, r in enumerate(report.totals, 1)], total)
    note_row = 4 + len(report.totals) + 2
    put(ws, note_row, 2, tr("Citizens who said they switched to 4G"))
    put(ws, note_row, 3, report.switched_to_4g)
    put(ws, note_row + 1, 2, tr(LIMITED))    # part of the chatbot row, not added to it
    put(ws, note_row + 1, 3, report.webchat_limited_runs)
    if report.province:
        unit_rows = [[s.name, *_row_cells(i, r)] for s in report.units
                     for i, r in enumerate(s.rows, 1)]
        _sheet(wb, tr("By unit"), heading, [tr("Unit"), *official_headers(tr)],
               [36, *widths], unit_rows)
    status_rows = [[i, s.code, s.name, s.label,
                    forms.vn_time(s.submitted_at).strftime("%d/%m/%Y %H:%M")
                    if s.submitted_at else "", s.amendments, s.runs, s.people]
                   for i, s in enumerate(report.statuses, 1)]
    _sheet(wb, tr("Submission status"), heading,
           [tr("No."), tr("Unit code"), tr("Unit"), tr("Status"), tr("Submitted at"),
            tr("Amendments"), tr("Number of runs"), tr("People reached")],
           [6, 14, 36, 20, 18, 14, 14, 16], status_rows)
    _lines(wb, tr("By commune"), heading, tr("Commune or ward"), report.by_commune, tr)
    _lines(wb, tr("By language"), heading, tr("Language"), report.by_language, tr)
    _lines(wb, tr("Language answered in"), heading, tr("Language"), report.by_served_language,
           tr)
    _lines(wb, tr("By topic"), heading, tr("Topic"), report.by_topic, tr)
    _lines(wb, tr("By channel"), heading, tr("Channel"), report.by_channel, tr, people=True)
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

