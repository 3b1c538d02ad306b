"""The offline outreach kit: the A4 leaflet PDF (Noto Sans embedded, facts from content/vi, a QR
code to the web chat), the loudspeaker script, one-click logging, and no minority-language
text produced.

The PDF is read back with a small reader below (text through the fonts' ToUnicode maps, the QR
image decoded by Pillow's CCITT G4 decoder), since no PDF library is installed.
"""
from __future__ import annotations

import io
import re
import struct
import zlib
from dataclasses import replace

import qrcode
from aiohttp import CookieJar
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image
from support.officers import login_as
from support.outreach import ROOT, tr

from bot.app import build_app
from bot.core.content import load_content
from bot.features.outreach.reports.leaflet import as_of, leaflet_pdf, loudspeaker_script, sections

CONTENT = load_content(ROOT / "content", "vi")
URL = "https://loa.example.gov.vn/"


# -- a small PDF reader ----------------------------------------------------------------------

def _objects(pdf: bytes) -> dict[int, tuple[bytes, bytes | None]]:
    out = {}
    for match in re.finditer(rb"(\d+) 0 obj\s*(<<.*?>>)\s*(stream\r?\n|endobj)", pdf, re.S):
        number, head = int(match[1]), match[2]
        stream = None
        if match[3] != b"endobj":
            length = int(re.search(rb"/Length (\d+)", head)[1])
            stream = pdf[match.end():match.end() + length]
            if b"/FlateDecode" in head:
                stream = zlib.decompress(stream)
        out[number] = (b" ".join(head.split()), stream)
    return out


def _unescape(literal: bytes) -> bytes:
    out, i = bytearray(), 0
    while i < len(literal):
        c = literal[i]
        if c == 0x5C:                      # backslash
            nxt = literal[i + 1:i + 2]
            if nxt.isdigit():
                digits = re.match(rb"[0-7]{1,3}", literal[i + 1:])[0]
                out.append(int(digits, 8))
                i += 1 + len(digits)
                continue
            out += {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}.get(
                nxt, nxt)
            i += 2
            continue
        out.append(c)
        i += 1
    return bytes(out)


def pdf_text(pdf: bytes) -> tuple[str, set[str]]:
    """The page's text (one line per string drawn) and the embedded font names."""
    objects = _objects(pdf)
    cmaps: dict[str, dict[int, str]] = {}
    fonts: set[str] = set()
    page = next(head for head, _ in objects.values() if re.search(rb"/Type /Page\b(?!s)", head))
    resources = objects[int(re.search(rb"/Resources (\d+) 0 R", page)[1])][0]
    for name, number in re.findall(rb"/(F\d+) (\d+) 0 R", resources):
        head = objects[int(number)][0]
        fonts.add(re.search(rb"/BaseFont /\w+\+(\w+)", head)[1].decode())
        cmap = objects[int(re.search(rb"/ToUnicode (\d+) 0 R", head)[1])][1] or b""
        table = {}
        for block in re.findall(rb"beginbfchar(.*?)endbfchar", cmap, re.S):
            for src, dst in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
                table[int(src, 16)] = bytes.fromhex(dst.decode()).decode("utf-16-be")
        for block in re.findall(rb"beginbfrange(.*?)endbfrange", cmap, re.S):
            hexes = rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>"
            for lo, hi, dst in re.findall(hexes, block):
                for k in range(int(lo, 16), int(hi, 16) + 1):
                    table[k] = chr(int(dst, 16) + k - int(lo, 16))
        cmaps[name.decode()] = table
        assert b"/FontFile2" in objects[int(re.search(rb"/FontDescriptor (\d+) 0 R",
                                                      objects[int(re.search(
                                                          rb"/DescendantFonts \[(\d+) 0 R",
                                                          head)[1])][0])[1])][0]
    content = objects[int(re.search(rb"/Contents (\d+) 0 R", page)[1])][1] or b""
    lines, font = [], ""
    string = rb"\(((?:\\.|[^\\()])*)\)"
    for match in re.finditer(rb"/(F\d+) [\d.]+ Tf|" + string + rb" Tj|\[(.*?)\] TJ", content,
                             re.S):
        if match[1]:
            font = match[1].decode()
            continue
        parts = [match[2]] if match[2] is not None else re.findall(string, match[3], re.S)
        raw = b"".join(_unescape(p) for p in parts)
        lines.append("".join(cmaps[font].get(int.from_bytes(raw[i:i + 2], "big"), "?")
                             for i in range(0, len(raw), 2)))
    return "\n".join(lines), fonts


