"""The inbox worker: handles stored events (each channel stores them: its webhook or poller,
bot/channels/)."""
from __future__ import annotations

import asyncio
import logging

from bot.delivery.handler import Handler
from bot.delivery.waiting import woken
from bot.store import queries
from bot.store.db import Database

log = logging.getLogger(__name__)
BATCH = 50   # events handled in one transaction
IDLE_S = 2.0      # with nothing to do, look in the database this often
LATER_S = 0.02    # first wait before trying again an event left for later (doubling to IDLE_S)


class InboxWorker:
    """Handles stored events in arrival order (web chat events are handled in the request).

    The handler may leave an event for later while an earlier event of its contact is in
    another process's hands (bot/delivery/handler.py); that process usually takes it on, and
    this worker tries it again soon, waiting longer each time it is still left."""

    def __init__(self, db: Database, handler: Handler) -> None:
        self.db = db
        self.handler = handler
        self._wake = asyncio.Event()
        self._fresh: list[int] = []    # ids just stored by this process: no need to look them up
        self._scan = True              # look in the database (at start, and when idle)
        self._later: list[int] = []    # ids the handler left for later
        self._later_s = LATER_S

    def wake(self, ids: list[int] | None = None) -> None:
        if ids:
            self._fresh.extend(ids)
        else:
            self._scan = True
        self._wake.set()

    async def store_and_handle(self, channel: str,
                               items: list[tuple[str, str]]) -> list[int] | None:
        """Polled events stored and handled in one transaction (Handler.store_and_handle):
        one write instead of two on the way to a reply. None if it failed: nothing was
        stored, and the poller stores them alone, for the usual handling."""
        try:
            stored, later = await self.handler.store_and_handle(channel, items)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("storing and handling %d events at once failed (%s); storing them "
                        "alone", len(items), exc.__class__.__name__)
            return None
        if later:   # an earlier event of their contact is in other hands: try again soon
            self._later.extend(later)
            self._wake.set()
        return stored

    async def run(self) -> None:
        while True:
            self._wake.clear()
            tried_later = bool(self._later)
            try:
                if self._scan:
                    self._scan = False
                    async with self.db.connect() as conn:
                        found = await queries.pending_inbox(conn, limit=500,
                                                            exclude_channel="web")
                    # ids stored meanwhile may be missing from the scan: keep both
                    ids = sorted({*found, *self._fresh, *self._later})
                else:
                    ids = sorted({*self._fresh, *self._later})
                self._fresh, self._later = [], []
                for start in range(0, len(ids), BATCH):
                    self._later += await self.handler.handle_batch(ids[start:start + BATCH])
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("inbox worker round failed")
                ids = []
            if not self._later:
                self._later_s = LATER_S
            elif tried_later:
                self._later_s = min(self._later_s * 2, IDLE_S)
            if self._fresh or (ids and not self._later):
                continue
            if not await woken(self._wake, self._later_s if self._later else IDLE_S):
                if not self._later or self._later_s >= IDLE_S:
                    self._scan = True   # pick up anything left behind (e.g. a failed attempt)
