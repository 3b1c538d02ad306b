"""Minority-language translations: units, provenance, source hashes, staleness, and what citizens
may see. The honest rule (../shared/languages.md): only an approved translation of the current
Vietnamese is ever served; everything else falls back to Vietnamese.

Texts live in files: interface strings in locales/<lang>/LC_MESSAGES/loa.po (provenance in the
translator comments, drafts marked fuzzy) and topic texts in content/<lang>/<unit>.md (provenance
in the front matter). Reviewer decisions made in the admin page live in the database
(bot/features/translations/store.py) and are written back into the files by `translations export
--approvals`. A unit is served when its latest applicable approval (database, else file) was
given for exactly its current text and against the current Vietnamese text.
"""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
import string
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

import polib
import yaml

from bot.core.content import CHECK_ID, ContentError, ContentSet, _split_front_matter
from bot.core.i18n import SOURCE_LANG
from bot.core.kept import Kept
from bot.core.text import clean_input

ROOT = Path(__file__).resolve().parents[3]
MINORITY = ("rad", "jra", "cmo", "mng", "hro", "bdq")
# Full tags written into the files (ISO 639-3, script, region).
TAGS = {lang: f"{lang}-Latn-VN" for lang in MINORITY}
MENU_UNIT = "menu"                 # the help line of menu.yml
DOMAIN_FILE = "loa.po"             # the one catalog of a minority language
PLURAL_FORMS = "nplurals=1; plural=0;"
# Code that shows citizens interface strings in their language (extracted with Babel).
CITIZEN_SOURCES = ("bot/core", "bot/features/broadcasts/service.py",
                   "bot/features/outreach/reports/kit_text.py")   # the printed kit: N_("…")
# Strings that are always shown in Vietnamese, never translated.
VI_ONLY = frozenset({"This is not available in {language} yet; Loa answers in Vietnamese.",
                     "{language}: being translated, Vietnamese for now"})
HONEST_METHOD = "none"
DRAFT_NOTE = ("No draft yet: the Loa developers do not speak this language. To be translated "
              "by an ethnic-language desk and approved by a named reviewer.")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Legacy 8-bit station fonts put these characters where ƀ, č and breves belong.
_LEGACY = re.compile(r"(?<=\w)[\[\]{}\\^#]|[\[\]{}\\^#](?=\w)")
# Brackets used as brackets: a pair around words, standing apart from them ("[4G]").
_BRACKETS = re.compile(r"(?<!\w)\[([^\[\]{}\n]*)\](?!\w)|(?<!\w)\{([^\[\]{}\n]*)\}(?!\w)")


class Status(StrEnum):
    DRAFT = "draft"          # not checked by anyone who speaks the language
    REVIEWED = "reviewed"    # checked, not yet approved for citizens
    APPROVED = "approved"    # approved by a named reviewer of an ethnic-language desk


class Method(StrEnum):
    HUMAN = "human"
    MACHINE = "machine"
    NONE = "none"            # nothing translated yet


class Kind(StrEnum):
    STRING = "string"        # an interface string (gettext)
    TEXT = "text"            # a topic text, the phone check or the help line
    CLIP = "clip"            # a voice clip of a topic


class State(StrEnum):
    EMPTY = "empty"          # nothing (or not everything) translated yet
    DRAFT = "draft"
    SENT_BACK = "sent_back"  # a reviewer sent this text back
    APPROVED = "approved"    # served to citizens
    STALE = "stale"          # approved once, but the Vietnamese changed since


def digest(fields: Mapping[str, str]) -> str:
    """Hash of a set of texts (NFC), e.g. the Vietnamese a translation translates."""
    return _digest(tuple(sorted(fields.items())))


@functools.lru_cache(maxsize=8192)
def _digest(items: tuple[tuple[str, str], ...]) -> str:
    # A pure function of texts, kept: each build and each page of the review reloads
    # judge every unit of every language again (two hashes each), nearly all unchanged.
    h = hashlib.sha256()
    for key, text in items:
        h.update(key.encode() + b"\x1f" + unicodedata.normalize("NFC", text).encode()
                 + b"\x1e")
    return h.hexdigest()[:16]