def pdf_qr(pdf: bytes) -> Image.Image:
    """The QR code image, decoded as a PDF viewer draws it."""
    objects = _objects(pdf)
    head, data = next(v for v in objects.values() if b"/Subtype /Image" in v[0])
    assert b"/CCITTFaxDecode" in head and b"/BlackIs1 true" in head and data
    width, height = (int(re.search(rb"/" + k + rb" (\d+)", head)[1]) for k in (b"Width",
                                                                             b"Height"))
    # Wrap the G4 data in a one-strip TIFF. With /BlackIs1 true a viewer paints the decoded
    # 0 bits black, which is TIFF's BlackIsZero (photometric 1).
    tags = [(256, 4, width), (257, 4, height), (258, 3, 1), (259, 3, 4), (262, 3, 1),
            (273, 4, 8 + 2 + 12 * 9 + 4), (278, 4, height), (279, 4, len(data)), (293, 4, 0)]
    ifd = struct.pack("<H", len(tags)) + b"".join(
        struct.pack("<HHII", t, kind, 1, v) if kind == 4 else struct.pack("<HHIHH", t, kind, 1,
                                                                          v, 0)
        for t, kind, v in tags) + struct.pack("<I", 0)
    image = Image.open(io.BytesIO(b"II*\x00" + struct.pack("<I", 8) + ifd + data))
    image.load()
    return image.convert("L")


def squash(text: str) -> str:
    return " ".join(text.split())


# -- tests -----------------------------------------------------------------------------------

def test_leaflet_is_one_a4_page_with_noto_sans_and_every_fact_from_content():
    pdf = leaflet_pdf(CONTENT, "Xã Ea Súp", URL, tr)
    assert pdf.startswith(b"%PDF-") and pdf.count(b"/Type /Page\n") == 1
    assert b"/MediaBox [0 0 595.28 841.89]" in pdf                      # A4
    text, fonts = pdf_text(pdf)
    assert fonts == {"NotoSans", "NotoSansBold"}                       # embedded (FontFile2)
    flat = squash(text)
    assert "Tắt sóng 2G: bà con cần biết" in flat and "Dành cho bà con Xã Ea Súp" in flat
    for topic in ("timeline", "affected", "contact"):
        assert squash(CONTENT.topics[topic].title) in flat
        for line in CONTENT.topics[topic].body.splitlines():
            assert squash(line) in flat, line
    for question in CONTENT.check.questions:
        assert squash(question.text) in flat
    assert squash(CONTENT.help_line) in flat and URL in flat
    assert f"Cập nhật ngày {as_of(CONTENT)}" in flat    # the newest as_of of the topics used
    # No fact was typed anew: every line drawn is part of the content or an interface string.
    allowed = " | ".join([squash(x) for sec in sections(CONTENT) for x in (sec.heading,
                                                                          *sec.lines)]
                         + [CONTENT.help_line, tr("End of 2G mobile service: what you need to "
                                                  "know"),
                            tr("For the people of {commune}", commune="Xã Ea Súp"),
                            tr("Relatives with a smartphone can scan the code to ask Loa for "
                               "the family:") + f" {URL}",
                            tr("Updated {date}", date=as_of(CONTENT))])
    for line in text.splitlines():
        assert squash(line) in allowed, line


