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


def idle(settings: Settings | str) -> bool:
    """Nothing left to do: no stored update waiting to be handled, no message waiting, being
    sent or to be sent again. Then whatever was going to be sent has been."""
    from support.env import sql_connect
    with sql_connect(settings) as db:
        new = db.execute("select count(*) from inbox where status = 'new'").fetchone()[0]
        unsent = db.execute("select count(*) from outbox where status in "
                            "('pending', 'sending', 'retry')").fetchone()[0]
    return new == 0 and unsent == 0


async def drained(settings: Settings | str, timeout: float = 30.0) -> None:
    """Wait until Loa has nothing left to do (`idle`): what proves that nothing more will be
    sent, instead of a pause that hopes so."""
    await wait_for(lambda: idle(settings), timeout, every=0.05)


async def wait_for(predicate: Callable[[], object], timeout: float = 5.0,
                   every: float = 0.02) -> None:
    """Poll `predicate` until it is true; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(every)
    raise AssertionError("condition not met in time")


NOTICE = "Loa lưu câu hỏi của bạn"


def after_notice(text: str) -> str:
    """A first reply's text without the privacy notice that comes before it, once."""
    return text.split("\n\n", 1)[1] if text.startswith(NOTICE) else text
