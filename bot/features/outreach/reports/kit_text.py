"""The words of the outreach kit (leaflet, poster, loudspeaker script) and the languages it may
be printed in.

The kit restates, for older people, what Loa's checked answers say: three steps in plain words
and the hotlines. Its sentences are interface strings (English msgids below, Vietnamese in
locales/vi/LC_MESSAGES/loa_kit.po, the first few shared with loa_reports.po); every hotline,
date and price in them is a fact from content/facts.yml, put in when the text is built, so an
edit there changes the paper too. No legal citation and no phone check: paper cannot answer.

Languages (../shared/languages.md): the kit is printed in a minority language only when that
language's versions of the topics it restates are approved and current (the conversation's
`contents[lang].translated`) **and** every kit string has an approved translation in the
translator; otherwise in Vietnamese. A draft never reaches paper. Facts print as facts.yml
writes them in every language (numbers; MobiFone's price is Vietnamese words).
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from bot.core.content import ContentSet, Fact
from bot.core.i18n import SOURCE_LANG, GettextTranslator
from bot.features.outreach.reports import kit_speech

Tr = Callable[..., str]
Translate = Callable[..., str]          # Translator.gettext(lang, msgid)

# The topics whose facts and advice the kit restates (lead, steps, hotlines, the scam warning).
KIT_TOPICS = frozenset({"timeline", "affected", "switch", "keep_number", "contact", "scams"})
# (carrier, fact of its number, fact of its price or None when the line is free): the free
# lines and MobiFone's paid one as content-facts.md "Update 2026-12-02" allows, nothing else.
HOTLINES = (("Viettel", "hotline_viettel", None), ("VinaPhone", "hotline_vinaphone", None),
            ("MobiFone", "hotline_mobifone", "hotline_mobifone_price"))
KIT_FACTS = ("date_2g_end", "date_3g_end", *(f for _, n, p in HOTLINES for f in (n, p) if f))

def N_(msgid: str) -> str:
    """Marks a printed string for the translators' catalogs (Babel extracts N_("…"), see
    CITIZEN_SOURCES in bot/features/translations/rules.py); the kit translates it when it
    prints, and prints a language only when all of them are approved."""
    return msgid


# -- strings shared with the earlier leaflet (their Vietnamese is in loa_reports.po, whose
# check reads literal tr("...") calls: they are also written out where they are used) -------
TITLE = N_("End of 2G mobile service: what you need to know")
FOR_COMMUNE = N_("For the people of {commune}")
QR_CAPTION = N_("Relatives with a smartphone can scan the code to ask Loa for the family:")
UPDATED = N_("Updated {date}")
OPENING = "Dear people of {commune}, here is an announcement about the end of 2G mobile service."
REPEAT = "We repeat: {help_line}"

# -- printed (leaflet and poster) --------------------------------------------------------------
LEAD_ENDED = N_("Under the State's roadmap, 2G service ended after {date}.")
LEAD_PHONES = N_("Old phones may no longer be able to make calls.")
STEP1_TITLE = N_("See whether your phone still makes calls")
STEP1_TEXT = N_("A 4G phone with VoLTE (calls over 4G) works as before. If your phone cannot "
                "call, or you are not sure, go to step 2. A 3G phone that still calls should "
                "be changed too: 3G is planned to end in {date}.")
STEP2_TITLE = N_("Take the phone and the SIM to your carrier's shop")
STEP2_TEXT = N_("The staff check the phone, switch on VoLTE or help you change to a 4G phone "
                "with VoLTE. You keep your phone number and the money in your account. Bring "
                "your ID card (CCCD) in case the SIM has to be changed.")
STEP3_TITLE = N_("Call your carrier's hotline to ask")
FREE = N_("free of charge")
SCAM = N_("Be careful: if someone calls and asks you to type a code or read out an OTP to "
          "\u201cupgrade your SIM\u201d, do not do it. Go to the shop or call the hotline "
          "yourself.")
POSTER_HEADLINE = N_("Phone no longer making calls?")
POSTER_ACTION = N_("Take the phone and the SIM to your carrier's shop. You keep your phone "
                   "number.")
POSTER_HOTLINES = N_("Or call your carrier's hotline:")

PRINTED = (TITLE, FOR_COMMUNE, QR_CAPTION, UPDATED, LEAD_ENDED, LEAD_PHONES, STEP1_TITLE,
           STEP1_TEXT, STEP2_TITLE, STEP2_TEXT, STEP3_TITLE, FREE, SCAM, POSTER_HEADLINE,
           POSTER_ACTION, POSTER_HOTLINES)

# -- spoken (the loudspeaker script, Vietnamese only: its numbers are Vietnamese words) -------
SAY_PHONES = "Old phones and 3G phones may no longer be able to make calls."
SAY_THREE = "Please do these three things."
SAY_STEP1 = ("First: make a test call. A 4G phone that calls over 4G works as before. If the "
             "phone cannot call, or you are not sure, do the second thing.")
SAY_STEP2 = ("Second: take both the phone and the SIM card to your carrier's shop. The staff "
             "will help you change the phone or the SIM. You keep your phone number. Remember "
             "to bring your citizen ID card.")
SAY_STEP3 = "Third: call your carrier's hotline to ask."
SAY_FREE = "The free hotline of {carrier} is {number}."
SAY_FREE_AGAIN = "the free hotline of {carrier} is {number}"
SAY_PAID = "{carrier} subscribers call {number}, at {price}."
SAY_SCAM = ("Be careful: if someone calls and asks you to press a code or to read out a code "
            "from a text message to upgrade your SIM, do not do it.")
SAY_THANKS = "Thank you for listening."

SPOKEN = (OPENING, LEAD_ENDED, SAY_PHONES, SAY_THREE, SAY_STEP1, SAY_STEP2, SAY_STEP3, SAY_FREE,
          SAY_PAID, SAY_SCAM, REPEAT, SAY_FREE_AGAIN, SAY_THANKS)
# Every msgid this module shows; those not shared above are in loa_kit.po.
MSGIDS = tuple(dict.fromkeys(PRINTED + SPOKEN))
SHARED = frozenset({TITLE, FOR_COMMUNE, QR_CAPTION, UPDATED, OPENING, REPEAT})


@dataclass(frozen=True)
class Step:
    title: str
    text: str


@dataclass(frozen=True)
class Hotline:
    carrier: str
    number: str          # as written ("1800 8098")
    note: str            # "miễn phí", or the price


@dataclass(frozen=True)
class KitText:
    """What a leaflet or poster prints, in one language."""

    lang: str
    title: str
    for_commune: str
    lead: str
    steps: tuple[Step, ...]
    hotlines: tuple[Hotline, ...]
    scam: str
    poster_headline: str
    poster_action: str
    poster_hotlines: str
    qr_caption: str
    updated: str


class MissingFact(LookupError):
    """content/facts.yml lacks a fact the kit states (check-content names it too)."""


def fact(content: ContentSet, name: str) -> Fact:
    found = (content.facts or {}).get(name)
    if found is None:
        raise MissingFact(f"content/facts.yml has no fact '{name}', which the outreach kit states")
    return found


def as_of(content: ContentSet) -> str:
    """The newest as_of of the facts and topics the kit restates (dd/mm/yyyy, as the answers)."""
    dates = [fact(content, name).as_of for name in KIT_FACTS]
    dates += [content.topics[t].as_of for t in KIT_TOPICS if t in content.topics]
    newest = max(dates)
    return f"{newest.day:02d}/{newest.month:02d}/{newest.year}"


def hotlines(content: ContentSet, tr: Tr) -> tuple[Hotline, ...]:
    return tuple(Hotline(carrier, fact(content, number).value,
                         fact(content, price).value if price else tr(FREE))
                 for carrier, number, price in HOTLINES)


def kit_text(content: ContentSet, commune: str, tr: Tr) -> KitText:
    """The printed kit in `tr`'s language, with the facts of `content` put in."""
    ended = fact(content, "date_2g_end").value
    return KitText(
        lang=content.lang, title=tr("End of 2G mobile service: what you need to know"),
        for_commune=tr("For the people of {commune}", commune=commune),
        lead=f"{tr(LEAD_ENDED, date=ended)} {tr(LEAD_PHONES)}",
        steps=(Step(tr(STEP1_TITLE), tr(STEP1_TEXT, date=fact(content, "date_3g_end").value)),
               Step(tr(STEP2_TITLE), tr(STEP2_TEXT)), Step(tr(STEP3_TITLE), "")),
        hotlines=hotlines(content, tr), scam=tr(SCAM),
        poster_headline=tr(POSTER_HEADLINE), poster_action=tr(POSTER_ACTION),
        poster_hotlines=tr(POSTER_HOTLINES),
        qr_caption=tr("Relatives with a smartphone can scan the code to ask Loa for the family:"),
        updated=tr("Updated {date}", date=as_of(content)))


