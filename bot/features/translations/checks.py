"""check-content for translations: catalogs, minority topic files, clips and the glossary.
Each problem names its file and field (../shared/languages.md, README "Languages")."""
from __future__ import annotations

import csv
import unicodedata
from pathlib import Path

import polib

from bot.core.content import ContentError, ContentSet, load_content
from bot.core.i18n import SOURCE_LANG
from bot.features.translations.rules import (
    MINORITY,
    PLURAL_FORMS,
    TAGS,
    Clip,
    Method,
    Provenance,
    Status,
    base_tag,
    catalog_path,
    clip_from_meta,
    digest,
    field_problems,
    placeholders,
    provenance_from_meta,
    provenance_from_po,
    read_text_file,
    text_problems,
    text_sources,
    unit_fields,
    vi_strings,
)

GLOSSARY_COLUMNS = ["id", "vi", "meaning_en", "note", *MINORITY]


def check_translations(content_dir: Path, locales_dir: Path,
                       root: Path | None = None) -> list[ContentError]:
    """Every problem of the catalogs, translation files and glossary, naming file and field."""
    problems: list[ContentError] = []
    for po_path in sorted(locales_dir.glob("*/LC_MESSAGES/*.po")):
        try:
            po = polib.pofile(str(po_path))
        except (OSError, ValueError) as exc:
            problems.append(ContentError(po_path, "file", f"not a PO file ({exc})"))
            continue
        if " ".join(po.metadata.get("Plural-Forms", "").split()) != PLURAL_FORMS:
            problems.append(ContentError(po_path, "Plural-Forms",
                                         f"the header must be 'Plural-Forms: {PLURAL_FORMS}'"))
    try:
        vi: ContentSet | None = load_content(content_dir, SOURCE_LANG)
    except (ContentError, OSError):
        vi = None                    # the Vietnamese check reports it
    vi_texts = vi_strings(locales_dir)
    for folder in sorted(p for p in locales_dir.iterdir() if p.is_dir()) \
            if locales_dir.is_dir() else []:
        if folder.name in MINORITY:
            problems.extend(_check_catalog(catalog_path(locales_dir, folder.name), vi_texts))
        elif folder.name != SOURCE_LANG:
            problems.append(_unknown_folder(folder))
    for folder in sorted(p for p in content_dir.iterdir() if p.is_dir()) \
            if content_dir.is_dir() else []:
        if folder.name in MINORITY and vi is not None:
            problems.extend(_check_texts(folder, text_sources(vi), content_dir / "media"))
        elif folder.name not in (SOURCE_LANG, "media") and folder.name not in MINORITY:
            problems.append(_unknown_folder(folder))
    problems.extend(check_glossary(content_dir / "glossary.csv"))
    return problems


def _unknown_folder(folder: Path) -> ContentError:
    return ContentError(folder, "folder", f"'{folder.name}' is not a language tag Loa knows "
                        f"({', '.join((SOURCE_LANG, *MINORITY))}; M'nông is cmo or mng)")


def _check_catalog(path: Path, vi_texts: dict[str, str]) -> list[ContentError]:
    if not path.is_file():
        return []
    out = []
    for entry in polib.pofile(str(path)):
        if entry.obsolete or not entry.msgstr:
            continue
        where = f"msgid {entry.msgid[:50]!r} (line {entry.linenum})"
        for problem in text_problems(entry.msgstr, placeholders(entry.msgid), entry.msgid):
            out.append(ContentError(path, where, problem))
        if entry.fuzzy:
            continue
        prov = provenance_from_po(entry)
        out.extend(ContentError(path, where, p) for p in _approval_problems(
            prov, digest({"text": vi_texts.get(entry.msgid, "")}), "string"))
    return out


