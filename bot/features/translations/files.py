"""Translation files in and out: work packages (PO per language) for the station, importing
them back as drafts, keeping the minority catalogs and topic files in step with the
Vietnamese, and writing reviewers' database approvals into the files."""
from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import polib

from bot.core.i18n import SOURCE_LANG
from bot.features.translations.rules import (
    DRAFT_NOTE,
    PLURAL_FORMS,
    TAGS,
    Clip,
    Decision,
    Kind,
    Method,
    Provenance,
    State,
    Status,
    Unit,
    base_tag,
    catalog_path,
    citizen_msgids,
    digest,
    dump_front_matter,
    field_problems,
    normalise_translation,
    placeholders,
    provenance_from_meta,
    provenance_from_po,
    provenance_to_po,
    read_text_file,
    text_problems,
    unit_fields,
)
from bot.features.translations.service import Translations

_UI = "ui:"
_TEXT = "text:"


class TranslationImportError(ValueError):
    """A file that cannot be imported; `problems` name each entry and what is wrong."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass
class ImportResult:
    changed: list[str] = field(default_factory=list)     # unit labels now holding new drafts
    unchanged: int = 0
    empty: int = 0


def parse_po(text: str) -> polib.POFile:
    """Parse uploaded PO text as content, never as a path: polib.pofile(text) opens a file
    when the text happens to name one on the server (`/etc/passwd`, a relative catalog
    path), so the text goes through a private temporary file of our own."""
    with tempfile.TemporaryDirectory(prefix="loa-po-") as folder:
        path = Path(folder) / "upload.po"
        path.write_text(text, encoding="utf-8")
        try:
            return polib.pofile(str(path), encoding="utf-8", wrapwidth=0)
        except (OSError, ValueError, UnicodeError) as exc:
            reason = str(exc).replace(str(path), "the file")[:200]
            raise TranslationImportError([f"not a PO file ({reason})"]) from None


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- catalogs and topic files -----------------------------------------------------------------

def new_catalog(lang: str) -> polib.POFile:
    po = polib.POFile(wrapwidth=0)
    po.header = (f"Loa interface strings in {TAGS.get(lang, lang)}. Every entry is a DRAFT "
                 "until a named reviewer of an ethnic-language desk approves it; drafts are "
                 "fuzzy and never shown to citizens. See ../shared/languages.md.")
    po.metadata = {"Project-Id-Version": "Loa", "Language": TAGS.get(lang, lang),
                   "MIME-Version": "1.0", "Content-Type": "text/plain; charset=UTF-8",
                   "Content-Transfer-Encoding": "8bit", "Plural-Forms": PLURAL_FORMS}
    return po


def open_catalog(locales: Path, lang: str) -> polib.POFile:
    path = catalog_path(locales, lang)
    po = polib.pofile(str(path), wrapwidth=0) if path.is_file() else new_catalog(lang)
    po.metadata["Plural-Forms"] = PLURAL_FORMS
    po.metadata.setdefault("Language", TAGS.get(lang, lang))
    return po


def save_catalog(locales: Path, lang: str, po: polib.POFile) -> None:
    _atomic_write(catalog_path(locales, lang), po.__unicode__())


def write_text_unit(path: Path, lang: str, unit_id: str, prov: Provenance,
                    fields: dict[str, str], order: Iterable[str],
                    audio: dict[str, object] | None) -> None:
    meta: dict[str, object] = {
        "id": unit_id, "lang": TAGS.get(lang, lang), "status": str(prov.status),
        "method": str(prov.method), "translator": prov.translator or None,
        "dialect": prov.dialect or None, "reviewer": prov.reviewer or None,
        "organisation": prov.organisation or None, "reviewed": prov.reviewed or None,
        "source_hash": prov.source_hash or None, "note": prov.note or None,
        "fields": {k: fields.get(k, "") for k in order if k != "body"},
        "audio": audio}
    _atomic_write(path, dump_front_matter(meta, fields.get("body", "")))


def _file_state(path: Path) -> tuple[Provenance, dict[str, str], dict[str, object] | None]:
    if not path.is_file():
        return Provenance(note=DRAFT_NOTE), {}, None
    meta, body = read_text_file(path)
    audio = meta.get("audio")
    return (provenance_from_meta(meta), unit_fields(path, meta, body),
            audio if isinstance(audio, dict) else None)


# -- the full list of units of a language ------------------------------------------------------

def all_units(service: Translations, lang: str) -> list[Unit]:
    """Every unit that should exist, read from the files where they do."""
    have = {(u.kind, u.key): u for u in service.units.get(lang, [])}
    units = []
    for msgid in citizen_msgids(service.root):
        if msgid in service.vi_texts:
            units.append(have.get((Kind.STRING, msgid)) or Unit(
                lang, Kind.STRING, msgid, {"text": service.vi_texts[msgid]}, {"text": ""},
                Provenance(), catalog_path(service.locales_dir, lang)))
    for unit_id, source in service.sources.items():
        units.append(have.get((Kind.TEXT, unit_id)) or Unit(
            lang, Kind.TEXT, unit_id, source, {k: "" for k in source}, Provenance(),
            service.content_dir / lang / f"{unit_id}.md"))
    return units


# -- export: a work package per language -------------------------------------------------------

def export_catalog(service: Translations, lang: str, everything: bool = False) -> polib.POFile:
    """Texts to translate: msgid is the Vietnamese, msgctxt says what it is, msgstr the
    current draft. Approved, current units are left out unless `everything`."""
    po = new_catalog(lang)
    po.header = (f"Loa: texts to translate into {TAGS[lang]}. msgid is the Vietnamese "
                 "source; write the translation in msgstr and send the file back. Keep "
                 "{name} parts as they are. Leave 'fuzzy' on what is not final.")
    po.metadata["X-Loa-Source-Language"] = SOURCE_LANG
    for unit in all_units(service, lang):
        verdict = service.verdict(unit)
        if verdict.served and not everything:
            continue
        note = f"status: {verdict.state}; Vietnamese source hash: {unit.source_hash}"
        for name, vi_text in unit.source.items():
            ctxt = _UI + unit.key if unit.kind is Kind.STRING else f"{_TEXT}{unit.key}:{name}"
            target = unit.target.get(name, "")
            comment = f"English: {unit.key}\n{note}" if unit.kind is Kind.STRING else note
            entry = polib.POEntry(msgctxt=ctxt, msgid=vi_text, msgstr=target, comment=comment)
            if target and not verdict.served:
                entry.flags.append("fuzzy")
            po.append(entry)
    return po


# -- import: drafts back into the files --------------------------------------------------------

def import_catalog(service: Translations, lang: str, text: str, translator: str,
                   method: str = Method.HUMAN) -> ImportResult:
    """Take a translated work package (or a catalog in the repository's format) as drafts.
    Nothing is written when any entry has a problem; drafts are never approved here."""
    if method not in (Method.HUMAN, Method.MACHINE):
        raise TranslationImportError([f"method must be human or machine, not {method!r}"])
    if not translator.strip():
        raise TranslationImportError(["say who translated (translator)"])
    po = parse_po(text)
    declared = po.metadata.get("Language", "").strip()
    if declared and base_tag(declared) != lang:
        raise TranslationImportError([f"the file is for language {declared!r}, not {lang!r}"])
    strings: dict[str, tuple[str, str]] = {}           # msgid -> (translation, Vietnamese seen)
    texts: dict[str, dict[str, tuple[str, str]]] = {}  # unit -> field -> (translation, seen)
    problems: list[str] = []
    result = ImportResult()
    used = set(citizen_msgids(service.root))
    for entry in po:
        if entry.obsolete:
            continue
        where = f"line {entry.linenum} ({(entry.msgctxt or entry.msgid)[:50]!r})"
        translation = normalise_translation(entry.msgstr)
        ctxt = entry.msgctxt or ""
        if ctxt.startswith(_UI) or (not ctxt and entry.msgid in used):
            key = ctxt[len(_UI):] if ctxt else entry.msgid
            seen = entry.msgid if ctxt else service.vi_texts.get(key, "")
            if key not in used or key not in service.vi_texts:
                problems.append(f"{where}: not an interface string Loa shows citizens")
                continue
            found = text_problems(translation, placeholders(key), key) if translation else []
            strings[key] = (translation, seen)
        elif ctxt.startswith(_TEXT) and ctxt.count(":") == 2:
            _, unit_id, name = ctxt.split(":")
            if name not in service.sources.get(unit_id, {}):
                problems.append(f"{where}: no topic text '{unit_id}' with field '{name}'")
                continue
            found = field_problems(name, translation) if translation else []
            texts.setdefault(unit_id, {})[name] = (translation, entry.msgid)
        else:
            problems.append(f"{where}: unknown entry (msgctxt must start with 'ui:' or 'text:')")
            continue
        problems.extend(f"{where}: {p}" for p in found)
        if not translation:
            result.empty += 1
    if problems:
        raise TranslationImportError(problems)
    today = dt.date.today().isoformat()
    _import_strings(service, lang, strings, translator, method, result)
    _import_texts(service, lang, texts, translator, method, result, today)
    return result


def _import_strings(service: Translations, lang: str, strings: dict[str, tuple[str, str]],
                    translator: str, method: str, result: ImportResult) -> None:
    if not any(t for t, _ in strings.values()):
        return
    po = open_catalog(service.locales_dir, lang)
    entries = {e.msgid: e for e in po if not e.obsolete}
    for msgid, (translation, seen) in strings.items():
        if not translation:
            continue
        entry = entries.get(msgid)
        if entry is None:
            entry = polib.POEntry(msgid=msgid, msgstr="")
            po.append(entry)
        if entry.msgstr == translation:
            result.unchanged += 1
            continue
        entry.msgstr = translation
        provenance_to_po(entry, Provenance(Status.DRAFT, method, translator.strip(),
                                           source_hash=digest({"text": seen})))
        result.changed.append(msgid)
    save_catalog(service.locales_dir, lang, po)


def _import_texts(service: Translations, lang: str,
                  texts: dict[str, dict[str, tuple[str, str]]], translator: str, method: str,
                  result: ImportResult, today: str) -> None:
    for unit_id, imported in texts.items():
        source = service.sources[unit_id]
        path = service.content_dir / lang / f"{unit_id}.md"
        prov, fields, audio = _file_state(path)
        new = dict(fields)
        new.update({name: t for name, (t, _) in imported.items() if t})
        if all(new.get(k, "") == fields.get(k, "") for k in source):
            result.unchanged += 1
            continue
        seen = dict(source)
        seen.update({name: vi for name, (t, vi) in imported.items() if t})
        prov = Provenance(Status.DRAFT, method, translator.strip(), prov.dialect,
                          source_hash=digest(seen), note=f"imported {today}")
        write_text_unit(path, lang, unit_id, prov, new, source, audio)
        result.changed.append(unit_id)


# -- update: keep the files in step with the code and the Vietnamese --------------------------

def update_language(service: Translations, lang: str) -> list[str]:
    """Add new strings and missing topic files (empty drafts), retire unused strings, and turn
    approved units whose Vietnamese changed back into drafts. Returns what changed."""
    changes: list[str] = []
    po = open_catalog(service.locales_dir, lang)
    used = [m for m in citizen_msgids(service.root) if m in service.vi_texts]
    entries = {e.msgid: e for e in po}
    for msgid in used:
        entry = entries.get(msgid)
        if entry is None:
            entry = polib.POEntry(msgid=msgid, msgstr="", tcomment="status: draft\nmethod: none")
            po.append(entry)
            changes.append(f"{lang}: new string {msgid[:50]!r}")
        elif entry.obsolete:
            entry.obsolete = False
    for entry in po:
        if entry.msgid and entry.msgid not in used and not entry.obsolete:
            entry.obsolete = True
            changes.append(f"{lang}: string no longer used {entry.msgid[:50]!r}")
        elif not entry.obsolete and entry.msgstr and not entry.fuzzy:
            prov = provenance_from_po(entry)
            now = digest({"text": service.vi_texts.get(entry.msgid, "")})
            if prov.source_hash != now:
                provenance_to_po(entry, _demoted(prov))
                changes.append(f"{lang}: stale, back to draft: {entry.msgid[:50]!r}")
    save_catalog(service.locales_dir, lang, po)
    for unit_id, source in service.sources.items():
        path = service.content_dir / lang / f"{unit_id}.md"
        prov, fields, audio = _file_state(path)
        created = changed = not path.is_file()
        if prov.status == Status.APPROVED and prov.source_hash != digest(source):
            prov, changed = _demoted(prov), True
        if audio and audio.get("status") == Status.APPROVED \
                and str(audio.get("source_hash") or "") != digest(source):
            audio = dict(audio, status=str(Status.DRAFT),
                         note="the Vietnamese changed after approval; re-review the clip")
            changed = True
        if changed:
            write_text_unit(path, lang, unit_id, prov, fields, source, audio)
            changes.append(f"{lang}: {'new' if created else 'updated'} {path.name}")
    return changes


def _demoted(prov: Provenance) -> Provenance:
    was = f"approved by {prov.reviewer} ({prov.organisation}) on {prov.reviewed}"
    return replace(prov, status=Status.DRAFT, reviewer="", organisation="", reviewed="",
                   note=f"the Vietnamese changed after it was {was}; re-review needed")


# -- approvals from the database into the files ------------------------------------------------

def write_approvals(service: Translations, lang: str) -> list[str]:
    """Write the database's applicable decisions into the files (for the repository)."""
    written: list[str] = []
    po = open_catalog(service.locales_dir, lang)
    entries = {e.msgid: e for e in po if not e.obsolete}
    for unit in service.units.get(lang, []):
        decision = service.decisions.get((lang, unit.review_key))
        if decision is None or decision.target_hash != unit.target_hash:
            continue
        prov = _decided(unit.prov, decision)
        if prov == unit.prov:
            continue
        if unit.kind is Kind.STRING:
            provenance_to_po(entries[unit.key], prov)
        else:
            _, fields, audio = _file_state(unit.path)
            write_text_unit(unit.path, lang, unit.key, prov, fields, unit.source, audio)
        written.append(f"{lang}: {decision.decision} {unit.label[:50]!r}")
    save_catalog(service.locales_dir, lang, po)
    for clip in service.clips.get(lang, []):
        verdict = service.clip_verdict(clip)
        if clip.id is None or verdict.state not in (State.APPROVED, State.STALE):
            continue
        path = service.content_dir / lang / f"{clip.topic}.md"
        prov, fields, audio = _file_state(path)
        block = _clip_block(clip, verdict.reviewer, verdict.organisation, verdict.reviewed,
                            verdict.source_hash)
        if audio != block:
            write_text_unit(path, lang, clip.topic, prov, fields, service.sources[clip.topic],
                            block)
            written.append(f"{lang}: clip of {clip.topic} ({clip.path})")
    return written


def _decided(prov: Provenance, decision: Decision) -> Provenance:
    if decision.decision == "approved":
        return replace(prov, status=Status.APPROVED, reviewer=decision.reviewer,
                       organisation=decision.organisation,
                       reviewed=decision.at.date().isoformat(),
                       source_hash=decision.source_hash, note="")
    return replace(prov, status=Status.DRAFT, reviewer="", organisation="", reviewed="",
                   note=f"sent back by {decision.reviewer} ({decision.organisation}) on "
                   f"{decision.at.date().isoformat()}: {decision.note}".strip())


def _clip_block(clip: Clip, reviewer: str, organisation: str, reviewed: str,
                source_hash: str) -> dict[str, object]:
    return {"file": clip.path, "sha256": clip.sha256, "speaker": clip.speaker,
            "editor": clip.editor, "recorded": clip.recorded, "licence": clip.licence,
            "source_hash": source_hash, "status": str(Status.APPROVED), "reviewer": reviewer,
            "organisation": organisation, "reviewed": reviewed}