def loudspeaker_script(content: ContentSet, commune: str, tr: Tr) -> list[str]:
    """Paragraphs to read out on the commune loudspeakers, written to be heard: numbers and
    dates in words, short sentences, the hotlines twice, nothing to press or look at."""
    say = kit_speech.spoken
    phones = {n for _, n, _ in HOTLINES}
    numbers = {name: kit_speech.say_digits(fact(content, name).value) if name in phones
               else say(fact(content, name).value) for name in KIT_FACTS}
    free = [tr(SAY_FREE, carrier=carrier, number=numbers[n])
            for carrier, n, price in HOTLINES if price is None]
    again = [tr(SAY_FREE_AGAIN, carrier=carrier, number=numbers[n])
             for carrier, n, price in HOTLINES if price is None]
    paid = [tr(SAY_PAID, carrier=carrier, number=numbers[n], price=numbers[price])
            for carrier, n, price in HOTLINES if price is not None]
    return [tr("Dear people of {commune}, here is an announcement about the end of 2G mobile "
               "service.", commune=say(commune)),
            f"{tr(LEAD_ENDED, date=numbers['date_2g_end'])} {tr(SAY_PHONES)}",
            tr(SAY_THREE), tr(SAY_STEP1), tr(SAY_STEP2),
            " ".join([tr(SAY_STEP3), *free, *paid]),
            tr(SAY_SCAM), tr("We repeat: {help_line}", help_line="; ".join(again) + "."),
            tr(SAY_THANKS)]


def approved_languages(contents: Mapping[str, ContentSet], translate: Translate,
                       msgids: Iterable[str] = PRINTED) -> tuple[str, ...]:
    """The minority languages the kit may be printed in (see the module's docstring).

    `translate` is the runtime translator's gettext: a minority language's catalog holds its
    approved, current strings only and falls back to Vietnamese, so a string reads differently
    from the Vietnamese exactly when an approved translation exists.
    """
    ids = tuple(msgids)
    return tuple(lang for lang, content in contents.items()
                 if lang != SOURCE_LANG and KIT_TOPICS <= content.translated
                 and all(translate(lang, m) != translate(SOURCE_LANG, m) for m in ids))


def print_language(asked: str, approved: Iterable[str]) -> str:
    """The language a kit is printed in: the one asked for when approved, else Vietnamese."""
    return asked if asked in set(approved) else SOURCE_LANG


@functools.cache
def _vietnamese_catalogs() -> GettextTranslator:
    from bot.settings import ROOT
    return GettextTranslator(ROOT / "locales")


def vietnamese(msgid: str, **values: object) -> str:
    """The Vietnamese of a kit string, for callers without the runtime's translator."""
    return _vietnamese_catalogs().gettext(SOURCE_LANG, msgid, **values)
