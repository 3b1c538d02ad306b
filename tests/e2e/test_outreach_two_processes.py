"""/ghinhan when several Loa processes share one database: any process may handle any message,
so an officer's answers must reach the dialog whichever process opened it.

Two "processes" here are two Handlers, each with its own database engine, conversation and
OutreachChat extension (as bot/app.py wires it), over one database. Telegram updates are
stored in the shared inbox and handed to one or the other, alternately; the replies are read
from the outbox rows each turn wrote. Process B has been running (it answered a citizen)
before the officer opens the dialog through process A, so a memory of open dialogs kept per
process would send B's share of the answers to the citizen conversation.
"""
from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select
from support.env import sql_connect
from support.fakebotapi import callback_update, command_update, text_update

from bot.app import load_conversation
from bot.channels.telegram.adapter import NAME as TELEGRAM
from bot.channels.telegram.adapter import TelegramChannel
from bot.delivery.commands import Router
from bot.delivery.handler import Handler
from bot.features.officers import service as officers
from bot.features.outreach import service as outreach
from bot.features.outreach.chat import OutreachChat
from bot.settings import Settings
from bot.store import queries
from bot.store.db import Database, make_engine
from bot.store.models import InboxStatus
from bot.store.pseudonym import pseudonymize

CITIZEN, OFFICER = 4301, 4302
UPDATE_IDS = itertools.count(810_000)
CITIZEN_ANSWER = "Cập nhật ngày"          # in the answer to "khi nao tat song 2g"


class Process:
    """What one Loa process brings to handling: its engine, conversation and extensions."""

    def __init__(self, settings: Settings) -> None:
        translator, conversation = load_conversation(settings)
        self.db = Database(make_engine(settings.database_url))
        chat = OutreachChat(translator, settings.data_dir, settings.unit,
                            settings.report_deadline_day)
        self.handler = Handler(self.db, conversation, {TELEGRAM: TelegramChannel(None)},
                               settings.secret_key, settings.unit,
                               router=Router([chat], translator))

    async def handle(self, update: dict[str, Any]) -> list[dict[str, Any]]:
        """Store the update in the shared inbox, handle it here; the replies it wrote."""
        update_id = next(UPDATE_IDS)
        async with self.db.begin() as conn:
            inbox_id = await queries.insert_inbox(
                conn, TELEGRAM, str(update_id),
                json.dumps({"update_id": update_id, **update}, ensure_ascii=False))
        assert inbox_id is not None
        await self.handler.handle(inbox_id)
        async with self.db.connect() as conn:
            status = (await conn.execute(select(queries.INBOX.c.status).where(
                queries.INBOX.c.id == inbox_id))).scalar_one()
            payloads = (await conn.execute(select(queries.OUTBOX.c.payload).where(
                queries.OUTBOX.c.inbox_id == inbox_id).order_by(queries.OUTBOX.c.id))
            ).scalars().all()
        assert status == InboxStatus.DONE
        return [json.loads(p) for p in payloads]

    async def say(self, chat: int, text: str) -> list[str]:
        update = command_update(chat, text) if text.startswith("/") else text_update(chat, text)
        return [r["text"] for r in await self.handle(update)]

    async def press(self, chat: int, data: str) -> list[str]:
        return [r["text"] for r in await self.handle(callback_update(chat, data))]


@pytest.fixture
async def processes(settings: Settings) -> AsyncIterator[tuple[Process, Process]]:
    a, b = Process(settings), Process(settings)
    try:
        async with a.db.begin() as conn:
            await officers.sync_units(conn, settings.unit)
        yield a, b
    finally:
        await a.db.dispose()
        await b.db.dispose()


def entries(settings: Settings) -> list[tuple[Any, ...]]:
    with sql_connect(settings) as db:
        return db.execute("select day, form, medium, runs, reached, communes, languages, note, "
                          "source from outreach_entry where deleted_at is null").fetchall()


def open_dialogs(settings: Settings) -> int:
    with sql_connect(settings) as db:
        return db.execute("select count(*) from outreach_dialog").fetchone()[0]


def step(texts: list[str], n: int) -> bool:
    return len(texts) == 1 and texts[0].startswith(f"Bước {n}/9 – ")


async def test_answers_reach_the_dialog_whichever_process_handles_them(settings, processes):
    a, b = processes
    (answer,) = await b.say(CITIZEN, "khi nao tat song 2g")      # B has been running
    assert CITIZEN_ANSWER in answer
    async with a.db.begin() as conn:     # as /dangky registers the chat (officers/chat.py)
        code = await officers.create_invite(conn, "xa-24175", "editor", "test")
        await officers.redeem_invite(conn, code, TELEGRAM, pseudonymize(
            settings.secret_key, TELEGRAM, str(OFFICER)), str(OFFICER), "Cán bộ xã")

    yesterday = outreach.today_vn() - dt.timedelta(days=1)
    intro, ask = await a.say(OFFICER, "/ghinhan")                 # opened through A
    assert "9 câu hỏi ngắn" in intro and ask.startswith("Bước 1/9 – ")
    # The answers alternate between the processes, typed and pressed.
    assert step(await b.say(OFFICER, yesterday.strftime("%d/%m/%Y")), 2)
    assert step(await a.press(OFFICER, "og:form:loudspeaker"), 3)
    assert step(await b.say(OFFICER, "Loa của xã"), 4)
    assert step(await a.say(OFFICER, "3"), 5)
    assert step(await b.say(OFFICER, "120"), 6)
    assert step(await a.press(OFFICER, "og:communes:24175"), 7)
    assert step(await b.say(OFFICER, "vi, rad"), 8)
    assert step(await a.press(OFFICER, "og:groups:minorities"), 8)    # ticked, same question
    assert step(await b.say(OFFICER, "dtts, chung"), 9)              # or typed (target groups)
    (confirm,) = await a.say(OFFICER, "Phát sáng và chiều")
    assert "Phương tiện: Loa của xã" in confirm and "Số người tiếp cận: 120" in confirm
    assert "Đối tượng: Đồng bào dân tộc thiểu số, Chung" in confirm
    (done,) = await b.press(OFFICER, "og:save")
    assert done.startswith("Đã ghi nhận (mục #1).")
    assert entries(settings) == [(yesterday.isoformat(), "loudspeaker", "Loa của xã", 3, 120,
                                  "24175", "vi,rad", "Phát sáng và chiều", "chat")]
    assert open_dialogs(settings) == 0
    # Closed through B: A, which saw the dialog open, answers the officer as a citizen now.
    (answer,) = await a.say(OFFICER, "khi nao tat song 2g")
    assert CITIZEN_ANSWER in answer

    # And the other way round: opened through B, answered through A, cancelled through B.
    _, ask = await b.say(OFFICER, "/ghinhan")
    assert ask.startswith("Bước 1/9 – ")
    assert step(await a.say(OFFICER, yesterday.strftime("%d/%m/%Y")), 2)
    (cancelled,) = await b.say(OFFICER, "/huy")
    assert cancelled == "Đã hủy, chưa ghi nhận gì."
    (answer,) = await a.say(OFFICER, "khi nao tat song 2g")
    assert CITIZEN_ANSWER in answer and open_dialogs(settings) == 0
    assert len(entries(settings)) == 1