def base_tag(tag: str) -> str:
    return tag.split("-", 1)[0].lower()


# -- provenance ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Provenance:
    status: str = Status.DRAFT
    method: str = HONEST_METHOD
    translator: str = ""
    dialect: str = ""
    reviewer: str = ""
    organisation: str = ""
    reviewed: str = ""            # YYYY-MM-DD
    source_hash: str = ""         # hash of the Vietnamese this translation translates
    note: str = ""

    @property
    def review_record(self) -> bool:
        return bool(self.reviewer.strip() and self.organisation.strip() and self.reviewed)


_PO_KEYS = {"status": "status", "method": "method", "translator": "translator",
            "dialect": "dialect", "reviewer": "reviewer", "organisation": "organisation",
            "reviewed": "reviewed", "source-hash": "source_hash", "note": "note"}


def provenance_from_po(entry: polib.POEntry) -> Provenance:
    values: dict[str, str] = {}
    for line in (entry.tcomment or "").splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() in _PO_KEYS:
            values[_PO_KEYS[key.strip()]] = value.strip()
    prov = Provenance(**values)
    return replace(prov, status=Status.DRAFT) if entry.fuzzy else prov


def provenance_to_po(entry: polib.POEntry, prov: Provenance) -> None:
    lines = [f"{key}: {getattr(prov, attr)}" for key, attr in _PO_KEYS.items()
             if getattr(prov, attr)]
    entry.tcomment = "\n".join(lines)
    draft = prov.status != Status.APPROVED and bool(entry.msgstr)
    if draft and "fuzzy" not in entry.flags:
        entry.flags.append("fuzzy")
    if not draft and "fuzzy" in entry.flags:
        entry.flags.remove("fuzzy")


def provenance_from_meta(meta: Mapping[str, object]) -> Provenance:
    def text(key: str) -> str:
        value = meta.get(key)
        return "" if value is None else str(value).strip()
    return Provenance(status=text("status") or Status.DRAFT, method=text("method") or "none",
                      translator=text("translator"), dialect=text("dialect"),
                      reviewer=text("reviewer"), organisation=text("organisation"),
                      reviewed=text("reviewed"), source_hash=text("source_hash"),
                      note=text("note"))


# -- units -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Unit:
    """One translatable thing of one language: an interface string or a text unit."""

    lang: str
    kind: Kind
    key: str                          # msgid, or the unit id (topic id, "check", "menu")
    source: dict[str, str]            # the current Vietnamese, by field
    target: dict[str, str]            # the translation, by field ("" where missing)
    prov: Provenance
    path: Path

    @property
    def review_key(self) -> str:
        if self.kind is Kind.STRING:
            return "s:" + hashlib.sha256(self.key.encode()).hexdigest()[:16]
        return f"t:{self.key}"

    @property
    def label(self) -> str:
        return self.key[:200]

    @property
    def source_hash(self) -> str:
        return digest(self.source)

    @property
    def target_hash(self) -> str:
        return digest({k: self.target.get(k, "") for k in self.source})

    @property
    def complete(self) -> bool:
        return all(self.target.get(k, "").strip() for k in self.source)

    @property
    def empty(self) -> bool:
        return not any(v.strip() for v in self.target.values())


@dataclass(frozen=True)
class Clip:
    """A voice clip of a topic in a language (shipped in a front matter, or uploaded)."""

    lang: str
    topic: str
    path: str                         # relative to content/media
    sha256: str
    speaker: str
    editor: str
    recorded: str
    licence: str
    source_hash: str                  # the Vietnamese topic text it was recorded from
    prov: Provenance = field(default_factory=Provenance)
    id: int | None = None             # database row of an uploaded clip
    duration_s: float = 0.0

    @property
    def review_key(self) -> str:
        return f"c:{self.topic}:{self.sha256[:16]}"