def _approval_problems(prov: Provenance, source_now: str, what: str) -> list[str]:
    if not prov.review_record:
        return [f"shipped (approved) {what} without a reviewer record (reviewer, organisation "
                "and reviewed date); mark it fuzzy/draft or record who approved it"]
    if prov.source_hash != source_now:
        return [f"approved {what} is stale: it translates Vietnamese with source hash "
                f"{prov.source_hash or '(none)'}, the Vietnamese is now {source_now}; a "
                "reviewer must approve it again (python -m bot translations update marks it "
                "draft)"]
    return []


def _check_texts(folder: Path, sources: dict[str, dict[str, str]],
                 media: Path) -> list[ContentError]:
    out: list[ContentError] = []
    for path in sorted(folder.glob("*.md")):
        unit_id = path.stem
        try:
            meta, body = read_text_file(path)
            fields = unit_fields(path, meta, body)
            clip = clip_from_meta(path, folder.name, unit_id, meta)
        except ContentError as exc:
            out.append(exc)
            continue
        if unit_id not in sources:
            out.append(ContentError(path, "file", f"no Vietnamese topic '{unit_id}'"))
            continue
        if meta.get("id") != unit_id:
            out.append(ContentError(path, "id", f"must be '{unit_id}' (the file name)"))
        if base_tag(str(meta.get("lang") or "")) != folder.name:
            out.append(ContentError(path, "lang", f"must be {TAGS[folder.name]}"))
        prov = provenance_from_meta(meta)
        if prov.status not in tuple(Status):
            out.append(ContentError(path, "status", "must be draft, reviewed or approved"))
        if prov.method not in tuple(Method):
            out.append(ContentError(path, "method", "must be human, machine or none"))
        for name, text in fields.items():
            if name not in sources[unit_id]:
                out.append(ContentError(path, f"fields.{name}", "not a field of this topic"))
            out.extend(ContentError(path, name, p) for p in field_problems(name, text))
        if prov.status == Status.APPROVED:
            source = sources[unit_id]
            missing = [k for k in source if not fields.get(k, "").strip()]
            if missing:
                out.append(ContentError(path, "fields", "approved but not translated: "
                                        + ", ".join(missing)))
            out.extend(ContentError(path, "status", p)
                       for p in _approval_problems(prov, digest(source), "text"))
        if clip is not None:
            out.extend(_check_clip(path, clip, media, digest(sources[unit_id])))
    return out


def _check_clip(path: Path, clip: Clip, media: Path, source_now: str) -> list[ContentError]:
    out = []
    for key in ("file", "sha256", "speaker", "editor", "recorded", "licence"):
        if not getattr(clip, key if key != "file" else "path"):
            out.append(ContentError(path, f"audio.{key}", "missing"))
    if clip.path and not (media / clip.path).is_file():
        out.append(ContentError(path, "audio.file", f"'{clip.path}' not found in content/media"))
    if clip.prov.status == Status.APPROVED:
        out.extend(ContentError(path, "audio.status", p)
                   for p in _approval_problems(clip.prov, source_now, "voice clip"))
    return out


def check_glossary(path: Path) -> list[ContentError]:
    if not path.is_file():
        return [ContentError(path, "file", "the glossary of key terms is missing")]
    raw = path.read_text(encoding="utf-8")
    if not unicodedata.is_normalized("NFC", raw):
        return [ContentError(path, "file", "text is not Unicode NFC (re-save it normalised)")]
    rows = list(csv.DictReader(raw.splitlines()))
    if not rows or list(rows[0].keys()) != GLOSSARY_COLUMNS:
        return [ContentError(path, "header", f"columns must be: {','.join(GLOSSARY_COLUMNS)}")]
    out, seen = [], set()
    for number, row in enumerate(rows, start=2):
        if not row["id"] or row["id"] in seen or not row["vi"]:
            out.append(ContentError(path, f"line {number}", "needs a unique id and the "
                                    "Vietnamese term"))
        seen.add(row["id"])
        for lang in MINORITY:
            for problem in text_problems(row[lang] or ""):
                out.append(ContentError(path, f"line {number} {lang}", problem))
    return out
