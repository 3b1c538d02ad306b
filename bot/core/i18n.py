"""Interface strings through gettext: English msgids, catalogs per language in locales/."""
from __future__ import annotations

import copy
import gettext
import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Protocol

from bot.core.kept import Kept

DOMAIN = "loa"
SOURCE_LANG = "vi"

# Language names as their speakers write them (autonyms), shown in the language picker. The
# minority names are MARKED FOR REVIEWER CONFIRMATION (UNCONFIRMED_AUTONYMS): the peoples'
# names as commonly written, not checked by a speaker; an ethnic-language desk must confirm
# them. Only languages listed in settings (BOT_LANGUAGES) are offered.
AUTONYMS: dict[str, str] = {"vi": "Tiếng Việt", "rad": "Êđê", "jra": "Jrai", "cmo": "Bunong",
                            "mng": "Mnông", "hro": "Haroi", "bdq": "Bahnar"}
UNCONFIRMED_AUTONYMS = frozenset({"rad", "jra", "cmo", "mng", "hro", "bdq"})
# msgids of the languages' Vietnamese names (translated in the vi catalogs), for notes in
# Vietnamese such as "not yet available in tiếng Ê Đê".
LANGUAGE_NAMES: dict[str, str] = {"vi": "Vietnamese", "rad": "Ede", "jra": "Jarai",
                                  "cmo": "Central Mnong (Bunong)", "mng": "Eastern Mnong",
                                  "hro": "Haroi (Cham Hroi)", "bdq": "Bahnar"}


_FIELD = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


def safe_format(text: str, values: Mapping[str, object]) -> str:
    """str.format for translated text, without its risks: only plain {name} placeholders with
    a value are filled in and {{ }} unescaped; anything else (a format spec such as
    {date:>300000000}, {date.attr}, {0}) stays as written instead of running."""
    def fill(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        name = match.group(1)
        return str(values[name]) if name in values else token
    return _FIELD.sub(fill, text)


class Translator(Protocol):
    def gettext(self, lang: str, msgid: str, /, **values: object) -> str: ...


def load_catalog(locales: Path, lang: str) -> gettext.NullTranslations:
    """Every compiled domain of a language (loa.mo, loa_<feature>.mo, ...) chained together."""
    folder = locales / lang / "LC_MESSAGES"
    paths = sorted(folder.glob(f"{DOMAIN}*.mo"), key=lambda p: (p.stem != DOMAIN, p.name))
    catalog: gettext.NullTranslations = gettext.NullTranslations()
    for index, path in enumerate(paths):
        loaded = _own(_KEPT(lambda p=path: _parsed(p), lambda p=path: (p,)))
        if index == 0:
            catalog = loaded
        else:
            catalog.add_fallback(loaded)
    return catalog


# One parsed catalog per compiled file, shared: every app built parses the same dozen .mo
# files. Each caller gets a copy of its own (add_fallback chains copies); the messages
# behind the copies are read-only.
_KEPT: Kept[gettext.GNUTranslations] = Kept(256)


def _parsed(path: Path) -> gettext.GNUTranslations:
    with path.open("rb") as fh:
        parsed = gettext.GNUTranslations(fh)
    parsed._catalog = MappingProxyType(parsed._catalog)  # type: ignore[attr-defined]
    return parsed


def _own(parsed: gettext.GNUTranslations) -> gettext.GNUTranslations:
    """A copy to chain and hand out: its own fallback and info (`info()` returns the dict)."""
    mine = copy.copy(parsed)
    mine._info = dict(parsed._info)  # type: ignore[attr-defined]
    return mine


class GettextTranslator:
    """Loads compiled catalogs from a locales/ folder; missing ones fall back to Vietnamese."""

    def __init__(self, locales: Path, languages: tuple[str, ...] = (SOURCE_LANG,)) -> None:
        self._catalogs: dict[str, gettext.NullTranslations] = {}
        for lang in {SOURCE_LANG, *languages}:
            self._catalogs[lang] = load_catalog(locales, lang)
        if isinstance(self._catalogs[SOURCE_LANG], gettext.GNUTranslations) is False:
            raise FileNotFoundError(
                f"compiled catalog {locales}/{SOURCE_LANG}/LC_MESSAGES/{DOMAIN}.mo is missing; "
                "run 'make catalogs'")

    def set_catalog(self, lang: str, catalog: gettext.NullTranslations) -> None:
        """Replace a language's strings (minority languages: approved, current entries only)."""
        self._catalogs[lang] = catalog

    def gettext(self, lang: str, msgid: str, /, **values: object) -> str:
        catalog = self._catalogs.get(lang) or self._catalogs[SOURCE_LANG]
        text = catalog.gettext(msgid)
        if text == msgid and lang != SOURCE_LANG:
            text = self._catalogs[SOURCE_LANG].gettext(msgid)
        return safe_format(text, values) if values else text
