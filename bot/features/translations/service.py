"""What citizens may see of the minority-language translations, and the service that keeps it
installed in the conversation: approved, current texts over the Vietnamese (rules.py
has the rules), reviewers' previews of drafts, and the catalogs `make catalogs` compiles."""
from __future__ import annotations

import gettext
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import polib

from bot.core.content import CHECK_ID, CheckOption, CheckQuestion, ContentSet, PhoneCheck
from bot.core.i18n import SOURCE_LANG
from bot.features.translations.rules import (
    MENU_UNIT,
    MINORITY,
    PLURAL_FORMS,
    ROOT,
    Clip,
    Decision,
    Kind,
    State,
    Status,
    Unit,
    Verdict,
    digest,
    judge,
    load_strings,
    load_texts,
    placeholders,
    provenance_from_po,
    text_problems,
    text_sources,
    vi_strings,
)

if TYPE_CHECKING:
    from bot.core.conversation import Conversation
    from bot.core.i18n import GettextTranslator
    from bot.settings import Settings


class StringCatalog(gettext.NullTranslations):
    """The approved, current strings of one language (anything else: the Vietnamese)."""

    def __init__(self, strings: Mapping[str, str]) -> None:
        super().__init__()
        self.strings = dict(strings)

    def gettext(self, message: str) -> str:
        return self.strings.get(message, message)

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        key = msgid1 if n == 1 else msgid2
        return self.strings.get(key, key)


def _check(vi: PhoneCheck, fields: Mapping[str, str]) -> PhoneCheck:
    questions = tuple(CheckQuestion(q.id, fields[f"questions.{q.id}.text"], tuple(
        CheckOption(o.id, fields[f"questions.{q.id}.{o.id}"]) for o in q.options))
        for q in vi.questions)
    return replace(vi, title=fields["title"], menu_label=fields["menu_label"],
                   intro=fields["intro"], questions=questions,
                   verdicts={k: fields[f"verdicts.{k}"] for k in vi.verdicts})


def language_content(vi: ContentSet, lang: str, units: Iterable[Unit],
                     clips: Mapping[str, str], use: Callable[[Unit], bool]) -> ContentSet:
    """The content a citizen of `lang` gets: each approved unit's text over the Vietnamese,
    the language's clip of each topic (path by topic id) over the Vietnamese clip.
    `use(unit) -> bool` picks the units (default: all given)."""
    topics = dict(vi.topics)
    check, help_line = vi.check, vi.help_line
    translated: set[str] = set()
    for unit in units:
        if unit.kind is not Kind.TEXT or not use(unit):
            continue
        fields = {k: unit.target.get(k, "") or v for k, v in unit.source.items()}
        if unit.key in topics:
            topics[unit.key] = replace(topics[unit.key], title=fields["title"],
                                       menu_label=fields["menu_label"], body=fields["body"])
            translated.add(unit.key)
        elif unit.key == CHECK_ID:
            check = _check(vi.check, fields)
            translated.add(CHECK_ID)
        elif unit.key == MENU_UNIT:
            help_line = fields["help_line"]
    for topic, path in clips.items():
        if topic in topics:
            topics[topic] = replace(topics[topic], audio=path)
    return replace(vi, lang=lang, topics=topics, check=check, help_line=help_line,
                   translated=frozenset(translated))


