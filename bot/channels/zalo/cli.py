"""`python -m bot zalo set-webhook|delete-webhook|status`: the operator's Zalo commands.

Prints ids, URLs and dates; never a token or secret.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
from typing import Any

from bot.channels.zalo import models as zq
from bot.channels.zalo.bot import ZaloBotApi, ZaloBotError
from bot.channels.zalo.common import JsonHttp, TransportError
from bot.channels.zalo.oa_state import WINDOW
from bot.channels.zalo.service import BOT_WEBHOOK_PATH, OA_WEBHOOK_PATH
from bot.settings import Settings
from bot.store.db import Database, make_engine, upgrade_database


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("zalo", help="Zalo bot webhook and status")
    actions = parser.add_subparsers(dest="action", required=True)
    actions.add_parser("set-webhook", help="register BOT_ZALO_WEBHOOK_URL with the Zalo bot")
    actions.add_parser("delete-webhook", help="remove the Zalo bot webhook (Loa then polls)")
    actions.add_parser("status", help="Zalo bot and OA status (no secrets printed)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.zalo_bot_token and not settings.zalo_oa_app_id:
        print("Zalo is not configured: set BOT_ZALO_BOT_TOKEN and/or BOT_ZALO_OA_APP_ID")
        return 2
    return asyncio.run(_run(args.action, settings))


async def _run(action: str, settings: Settings) -> int:
    http = JsonHttp()
    try:
        if action == "status":
            return await _status(settings, http)
        if not settings.zalo_bot_token:
            print("BOT_ZALO_BOT_TOKEN is not set; the OA webhook is set in the Zalo developer "
                  f"console to {settings.public_url}{OA_WEBHOOK_PATH}")
            return 2
        api = ZaloBotApi(settings.zalo_bot_token, settings.zalo_api_url, http)
        if action == "set-webhook":
            if not settings.zalo_webhook_url.startswith("https://"):
                print("BOT_ZALO_WEBHOOK_URL must be set to an https:// address, e.g. "
                      f"https://loa.example.gov.vn{BOT_WEBHOOK_PATH}")
                return 2
            await api.call("setWebhook", {"url": settings.zalo_webhook_url,
                                          "secret_token": settings.zalo_webhook_secret})
            print(f"webhook set: {settings.zalo_webhook_url}")
        else:
            await api.call("deleteWebhook")
            print("webhook deleted; Loa polls getUpdates when BOT_ZALO_WEBHOOK_URL is unset")
        return 0
    except ZaloBotError as exc:
        print(f"Zalo answered error {exc.code}: {exc.description}")
        return 1
    except TransportError as exc:
        print(f"Zalo not reachable: {exc}")
        return 1
    finally:
        await http.close()


async def _status(settings: Settings, http: JsonHttp) -> int:
    code = 0
    if settings.zalo_bot_token:
        mode = "webhook" if settings.zalo_webhook_url else "polling"
        print(f"zalo_bot: configured ({mode}), API {settings.zalo_api_url}")
        api = ZaloBotApi(settings.zalo_bot_token, settings.zalo_api_url, http)
        try:
            me = await api.call("getMe")
            info = await api.call("getWebhookInfo")
            me = me if isinstance(me, dict) else {}
            info = info if isinstance(info, dict) else {}
            print(f"  bot: id {me.get('id')}, name {me.get('account_name') or me.get('name')}")
            print(f"  webhook at Zalo: {info.get('url') or '(none: polling)'}")
        except (ZaloBotError, TransportError) as exc:
            print(f"  Zalo check failed: {getattr(exc, 'code', exc)}")
            code = 1
    else:
        print("zalo_bot: off (BOT_ZALO_BOT_TOKEN not set)")
    if settings.zalo_oa_app_id:
        print(f"zalo_oa: configured, app {settings.zalo_oa_app_id}")
        print(f"  webhook URL for the Zalo developer console: "
              f"{settings.public_url}{OA_WEBHOOK_PATH}")
        print(f"  paid messages outside the reply window: "
              f"{'allowed' if settings.zalo_oa_allow_paid else 'off'}")
        upgrade_database(settings.database_url)
        db = Database(make_engine(settings.database_url))
        try:
            async with db.connect() as conn:
                row = await zq.load_token(conn, settings.zalo_oa_app_id)
                windows = await zq.count_open_windows(conn, dt.datetime.now(dt.UTC) - WINDOW)
        finally:
            await db.dispose()
        if row is None:
            print("  tokens: none stored (set BOT_ZALO_OA_REFRESH_TOKEN and start Loa)")
            code = code or 1
        else:
            expiry = row.expires_at.isoformat(timespec="seconds") if row.expires_at \
                else "unknown (until Zalo rejects it)"
            print(f"  access token: {'present' if row.access_token else 'none yet'}, "
                  f"expires {expiry}; refreshed {row.refresh_count} time(s)"
                  + (f", last {row.refreshed_at.isoformat(timespec='seconds')}"
                     if row.refreshed_at else ""))
        print(f"  contacts inside a free reply window: {windows}")
    else:
        print("zalo_oa: off (BOT_ZALO_OA_APP_ID not set)")
    return code