def test_leaflet_qr_code_points_to_the_web_chat():
    image = pdf_qr(leaflet_pdf(CONTENT, "Xã Ea Súp", URL, tr))
    code = qrcode.QRCode(border=1, error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data(URL)
    code.make(fit=True)
    matrix = code.get_matrix()
    box = image.width // len(matrix)
    seen = [[image.getpixel((c * box + box // 2, r * box + box // 2)) < 128
             for c in range(len(matrix))] for r in range(len(matrix))]
    assert seen == matrix


def test_loudspeaker_script_reads_the_same_facts():
    paragraphs = loudspeaker_script(CONTENT, "Xã Ea Súp", tr)
    assert paragraphs[0] == ("Kính thưa bà con Xã Ea Súp, sau đây là thông báo về việc tắt "
                             "sóng 2G.")
    timeline = [line.lstrip("• ") for line in CONTENT.topics["timeline"].body.splitlines()]
    assert all(line in paragraphs for line in timeline)
    assert paragraphs[-1] == f"Xin nhắc lại: {CONTENT.help_line}"
    assert not any(p.startswith("•") for p in paragraphs)      # bullets are not read out


async def test_kit_pages_log_a_run_in_one_click_and_refuse_minority_text(settings):
    s = replace(settings, public_url="https://loa.example.gov.vn")
    server = TestServer(build_app(s))
    await server.start_server()        # an https:// BOT_PUBLIC_URL makes the cookie Secure:
    jar = CookieJar(unsafe=True, treat_as_secure_origin=str(server.make_url("/")))
    async with TestClient(server, cookie_jar=jar) as client:   # this http test is "https"
        await login_as(client, s, "xa-24175", "editor")
        page = await (await client.get("/admin/leaflets")).text()
        assert 'value="24175" selected' in page
        assert "Hiện chỉ có bản tiếng Việt." in page and "Tiếng Ê Đê" in page
        assert re.findall(r'<select id="lang"[^>]*>(.*?)</select>', page, re.S)[0].count(
            "<option") == 1
        pdf = await client.get("/admin/leaflets/leaflet.pdf?commune=Ea Súp&lang=vi")
        assert pdf.status == 200 and pdf.content_type == "application/pdf"
        text, _ = pdf_text(await pdf.read())
        assert "Dành cho bà con Xã Ea Súp" in squash(text) and URL in squash(text)
        minority = await client.get("/admin/leaflets/leaflet.pdf?commune=24175&lang=rad")
        assert minority.status == 404 and "only Vietnamese text exists" in await minority.text()
        assert (await client.get("/admin/leaflets/leaflet.pdf?commune=Atlantis")).status == 400
        script = await (await client.get("/admin/leaflets/script?commune=24175")).text()
        assert "Kính thưa bà con Xã Hòa Phú" in script and "1800 8098" in script
        csrf = re.search(r'name="csrf" value="([^"]+)"', script)[1]
        done = await client.post("/admin/leaflets/log", data={
            "csrf": csrf, "kind": "loudspeaker", "commune": "24175"})
        assert "Đã ghi nhận 1 lượt vào báo cáo tháng này." in await done.text()
        await client.post("/admin/leaflets/log", data={"csrf": csrf, "kind": "leaflet",
                                                        "commune": "24175"})
        from bot.features.outreach import service as outreach
        from bot.web.keys import RUNTIME
        async with client.server.app[RUNTIME].db.connect() as conn:
            entries = await outreach.list_entries(conn)
        assert [(e.form, e.medium, e.runs, e.communes, e.languages, e.source)
                for e in entries] == [
            ("loudspeaker", "Hệ thống loa truyền thanh xã", 1, "24175", "vi", "kit"),
            ("leaflet", "Tờ rơi in từ Loa", 1, "24175", "vi", "kit")]
        bad = await client.post("/admin/leaflets/log", data={"csrf": csrf, "kind": "tv",
                                                              "commune": "24175"})
        assert bad.status == 400
