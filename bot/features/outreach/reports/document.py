"""The report as a DOCX in the usual administrative layout, ready for an officer to sign.

Heading (issuing unit, document number left blank, national motto, place and date left
blank), title, body table in the official columns, and an empty signature block. Times New
Roman 13 on A4 with the usual margins. Numbers and dates the officer must fill are dots.
"""
from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from typing import Any

from docx import Document
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Cm, Pt
from docx.table import Table, _Cell

from bot.features.outreach.reports import forms
from bot.features.outreach.reports.exports import (
    INTERACTIONS,
    group_rows,
    official_headers,
    people_text,
    people_value,
    unknown_note,
)
from bot.features.outreach.reports.model import MonthReport, counting_rule

Tr = Callable[..., str]
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
FONT = "Times New Roman"


def _fmt(n: int) -> str:
    return f"{n:,}".replace(",", ".")


def _para(cell_or_doc: Any, text: str, *, bold: bool = False, italic: bool = False,
          size: float = 13, align: Any = None, space_after: float = 0) -> Any:
    reuse = isinstance(cell_or_doc, _Cell) and len(cell_or_doc.paragraphs) == 1 \
        and not cell_or_doc.paragraphs[0].runs    # a table cell starts with an empty paragraph
    p = cell_or_doc.paragraphs[0] if reuse else cell_or_doc.add_paragraph()
    run = p.add_run(text)
    run.bold, run.italic, run.font.size = bold, italic, Pt(size)
    if align is not None:
        p.alignment = align
    p.paragraph_format.space_after = Pt(space_after)
    return p


def _no_borders(table: Table) -> None:
    borders = table._tbl.tblPr.first_child_found_in("w:tblBorders")
    if borders is not None:
        table._tbl.tblPr.remove(borders)
    table.style = None


def _grid(doc: Any, headers: Sequence[str], rows: Sequence[Sequence[Any]],
          widths: Sequence[float], bold_last: bool = False, size: float = 12) -> Table:
    table = doc.add_table(rows=1, cols=len(headers))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    for cell, text in zip(table.rows[0].cells, headers, strict=True):
        cell.text = ""
        run = cell.paragraphs[0].add_run(text)
        run.bold = True
        run.font.size = Pt(size)
        cell.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.CENTER
    for index, values in enumerate(rows):
        cells = table.add_row().cells
        for col, value in enumerate(values):
            cells[col].text = ""
            run = cells[col].paragraphs[0].add_run(_fmt(value) if isinstance(value, int)
                                                   else str(value))
            run.font.size = Pt(size)
            run.bold = bold_last and index == len(rows) - 1
            if isinstance(value, int):
                cells[col].paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.RIGHT
    for row in table.rows:
        for cell, width in zip(row.cells, widths, strict=True):
            cell.width = Cm(width)
    return table


