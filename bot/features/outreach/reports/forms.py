"""The forms of outreach, languages and channels a report names, with their label msgids.

Codes are stored; labels are English msgids translated through gettext (loa_reports.po), so
the Vietnamese words of the official report live in locales/ only.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from bot.core.text import fold
from bot.delivery.runs import GROUPS
from bot.features.officers import service as units

# The forms an officer picks from, in the order of the province's list.
OFFLINE_FORMS: tuple[tuple[str, str], ...] = (
    ("radio", "Radio"),
    ("tv", "Television"),
    ("print", "Print newspaper"),
    ("online", "Online newspaper / web portal"),
    ("social", "Social media"),
    ("sms", "SMS / OTT messages"),
    ("meeting", "Conference / village meeting"),
    ("leaflet", "Leaflets / banners / posters"),
    ("loudspeaker", "Commune loudspeakers"),
    ("in_store", "Face-to-face advice at service points"),
    ("other", "Other"),
)
# Forms Loa writes itself into the `run` table.
FORM_CHATBOT = "chatbot_qa"
FORM_BROADCAST = "broadcast"
LOA_FORMS: tuple[tuple[str, str], ...] = (
    (FORM_CHATBOT, "Chatbot questions and answers"),
    (FORM_BROADCAST, "Announcement messages"),
)
FORM_LABELS = dict(OFFLINE_FORMS + LOA_FORMS)
OFFLINE_CODES = tuple(code for code, _ in OFFLINE_FORMS)
FORM_ORDER = {code: index for index, code in enumerate(
    [c for c, _ in OFFLINE_FORMS if c != "other"] + [FORM_CHATBOT, FORM_BROADCAST, "other"])}

# Suggestions for the medium of each form (generic nouns; the officer may type anything).
MEDIUM_SUGGESTIONS: dict[str, tuple[str, ...]] = {
    "radio": ("Radio station",),
    "tv": ("Television station",),
    "print": ("Newspaper",),
    "online": ("Web portal", "Online newspaper"),
    "social": ("Zalo", "Facebook"),
    "sms": ("SMS", "Zalo"),
    "meeting": ("Conference", "Village meeting"),
    "leaflet": ("Leaflet", "Banner", "Poster"),
    "loudspeaker": ("Commune loudspeaker system",),
    "in_store": ("Carrier store", "Mobile service point"),
    "other": (),
}

# Languages an outreach run may use. The names are Vietnamese names of the languages (in the
# catalog), not text in those languages. See ../shared/languages.md for the tags.
LANGUAGES: tuple[tuple[str, str], ...] = (
    ("vi", "Vietnamese"),
    ("rad", "Ede"),
    ("cmo", "Central Mnong (Bunong)"),
    ("mng", "Eastern Mnong"),
    ("jra", "Jarai"),
    ("hro", "Haroi (Cham Hroi)"),
    ("bdq", "Bahnar"),
)
LANGUAGE_CODES = tuple(code for code, _ in LANGUAGES)

CHANNELS: dict[str, str] = {"telegram": "Telegram", "web": "Web chat", "zalo": "Zalo",
                            "zalo_bot": "Zalo (bot)", "zalo_oa": "Zalo (Official Account)",
                            "console": "Console"}

Gettext = Callable[..., str]

# Target groups the province's order names (codes in bot.delivery.runs.GROUPS, in this order);
# "" is an offline entry that names none (logged before they were asked, or left empty).
GROUP_CODES = GROUPS
NO_GROUP = ""
# Short words officers type for a group in the chat (folded), besides its name and number.
GROUP_WORDS = {"dtts": "minorities", "dan toc": "minorities", "nguoi gia": "elderly",
               "ngu dan": "seafarers", "di bien": "seafarers", "vung sau": "remote",
               "vung xa": "remote", "bien gioi": "border", "chung": "general"}
# The phone check's verdicts, as its rollup topic "check.<verdict>" names them.
CHECK_TOPIC = "check"


@lru_cache(maxsize=1)
def communes() -> dict[str, str]:
    """Commune code -> official name, in the order of the reference list."""
    return {row["code"]: row["name"] for row in units.communes()}   # the one reference list


def _commune_key(text: str) -> str:
    key = fold(text)
    for prefix in ("xa ", "phuong "):
        if key.startswith(prefix):
            return key[len(prefix):]
    return key


@lru_cache(maxsize=1)
def _commune_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for code, name in communes().items():
        index[code] = code
        index[_commune_key(name)] = code
        index[fold(name)] = code
    return index


def find_commune(text: str) -> str | None:
    """A commune code from a code or a name typed with or without marks and "xã"/"phường"."""
    text = text.strip()
    if not text:
        return None
    return _commune_index().get(text) or _commune_index().get(_commune_key(text))


def commune_name(code: str | None) -> str:
    return communes().get(code or "", code or "")


def form_label(gettext: Gettext, code: str, other: str | None = None) -> str:
    label = gettext(FORM_LABELS[code]) if code in FORM_LABELS else code
    return f"{label}: {other}" if other else label


def language_label(gettext: Gettext, tag: str) -> str:
    names = dict(LANGUAGES)
    base = tag.split("-", 1)[0]
    return gettext(names[base]) if base in names else tag


def group_label(tr: Gettext, code: str) -> str:
    """The Vietnamese name of a target group ("" = not recorded)."""
    labels = {"elderly": tr("Elderly people"), "minorities": tr("Ethnic minorities"),
              "seafarers": tr("Fishermen and seafarers"),
              "remote": tr("Remote and isolated areas"), "border": tr("Border communes"),
              "general": tr("General public"), NO_GROUP: tr("Target group not recorded")}
    return labels.get(code, code)


def find_group(text: str, tr: Gettext) -> str | None:
    """A group code from a code, its number in the list (1-6), its name or a short word."""
    key = fold(text)
    if key in GROUP_CODES:
        return key
    if key.isdigit() and 1 <= int(key) <= len(GROUP_CODES):
        return GROUP_CODES[int(key) - 1]
    names = {fold(group_label(tr, code)): code for code in GROUP_CODES}
    if key in names:
        return names[key]
    if key in GROUP_WORDS:
        return GROUP_WORDS[key]
    found = {code for name, code in names.items() if len(key) >= 4 and key in name}
    return found.pop() if len(found) == 1 else None


def verdict_label(tr: Gettext, verdict: str) -> str:
    labels = {"affected": tr("result: the phone is affected"),
              "no_volte": tr("result: a 4G phone without VoLTE"),
              "probably_fine": tr("result: probably not affected"),
              "check_carrier": tr("result: ask the carrier")}
    return labels.get(verdict, "")


def topic_titles(content: Any) -> dict[str, str]:
    """Topic id -> its title in the Vietnamese content (a ContentSet), and the phone check's."""
    titles = {topic_id: topic.title for topic_id, topic in content.topics.items()}
    titles[CHECK_TOPIC] = content.check.title
    return titles


