"""Command line: run, migrate, shell, ask, check-content, report."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bot.core.content import ContentError, validate_content
from bot.core.messages import ConversationState, Inbound, InboundKind, Reply
from bot.settings import Settings, SettingsError


def _settings() -> Settings:
    return Settings.from_env()


async def _settle_heap(_app: object) -> None:
    """What start-up built (content, the matcher's indexes, tables, catalogs) lives as long as
    the process. Frozen out of the garbage collector's sight, it is no longer scanned by the
    full collections that each update's short-lived objects trigger: a fifth of Loa's CPU per
    update in bench/replies.py (issue 16). The first generation is collected less often for
    the same reason (a few thousand objects, kilobytes). Only `run` does this: a test process
    builds many apps, and freezing would keep each one's garbage for good."""
    import gc
    gc.collect()
    gc.freeze()
    gc.set_threshold(7000, 10, 10)


def cmd_run(args: argparse.Namespace) -> int:
    from aiohttp import web

    from bot.app import build_app
    from bot.store.db import upgrade_database
    settings = _settings()
    if getattr(args, "role", None):
        from dataclasses import replace
        settings = replace(settings, role=args.role)
    from bot.ops.logging_setup import setup_logging
    setup_logging(settings)   # BOT_LOG_FORMAT; tokens and secrets redacted from every record
    upgrade_database(settings.database_url)
    app = build_app(settings)
    app.on_startup.append(_settle_heap)   # after the start-up of every part (cleanup_ctx)
    base = f"http://{settings.host}:{settings.port}"
    if settings.role == "workers":
        print(f"Loa workers are running (no web chat here). Health: {base}/healthz  "
              "(Ctrl-C stops)", flush=True)
    else:
        print(f"Loa is running{' (web only)' if settings.role == 'web' else ''}. "
              f"Web chat: {base}/  Admin: {base}/admin  (Ctrl-C stops)", flush=True)
    if settings.telegram_token:
        mode = "webhook" if settings.telegram_webhook_url else "polling"
        print(f"Telegram: on ({mode})", flush=True)
    if settings.zalo_bot_token or settings.zalo_oa_app_id:
        parts = [f"bot ({'webhook' if settings.zalo_webhook_url else 'polling'})"
                 if settings.zalo_bot_token else "", "OA" if settings.zalo_oa_app_id else ""]
        print(f"Zalo: on ({', '.join(p for p in parts if p)})", flush=True)
    # uvloop: the event loop in C (libuv); the same asyncio, less time per turn of the loop,
    # which every update, reply and send pays several times.
    import uvloop
    web.run_app(app, host=settings.host, port=settings.port, print=None,
                loop=uvloop.new_event_loop())
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from bot.store.db import upgrade_database
    settings = _settings()
    upgrade_database(settings.database_url)
    print("database is up to date")
    return 0


def _render(reply: Reply, pressed: list[str]) -> str:
    lines = [reply.text]
    for row in reply.buttons:
        for button in row:
            pressed.append(button.choice)
            lines.append(f"  [b{len(pressed)}] {button.label}")
    if reply.audio:
        lines.append(f"  (voice clip: {reply.audio})")
    return "\n".join(lines)


def cmd_shell(args: argparse.Namespace) -> int:
    from bot.app import load_conversation
    from bot.features.translations.service import install_from_files
    settings = _settings()
    translator, conversation = load_conversation(settings)
    install_from_files(settings, conversation, translator)   # approved translations in files
    state = ConversationState()
    print("Loa shell. Type as a citizen would; b1, b2 ... press a button; Ctrl-D quits.")
    inbound = Inbound(InboundKind.COMMAND, text="start")
    while True:
        buttons: list[str] = []
        turn = conversation.step(state, inbound)
        state = turn.state
        for reply in turn.replies:
            print(_render(reply, buttons), end="\n\n")
        try:
            line = input("> ").strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        if line.startswith("b") and line[1:].isdigit() and 1 <= int(line[1:]) <= len(buttons):
            inbound = Inbound(InboundKind.CHOICE, choice=buttons[int(line[1:]) - 1])
        elif line.startswith("/") and len(line) > 1:
            inbound = Inbound(InboundKind.COMMAND, text=line[1:].split()[0])
        else:
            inbound = Inbound(InboundKind.TEXT, text=line)


def cmd_ask(args: argparse.Namespace) -> int:
    from bot.app import load_conversation
    _, conversation = load_conversation(_settings())
    questions = sys.stdin if args.question == "-" else [args.question]
    for line in questions:
        question = line.strip()
        if not question:
            continue
        decision = conversation.understand(question)
        turn = conversation.step(ConversationState(), Inbound(InboundKind.TEXT, text=question))
        answer = "\n\n".join(r.text for r in turn.replies)
        if args.json:
            print(json.dumps({"topic": decision.topic, "kind": decision.kind,
                              "options": list(decision.options), "score": decision.score,
                              "answer": answer}, ensure_ascii=False), flush=True)
        else:
            shown = decision.topic or ",".join(decision.options) or "-"
            print(f"[{decision.kind} {shown} {decision.score:.2f}]\n{answer}\n", flush=True)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    """How Loa understands a labelled set (the shipped content, no learned samples)."""
    from bot.app import load_conversation
    from bot.core.evaluation import LabelledSetError, evaluate, load_labelled
    try:
        items = [i for i in load_labelled(Path(args.file)) if not args.set or i.set == args.set]
    except (OSError, LabelledSetError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _, conversation = load_conversation(_settings())
    for item in items[:20]:          # warm up caches so timings are per question
        conversation.understand(item.text)
    result = evaluate(conversation.understand, items)
    if args.json:
        print(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
    else:
        print(f"{args.file}\n{result.to_text(show_misses=args.misses)}")
    return 0


def cmd_check_content(args: argparse.Namespace) -> int:
    settings = _settings()
    root = Path(args.content_dir) if args.content_dir else settings.content_dir
    problems: list[ContentError] = []
    for lang in sorted(p.name for p in root.iterdir() if p.is_dir() and p.name != "media") \
            if root.is_dir() else ["vi"]:
        if lang == "vi":
            problems.extend(validate_content(root, lang))
    if not root.is_dir():
        problems = [ContentError(root, "folder", "content folder is missing")]
    if root.is_dir():    # minority catalogs, translation files, glossary (translation_checks)
        from bot.features.translations.checks import check_translations
        locales = Path(args.locales_dir) if args.locales_dir else settings.locales_dir
        problems.extend(check_translations(root, locales))
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s) in {root}", file=sys.stderr)
        return 1
    print(f"content OK: {root}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from bot.features.outreach.reports.command import run
    return run(args, _settings())


def cmd_backup(args: argparse.Namespace) -> int:
    from bot.ops import backup
    settings = _settings()
    try:
        if args.command == "backup":
            size = backup.backup(settings, Path(args.file))
            print(f"backup written: {args.file} ({size} bytes)")
        else:
            ended = backup.restore(settings, Path(args.file))
            print(f"database restored from {args.file}; {ended} admin session(s) and login "
                  "link(s) ended: officers log in again")
    except backup.BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _days_arg(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 3650:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days from 1 to 3650")
    return int(text)


def cmd_retention(args: argparse.Namespace) -> int:
    """Blank or delete free text older than BOT_RETENTION_DAYS now (the daily job does it too)."""
    import asyncio

    from bot.app import retention_parts
    from bot.features.privacy.retention import run_retention
    from bot.store.db import Database, make_engine
    settings = _settings()
    if args.days:
        from dataclasses import replace
        settings = replace(settings, retention_days=args.days)

    async def run() -> int:
        db = Database(make_engine(settings.database_url))
        try:
            report = await run_retention(db, settings, retention_parts(settings),
                                         dry_run=args.dry_run)
        finally:
            await db.dispose()
        verb = "would change" if args.dry_run else "changed"
        print(f"retention: {settings.retention_days} days (questions "
              f"{min(settings.retention_days, settings.question_retention_days)}), before "
              f"{report.cutoff:%Y-%m-%d %H:%M} UTC; rows {verb}:")
        for name, count in report.counts.items():
            print(f"  {name}: {count}")
        return 0

    return asyncio.run(run())


def main(argv: list[str] | None = None) -> int:
    import os
    # Everything Loa writes (database, -wal/-shm, backups, evidence, exports, the processes'
    # lock files) is its own user's only: they hold tokens, password hashes and chat ids.
    os.umask(0o077)
    parser = argparse.ArgumentParser(prog="python -m bot", description="Loa, the 2G outreach bot")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="start the web chat, admin page and (with a token) "
                                      "Telegram")
    role = run.add_mutually_exclusive_group()
    role.add_argument("--web-only", dest="role", action="store_const", const="web",
                      help="serve HTTP only (web chat, webhooks, admin); workers run elsewhere")
    role.add_argument("--workers-only", dest="role", action="store_const", const="workers",
                      help="handle and send only; HTTP serves /healthz and /metrics")
    sub.add_parser("migrate", help="create or upgrade the database")
    sub.add_parser("shell", help="chat with Loa in the terminal")
    ask = sub.add_parser("ask", help="answer one question, or one per line from stdin with '-'")
    ask.add_argument("question")
    ask.add_argument("--json", action="store_true", help="print one JSON object per question")
    check = sub.add_parser("check-content", help="validate every content file")
    check.add_argument("--content-dir", default="")
    check.add_argument("--locales-dir", default="")
    report = sub.add_parser("report", help="the monthly outreach report (province or a unit)")
    from bot.features.outreach.reports.command import add_arguments
    add_arguments(report)
    evaluation = sub.add_parser("eval", help="how Loa understands a labelled question file")
    evaluation.add_argument("file", help="JSON Lines: {\"text\": ..., \"topic\": id or null}")
    evaluation.add_argument("--json", action="store_true", help="print the figures as JSON")
    evaluation.add_argument("--misses", action="store_true", help="list every wrong answer")
    evaluation.add_argument("--set", default="", help="only the questions of this set (late)")
    backup = sub.add_parser("backup", help="copy the SQLite database to a new file (online)")
    backup.add_argument("file")
    restore = sub.add_parser("restore", help="replace the SQLite database with a backup "
                                             "(stop Loa first)")
    restore.add_argument("file")
    retention = sub.add_parser("retention", help="blank or delete free text older than "
                                                 "BOT_RETENTION_DAYS now (a daily job does it)")
    retention.add_argument("--dry-run", action="store_true", help="only count what would go")
    retention.add_argument("--days", type=_days_arg, default=0, metavar="N",
                           help="this many days (1-3650) instead of BOT_RETENTION_DAYS")
    from bot.features.broadcasts import cli as cli_broadcast
    from bot.features.officers import cli as cli_officers
    cli_officers.add_parser(sub)
    cli_broadcast.add_parser(sub)
    from bot.channels.zalo import cli as cli_zalo
    cli_zalo.add_parser(sub)
    from bot.features.translations import cli as cli_translations
    cli_translations.add_parser(sub)
    args = parser.parse_args(argv)
    try:
        from bot.store.db import secure_data_dir
        secure_data_dir(_settings().data_dir)
    except SettingsError:
        pass        # reported below by the command itself
    handlers = {"run": cmd_run, "migrate": cmd_migrate, "shell": cmd_shell, "ask": cmd_ask,
                "check-content": cmd_check_content, "report": cmd_report, "eval": cmd_eval}
    handlers["officers"] = lambda a: cli_officers.run(a, _settings())
    handlers["backup"] = cmd_backup
    handlers["restore"] = cmd_backup
    handlers["retention"] = cmd_retention
    handlers["broadcast"] = _broadcast
    handlers["zalo"] = lambda a: cli_zalo.run(a, _settings())
    handlers["translations"] = lambda a: cli_translations.run(a, _settings())
    try:
        return handlers[args.command](args)
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except ContentError as exc:
        print(f"content error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:   # one clear line, never a traceback (nor SQL with its values)
        print(f"error: {args.command} failed: {_one_line(exc)}", file=sys.stderr)
        return 1


def _one_line(exc: BaseException) -> str:
    """What went wrong, in one line an operator can act on; a database error names its kind
    only (its text carries statements and values)."""
    from sqlalchemy.exc import SQLAlchemyError
    if isinstance(exc, SQLAlchemyError):
        cause = getattr(exc, "orig", None) or exc
        return (f"database error ({cause.__class__.__name__}); is another Loa process "
                "starting or migrating the same database? Try again in a moment.")
    text = " ".join(str(exc).split())[:200]
    if isinstance(exc, ConnectionError):
        return (f"cannot connect ({exc.__class__.__name__}: {text}); is the database running "
                "and BOT_DATABASE_URL right?")
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__


def _broadcast(args: argparse.Namespace) -> int:
    from bot.app import channel_names, load_conversation
    from bot.features.broadcasts import cli as cli_broadcast
    settings = _settings()
    translator, conversation = load_conversation(settings)
    return cli_broadcast.run(args, settings, translator, conversation.languages,
                             channel_names(settings))
