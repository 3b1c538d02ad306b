"""The outreach kit's words (issue 17): Vietnamese numbers and dates as a loudspeaker reader says
them, which addresses may be printed as the QR code, which languages the kit may be printed in,
and the kit's interface strings in locales/vi/LC_MESSAGES/loa_kit.po."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace
from pathlib import Path

import polib
import pytest
from jinja2 import Environment

from bot.core.content import load_content
from bot.core.i18n import GettextTranslator
from bot.features.outreach.reports import kit_speech, kit_text
from bot.features.outreach.reports.kit_address import AddressProblem, address_problem, chat_address
from bot.features.outreach.reports.kit_speech import say_date, say_digits, say_number, spoken

ROOT = Path(__file__).resolve().parents[2]
CONTENT = load_content(ROOT / "content", "vi")
LOCALES = ROOT / "locales" / "vi" / "LC_MESSAGES"
TEMPLATES = ROOT / "bot" / "features" / "outreach" / "templates"


# -- spoken Vietnamese ------------------------------------------------------------------------

@pytest.mark.parametrize(("n", "words"), [
    (0, "không"), (5, "năm"), (10, "mười"), (14, "mười bốn"), (15, "mười lăm"),
    (21, "hai mươi mốt"), (24, "hai mươi tư"), (25, "hai mươi lăm"), (105, "một trăm lẻ năm"),
    (200, "hai trăm"), (2026, "hai nghìn không trăm hai mươi sáu"),
    (200_000, "hai trăm nghìn"), (1_000_005, "một triệu không trăm lẻ năm")])
def test_numbers_are_said_as_quantities(n, words):
    assert say_number(n) == words


def test_phone_numbers_digit_by_digit_dates_and_prices_in_words():
    assert say_digits("1800 8098") == "một tám không không, tám không chín tám"
    assert say_digits("9090") == "chín không chín không"
    assert say_date(dt.date(2026, 9, 15)) == ("mười lăm tháng chín năm hai nghìn không trăm "
                                              "hai mươi sáu")
    assert say_date(dt.date(2024, 4, 1)) == "mùng một tháng tư năm hai nghìn không trăm hai mươi tư"
    assert spoken("sau ngày 15/9/2026") == ("sau ngày mười lăm tháng chín năm hai nghìn không "
                                            "trăm hai mươi sáu")
    assert spoken("tháng 9/2028") == "tháng chín năm hai nghìn không trăm hai mươi tám"
    assert spoken("khoảng 200 đ/phút") == "khoảng hai trăm đồng một phút"
    assert spoken("200.000–500.000 đ") == "hai trăm nghìn đến năm trăm nghìn đồng"
    assert spoken("sóng 2G và 4G, Xã Phú Hòa 2") == "sóng 2G và 4G, Xã Phú Hòa hai"
    assert spoken("31/2/2026 99,8%") == ("ba mươi mốt/hai/hai nghìn không trăm hai mươi sáu "
                                         "chín mươi chín phẩy tám phần trăm")   # never digits


def test_reading_time_at_the_stated_rate():
    reading = kit_speech.reading(["một hai ba"] * 65)          # 195 syllables
    assert (reading.words, reading.seconds, reading.rate) == (195, 90, 130)


# -- the QR code's address --------------------------------------------------------------------

@pytest.mark.parametrize(("url", "problem"), [
    ("", AddressProblem.EMPTY),
    ("http://loa.daklak.gov.vn", AddressProblem.NOT_HTTPS),
    ("http://127.0.0.1:8080", AddressProblem.NOT_HTTPS),
    ("ftp://loa.daklak.gov.vn", AddressProblem.NOT_HTTPS),
    ("https://localhost:8443", AddressProblem.LOCAL),
    ("https://127.0.0.1", AddressProblem.LOCAL),
    ("https://10.1.2.3", AddressProblem.LOCAL),
    ("https://172.16.0.9", AddressProblem.LOCAL),
    ("https://192.168.1.20:8080", AddressProblem.LOCAL),
    ("https://169.254.1.1", AddressProblem.LOCAL),
    ("https://[::1]", AddressProblem.LOCAL),
    ("https://[fd00::1]", AddressProblem.LOCAL),
    ("https://0.0.0.0", AddressProblem.LOCAL),
    ("https://loa.local", AddressProblem.LOCAL),
    ("https://loa.internal", AddressProblem.LOCAL),
    ("https://loa", AddressProblem.LOCAL),
    ("https://", AddressProblem.INVALID),
    ("https://admin:secret@loa.daklak.gov.vn", AddressProblem.INVALID),
    ("https://loa.daklak.gov.vn:99999", AddressProblem.INVALID),
    ("https://[::1", AddressProblem.INVALID),
    ("https://loa.daklak.gov.vn", None),
    ("https://loa.daklak.gov.vn/", None),
    ("HTTPS://Loa.DakLak.gov.vn/chat", None),
    ("https://203.113.1.5", None),
])
def test_only_a_public_https_address_can_be_printed(url, problem):
    assert address_problem(url) == problem


def test_the_chat_address_is_the_sites_root_page():
    assert chat_address("https://loa.daklak.gov.vn") == "https://loa.daklak.gov.vn/"
    assert chat_address(" https://loa.daklak.gov.vn/ ") == "https://loa.daklak.gov.vn/"


# -- languages --------------------------------------------------------------------------------

def _translate(approved: dict[str, dict[str, str]]):
    """Translator.gettext as the runtime's: a minority language's approved strings, else vi."""
    def translate(lang: str, msgid: str, /, **values: object) -> str:
        return approved.get(lang, {}).get(msgid) or kit_text.vietnamese(msgid, **values)
    return translate


def test_a_language_is_printed_only_when_its_topics_and_kit_strings_are_approved():
    all_kit = {m: f"[rad] {m}" for m in kit_text.PRINTED}
    rad = replace(CONTENT, lang="rad", translated=frozenset(kit_text.KIT_TOPICS))
    jra = replace(CONTENT, lang="jra", translated=frozenset(kit_text.KIT_TOPICS - {"contact"}))
    contents = {"vi": CONTENT, "rad": rad, "jra": jra}
    translate = _translate({"rad": all_kit, "jra": {m: f"[jra] {m}" for m in kit_text.PRINTED}})
    assert kit_text.approved_languages(contents, translate) == ("rad",)   # jra: a topic missing
    one_missing = dict(all_kit)
    del one_missing[kit_text.FREE]                                        # a draft, not shipped
    assert kit_text.approved_languages(contents, _translate({"rad": one_missing})) == ()
    assert kit_text.approved_languages({"vi": CONTENT}, translate) == ()
    assert kit_text.print_language("rad", ("rad",)) == "rad"
    for asked in ("jra", "xx", "", "vi", "../rad"):
        assert kit_text.print_language(asked, ("rad",)) == "vi"


def test_kit_text_takes_every_number_from_the_facts():
    facts = {**CONTENT.facts, "hotline_viettel": replace(CONTENT.facts["hotline_viettel"],
                                                          value="1800 7777")}
    changed = replace(CONTENT, facts=facts)
    kit = kit_text.kit_text(changed, "Xã Ea Súp", kit_text.vietnamese)
    assert [(h.carrier, h.number, h.note) for h in kit.hotlines] == [
        ("Viettel", "1800 7777", "miễn phí"), ("VinaPhone", "1800 1091", "miễn phí"),
        ("MobiFone", "9090", "khoảng 200 đ/phút")]
    script = " ".join(kit_text.loudspeaker_script(changed, "Xã Ea Súp", kit_text.vietnamese))
    assert "một tám không không, bảy bảy bảy bảy" in script and "tám không chín tám" not in script
    with pytest.raises(kit_text.MissingFact):
        kit_text.kit_text(replace(CONTENT, facts={}), "Xã Ea Súp", kit_text.vietnamese)


# -- the kit's strings ------------------------------------------------------------------------

def _template_msgids() -> set[str]:
    env = Environment(extensions=["jinja2.ext.i18n"])
    ids: set[str] = set()
    for path in sorted(TEMPLATES.glob("kit_*.html")):
        for _, _, message in env.extract_translations(path.read_text(encoding="utf-8")):
            ids.update(m for m in (message if isinstance(message, tuple) else (message,)) if m)
    return ids


def test_every_kit_string_has_its_vietnamese_in_loa_kit_po_and_nothing_else_is_there():
    catalog = {e.msgid: e for e in polib.pofile(str(LOCALES / "loa_kit.po"))}
    used = (set(kit_text.MSGIDS) - kit_text.SHARED) | _template_msgids()
    assert sorted(m for m in used if m not in catalog or not catalog[m].msgstr
                  or catalog[m].fuzzy) == []
    assert sorted(set(catalog) - used) == []
    for msgid in used:
        assert set(re.findall(r"{(\w+)}", msgid)) == set(re.findall(r"{(\w+)}",
                                                                    catalog[msgid].msgstr))
    reports = {e.msgid: e.msgstr for e in polib.pofile(str(LOCALES / "loa_reports.po"))}
    assert all(reports.get(m) for m in kit_text.SHARED)        # the strings shared with it
    # Catalogs are chained (loa.mo first, then by name): nothing earlier overrides these.
    translator = GettextTranslator(ROOT / "locales")
    assert [m for m in used if translator.gettext("vi", m) != catalog[m].msgstr] == []


def test_the_kit_asks_for_exactly_the_strings_whose_approval_it_checks():
    seen: set[str] = set()

    def tr(msgid: str, **values: object) -> str:
        seen.add(msgid)
        return kit_text.vietnamese(msgid, **values)
    kit_text.kit_text(CONTENT, "Xã Ea Súp", tr)
    assert seen == set(kit_text.PRINTED)
    seen.clear()
    kit_text.loudspeaker_script(CONTENT, "Xã Ea Súp", tr)
    assert seen == set(kit_text.SPOKEN)


def test_translators_get_every_printed_kit_string():
    """The ethnic-language desks can translate and approve the leaflet: its printed strings are
    in the citizens' strings every language catalog carries (translations update)."""
    from bot.features.translations.rules import citizen_msgids
    assert set(kit_text.PRINTED) <= set(citizen_msgids())
    assert not set(kit_text.SPOKEN) - set(kit_text.PRINTED) & set(citizen_msgids())
