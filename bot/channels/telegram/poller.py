"""Telegram's getUpdates loop (polling mode; one poller per bot, in the leading process)."""
from __future__ import annotations

import asyncio
import json
import logging
import warnings

from telegram import Bot
from telegram.error import InvalidToken, RetryAfter, TelegramError

from bot.channels.telegram.adapter import ALLOWED_UPDATES
from bot.channels.telegram.adapter import NAME as TELEGRAM
from bot.channels.webhook import Inbox
from bot.store import queries
from bot.store.db import Database

log = logging.getLogger(__name__)


class TelegramPoller:
    """Long-polls getUpdates; each update is stored before the next call confirms it."""

    def __init__(self, bot: Bot, db: Database, inbox: Inbox) -> None:
        self.bot = bot
        self.db = db
        self.inbox = inbox
        self.offset: int | None = None

    async def run(self) -> None:
        await self.bot.delete_webhook(drop_pending_updates=False)
        while True:
            try:
                # Raw JSON, so one malformed update cannot stall the loop: it is stored and
                # rejected by the handler like any other bad input.
                params: dict[str, object] = {"timeout": 20, "limit": 100,
                                             "allowed_updates": ALLOWED_UPDATES}
                if self.offset is not None:
                    params["offset"] = self.offset
                with warnings.catch_warnings():
                    # PTB suggests get_updates(); we want the raw JSON on purpose (see above).
                    warnings.simplefilter("ignore")
                    raw = await self.bot.do_api_request("getUpdates", api_kwargs=params,
                                                        read_timeout=30)
            except asyncio.CancelledError:
                raise
            except InvalidToken:
                log.error("Telegram rejected BOT_TELEGRAM_TOKEN; polling stopped")
                return
            except RetryAfter as exc:
                after = exc.retry_after
                await asyncio.sleep(after.total_seconds() if hasattr(after, "total_seconds")
                                    else float(after))
                continue
            except TelegramError as exc:
                log.warning("getUpdates failed (%s); retrying in 3 s", exc.__class__.__name__)
                await asyncio.sleep(3)
                continue
            updates = [u for u in raw if isinstance(u, dict)] if isinstance(raw, list) else []
            ids = [u["update_id"] for u in updates if isinstance(u.get("update_id"), int)]
            if not ids:
                continue
            items = [(str(u["update_id"]), json.dumps(u, ensure_ascii=False))
                     for u in updates if isinstance(u.get("update_id"), int)]
            # Stored and handled in one transaction where this process handles events;
            # otherwise (or if that failed) stored alone and handed to the worker.
            if await self.inbox.store_and_handle(TELEGRAM, items) is None:
                await self.store(items)
            self.offset = max(ids) + 1

    async def store(self, items: list[tuple[str, str]]) -> None:
        """Store updates durably; retried until the database accepts them."""
        while True:
            try:
                async with self.db.begin() as conn:
                    ids = await queries.insert_inbox_many(conn, TELEGRAM, items)
                break
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("could not store %d updates; retrying", len(items))
                await asyncio.sleep(1)
        self.inbox.wake(ids)
