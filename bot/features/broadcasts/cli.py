"""`python -m bot broadcast ...`: list, show progress, stop, and send (scripted operations)."""
from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from typing import Any

from bot.core.i18n import Translator
from bot.features.broadcasts.models import BroadcastStatus
from bot.features.broadcasts.service import Audience, BroadcastError, Broadcasts
from bot.features.officers import service as officers
from bot.settings import Settings
from bot.store.db import Database, make_engine, upgrade_database

OPERATOR = "operator"


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("broadcast", help="announcements: list, show, stop, send")
    actions = parser.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="the latest announcements")
    show = actions.add_parser("show", help="status and progress of one announcement")
    show.add_argument("id", type=int)
    stop = actions.add_parser("stop", help="stop sending an announcement")
    stop.add_argument("id", type=int)
    send = actions.add_parser("send", help="create and approve an announcement to all "
                                           "opted-in contacts (recorded as sent by the operator)")
    send.add_argument("--text", required=True)
    send.add_argument("--kind", choices=["message", "poll"], default="message")
    send.add_argument("--unit", default=officers.PROVINCE_UNIT)
    send.add_argument("--commune", action="append", default=[], help="commune code; repeatable")
    send.add_argument("--wait", action="store_true",
                      help="print progress until a running Loa has sent it")


def run(args: argparse.Namespace, settings: Settings, translator: Translator,
        languages: Sequence[str], channels: Sequence[str]) -> int:
    """`channels`: the chat channels this configuration has (bot/app.py channel_names), the
    same a running Loa announces on, so a scripted announcement reaches Zalo as well. Run
    where no chat channel is configured (an operator's shell without the tokens), it
    announces on Telegram, as it always did."""
    upgrade_database(settings.database_url)
    announced = tuple(c for c in channels if c != "web") or ("telegram",)
    service = Broadcasts(translator, tuple(languages), announced, settings.quiet_hours)

    async def main() -> int:
        db = Database(make_engine(settings.database_url))
        try:
            return await _dispatch(db, service, args, settings)
        finally:
            await db.dispose()

    try:
        return asyncio.run(main())
    except (BroadcastError, officers.OfficerError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


async def _dispatch(db: Database, service: Broadcasts, args: argparse.Namespace,
                    settings: Settings) -> int:
    if args.action == "list":
        async with db.connect() as conn:
            for row in await service.list(conn, None):
                print(f"#{row.id:<5} {row.status:<17} {row.recipients:>7}  {row.text[:60]!r}")
        return 0
    if args.action == "show":
        return await _show(db, service, args.id)
    if args.action == "stop":
        async with db.begin() as conn:
            n = await service.stop(conn, OPERATOR, None, args.id)
        print(f"stopped #{args.id}: {n} recipients cancelled")
        return 0
    async with db.begin() as conn:
        await officers.sync_units(conn, settings.unit)
        unit = await officers.unit_by_code(conn, args.unit)
        if unit is None:
            raise officers.OfficerError(f"unknown unit '{args.unit}'")
        text = args.text
        broadcast_id = await service.create(conn, OPERATOR, unit.id, None, args.kind, text, {},
                                            Audience(communes=tuple(args.commune)), None)
        await service.approve_as_operator(conn, broadcast_id)
        row = await service.get(conn, broadcast_id)
        total = await service.expand(conn, row, row.approved_at)
    print(f"announcement #{broadcast_id} queued for {total} recipients")
    if args.wait:
        while True:
            code = await _show(db, service, broadcast_id)
            async with db.connect() as conn:
                row = await service.get(conn, broadcast_id)
            if row.status in (BroadcastStatus.DONE, BroadcastStatus.STOPPED) or code:
                return code
            time.sleep(1)
    return 0


async def _show(db: Database, service: Broadcasts, broadcast_id: int) -> int:
    async with db.connect() as conn:
        row = await service.get(conn, broadcast_id)
        p = await service.progress(conn, row)
    counts = ", ".join(f"{k} {v}" for k, v in sorted(p.by_status.items()))
    eta = f", about {p.eta_s:.0f} s left" if p.eta_s else ""
    print(f"#{row.id} {row.status}: {p.done}/{p.total} done ({counts}); "
          f"{p.rate_per_s:.1f}/s{eta}", flush=True)
    return 0
