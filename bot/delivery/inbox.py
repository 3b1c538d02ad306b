"""Getting events in: the Telegram getUpdates loop and the inbox worker that handles them."""
from __future__ import annotations

import asyncio
import json
import logging
import warnings

from telegram import Bot
from telegram.error import InvalidToken, RetryAfter, TelegramError

from bot.channels.telegram.adapter import ALLOWED_UPDATES
from bot.channels.telegram.adapter import NAME as TELEGRAM
from bot.delivery.handler import Handler
from bot.store import queries
from bot.store.db import Database

log = logging.getLogger(__name__)
BATCH = 50   # events handled in one transaction


class InboxWorker:
    """Handles stored events in arrival order (web chat events are handled in the request)."""

    def __init__(self, db: Database, handler: Handler) -> None:
        self.db = db
        self.handler = handler
        self._wake = asyncio.Event()
        self._fresh: list[int] = []    # ids just stored by this process: no need to look them up
        self._scan = True              # look in the database (at start, and when idle)

    def wake(self, ids: list[int] | None = None) -> None:
        if ids:
            self._fresh.extend(ids)
        else:
            self._scan = True
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                if self._scan:
                    self._scan = False
                    async with self.db.connect() as conn:
                        found = await queries.pending_inbox(conn, limit=500,
                                                            exclude_channel="web")
                    # ids stored meanwhile may be missing from the scan: keep both
                    ids, self._fresh = sorted(set(found) | set(self._fresh)), []
                else:
                    ids, self._fresh = self._fresh, []
                for start in range(0, len(ids), BATCH):
                    await self.handler.handle_batch(ids[start:start + BATCH])
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("inbox worker round failed")
                ids = []
            if ids or self._fresh:
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=2.0)
            except TimeoutError:
                self._scan = True   # pick up anything left behind (e.g. a failed attempt)


class TelegramPoller:
    """Long-polls getUpdates; each update is stored before the next call confirms it."""

    def __init__(self, bot: Bot, db: Database,
                 on_stored: InboxWorker) -> None:
        self.bot = bot
        self.db = db
        self.worker = on_stored
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
            await self.store([(u["update_id"], json.dumps(u, ensure_ascii=False))
                              for u in updates if isinstance(u.get("update_id"), int)])
            self.offset = max(ids) + 1

    async def store(self, items: list[tuple[int, str]]) -> None:
        """Store updates durably; retried until the database accepts them."""
        while True:
            try:
                async with self.db.begin() as conn:
                    ids = await queries.insert_inbox_many(
                        conn, TELEGRAM, [(str(uid), payload) for uid, payload in items])
                break
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("could not store %d updates; retrying", len(items))
                await asyncio.sleep(1)
        self.worker.wake(ids)
