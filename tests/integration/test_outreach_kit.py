"""The outreach kit as a citizen and an officer meet it (issue 17): the PDFs are rendered to
images and read back with pdfium (page size, type size of every character, ink only inside the
margins, the words and numbers printed, the QR code's modules), the loudspeaker script is read
as a listener hears it, and the kit pages are driven through the real app: language choice,
fallback to Vietnamese, refusal to print a QR code to a non-public address, one-click logging.
"""
from __future__ import annotations

import ctypes
import re
from dataclasses import replace

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest
import qrcode
from aiohttp import CookieJar
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image
from support.officers import login_as
from support.outreach import ROOT

from bot.app import build_app
from bot.core.content import load_content
from bot.features.outreach.reports import kit_speech, kit_text
from bot.features.outreach.reports.kit_text import vietnamese
from bot.features.outreach.reports.leaflet import (
    MARGIN,
    QR_BORDER,
    QR_ERROR,
    leaflet_pdf,
    loudspeaker_script,
    poster_pdf,
)

CONTENT = load_content(ROOT / "content", "vi")
URL = "https://loa.example.gov.vn/"
A4, A3 = (595.28, 841.89), (841.89, 1190.55)
MM = 72 / 25.4                               # points per millimetre


# -- reading a PDF back, as a viewer shows it -------------------------------------------------

def pages(pdf: bytes) -> list[pdfium.PdfPage]:
    return list(pdfium.PdfDocument(pdf))


def text_of(pdf: bytes) -> str:
    """All pages' text, whitespace collapsed (a line break where a line wraps reads as a space)."""
    return " ".join(" ".join(p.get_textpage().get_text_bounded().split()) for p in pages(pdf))


def char_sizes(page: pdfium.PdfPage) -> list[tuple[str, float]]:
    """(character, type size in points) of every visible character on the page."""
    text = page.get_textpage()
    out = []
    for i in range(text.count_chars()):
        char = chr(pdfium_c.FPDFText_GetUnicode(text.raw, i))
        if not char.isspace():
            out.append((char, pdfium_c.FPDFText_GetFontSize(text.raw, i)))
    return out


def ink_outside_margins(page: pdfium.PdfPage, band_mm: float = MARGIN - 1.5) -> list[str]:
    """The sides of the page with any non-white pixel in the outer `band_mm` (1 px = 1 pt)."""
    image = page.render(scale=1).to_pil().convert("L")
    band = round(band_mm * MM)
    w, h = image.size
    strips = {"top": (0, 0, w, band), "bottom": (0, h - band, w, h),
              "left": (0, 0, band, h), "right": (w - band, 0, w, h)}
    return [side for side, box in strips.items() if image.crop(box).getextrema()[0] < 245]


def fonts_of(page: pdfium.PdfPage) -> set[tuple[str, bool]]:
    """(font name, embedded) of every text object on the page."""
    out = set()
    for obj in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_TEXT]):
        font = pdfium_c.FPDFTextObj_GetFont(obj.raw)
        length = pdfium_c.FPDFFont_GetFontName(font, None, 0)
        name = ctypes.create_string_buffer(length)
        pdfium_c.FPDFFont_GetFontName(font, name, length)
        out.add((name.value.decode(), bool(pdfium_c.FPDFFont_GetIsEmbedded(font))))
    return out


def size_is(page: pdfium.PdfPage, expected: tuple[float, float]) -> bool:
    return all(abs(a - b) < 0.5 for a, b in zip(page.get_size(), expected, strict=True))


def assert_readable(pdf: bytes, size: tuple[float, float]) -> None:
    """Every page: the paper size, no character under 14 pt, no ink in the margins."""
    for page in pages(pdf):
        assert size_is(page, size), page.get_size()
        sizes = char_sizes(page)
        assert sizes and min(s for _, s in sizes) >= 14 - 0.05, min(sizes, key=lambda c: c[1])
        assert ink_outside_margins(page) == []


def qr_modules(pdf: bytes) -> list[list[bool]]:
    """The QR code's modules as printed: the page rendered at 288 dpi, each module sampled at
    its centre inside the image's box on the page."""
    page = pages(pdf)[0]
    image_obj = next(page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE]))
    left, bottom, right, top = image_obj.get_pos()
    scale = 4
    picture: Image.Image = page.render(scale=scale).to_pil().convert("L")
    height = page.get_size()[1]
    n = len(expected_modules(URL))
    step_x, step_y = (right - left) * scale / n, (top - bottom) * scale / n
    return [[picture.getpixel((int(left * scale + (c + 0.5) * step_x),
                               int((height - top) * scale + (r + 0.5) * step_y))) < 128
             for c in range(n)] for r in range(n)]


