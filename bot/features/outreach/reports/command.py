"""`python -m bot report --month YYYY-MM [--unit CODE] [--format ...] [--output FILE]`."""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from bot.settings import Settings

FORMATS = ("json", "csv", "xlsx", "docx")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--month", required=True, help="YYYY-MM (Vietnam time)")
    parser.add_argument("--unit", default="", help="unit code (python -m bot officers units); "
                        "default: the whole province")
    parser.add_argument("--format", choices=FORMATS, default="json")
    parser.add_argument("--output", default="", help="write to FILE (needed for xlsx, docx)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from bot.core.content import load_content
    from bot.core.i18n import GettextTranslator
    from bot.features.officers.service import sync_units
    from bot.features.outreach.reports import exports
    from bot.features.outreach.reports.model import build_report
    from bot.features.outreach.reports.monthly import MonthError, monthly_counts, parse_month
    from bot.store.db import Database, make_engine, upgrade_database
    try:
        parse_month(args.month)
    except MonthError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.format in ("xlsx", "docx") and not args.output:
        print(f"error: --format {args.format} needs --output FILE", file=sys.stderr)
        return 2
    upgrade_database(settings.database_url)
    translator = GettextTranslator(settings.locales_dir, settings.languages)

    def tr(msgid: str, **values: object) -> str:
        return translator.gettext("vi", msgid, **values)

    from bot.features.outreach.reports.forms import topic_titles
    labels = topic_titles(load_content(settings.content_dir, "vi"))

    async def build() -> bytes:
        db = Database(make_engine(settings.database_url))
        try:
            async with db.begin() as conn:   # every commune and ward is a reporting unit
                await sync_units(conn, settings.unit)
            async with db.connect() as conn:
                report = await build_report(conn, args.month, tr, unit_code=args.unit or None,
                                            province_name=settings.unit,
                                            deadline_day=settings.report_deadline_day,
                                            topic_labels=labels)
                counts = await monthly_counts(conn, args.month) if not args.unit else None
        finally:
            await db.dispose()
        if args.format == "csv":
            return exports.to_csv(report, tr)
        if args.format == "xlsx":
            return exports.to_xlsx(report, tr)
        if args.format == "docx":
            from bot.features.outreach.reports.document import to_docx
            return to_docx(report, tr)
        # JSON keeps the run counts of earlier versions at the top level (province only).
        data = {**(counts.to_json() if counts else {"month": args.month}),
                "report": report.to_json()}
        return (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8")

    try:
        body = asyncio.run(build())
    except ValueError as exc:      # an unknown unit code
        print(f"error: {exc} (see: python -m bot officers units)", file=sys.stderr)
        return 2
    if args.output:
        Path(args.output).write_bytes(body)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
    return 0