class Translations:
    """The translation state of the configured minority languages, from files and the
    reviewers' decisions; installs what citizens may see into the conversation."""

    def __init__(self, content_dir: Path, locales_dir: Path, languages: Iterable[str],
                 vi: ContentSet, root: Path = ROOT) -> None:
        self.content_dir = content_dir
        self.locales_dir = locales_dir
        self.languages = tuple(lang for lang in languages if lang in MINORITY)
        self.vi = vi
        self.vi_texts = vi_strings(locales_dir)
        self.sources = text_sources(vi)
        self.root = root
        self.units: dict[str, list[Unit]] = {}
        self.clips: dict[str, list[Clip]] = {}
        self.decisions: dict[tuple[str, str], Decision] = {}
        self.reload()

    @property
    def media(self) -> Path:
        return self.content_dir / "media"

    def reload(self, decisions: Iterable[tuple[str, Decision]] | None = None,
               uploaded: Iterable[Clip] | None = None) -> None:
        """Re-read the files; with arguments, also replace the database's decisions/clips."""
        if decisions is not None:
            self.decisions = {(lang, d.unit): d for lang, d in decisions}
        db_clips = [c for clips in self.clips.values() for c in clips if c.id is not None] \
            if uploaded is None else list(uploaded)
        for lang in self.languages:
            texts, shipped = load_texts(self.content_dir, lang, self.sources)
            self.units[lang] = load_strings(self.locales_dir, lang, self.vi_texts) + texts
            # An uploaded clip that was also written into its file keeps the file's record.
            in_file = {c.sha256: c for c in shipped}
            mine = [replace(c, prov=in_file[c.sha256].prov) if c.sha256 in in_file else c
                    for c in db_clips if c.lang == lang]
            known = {c.sha256 for c in mine}
            self.clips[lang] = mine + [c for c in shipped if c.sha256 not in known]

    def verdict(self, unit: Unit) -> Verdict:
        return judge(unit.target_hash, unit.source_hash, unit.prov, unit.complete,
                     self.decisions.get((unit.lang, unit.review_key)))

    def clip_verdict(self, clip: Clip) -> Verdict:
        source = self.sources.get(clip.topic)
        if source is None or not clip.path or not (self.media / clip.path).is_file():
            return Verdict(State.EMPTY)
        return judge(clip.sha256, digest(source), clip.prov, True,
                     self.decisions.get((clip.lang, clip.review_key)))

    def unit(self, lang: str, review_key: str) -> Unit | None:
        return next((u for u in self.units.get(lang, []) if u.review_key == review_key), None)

    def clip(self, lang: str, review_key: str) -> Clip | None:
        return next((c for c in self.clips.get(lang, []) if c.review_key == review_key), None)

    def served_clips(self, lang: str) -> dict[str, str]:
        """Topic -> the newest approved, current clip of the topic in `lang`."""
        out: dict[str, str] = {}
        for clip in self.clips.get(lang, []):   # uploaded (newest first), then shipped
            if clip.topic not in out and self.clip_verdict(clip).served:
                out[clip.topic] = clip.path
        return out

    def served_strings(self, lang: str) -> dict[str, str]:
        return {u.key: u.target["text"] for u in self.units.get(lang, [])
                if u.kind is Kind.STRING and self.verdict(u).served
                and not text_problems(u.target["text"], placeholders(u.key), u.key)}

    def content(self, lang: str) -> ContentSet:
        return language_content(self.vi, lang, self.units.get(lang, []), self.served_clips(lang),
                                use=lambda u: self.verdict(u).served)

    def draft_content(self, lang: str) -> ContentSet:
        """For reviewers' preview only: every non-empty draft over the Vietnamese."""
        clips = {c.topic: c.path for c in reversed(self.clips.get(lang, []))
                 if (self.media / c.path).is_file()}
        return language_content(self.vi, lang, self.units.get(lang, []), clips,
                                use=lambda u: not u.empty)

    def draft_strings(self, lang: str) -> dict[str, str]:
        return {u.key: u.target["text"] for u in self.units.get(lang, [])
                if u.kind is Kind.STRING and u.target["text"].strip()
                and not text_problems(u.target["text"], placeholders(u.key), u.key)}

    def install(self, conversation: Conversation, translator: GettextTranslator) -> None:
        """Put each language's approved, current texts where citizens get them."""
        for lang in self.languages:
            translator.set_catalog(lang, StringCatalog(self.served_strings(lang)))
            conversation.install_language(lang, self.content(lang))


def install_from_files(settings: Settings, conversation: Conversation,
                       translator: GettextTranslator) -> Translations:
    """File-only state (no database): used at start-up and by the shell and ask commands."""
    service = Translations(settings.content_dir, settings.locales_dir,
                           working_languages(settings), conversation.contents[SOURCE_LANG])
    service.install(conversation, translator)
    return service


def shippable_catalog(po: polib.POFile, vi: Mapping[str, str]) -> polib.POFile:
    """A minority catalog with only approved entries that have a reviewer record and translate
    the current Vietnamese (drafts are fuzzy, so compiling leaves them out anyway)."""
    out = polib.POFile(wrapwidth=0)
    out.metadata = dict(po.metadata)
    out.metadata["Plural-Forms"] = PLURAL_FORMS
    for entry in po:
        if entry.obsolete or entry.fuzzy or not entry.msgstr or entry.msgid not in vi:
            continue
        prov = provenance_from_po(entry)
        if prov.status == Status.APPROVED and prov.review_record \
                and prov.source_hash == digest({"text": vi[entry.msgid]}) \
                and not text_problems(entry.msgstr, placeholders(entry.msgid), entry.msgid):
            out.append(entry)
    return out


def working_languages(settings: Settings) -> tuple[str, ...]:
    """Configured minority languages, and those with files (reviewable before they are on)."""
    present = {p.parent.parent.name for p in settings.locales_dir.glob("*/LC_MESSAGES")}
    if settings.content_dir.is_dir():
        present |= {p.name for p in settings.content_dir.iterdir() if p.is_dir()}
    return tuple(lang for lang in MINORITY if lang in settings.languages or lang in present)