def expected_modules(url: str) -> list[list[bool]]:
    code = qrcode.QRCode(border=QR_BORDER, error_correction=QR_ERROR)
    code.add_data(url)
    code.make(fit=True)
    return code.get_matrix()


@pytest.fixture(scope="module")
def leaflet() -> bytes:
    return leaflet_pdf(CONTENT, "Xã Ea Súp", URL, vietnamese)


# -- the leaflet ------------------------------------------------------------------------------

def test_leaflet_is_one_a4_page_in_large_type_inside_the_margins(leaflet):
    assert len(pages(leaflet)) == 1
    assert_readable(leaflet, A4)
    assert fonts_of(pages(leaflet)[0]) == {("Noto Sans", True)}       # embedded, both weights


def test_leaflet_says_three_steps_and_the_hotlines_and_nothing_paper_cannot_do(leaflet):
    text = text_of(leaflet)
    assert "Tắt sóng 2G: bà con cần biết" in text and "Dành cho bà con Xã Ea Súp" in text
    assert "Theo lộ trình của Nhà nước, sóng 2G đã dừng sau ngày 15/9/2026." in text
    for step in ("Xem máy còn gọi được không", "Mang máy và SIM đến cửa hàng nhà mạng",
                 "Gọi tổng đài nhà mạng để hỏi", "giữ nguyên số điện thoại"):
        assert step in text
    assert re.search(r"Viettel 1800 8098 miễn phí", text)
    assert re.search(r"VinaPhone 1800 1091 miễn phí", text)
    assert re.search(r"MobiFone 9090 khoảng 200 đ/phút", text)
    assert "1800 1090" not in text                     # MobiFone's unverified number: never
    assert f"Cập nhật ngày {kit_text.as_of(CONTENT)}" in text and URL in text
    for legal in ("Thông tư", "Nghị định", "Căn cứ", "TT-BTTTT"):
        assert legal not in text                      # no legal citations on the leaflet
    for question in CONTENT.check.questions:          # paper cannot run the phone check
        assert question.text not in text
    assert "2G Only" not in text and "IMEI" not in text


