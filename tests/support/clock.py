"""Virtual time for tests that pace thousands of sends (bot/delivery/outbox.py: Clock)."""
from __future__ import annotations

import asyncio
import time

from bot.delivery.outbox import Clock


class FastForward(Clock):
    """A monotonic clock that runs with real time and skips every wait the pacer asks for:
    `sleep(s)` moves the clock on by `s` at once. Give the same clock to the sender
    (`ReplySender.use_clock`) and to the fake Bot API (`FakeBotApi(clock=clock.monotonic)`):
    the fake then counts sends per second of this time, so a sender that paced too fast is
    still refused and counted, while an announcement of 2,000 messages at 25 a second takes
    as long as the sending itself, not 80 real seconds.

    Never slower than real time, so whatever waits by the real clock (a retry's not_before
    in the database, a flood wait) has waited at least as long on this one."""

    def __init__(self) -> None:
        self.skipped = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.skipped

    async def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.skipped += seconds
        await asyncio.sleep(0)   # still a turn of the loop, as a real sleep would give