@dataclass(frozen=True)
class Decision:
    """The latest reviewer decision on a unit, from the database."""

    unit: str
    decision: str                     # approved | sent_back
    target_hash: str
    source_hash: str
    reviewer: str
    organisation: str
    at: dt.datetime
    note: str = ""


@dataclass(frozen=True)
class Verdict:
    state: State
    reviewer: str = ""
    organisation: str = ""
    reviewed: str = ""
    source_hash: str = ""             # what the approval (or draft) was made against
    where: str = ""                   # "database" or "file": where the approval is recorded
    note: str = ""

    @property
    def served(self) -> bool:
        return self.state is State.APPROVED


def judge(target_hash: str, source_now: str, prov: Provenance, complete: bool,
          decision: Decision | None) -> Verdict:
    """The state of a unit; only APPROVED is ever shown to citizens."""
    if not complete:
        return Verdict(State.EMPTY, source_hash=prov.source_hash)
    applies = decision is not None and decision.target_hash == target_hash
    if applies and decision is not None and decision.decision == "sent_back":
        return Verdict(State.SENT_BACK, decision.reviewer, decision.organisation,
                       decision.at.date().isoformat(), decision.source_hash, "database",
                       decision.note)
    if applies and decision is not None and decision.decision == "approved":
        verdict = Verdict(State.APPROVED, decision.reviewer, decision.organisation,
                          decision.at.date().isoformat(), decision.source_hash, "database")
    elif prov.status == Status.APPROVED and prov.review_record:
        verdict = Verdict(State.APPROVED, prov.reviewer, prov.organisation, prov.reviewed,
                          prov.source_hash, "file")
    else:
        return Verdict(State.DRAFT, source_hash=prov.source_hash, note=prov.note)
    return verdict if verdict.source_hash == source_now else replace(verdict, state=State.STALE)


# -- checks on translated text -----------------------------------------------------------------

# Words citizens type to Loa that a translation must keep as they are: the announcement's
# last line tells them to type DỪNG, and only that word stops them (bot/core/subscription.py).
KEEP_VERBATIM = ("DỪNG",)


def text_problems(text: str, placeholders: Iterable[str] | None = None,
                  source: str = "") -> list[str]:
    """Why a translated text cannot be shipped (empty list: fine). `placeholders`: the
    {names} of an interface string (None for topic texts, which are not formatted); `source`:
    its msgid, for the words it must keep (KEEP_VERBATIM)."""
    problems = [f"keep the word {word} exactly as it is: citizens type it to Loa"
                for word in KEEP_VERBATIM if word in source and word not in text]
    if not unicodedata.is_normalized("NFC", text):
        problems.append("text is not Unicode NFC (save it normalised, e.g. as UTF-8 NFC)")
    allowed = set(placeholders or ())
    unknown = sorted(set(_PLACEHOLDER.findall(text)) - allowed)
    if unknown:
        problems.append("unknown placeholder " + ", ".join("{" + u + "}" for u in unknown)
                        + (f" (this string has: {', '.join(sorted(allowed))})" if allowed
                           else " (keep the {name} parts of the source exactly)"))
    bare = _BRACKETS.sub(" ", _PLACEHOLDER.sub("", text))
    found = sorted({m.group(0) for m in _LEGACY.finditer(bare)})
    if found:
        problems.append(f"contains {' '.join(found)} inside words: text typed with an old "
                        "station font (these stand for ƀ, č or breves); retype it in Unicode")
    elif placeholders is not None and not unknown:
        problems.extend(format_problems(text, allowed))
    return problems


def format_problems(text: str, allowed: Iterable[str]) -> list[str]:
    """Only plain {name} placeholders of the source may appear: a format spec, conversion or
    attribute/index access ({date:>300000000}, {date!r}, {date.year}) in uploaded text would
    run when the string is formatted. The text is parsed here, never formatted."""
    names = set(allowed)
    try:
        fields = [f for f in string.Formatter().parse(text) if f[1] is not None]
    except ValueError:
        return ["a { or } that is not a placeholder: write it as {{ or }}"]
    bad = sorted({"{" + name + (f"!{conv}" if conv else "") + (f":{spec}" if spec else "") + "}"
                  for _, name, spec, conv in fields
                  if spec or conv or name not in names or not name.isidentifier()})
    if bad:
        return ["only plain placeholders such as {name} may be used, without anything after "
                f"the name: {', '.join(b[:40] for b in bad)}"]
    return []


