"""`python -m bot officers ...`: units, invite codes, officers, login links, passwords and
unlocking password logins from the shell."""
from __future__ import annotations

import argparse
import asyncio
import getpass
import secrets
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.features.officers import passwords
from bot.features.officers import service as officers
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
    password = actions.add_parser(
        "password", help="set an officer's login name and password (asked at a prompt)")
    password.add_argument("--officer", type=int, required=True)
    password.add_argument("--login", help="login name (needed if the officer has none yet)")
    password.add_argument("--password-stdin", action="store_true",
                          help="read the password from the first line of standard input")
    remove = actions.add_parser(
        "remove", help="remove an officer: sessions and login links end, audit log kept")
    remove.add_argument("--officer", type=int, required=True)
    unlock = actions.add_parser("unlock", help="lift a password-login lock")
    who = unlock.add_mutually_exclusive_group(required=True)
    who.add_argument("--officer", type=int, help="forget this officer's failed logins")
    who.add_argument("--all", action="store_true",
                     help="forget every failed login (accounts and network addresses)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    password = ""
    if args.action == "password":
        try:
            password = _read_password(args.password_stdin)
        except (EOFError, KeyboardInterrupt):
            print("error: no password given", file=sys.stderr)
            return 2
        except passwords.PasswordError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    upgrade_database(settings.database_url)
    handlers: dict[str, Callable[[AsyncConnection], Awaitable[int]]] = {
        "invite": lambda c: _invite(c, args), "add": lambda c: _add(c, args, settings),
        "list": _list, "units": lambda c: _units(c, args),
        "login-link": lambda c: _login_link(c, args, settings),
        "unlock": lambda c: _unlock(c, args, settings), "remove": lambda c: _remove(c, args)}

    async def main() -> int:
        db = Database(make_engine(settings.database_url))
        try:
            if args.action == "password":   # hashed before the write transaction opens
                prepared = await _prepare_password(db, args, password)
                handlers["password"] = lambda c: _password(c, args, *prepared)
            async with db.begin() as conn:
                await officers.sync_units(conn, settings.unit)
                return await handlers[args.action](conn)
        finally:
            await db.dispose()

    try:
        return asyncio.run(main())
    except (officers.OfficerError, passwords.PasswordError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


async def _invite(conn: AsyncConnection, args: argparse.Namespace) -> int:
    code = await officers.create_invite(conn, args.unit, args.role, OPERATOR, args.language,
                                        args.days)
    print(f"invite code: {code}  (unit {args.unit}, role {args.role}, valid {args.days} days)")
    print(f"the officer sends to the bot:  /dangky {code} <their full name>")
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
        print(f"{o.id:>4}  {o.role:<9} {o.unit_code:<12} {o.channel:<9} "
              f"{o.login_name or '-':<16} {o.name}")
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


def _read_password(from_stdin: bool) -> str:
    """The new password: the first line of stdin (--password-stdin or no terminal), else typed
    twice at a prompt that does not echo. Never printed or logged."""
    if from_stdin or not sys.stdin.isatty():
        line = sys.stdin.readline()
        if not line:
            raise EOFError
        return line.rstrip("\r\n")
    first = getpass.getpass("New password: ")
    if getpass.getpass("New password again: ") != first:
        raise passwords.PasswordError("mismatch", "the two passwords are not the same")
    return first


async def _prepare_password(db: Database, args: argparse.Namespace,
                            password: str) -> tuple[str, str]:
    """Check the login name and password and hash it (0.15 s) outside any transaction."""
    async with db.connect() as conn:
        officer = await officers.officer_by_id(conn, args.officer)
    if officer is None or not officer.active:
        raise officers.OfficerError(f"no active officer {args.officer}")
    if not args.login and not officer.login_name:
        raise officers.OfficerError(f"officer {args.officer} has no login name yet; give --login")
    login_name = passwords.check_login_name(args.login or officer.login_name)
    passwords.check_password(password, login_name)
    return login_name, await asyncio.to_thread(passwords.hash_password, password)


async def _password(conn: AsyncConnection, args: argparse.Namespace, login_name: str,
                    password_hash: str) -> int:
    await passwords.store_password(conn, args.officer, login_name, password_hash, OPERATOR)
    print(f"officer {args.officer} can now log in at /admin/login as '{login_name}'; "
          "their other browser sessions were logged out")
    return 0


REMOVE_REFUSED = {
    "not_found": "no active officer {id} (see: python -m bot officers list)",
    "last_admin": "officer {id} is the last administrator of the province; add another "
                  "administrator first",
}


async def _remove(conn: AsyncConnection, args: argparse.Namespace) -> int:
    try:
        officer = await officers.remove_officer(conn, args.officer, OPERATOR)
    except officers.OfficerError as exc:
        reason = REMOVE_REFUSED.get(str(exc), str(exc)).format(id=args.officer)
        raise officers.OfficerError(reason) from None
    print(f"officer {officer.id} ({officer.name}, {officer.role}, {officer.unit_code}) removed; "
          "their sessions and login links no longer work")
    return 0


async def _unlock(conn: AsyncConnection, args: argparse.Namespace, settings: Settings) -> int:
    if args.all:
        removed = await passwords.clear_throttle(conn)
        await officers.audit(conn, OPERATOR, "login.unlock", "all", None,
                             {"cleared": removed})
        print(f"cleared {removed} failed-login record(s); no account or address is locked")
        return 0
    officer = await officers.officer_by_id(conn, args.officer)
    if officer is None:
        raise officers.OfficerError(f"no officer {args.officer}")
    was_locked = await passwords.unlock_officer(conn, settings.secret_key, officer.id, OPERATOR)
    print(f"officer {officer.id} ({officer.login_name}): "
          + ("failed logins forgotten, unlocked" if was_locked else "was not locked"))
    return 0
