"""Waiting with a time limit in Loa's long-running loops, so that they always stop.

Not `asyncio.wait_for`: on Python 3.11 it loses a cancellation that arrives in the same turn
of the event loop as the thing it waits for (CPython gh-86296, fixed in 3.12). A worker loop
woken just as Loa stopped then went round again and never ended, and the stop waited for it
forever (seen under load: `bot run` not exiting on SIGTERM, a test run that hung).
`asyncio.timeout` tells its own deadline apart from a cancellation from outside."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def woken(event: asyncio.Event, timeout: float) -> bool:
    """Wait until `event` is set, at most `timeout` seconds: True if it was set."""
    if event.is_set():
        return True
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return False
    return True


async def within(awaitable: Awaitable[T], timeout: float) -> T:
    """Await `awaitable`, at most `timeout` seconds (TimeoutError after); a cancellation
    from outside always goes through."""
    async with asyncio.timeout(timeout):
        return await awaitable
