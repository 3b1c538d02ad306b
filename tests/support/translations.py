"""Helpers for the language tests: a private copy of content/ and locales/, and translation
records written as a station would. Every reviewer name here is TEST DATA made up for the
tests, and every translated text is a marked test string, not words of a real language."""
from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import replace
from pathlib import Path

import polib

from bot.core.content import load_content
from bot.core.conversation import Conversation
from bot.core.i18n import GettextTranslator
from bot.features.translations.files import open_catalog, save_catalog, write_text_unit
from bot.features.translations.rules import (
    Provenance,
    Status,
    catalog_path,
    digest,
    provenance_to_po,
    text_sources,
    vi_strings,
)
from bot.features.translations.service import Translations
from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
TEST_REVIEWER = "Test Reviewer (test data)"
TEST_DESK = "Test ethnic-language desk (test data)"


def copy_tree(tmp: Path) -> tuple[Path, Path]:
    """Copies of content/ and locales/ (with compiled catalogs) the test may change."""
    content, locales = tmp / "content", tmp / "locales"
    shutil.copytree(ROOT / "content", content, ignore=shutil.ignore_patterns("media"))
    shutil.copytree(ROOT / "locales", locales)
    return content, locales


def approved(source: dict[str, str], **changes: str) -> Provenance:
    prov = Provenance(Status.APPROVED, "human", "Test translator (test data)",
                      reviewer=TEST_REVIEWER, organisation=TEST_DESK,
                      reviewed=dt.date.today().isoformat(), source_hash=digest(source))
    return replace(prov, **changes)


def vi_sources(content: Path) -> dict[str, dict[str, str]]:
    return text_sources(load_content(content, "vi"))


def write_topic(content: Path, lang: str, topic: str, prov: Provenance | None,
                fields: dict[str, str] | None = None, audio: dict[str, object] | None = None
                ) -> dict[str, str]:
    """A translation file of `topic`; `prov` None = approved now against the current source."""
    source = vi_sources(content)[topic]
    fields = fields or {k: f"{lang.upper()}-TEST {topic} {k}" for k in source}
    write_text_unit(content / lang / f"{topic}.md", lang, topic,
                    prov or approved(source), fields, source, audio)
    return fields


def make_ready(content: Path, lang: str = "rad", skip: tuple[str, ...] = ()) -> None:
    """Approved translations of the core topics (bot/core/conversation.py CORE_TOPICS): what
    a language needs before citizens are offered it. `skip`: those a test approves itself."""
    from bot.core.conversation import CORE_TOPICS
    for topic in CORE_TOPICS:
        if topic not in skip:   # labels under 40 characters, as the content checks want
            short = topic.rpartition(".")[2]
            write_topic(content, lang, topic, None, {
                k: f"{lang.upper()}-TEST {short} {k}" for k in vi_sources(content)[topic]})


def write_string(locales: Path, lang: str, msgid: str, msgstr: str,
                 prov: Provenance | None = None) -> None:
    vi = vi_strings(locales)[msgid]
    po = open_catalog(locales, lang)
    entry = next((e for e in po if e.msgid == msgid), None)
    if entry is None:
        entry = polib.POEntry(msgid=msgid)
        po.append(entry)
    entry.msgstr = msgstr
    provenance_to_po(entry, prov or approved({"text": vi}))
    save_catalog(locales, lang, po)
    assert catalog_path(locales, lang).is_file()


def build(content: Path, locales: Path, languages: tuple[str, ...] = ("vi", "rad")
          ) -> tuple[Conversation, GettextTranslator, Translations]:
    """A conversation over the copied files with their approved translations installed."""
    translator = GettextTranslator(locales, languages)
    vi = load_content(content, "vi")
    conversation = Conversation({"vi": vi}, translator, languages)
    service = Translations(content, locales, [x for x in languages if x != "vi"], vi)
    service.install(conversation, translator)
    return conversation, translator, service


def settings_for(base: Settings, content: Path, locales: Path, **more: object) -> Settings:
    return replace(base, content_dir=content, locales_dir=locales, **more)  # type: ignore[arg-type]
