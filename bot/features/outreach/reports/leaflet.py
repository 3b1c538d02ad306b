"""The outreach kit on paper: an A4 leaflet in large type for older people, and a poster (A4 or
A3) in very large type, for one commune in one language; Noto Sans embedded, a QR code to the
web chat for relatives. The words are kit_text's (facts from content/facts.yml); this module
only lays them out.

Nothing is set below 14 pt. A text that does not fit one page (a long translation) is set
smaller, never below 14 pt, before it may run onto a second page: nothing is ever drawn beyond
the margins.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import qrcode
from fpdf import FPDF
from PIL import Image

from bot.core.content import ContentSet
from bot.features.outreach.reports.fonts import noto
from bot.features.outreach.reports.kit_text import (
    Hotline,
    KitText,
    Tr,
    as_of,
    kit_text,
    loudspeaker_script,
    vietnamese,
)

__all__ = ["Section", "as_of", "leaflet_pdf", "loudspeaker_script", "poster_pdf", "sections"]

MIN_PT = 14.0                  # the smallest type printed: readable without glasses by most
MARGIN = 12.0                  # mm, every side; printers do not print the outer 5 mm or so
MM_PER_PT = 25.4 / 72
LEADING = 1.28                 # line height / type size
BLUE = (11, 61, 145)
INK = (0, 0, 0)
GREY = (70, 70, 70)
WARN_FILL = (255, 243, 205)
SCALES = (1.0, 0.93, 0.86, 0.8, 0.74, 0.68)   # tried in turn until the text fits one page
QR_BORDER = 2                  # quiet zone, in modules (white paper around it adds more)
QR_ERROR = qrcode.constants.ERROR_CORRECT_M
POSTER_SIZES = ("A4", "A3")


@dataclass(frozen=True)
class Section:
    heading: str
    lines: tuple[str, ...]


def sections(content: ContentSet, tr: Tr = vietnamese) -> tuple[Section, ...]:
    """The leaflet's words in reading order, as plain text (the PDF's text layer reads the same)."""
    kit = kit_text(content, "", tr)
    steps = kit.steps
    return (Section(kit.title, (kit.lead,)),
            Section(steps[0].title, (steps[0].text,)),
            Section(steps[1].title, (steps[1].text,)),
            Section(steps[2].title, tuple(f"{h.carrier}: {h.number} – {h.note}"
                                          for h in kit.hotlines)),
            Section("", (kit.scam,)))


def qr_image(url: str) -> Image.Image:
    code = qrcode.QRCode(border=QR_BORDER, error_correction=QR_ERROR)
    code.add_data(url)
    code.make(fit=True)
    return code.make_image().get_image()


class Sheet:
    """One PDF being laid out at one scale of type."""

    def __init__(self, size: str, scale: float, kit: KitText) -> None:
        pdf = FPDF(format=size, unit="mm")
        pdf.set_margins(MARGIN, MARGIN, MARGIN)
        pdf.set_auto_page_break(auto=True, margin=MARGIN)
        pdf.add_font("Noto", "", str(noto("Regular")))
        pdf.add_font("Noto", "B", str(noto("Bold")))
        pdf.set_title(kit.title)
        pdf.set_lang(kit.lang)
        pdf.set_creator("Loa")
        pdf.add_page()
        self.pdf, self.scale = pdf, scale
        self.width = pdf.w - 2 * MARGIN

    def pt(self, base: float) -> float:
        return max(MIN_PT, round(base * self.scale, 1))

    def line(self, size: float) -> float:
        return size * MM_PER_PT * LEADING

    def font(self, base: float, bold: bool = False) -> float:
        size = self.pt(base)
        self.pdf.set_font("Noto", "B" if bold else "", size)
        return size

    def height(self, text: str, base: float, bold: bool = False,
               width: float | None = None) -> float:
        size = self.font(base, bold)
        return float(self.pdf.multi_cell(width or self.width, self.line(size), text,
                                         dry_run=True, output="HEIGHT"))

    def room(self, needed: float) -> None:
        """A new page when `needed` mm do not fit below; a block is never split if avoidable."""
        if self.pdf.get_y() + needed > self.pdf.h - MARGIN and self.pdf.get_y() > MARGIN + 1:
            self.pdf.add_page()

    def text(self, text: str, base: float, *, bold: bool = False, align: str = "L",
             color: tuple[int, int, int] = INK, x: float | None = None,
             width: float | None = None, after: float = 0.0) -> None:
        size = self.font(base, bold)
        self.pdf.set_text_color(*color)
        self.pdf.set_x(MARGIN if x is None else x)
        self.pdf.multi_cell(width or self.width, self.line(size), text, align=align,
                            new_x="LEFT", new_y="NEXT")
        self.pdf.set_x(MARGIN)
        if after:
            self.pdf.ln(after * self.scale)

    def band(self, text: str, base: float, fill: tuple[int, int, int],
             color: tuple[int, int, int] = INK, bold: bool = True, pad: float = 3.0,
             align: str = "C", gap: float = 2.5) -> None:
        """Text on a coloured band the width of the text column (inside the margins)."""
        pad *= self.scale
        height = self.height(text, base, bold, self.width - 2 * pad) + 2 * pad
        self.room(height)
        top = self.pdf.get_y()
        self.pdf.set_fill_color(*fill)
        self.pdf.rect(MARGIN, top, self.width, height, style="F")
        self.pdf.set_y(top + pad)
        self.text(text, base, bold=bold, align=align, color=color, x=MARGIN + pad,
                  width=self.width - 2 * pad)
        self.pdf.set_y(top + height + gap * self.scale)

    def step(self, number: int, title: str, text: str, base_title: float,
             base_text: float) -> None:
        """A numbered step: the number in a blue disc, its title and text beside it."""
        disc = self.line(self.pt(base_title)) * 1.25
        indent = disc + 4 * self.scale
        width = self.width - indent
        self.room(self.height(title, base_title, True, width)
                  + (self.height(text, base_text, False, width) if text else 0))
        top = self.pdf.get_y()
        self.pdf.set_fill_color(*BLUE)
        self.pdf.circle(MARGIN + disc / 2, top + disc / 2, disc / 2, style="F")
        self.font(base_title, True)
        self.pdf.set_text_color(255, 255, 255)
        self.pdf.set_xy(MARGIN, top)
        self.pdf.cell(disc, disc, str(number), align="C")
        self.pdf.set_y(top + max(0.0, (disc - self.line(self.pt(base_title))) / 2))
        self.text(title, base_title, bold=True, color=BLUE, x=MARGIN + indent, width=width)
        if text:
            self.text(text, base_text, x=MARGIN + indent, width=width)
        self.pdf.set_y(max(self.pdf.get_y(), top + disc) + 2.5 * self.scale)

    def hotlines(self, rows: tuple[Hotline, ...], carrier: float, number: float,
                 note: float) -> None:
        """The hotlines in a box, one line each: carrier, number (the largest), free or price."""
        pad = 3 * self.scale
        inner = self.width - 2 * pad
        self.font(carrier, True)
        carrier_w = max(self.pdf.get_string_width(r.carrier) for r in rows) + 4 * self.scale
        self.font(number, True)
        number_w = max(self.pdf.get_string_width(r.number) for r in rows) + 5 * self.scale
        rest = inner - carrier_w - number_w
        row = self.line(self.pt(number)) * 0.95
        notes = [self.height(r.note, note, False, rest) if rest > 25 else 0.0 for r in rows]
        heights = [max(row, n) if rest > 25 else row + self.height(r.note, note, False, inner)
                   for r, n in zip(rows, notes, strict=True)]
        self.room(sum(heights) + 2 * pad)
        top = self.pdf.get_y()
        y = top + pad
        for r, height, note_h in zip(rows, heights, notes, strict=True):
            self.pdf.set_text_color(*INK)
            self.font(carrier, True)
            self.pdf.set_xy(MARGIN + pad, y)
            self.pdf.cell(carrier_w, row, r.carrier)
            self.font(number, True)
            self.pdf.set_text_color(*BLUE)
            self.pdf.cell(number_w, row, r.number)
            if rest > 25:
                self.pdf.set_y(y + max(0.0, (row - note_h) / 2))
                self.text(r.note, note, x=MARGIN + pad + carrier_w + number_w, width=rest)
            else:
                self.pdf.set_y(y + row)
                self.text(r.note, note, x=MARGIN + pad, width=inner)
            y += height
        self.pdf.set_draw_color(*BLUE)
        self.pdf.set_line_width(0.8 * self.scale)
        self.pdf.rect(MARGIN + 0.5, top, self.width - 1, y + pad - top)
        self.pdf.set_y(y + pad + 3 * self.scale)

    def qr(self, url: str, caption: str, side: float, base_caption: float,
           base_url: float) -> None:
        """The QR code to the web chat, the caption and the address written out beside it."""
        side *= self.scale
        gap = 5 * self.scale
        width = self.width - side - gap
        self.room(max(side, self.height(caption, base_caption, False, width)
                      + self.height(url, base_url, True, width)))
        top = self.pdf.get_y()
        self.pdf.image(qr_image(url), x=MARGIN, y=top, w=side, h=side)
        self.text(caption, base_caption, x=MARGIN + side + gap, width=width)
        self.text(url, base_url, bold=True, color=BLUE, x=MARGIN + side + gap, width=width)
        self.pdf.set_y(max(self.pdf.get_y(), top + side) + 2 * self.scale)

    def output(self) -> bytes:
        return bytes(self.pdf.output())


def fitted(size: str, kit: KitText, draw: Callable[[Sheet], None],
           scale: float = 1.0) -> bytes:
    """The kit laid out at the largest scale of type that fits one page (see module doc)."""
    for step in SCALES:
        sheet = Sheet(size, scale * step, kit)
        draw(sheet)
        if sheet.pdf.page_no() == 1:
            break
    return sheet.output()


def draw_leaflet(sheet: Sheet, kit: KitText, url: str) -> None:
    sheet.band(kit.title, 30, BLUE, (255, 255, 255))
    sheet.text(kit.for_commune, 23, bold=True, align="C", color=BLUE, after=2)
    sheet.text(kit.lead, 18, after=3)
    first, second, third = kit.steps
    sheet.step(1, first.title, first.text, 21, 18)
    sheet.step(2, second.title, second.text, 21, 18)
    sheet.step(3, third.title, third.text, 21, 18)
    sheet.hotlines(kit.hotlines, 21, 32, 18)
    sheet.band(kit.scam, 17, WARN_FILL, pad=2.5, align="L", gap=3.0)   # the warning
    sheet.qr(url, kit.qr_caption, 40, 17, 16)
    sheet.text(kit.updated, 14, align="R", color=GREY)


def draw_poster(sheet: Sheet, kit: KitText, url: str) -> None:
    sheet.band(kit.poster_headline, 40, BLUE, (255, 255, 255), pad=4)
    sheet.text(kit.for_commune, 26, bold=True, align="C", color=BLUE, after=3)
    sheet.text(kit.lead, 22, align="C", after=4)
    sheet.text(kit.poster_action, 29, bold=True, align="C", after=4)
    sheet.text(kit.poster_hotlines, 22, align="C", after=1)
    sheet.hotlines(kit.hotlines, 27, 44, 21)
    sheet.qr(url, kit.qr_caption, 45, 17, 16)
    sheet.text(kit.updated, 14, align="R", color=GREY)


def leaflet_pdf(content: ContentSet, commune: str, chat_url: str, tr: Tr) -> bytes:
    """The A4 leaflet of a commune, in the language of `content` and `tr`."""
    kit = kit_text(content, commune, tr)
    return fitted("A4", kit, lambda sheet: draw_leaflet(sheet, kit, chat_url))


def poster_pdf(content: ContentSet, commune: str, chat_url: str, tr: Tr,
               size: str = "A4") -> bytes:
    """The poster of a commune on A4 or A3: the A3 sets everything √2 larger (same layout)."""
    if size not in POSTER_SIZES:
        raise ValueError(f"poster size must be one of {POSTER_SIZES}")
    kit = kit_text(content, commune, tr)
    scale = 2 ** 0.5 if size == "A3" else 1.0
    return fitted(size, kit, lambda sheet: draw_poster(sheet, kit, chat_url), scale)
