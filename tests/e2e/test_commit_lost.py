"""A reply is never stuck when the database commits and the answer to COMMIT is lost.

The database can fail at the worst moment: it has committed, and the connection dies before
Loa hears so. Loa then believes the transaction failed while its rows are in the database.
tests/support/pgproxy.py puts that failure exactly where each test wants it, on a real PostgreSQL
under a real Loa (python-telegram-bot polling the local fake Bot API), at three places:

* the handler's transaction that stores a reply already marked "being sent" by this process
  (the reply is handed to the sender in memory only after that commit);
* the sender's claim of a reply to be sent again after an error;
* the sender's record that a reply was sent.

In each case the reply is sent exactly once, by the same running process, within seconds,
and ends recorded as sent. Before the fix, the first two left the reply "sending" under a live
process, and only a sweep two minutes later (or a restart) would have sent it.
"""
from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from support.env import make_settings, sql_connect, start_server
from support.fakebotapi import FakeBotApi, text_update
from support.pgproxy import PgProxy
from support.waiting import wait_for

from bot import app as app_module
from bot.app import build_app
from bot.delivery.outbox import recover_loop

CHAT, OTHER = 4_440_001, 4_440_002
PG_PORT = 5432


@pytest.fixture
def postgres_url(migrated_postgres_url: str) -> str:
    """Here each test's PostgreSQL database is migrated already: a copy of the session's
    template (tests/conftest.py), instead of every migration run again per test."""
    return migrated_postgres_url


@pytest.fixture
async def loa(postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
              ) -> AsyncIterator[tuple[FakeBotApi, PgProxy]]:
    # The sweep that hands back rows a lost answer left 'sending' runs every 5 s in Loa;
    # here every half second: what is proven (this process sends it, once, without a
    # restart or the two-minute sweep of stuck rows) does not depend on the period.
    monkeypatch.setattr(app_module, "recover_loop", functools.partial(recover_loop,
                                                                      every_s=0.5))
    async with FakeBotApi(token="4440:COMMIT-LOST") as api, PgProxy(PG_PORT) as proxy:
        settings = make_settings(tmp_path, database_url=proxy.url(postgres_url),
                                 telegram_token=api.token, telegram_api_url=api.base_url,
                                 quiet_hours="")
        runner, _ = await start_server(build_app(settings))
        try:
            yield api, proxy
        finally:
            await runner.cleanup()


def outbox(postgres_url: str, chat: int) -> list[tuple[str, int, int]]:
    db = sql_connect(postgres_url)
    try:
        return db.execute("select status, attempts, ambiguous from outbox where address = ? "
                          "order by id", (str(chat),)).fetchall()
    finally:
        db.close()


async def sent_once(api: FakeBotApi, postgres_url: str, chat: int, tries: int = 1) -> None:
    """The reply went out and is recorded as sent after `tries` tries, and nothing more was
    sent to the chat: a later question from another chat is answered first, so a late
    duplicate would show."""
    calls = await api.wait_for_calls("sendMessage", tries, chat_id=chat, timeout=30)
    assert calls[-1].status == 200 and "Khi nào tắt sóng 2G" in calls[-1].params["text"]
    await wait_for(lambda: outbox(postgres_url, chat) == [("sent", tries, 0)], timeout=30)
    api.push_update(text_update(OTHER, "khi nao tat song 2g"))
    await api.wait_for_calls("sendMessage", 1, chat_id=OTHER, timeout=30)
    assert len([c for c in api.calls if c.method == "sendMessage"
                and c.params.get("chat_id") == chat]) == tries


async def test_reply_handed_over_when_the_commit_answer_is_lost(loa, postgres_url) -> None:
    api, proxy = loa
    proxy.arm("INSERT INTO outbox")   # the handler's transaction: reply stored as 'sending'
    api.push_update(text_update(CHAT, "khi nao tat song 2g"))
    await wait_for(proxy.fired.is_set, timeout=30)
    await sent_once(api, postgres_url, CHAT)


async def test_reply_claimed_when_the_commit_answer_is_lost(loa, postgres_url) -> None:
    api, proxy = loa
    api.fail_next(1, 502)   # first try fails: the reply waits, then is claimed again
    api.push_update(text_update(CHAT, "khi nao tat song 2g"))
    await wait_for(lambda: outbox(postgres_url, CHAT) == [("retry", 1, 0)], timeout=30)
    proxy.arm("claimed_at=")   # the claim that takes the reply: UPDATE outbox SET … claimed_at=…
    await wait_for(proxy.fired.is_set, timeout=30)
    await sent_once(api, postgres_url, CHAT, tries=2)   # the failed try, then the reply


async def test_sent_reply_recorded_when_the_commit_answer_is_lost(loa, postgres_url) -> None:
    api, proxy = loa
    proxy.arm("external_message_id=", returning_rows=False)   # the record of a sent reply
    api.push_update(text_update(CHAT, "khi nao tat song 2g"))
    await wait_for(proxy.fired.is_set, timeout=30)
    await sent_once(api, postgres_url, CHAT)