def test_the_numbers_are_the_largest_type_on_the_leaflet(leaflet):
    sizes = char_sizes(pages(leaflet)[0])
    body = sorted(s for _, s in sizes)[len(sizes) // 2]           # the median: body text
    assert body >= 16
    hotline_digits = [s for c, s in sizes if c.isdigit() and s > body + 6]
    assert len(hotline_digits) >= len("180080981800109190 90".replace(" ", ""))


def test_leaflet_qr_code_encodes_the_public_web_chat(leaflet):
    assert qr_modules(leaflet) == expected_modules(URL)


def test_a_long_text_is_set_smaller_or_runs_on_but_never_past_the_margins():
    """A translation three times as long as the Vietnamese: still ≥ 14 pt, still inside."""
    def long(msgid: str, **values: object) -> str:
        return " ".join([vietnamese(msgid, **values)] * 3)
    commune = "Xã " + "Ea Kiết Krông Búk Đông " * 3
    pdf = leaflet_pdf(CONTENT, commune, URL + "chat/" + "x" * 60, long)
    assert_readable(pdf, A4)
    assert len(pages(pdf)) == 2
    assert "1800 8098" in text_of(pdf)


# -- the poster -------------------------------------------------------------------------------

@pytest.mark.parametrize(("size", "paper", "number_pt"), [("A4", A4, 36), ("A3", A3, 50)])
def test_poster_in_very_large_type_on_a4_and_a3(size, paper, number_pt):
    pdf = poster_pdf(CONTENT, "Phường Buôn Ma Thuột", URL, vietnamese, size)
    assert len(pages(pdf)) == 1
    assert_readable(pdf, paper)
    text = text_of(pdf)
    assert "Dành cho bà con Phường Buôn Ma Thuột" in text
    assert "Máy không gọi được nữa?" in text and "Vẫn giữ nguyên số điện thoại" in text
    for number in ("1800 8098", "1800 1091", "9090"):
        assert number in text
    sizes = char_sizes(pages(pdf)[0])
    assert max(s for c, s in sizes if c.isdigit()) >= number_pt
    assert sorted(s for _, s in sizes)[len(sizes) // 2] >= number_pt / 2.2   # very large body
    assert qr_modules(pdf) == expected_modules(URL)


def test_poster_refuses_an_unknown_size():
    with pytest.raises(ValueError):
        poster_pdf(CONTENT, "Xã Ea Súp", URL, vietnamese, "A0")


# -- the loudspeaker script -------------------------------------------------------------------

def test_script_is_written_to_be_heard():
    paragraphs = loudspeaker_script(CONTENT, "Xã Phú Hòa 1", vietnamese)
    script = " ".join(paragraphs)
    assert paragraphs[0] == ("Kính thưa bà con Xã Phú Hòa một, sau đây là thông báo về việc "
                             "tắt sóng 2G.")
    assert ("đã dừng sau ngày mười lăm tháng chín năm hai nghìn không trăm hai mươi sáu"
            in script)
    assert script.count("một tám không không, tám không chín tám") == 2      # said twice
    assert script.count("một tám không không, một không chín một") == 2
    assert "chín không chín không, cước khoảng hai trăm đồng một phút" in script
    assert re.findall(r"\d(?!G\b)", script) == []      # no digit a reader must turn into words
    for unwanted in ("2G Only", "IMEI", "(", ")", "•", "①", "②", "③", "OTP", "VoLTE", "http",
                     "quét mã", "bấm nút", "màn hình", "1800", "8098", "1091", "9090"):
        assert unwanted not in script, unwanted


def test_script_reading_time_is_one_to_two_minutes():
    paragraphs = loudspeaker_script(CONTENT, "Xã Ea Súp", vietnamese)
    reading = kit_speech.reading(paragraphs)
    assert reading.rate == 130
    assert reading.words == sum(len(p.split()) for p in paragraphs)
    assert 60 <= reading.seconds <= 120
    assert reading.seconds == round(reading.words * 60 / 130)


# -- the kit pages ----------------------------------------------------------------------------

def _secure_client(server: TestServer) -> CookieJar:
    """An https:// BOT_PUBLIC_URL makes the session cookie Secure: this http test is "https"."""
    return CookieJar(unsafe=True, treat_as_secure_origin=str(server.make_url("/")))


async def test_kit_prints_per_commune_falls_back_to_vietnamese_and_logs_in_one_click(settings):
    s = replace(settings, public_url="https://loa.example.gov.vn")
    server = TestServer(build_app(s))
    await server.start_server()
    async with TestClient(server, cookie_jar=_secure_client(server)) as client:
        await login_as(client, s, "xa-24175", "editor")
        page = await (await client.get("/admin/leaflets")).text()
        assert 'value="24175" selected' in page and 'id="address-problem"' not in page
        assert "Hiện chỉ có bản tiếng Việt." in page and "Tiếng Ê Đê" in page
        options = re.findall(r'<select id="lang"[^>]*>(.*?)</select>', page, re.S)[0]
        assert options.count("<option") == 1            # no language with approved kit text
        assert "Mở áp phích khổ A3 (PDF)" in page and " disabled" not in page

        pdf = await client.get("/admin/leaflets/leaflet.pdf?commune=Hòa Phú&lang=vi")
        assert pdf.status == 200 and pdf.content_type == "application/pdf"
        assert "Dành cho bà con Xã Hòa Phú" in text_of(await pdf.read())
        # The file is named after the commune, never its code (issue 17).
        assert pdf.headers["Content-Disposition"] == \
            'inline; filename="to-roi-2g-xa-hoa-phu-vi.pdf"'
        # Another commune's kit is that commune's to print (issue 17: a commune's reach).
        other = await client.get("/admin/leaflets/leaflet.pdf?commune=Ea Súp&lang=vi")
        assert other.status == 403 and "Tài liệu của Xã Ea Súp do chính xã, phường đó in." in \
            await other.text()
        # A language without approved kit text is printed in Vietnamese, and says so.
        fallback = await client.get("/admin/leaflets/leaflet.pdf?commune=24175&lang=rad")
        assert fallback.status == 200 and fallback.headers["Content-Language"] == "vi"
        body = await fallback.read()
        assert "Dành cho bà con Xã Hòa Phú" in text_of(body) and "-vi.pdf" in \
            fallback.headers["Content-Disposition"]
        poster = await client.get("/admin/leaflets/leaflet.pdf?commune=24175&layout=poster-a3")
        assert poster.status == 200 and size_is(pages(await poster.read())[0], A3)
        assert poster.headers["Content-Disposition"] == \
            'inline; filename="ap-phich-2g-xa-hoa-phu-a3-vi.pdf"'
        for bad in ("?commune=Atlantis", "?commune=24175&layout=poster-a0&lang=%00"):
            response = await client.get("/admin/leaflets/leaflet.pdf" + bad)
            assert response.status in (200, 400), bad          # never a 500
        assert (await client.get("/admin/leaflets/leaflet.pdf?commune=Atlantis")).status == 400

        script = await (await client.get("/admin/leaflets/script?commune=24175&lang=rad")).text()
        assert "Kính thưa bà con Xã Hòa Phú" in script
        assert "một tám không không, tám không chín tám" in script and "1800 8098" not in script
        assert re.search(r"Thời lượng đọc: khoảng 1 phút \d+ giây \(\d+ tiếng, đọc chậm 130 "
                         r"tiếng mỗi phút\)", script)
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


class _Catalog:
    """A minority language's approved strings, as the translations feature installs them."""

    def __init__(self, strings: dict[str, str]) -> None:
        self.strings = strings

    def gettext(self, message: str) -> str:
        return self.strings.get(message, message)


@pytest.mark.sqlite_only   # about languages: the database adds nothing here
async def test_an_approved_language_is_offered_and_printed(settings):
    s = replace(settings, public_url="https://loa.example.gov.vn")
    server = TestServer(build_app(s))
    await server.start_server()
    async with TestClient(server, cookie_jar=_secure_client(server)) as client:
        from bot.web.keys import RUNTIME
        runtime = client.server.app[RUNTIME]
        vi = runtime.conversation.contents["vi"]
        runtime.conversation.install_language("rad", replace(
            vi, lang="rad", translated=frozenset(kit_text.KIT_TOPICS)))
        approved = {m: f"[rad] {vietnamese(m)}" for m in kit_text.PRINTED}
        runtime.translator.set_catalog("rad", _Catalog(approved))
        await login_as(client, s, "xa-24175", "editor")
        page = await (await client.get("/admin/leaflets")).text()
        options = re.findall(r'<select id="lang"[^>]*>(.*?)</select>', page, re.S)[0]
        assert 'value="rad"' in options and "Tiếng Ê Đê" in options
        assert "Tờ rơi và áp phích in được cả bằng Tiếng Ê Đê" in page
        assert "Hiện chỉ có bản tiếng Việt." not in page
        pdf = await client.get("/admin/leaflets/leaflet.pdf?commune=24175&lang=rad")
        assert pdf.headers["Content-Language"] == "rad"
        text = text_of(await pdf.read())
        assert "[rad] Dành cho bà con Xã Hòa Phú" in text and "1800 8098" in text
        # One kit string loses its approval (stale, sent back): the language is no longer
        # offered, and what is asked for in it is printed in Vietnamese.
        del approved[kit_text.SCAM]
        page = await (await client.get("/admin/leaflets")).text()
        assert 'value="rad"' not in page
        pdf = await client.get("/admin/leaflets/leaflet.pdf?commune=24175&lang=rad")
        assert pdf.headers["Content-Language"] == "vi" and "[rad]" not in text_of(await pdf.read())


@pytest.mark.sqlite_only   # about the address: the database adds nothing here
async def test_no_qr_code_to_a_non_public_address_reaches_paper(client, settings):
    """The test app's BOT_PUBLIC_URL is http://127.0.0.1:…: the page says what to do, and the
    PDF routes answer 409 with that page instead of a leaflet."""
    assert settings.public_url.startswith("http://")
    await login_as(client, settings, "xa-24175", "editor")
    page = await (await client.get("/admin/leaflets")).text()
    assert 'id="address-problem"' in page and "Chưa in được tờ rơi và áp phích." in page
    # a commune officer reads it in plain words (review of issue 17, F17): no variable names
    assert ("Máy chủ chưa có địa chỉ công khai https, nên chưa in được mã QR; hãy báo quản "
            "trị viên tỉnh.") in page
    assert "BOT_PUBLIC_URL" not in page and settings.public_url not in page
    assert page.count(" disabled") == 3                 # the three print buttons
    for layout in ("leaflet", "poster-a4", "poster-a3"):
        refused = await client.get(f"/admin/leaflets/leaflet.pdf?commune=24175&layout={layout}")
        assert refused.status == 409 and refused.content_type == "text/html"
        assert "Chưa in được tờ rơi và áp phích." in await refused.text()
    script = await client.get("/admin/leaflets/script?commune=24175")
    assert script.status == 200                         # the loudspeakers need no address