def to_docx(report: MonthReport, tr: Tr) -> bytes:
    doc = Document()
    section = doc.sections[0]
    section.page_width, section.page_height = Cm(21), Cm(29.7)
    section.top_margin = section.bottom_margin = Cm(2)
    section.left_margin, section.right_margin = Cm(3), Cm(2)
    style = doc.styles["Normal"]
    style.font.name = FONT
    style.font.size = Pt(13)
    style.element.rPr.rFonts.set(qn("w:eastAsia"), FONT)

    # Heading: issuing unit and number on the left, national motto and date on the right.
    head = doc.add_table(rows=1, cols=2)
    _no_borders(head)
    left, right = head.rows[0].cells
    left.width, right.width = Cm(6.5), Cm(9.5)
    _para(left, report.unit_name.upper(), bold=True, size=12, align=WD_ALIGN_PARAGRAPH.CENTER)
    _para(left, "———", size=10, align=WD_ALIGN_PARAGRAPH.CENTER)
    _para(left, tr("No.: …/BC-…"), size=13, align=WD_ALIGN_PARAGRAPH.CENTER)
    _para(right, tr("SOCIALIST REPUBLIC OF VIETNAM"), bold=True, size=12,
          align=WD_ALIGN_PARAGRAPH.CENTER)
    _para(right, tr("Independence – Freedom – Happiness"), bold=True, size=13,
          align=WD_ALIGN_PARAGRAPH.CENTER)
    _para(right, "———————", size=10, align=WD_ALIGN_PARAGRAPH.CENTER)
    _para(right, tr("Đắk Lắk, day … month … year …"), italic=True, size=13,
          align=WD_ALIGN_PARAGRAPH.CENTER)

    month = forms.month_label(report.month)
    _para(doc, "", space_after=6)
    _para(doc, tr("REPORT"), bold=True, size=14, align=WD_ALIGN_PARAGRAPH.CENTER)
    _para(doc, tr("Results of outreach on the end of 2G mobile service in {month}",
                  month=month), bold=True, align=WD_ALIGN_PARAGRAPH.CENTER, space_after=12)
    _para(doc, tr("To: …"), align=WD_ALIGN_PARAGRAPH.CENTER, space_after=12)
    _para(doc, tr("{unit} reports the results of its outreach on the end of 2G mobile service "
                  "in {month} as follows:", unit=report.unit_name, month=month), space_after=6)

    _para(doc, tr("1. Forms, runs and media of outreach"), bold=True, space_after=6)
    rows: list[list[Any]] = [[i, r.label, r.runs, r.media, people_value(r.people, tr), r.notes]
                             for i, r in enumerate(report.totals, 1)]
    rows.append(["", tr("Grand total"), report.total_runs, "",
                 people_value(report.total_people, tr),
                 unknown_note(report.total_unknown_people, tr)])
    _grid(doc, official_headers(tr), rows, [1.2, 4.0, 2.0, 3.6, 2.2, 3.0], bold_last=True)
    if report.total_interactions:
        _para(doc, f"{tr(INTERACTIONS)}: {_fmt(report.total_interactions)}", size=12,
              space_after=0)
    for text in counting_rule(tr):
        _para(doc, text, italic=True, size=11, space_after=2)

    _para(doc, "", space_after=6)
    _para(doc, tr("2. Runs by target group"), bold=True, space_after=6)
    headers, unit_rows, total = group_rows(report, tr)
    if report.province:
        # As the XLSX sheet and the page: a row per unit, a column per group, the province's
        # sum last. 16 cm of A4 between the margins: the unit's name and narrow group columns.
        groups = len(headers) - 2
        width = (16.0 - 0.9 - 3.6) / max(groups, 1)
        _grid(doc, headers, [*unit_rows, total], [0.9, 3.6, *([width] * groups)],
              bold_last=True, size=10)
    else:
        _grid(doc, [tr("Target group"), tr("Number of runs")],
              [[label, runs] for label, runs in zip(headers[2:], total[2:], strict=True)],
              [10.0, 4.0])

    number = 3
    if report.province:
        _para(doc, "", space_after=6)
        counts = report.status_counts()
        _para(doc, tr("{n}. Reports of the units: {submitted} submitted, {late} late, "
                      "{pending} not yet submitted, {missing} missing", n=number,
                      submitted=counts["submitted"], late=counts["late"],
                      pending=counts["pending"], missing=counts["missing"]),
              bold=True, space_after=6)
        # People reached: "không rõ" or "440 (1 lần ghi không rõ)", never a bare number
        # when some entries gave none (this table has no column for them).
        status_rows = [[i, s.name, s.label, s.runs, people_text(s.people, s.unknown_people, tr)]
                       for i, s in enumerate(report.statuses, 1)]
        _grid(doc, [tr("No."), tr("Unit"), tr("Status"), tr("Number of runs"),
                    tr("People reached")], status_rows, [1.2, 6.0, 3.4, 2.6, 2.8])
        number += 1
    _para(doc, "", space_after=6)
    _para(doc, tr("{n}. Citizens who said they switched to 4G: {count}", n=number,
                  count=_fmt(report.switched_to_4g)), bold=True, space_after=6)
    number += 1
    _para(doc, tr("{n}. Difficulties, proposals and recommendations:", n=number), bold=True)
    for _ in range(3):
        _para(doc, "…" * 60, space_after=0)

    if report.province and report.units:
        _para(doc, "", space_after=6)
        _para(doc, tr("Annex: details by unit"), bold=True, space_after=6)
        detail = [[s.name, r.label, r.runs, r.media,
                   people_text(r.people, r.unknown_people, tr)]
                  for s in report.units for r in s.rows]
        _grid(doc, [tr("Unit"), tr("Form of outreach"), tr("Number of runs"), tr("Media used"),
                    tr("People reached")], detail, [4.0, 4.0, 2.0, 3.8, 2.2])

    # Signature block, left blank for the officer.
    _para(doc, "", space_after=12)
    sign = doc.add_table(rows=1, cols=2)
    _no_borders(sign)
    left, right = sign.rows[0].cells
    _para(left, tr("Recipients:"), bold=True, italic=True, size=12)
    _para(left, tr("- As above;"), size=11)
    _para(left, tr("- Archive: …"), size=11)
    _para(right, "……………………………", bold=True, align=WD_ALIGN_PARAGRAPH.CENTER)
    _para(right, tr("(Signature, full name and seal)"), italic=True, size=12,
          align=WD_ALIGN_PARAGRAPH.CENTER)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()