# Translations may run longer than the Vietnamese; these keep an answer (title, body, date
# line) inside one Telegram message (4096) and a menu button readable.
FIELD_LIMITS = {"body": 3000, "menu_label": 40}


def field_problems(name: str, text: str) -> list[str]:
    """Problems of one field of a translated topic text."""
    problems = text_problems(text)
    limit = FIELD_LIMITS.get(name, 1000)
    if len(text) > limit:
        problems.append(f"{len(text)} characters; keep it under {limit} so it fits a chat "
                        "message")
    return problems


def placeholders(msgid: str) -> set[str]:
    return set(_PLACEHOLDER.findall(msgid))


# -- Vietnamese sources ------------------------------------------------------------------------

@functools.lru_cache(maxsize=4)
def citizen_msgids(root: Path = ROOT) -> tuple[str, ...]:
    """Interface strings citizens see, extracted with Babel from the conversation code."""
    from babel.messages.extract import extract_from_dir, extract_from_file
    keywords = {"gettext": (2,), "t": (2,), "N_": (1,)}
    found: dict[str, None] = {}
    for source in CITIZEN_SOURCES:
        path = root / source
        messages = (extract_from_dir(str(path), method_map=[("**.py", "python")],
                                     keywords=keywords) if path.is_dir()
                    else ((path.name, *m) for m in extract_from_file(
                        "python", str(path), keywords=keywords)))
        for message in messages:
            msgid = message[2]
            if isinstance(msgid, str) and msgid not in VI_ONLY:
                found.setdefault(msgid)
    return tuple(found)


def vi_strings(locales: Path) -> dict[str, str]:
    """msgid -> Vietnamese text, from every Vietnamese catalog."""
    paths = tuple(sorted((locales / SOURCE_LANG / "LC_MESSAGES").glob("*.po")))
    return dict(_read_kept(_vi_pairs, paths))


def _vi_pairs(*paths: Path) -> tuple[tuple[str, str], ...]:
    out: dict[str, str] = {}
    for po_path in paths:
        for entry in polib.pofile(str(po_path)):
            if entry.msgstr and not entry.fuzzy and not entry.obsolete:
                out.setdefault(entry.msgid, entry.msgstr)
    return tuple(out.items())


def text_sources(vi: ContentSet) -> dict[str, dict[str, str]]:
    """Unit id -> the Vietnamese fields a translation of that unit must cover."""
    out = {tid: {"title": t.title, "menu_label": t.menu_label, "body": t.body}
           for tid, t in vi.topics.items()}
    check: dict[str, str] = {"title": vi.check.title, "menu_label": vi.check.menu_label,
                             "intro": vi.check.intro}
    for q in vi.check.questions:
        check[f"questions.{q.id}.text"] = q.text
        for o in q.options:
            check[f"questions.{q.id}.{o.id}"] = o.label
    for key, text in vi.check.verdicts.items():
        check[f"verdicts.{key}"] = text
    out[CHECK_ID] = check
    out[MENU_UNIT] = {"help_line": vi.help_line}
    return out


# -- reading the files -------------------------------------------------------------------------

def catalog_path(locales: Path, lang: str) -> Path:
    return locales / lang / "LC_MESSAGES" / DOMAIN_FILE


def load_strings(locales: Path, lang: str, vi: Mapping[str, str]) -> list[Unit]:
    path = catalog_path(locales, lang)
    if not path.is_file():
        return []
    return [Unit(lang, Kind.STRING, msgid, {"text": vi[msgid]}, {"text": msgstr}, prov, path)
            for msgid, msgstr, prov in _read_kept(_catalog_entries, (path,))
            if msgid in vi and msgid not in VI_ONLY]


