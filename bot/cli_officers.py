"""`python -m bot officers ...`: units, invite codes, officers and login links from the shell."""
from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from bot import officers
from bot.settings import Settings
from bot.store.db import Database, make_engine, upgrade_database

OPERATOR = "operator"


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("officers", help="units, invite codes, officers, login links")
    actions = parser.add_subparsers(dest="action", required=True)
    invite = actions.add_parser("invite", help="create a one-time invite code for a unit")
    invite.add_argument("--unit", required=True, help="unit code, e.g. tinh or xa-24175")
    invite.add_argument("--role", required=True, choices=officers.ROLE_NAMES)
    invite.add_argument("--language", help="for reviewers: the language tag they review")
    invite.add_argument("--days", type=int, default=officers.INVITE_DAYS)
    add = actions.add_parser("add", help="add an officer without Telegram (prints a login link)")
    add.add_argument("--unit", required=True)
    add.add_argument("--role", required=True, choices=officers.ROLE_NAMES)
    add.add_argument("--name", required=True)
    add.add_argument("--language")
    actions.add_parser("list", help="list officers")
    units = actions.add_parser("units", help="list units (or add one with --add CODE --name N)")
    units.add_argument("--add", metavar="CODE")
    units.add_argument("--name")
    link = actions.add_parser("login-link", help="print a one-time admin login link")
    link.add_argument("--officer", type=int, required=True)


def run(args: argparse.Namespace, settings: Settings) -> int:
    upgrade_database(settings.database_url)
    handlers: dict[str, Callable[[AsyncConnection], Awaitable[int]]] = {
        "invite": lambda c: _invite(c, args), "add": lambda c: _add(c, args, settings),
        "list": _list, "units": lambda c: _units(c, args),
        "login-link": lambda c: _login_link(c, args, settings)}

    async def main() -> int:
        db = Database(make_engine(settings.database_url))
        try:
            async with db.begin() as conn:
                await officers.sync_units(conn, settings.unit)
                return await handlers[args.action](conn)
        finally:
            await db.dispose()

    try:
        return asyncio.run(main())
    except officers.OfficerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


async def _invite(conn: AsyncConnection, args: argparse.Namespace) -> int:
    code = await officers.create_invite(conn, args.unit, args.role, OPERATOR, args.language,
                                        args.days)
    print(f"invite code: {code}  (unit {args.unit}, role {args.role}, valid {args.days} days)")
    print(f"the officer sends to the bot:  /dangky {code}")
    return 0


async def _add(conn: AsyncConnection, args: argparse.Namespace, settings: Settings) -> int:
    code = await officers.create_invite(conn, args.unit, args.role, OPERATOR, args.language, 1)
    officer = await officers.redeem_invite(conn, code, "cli", secrets.token_hex(16), "",
                                           args.name)
    token = await officers.create_login_link(conn, officer.id)
    print(f"officer {officer.id} added; login link (works once, "
          f"{officers.LOGIN_LINK_MINUTES} minutes):")
    print(f"{settings.public_url}/admin/login?token={token}")
    return 0


async def _list(conn: AsyncConnection) -> int:
    for o in await officers.officers(conn):
        print(f"{o.id:>4}  {o.role:<9} {o.unit_code:<12} {o.channel:<9} {o.name}")
    return 0


async def _units(conn: AsyncConnection, args: argparse.Namespace) -> int:
    if args.add:
        if not args.name:
            raise officers.OfficerError("--add needs --name")
        await officers.add_unit(conn, args.add, args.name)
    for unit in await officers.list_units(conn):
        print(f"{unit.code:<12} {unit.kind:<9} {unit.name}")
    return 0


async def _login_link(conn: AsyncConnection, args: argparse.Namespace,
                      settings: Settings) -> int:
    officer = await officers.officer_by_id(conn, args.officer)
    if officer is None or not officer.active:
        raise officers.OfficerError(f"no active officer {args.officer}")
    token = await officers.create_login_link(conn, officer.id)
    print(f"{settings.public_url}/admin/login?token={token}")
    return 0
