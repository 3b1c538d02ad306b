"""The offline outreach kit: a printable A4 leaflet (PDF, Noto Sans embedded, QR code to the web
chat) and a loudspeaker script, for people who cannot use Telegram or Zalo at all.

Every fact is taken from the Vietnamese content files (content/vi): the dates from timeline,
how to tell an affected phone from affected and check.yml, help and hotlines from contact and
menu.yml's help_line. Only headings and the commune line are interface strings. Only
Vietnamese exists: minority-language text is never produced here (../shared/languages.md).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import qrcode
from fpdf import FPDF

from bot.core.content import ContentSet
from bot.features.outreach.reports.fonts import noto

Tr = Callable[..., str]
LEAFLET_TOPICS = ("timeline", "affected", "contact")   # key dates, which phones, where to ask


@dataclass(frozen=True)
class Section:
    heading: str
    lines: tuple[str, ...]


def sections(content: ContentSet) -> tuple[Section, ...]:
    """The leaflet's text, straight from the content files, in reading order."""
    out = []
    for topic_id in LEAFLET_TOPICS[:2]:
        topic = content.topics[topic_id]
        out.append(Section(topic.title, tuple(topic.body.splitlines())))
    check = content.check
    out.append(Section(check.title, (check.intro, *(f"• {q.text}" for q in check.questions))))
    contact = content.topics[LEAFLET_TOPICS[2]]
    out.append(Section(contact.title, tuple(contact.body.splitlines())))
    return tuple(out)


def as_of(content: ContentSet) -> str:
    dates = [content.topics[t].as_of for t in LEAFLET_TOPICS] + [content.check.as_of]
    return max(dates).strftime("%d/%m/%Y")


def leaflet_pdf(content: ContentSet, commune: str, chat_url: str, tr: Tr) -> bytes:
    pdf = FPDF(format="A4", unit="mm")
    pdf.set_margins(14, 12, 14)
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.add_font("Noto", "", str(noto("Regular")))
    pdf.add_font("Noto", "B", str(noto("Bold")))
    pdf.set_title(tr("End of 2G mobile service: what you need to know"))
    pdf.set_creator("Loa")
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin
    pdf.set_fill_color(11, 61, 145)
    pdf.set_text_color(255, 255, 255)
    pdf.set_font("Noto", "B", 19)
    pdf.multi_cell(width, 10, tr("End of 2G mobile service: what you need to know"),
                   fill=True, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    pdf.set_font("Noto", "B", 12)
    pdf.multi_cell(width, 7, tr("For the people of {commune}", commune=commune), align="C",
                   new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)
    for section in sections(content):
        pdf.set_font("Noto", "B", 12)
        pdf.set_text_color(11, 61, 145)
        pdf.multi_cell(width, 6, section.heading, new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(0, 0, 0)
        pdf.set_font("Noto", "", 9.6)
        for line in section.lines:
            pdf.multi_cell(width, 4.5, line, align="L", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1.2)
    # Hotlines in a box, the QR code for relatives beside it.
    qr_size = 30
    if pdf.get_y() + qr_size + 14 > pdf.h - pdf.b_margin:
        pdf.add_page()
    top = pdf.get_y() + 1
    box = width - qr_size - 4
    pdf.set_xy(pdf.l_margin, top)
    pdf.set_draw_color(11, 61, 145)
    pdf.set_line_width(0.6)
    pdf.set_font("Noto", "B", 12.5)
    pdf.multi_cell(box, 7, content.help_line, border=1, align="C", padding=2,
                   new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Noto", "", 9)
    pdf.set_x(pdf.l_margin)
    pdf.multi_cell(box, 4.5, tr("Relatives with a smartphone can scan the code to ask Loa "
                                "for the family:") + f" {chat_url}",
                   new_x="LMARGIN", new_y="NEXT")
    code = qrcode.QRCode(border=1, error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data(chat_url)
    code.make(fit=True)
    pdf.image(code.make_image().get_image(), x=pdf.l_margin + box + 4, y=top, w=qr_size)
    pdf.set_y(max(pdf.get_y(), top + qr_size) + 2)
    pdf.set_font("Noto", "", 8)
    pdf.set_text_color(80, 80, 80)
    pdf.multi_cell(width, 4, tr("Updated {date}", date=as_of(content)), align="R",
                   new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def loudspeaker_script(content: ContentSet, commune: str, tr: Tr) -> list[str]:
    """Paragraphs to read out on the commune loudspeakers."""
    paragraphs = [tr("Dear people of {commune}, here is an announcement about the end of 2G "
                     "mobile service.", commune=commune)]
    for section in sections(content):
        paragraphs.append(section.heading)
        paragraphs.extend(line.lstrip("• ").strip() for line in section.lines if line.strip())
    paragraphs.append(content.help_line)
    paragraphs.append(tr("We repeat: {help_line}", help_line=content.help_line))
    return paragraphs