def topic_label(tr: Gettext, titles: dict[str, str], key: str) -> str:
    """A topic of the report by its title, never its id: answers by their topic, the phone
    check's results by the check's title and the verdict."""
    if not key:
        return tr("No topic (announcements without a topic)")
    if key in titles:
        return titles[key]
    head, _, verdict = key.partition(".")
    if head == CHECK_TOPIC and verdict:
        check = titles.get(CHECK_TOPIC) or tr("Phone check")
        result = verdict_label(tr, verdict)
        return f"{check} – {result}" if result else check
    return tr("A topic no longer in Loa's content")


def channel_label(gettext: Gettext, medium: str) -> str:
    return gettext(CHANNELS[medium]) if medium in CHANNELS else medium


def month_of(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def month_label(month: str) -> str:
    """'2026-11' -> '11/2026', the way Vietnamese documents write a month."""
    year, number = month.split("-")
    return f"{number}/{year}"


def shift_month(month: str, delta: int) -> str:
    year, number = (int(x) for x in month.split("-"))
    index = year * 12 + number - 1 + delta
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def deadline(month: str, day: int) -> dt.date:
    """The report of `month` is due before `day` of the next month."""
    year, number = (int(x) for x in shift_month(month, 1).split("-"))
    return dt.date(year, number, day)


VN = dt.timezone(dt.timedelta(hours=7))


def vn_time(value: dt.datetime) -> dt.datetime:
    """A stored timestamp (UTC; SQLite gives it back without a zone) in Vietnam time."""
    return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).astimezone(VN)
