"""`python -m bot translations update|export|import|status`: the station's translation work."""
from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bot.core.content import load_content
from bot.features.translations.files import (
    TranslationImportError,
    all_units,
    export_catalog,
    import_catalog,
    update_language,
    write_approvals,
)
from bot.features.translations.rules import MINORITY, TAGS, State
from bot.features.translations.service import Translations, working_languages
from bot.settings import Settings


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("translations", help="minority-language texts: update, export, "
                            "import, status")
    cmds = parser.add_subparsers(dest="translations_command", required=True)
    update = cmds.add_parser("update", help="add new strings and topic files as empty drafts; "
                             "approved texts whose Vietnamese changed become drafts")
    update.add_argument("--lang", action="append", default=[], choices=MINORITY)
    export = cmds.add_parser("export", help="PO files of what needs translating, or "
                             "--approvals: write the admin page's approvals into the files")
    export.add_argument("--lang", action="append", default=[], choices=MINORITY)
    export.add_argument("--out", default="translations-export", help="folder for the PO files")
    export.add_argument("--all", action="store_true", help="include approved texts too")
    export.add_argument("--approvals", action="store_true",
                        help="write reviewers' decisions from the database into "
                        "content/<lang>/ and locales/<lang>/ (for the repository)")
    imp = cmds.add_parser("import", help="take a translated PO file back as drafts")
    imp.add_argument("file")
    imp.add_argument("--lang", required=True, choices=MINORITY)
    imp.add_argument("--translator", required=True,
                     help="who translated, e.g. 'Ban tiếng dân tộc, Đài PT-TH Đắk Lắk'")
    imp.add_argument("--method", default="human", choices=("human", "machine"))
    status = cmds.add_parser("status", help="per language: approved, draft, empty, stale")
    status.add_argument("--lang", action="append", default=[], choices=MINORITY)


def _languages(settings: Settings, asked: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(asked)) if asked else working_languages(settings)


def _service(settings: Settings, languages: tuple[str, ...]) -> Translations:
    vi = load_content(settings.content_dir, "vi")
    return Translations(settings.content_dir, settings.locales_dir, languages, vi)


async def _with_database(settings: Settings, service: Translations) -> None:
    from bot.features.translations.store import refresh
    from bot.store.db import Database, make_engine
    db = Database(make_engine(settings.database_url))
    try:
        async with db.connect() as conn:
            await refresh(conn, service)
    finally:
        await db.dispose()


def run(args: argparse.Namespace, settings: Settings) -> int:
    languages = _languages(settings, args.lang)
    service = _service(settings, languages)
    command = args.translations_command
    if command == "update":
        changes = [c for lang in languages for c in update_language(service, lang)]
        print("\n".join(changes) if changes else "translation files are up to date")
        return 0
    if command == "status":
        for lang in languages:
            counts: dict[str, int] = {}
            for unit in all_units(service, lang):
                state = service.verdict(unit).state
                counts[state] = counts.get(state, 0) + 1
            clips = sum(service.clip_verdict(c).served for c in service.clips.get(lang, []))
            print(f"{TAGS[lang]}: " + ", ".join(f"{counts.get(s, 0)} {s}" for s in State)
                  + f"; {clips} approved voice clips")
        return 0
    if command == "export" and args.approvals:
        from bot.store.db import upgrade_database
        upgrade_database(settings.database_url)
        asyncio.run(_with_database(settings, service))
        written = [w for lang in languages for w in write_approvals(service, lang)]
        print("\n".join(written) if written else "no new decisions to write")
        return 0
    if command == "export":
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for lang in languages:
            po = export_catalog(service, lang, everything=args.all)
            path = out / f"loa-{lang}.po"
            po.save(str(path))
            print(f"{path}: {len(po)} texts to translate into {TAGS[lang]}")
        return 0
    try:
        text = Path(args.file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"error: cannot read {args.file}: {exc.__class__.__name__}", file=sys.stderr)
        return 1
    try:
        result = import_catalog(service, args.lang, text, args.translator, args.method)
    except TranslationImportError as exc:
        for problem in exc.problems:
            print(f"error: {args.file}: {problem}", file=sys.stderr)
        print(f"nothing imported: {len(exc.problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"imported {len(result.changed)} new drafts into {TAGS[args.lang]} "
          f"({result.unchanged} unchanged, {result.empty} empty); a reviewer must approve "
          "them before citizens see them")
    return 0