def _catalog_entries(path: Path) -> tuple[tuple[str, str, Provenance], ...]:
    """(msgid, msgstr, provenance) of each entry in use of a minority catalog."""
    return tuple((entry.msgid, entry.msgstr, provenance_from_po(entry))
                 for entry in polib.pofile(str(path)) if not entry.obsolete)


def read_text_file(path: Path) -> tuple[dict[str, object], str]:
    """Front matter and body of a translation file; raises ContentError naming the field."""
    try:
        raw = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ContentError(path, "file", "not UTF-8 text") from None
    return _split_front_matter(path, raw)


def unit_fields(path: Path, meta: Mapping[str, object], body: str) -> dict[str, str]:
    raw = meta.get("fields") or {}
    if not isinstance(raw, dict):
        raise ContentError(path, "fields", "must be a mapping of field: text")
    fields = {str(k): "" if v is None else str(v) for k, v in raw.items()}
    if body.strip():
        fields["body"] = body.strip()
    return fields


def clip_from_meta(path: Path, lang: str, topic: str, meta: Mapping[str, object]) -> Clip | None:
    audio = meta.get("audio")
    if audio is None:
        return None
    if not isinstance(audio, dict):
        raise ContentError(path, "audio", "must be a mapping (file, sha256, speaker, editor, "
                           "recorded, licence, source_hash, status, reviewer ...) or null")

    def text(key: str) -> str:
        value = audio.get(key)
        return "" if value is None else str(value).strip()
    return Clip(lang, topic, text("file"), text("sha256"), text("speaker"), text("editor"),
                text("recorded"), text("licence"), text("source_hash"),
                provenance_from_meta(audio))


def load_texts(content_dir: Path, lang: str, sources: Mapping[str, dict[str, str]]
               ) -> tuple[list[Unit], list[Clip]]:
    """Text units (and shipped clips) of a language; files with errors are skipped here
    (check-content names them)."""
    units: list[Unit] = []
    clips: list[Clip] = []
    for unit_id, source in sources.items():
        path = content_dir / lang / f"{unit_id}.md"
        try:
            fields, prov, clip = _read_kept(_text_unit, (path,), lang, unit_id)
        except (FileNotFoundError, ContentError):
            continue
        units.append(Unit(lang, Kind.TEXT, unit_id, source,
                          {k: fields.get(k, "") for k in source}, prov, path))
        if clip is not None:
            clips.append(clip)
    return units, clips


def _text_unit(path: Path, lang: str, unit_id: str
               ) -> tuple[MappingProxyType[str, str], Provenance, Clip | None]:
    """The fields (read-only), provenance and shipped clip of one translation file."""
    meta, body = read_text_file(path)
    return (MappingProxyType(unit_fields(path, meta, body)), provenance_from_meta(meta),
            clip_from_meta(path, lang, unit_id, meta))


# -- keeping what was read ---------------------------------------------------------------------
# Each app built, and each translations page (it reloads the files), read the same catalogs
# and translation files again: polib took most of a build's time. What a reader makes of
# unchanged files is kept in the process (bot/core/kept.py: by the files' stamps, else by
# their names and bytes), so an edited or replaced file is read anew. Readers return only
# immutable values (tuples, frozen dataclasses, read-only mappings); the Units, dicts and
# catalogs callers may change are built fresh from them on every call.

_Read = TypeVar("_Read")
_KEPT: Kept[Any] = Kept(512)


def _read_kept(read: Callable[..., _Read], paths: tuple[Path, ...], *args: str) -> _Read:
    return _KEPT(lambda: read(*paths, *args), lambda: paths, read, *args)


def normalise_translation(text: str) -> str:
    """Input hygiene for a translated text: Ɓ/ɓ written as Ƀ/ƀ (NFC is checked, not fixed)."""
    return clean_input(text) if unicodedata.is_normalized("NFC", text) else text


def dump_front_matter(meta: Mapping[str, object], body: str = "") -> str:
    head = yaml.safe_dump(dict(meta), allow_unicode=True, sort_keys=False, width=100)
    return f"---\n{head}---\n{body.strip()}\n" if body.strip() else f"---\n{head}---\n"
