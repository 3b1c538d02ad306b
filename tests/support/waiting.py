"""Small helpers shared by tests."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from bot.app import load_conversation
from bot.core.conversation import Conversation
from bot.settings import Settings

_cache: dict[tuple[str, ...], Conversation] = {}


def conversation(languages: tuple[str, ...] = ("vi",)) -> Conversation:
    """The real conversation over the shipped content and compiled catalogs."""
    if languages not in _cache:
        settings = Settings(languages=languages, secret_key="x")
        _cache[languages] = load_conversation(settings)[1]
    return _cache[languages]


async def wait_for(predicate: Callable[[], object], timeout: float = 5.0,
                   every: float = 0.02) -> None:
    """Poll `predicate` until it is true; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(every)
    raise AssertionError("condition not met in time")
