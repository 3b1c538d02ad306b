"""A citizen's right to be forgotten: "/forget" or "xóa dữ liệu" erases their personal data.

Counts in reports stay (runs lose the pseudonym; poll answers keep the answer under a random
id); free text, chat addresses, conversation state and per-citizen rows of features go.
"""
from __future__ import annotations

import datetime as dt
import logging
import secrets

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import SQLModel

from bot.channels.base import Envelope
from bot.core.i18n import Translator
from bot.core.messages import Button, InboundKind, Reply
from bot.core.text import fold
from bot.store import queries
from bot.store.models import ContactStatus, OutboxStatus

log = logging.getLogger(__name__)

COMMANDS = ("forget", "xoadulieu")
WORDS = {"xoa du lieu", "xoa du lieu cua toi", "xoa thong tin", "forget me"}
KEEP_TABLES = {"contact", "officer", "run", "poll_answer", "outbox", "inbox"}


async def erase_contact(conn: AsyncConnection, channel: str, pseudonym: str) -> int:
    """Erase one citizen's personal data on one channel; returns rows touched."""
    touched = 0
    contact = (await conn.execute(queries.CONTACT.select().where(
        queries.CONTACT.c.channel == channel, queries.CONTACT.c.pseudonym == pseudonym))).first()
    if contact is not None:
        o = queries.OUTBOX.c
        await conn.execute(update(queries.OUTBOX).where(
            o.contact_id == contact.id, o.status.in_([OutboxStatus.PENDING, OutboxStatus.RETRY]))
            .values(status=OutboxStatus.CANCELLED, last_error="erased at the citizen's request"))
        touched += (await conn.execute(update(queries.OUTBOX).where(o.contact_id == contact.id)
                                       .values(address=""))).rowcount or 0
        await conn.execute(update(queries.CONTACT).where(queries.CONTACT.c.id == contact.id)
                           .values(pseudonym=f"erased:{secrets.token_hex(12)}", address="",
                                   state="{}", lang=None, commune_code=None, subscribed=False,
                                   status=ContactStatus.STOPPED))
    touched += (await conn.execute(update(queries.RUN).where(
        queries.RUN.c.contact_pseudonym == pseudonym).values(contact_pseudonym=None))).rowcount \
        or 0
    tables = SQLModel.metadata.tables
    if "poll_answer" in tables:
        poll = tables["poll_answer"]
        for row in (await conn.execute(poll.select().where(
                poll.c.contact_pseudonym == pseudonym))).all():
            await conn.execute(update(poll).where(poll.c.id == row.id).values(
                contact_pseudonym=f"erased:{secrets.token_hex(12)}", commune_code=None))
            touched += 1
    for name, table in tables.items():   # feature tables keyed by the citizen: delete rows
        if name in KEEP_TABLES:
            continue
        for column in ("contact_pseudonym", "pseudonym"):
            if column in table.c:
                touched += (await conn.execute(delete(table).where(
                    table.c[column] == pseudonym))).rowcount or 0
    log.info("erased a contact's data on %s (%d rows)", channel, touched)
    return touched


class ForgetCommand:
    """Handling extension: asks for confirmation, then erases."""

    def __init__(self, translator: Translator) -> None:
        self.t = translator

    async def handle(self, conn: AsyncConnection, channel: str, env: Envelope, pseudonym: str,
                     now: dt.datetime) -> list[Reply] | None:
        inbound = env.inbound
        if inbound is None:
            return None
        t = self.t.gettext
        asked = (inbound.kind is InboundKind.COMMAND and inbound.text in COMMANDS) or \
            (inbound.kind is InboundKind.TEXT and fold(inbound.text) in WORDS)
        if asked:
            return [Reply(t("vi", "Erase everything Loa keeps about you (your language, commune, "
                            "announcements, questions)? Anonymous counts for the province's "
                            "report stay."),
                          ((Button(t("vi", "Yes, erase"), "forget:yes"),
                            Button(t("vi", "No"), "forget:no")),))]
        if inbound.kind is not InboundKind.CHOICE or not inbound.choice.startswith("forget:"):
            return None
        menu = ((Button(t("vi", "☰ Main menu"), "menu"),),)
        if inbound.choice != "forget:yes":
            return [Reply(t("vi", "Nothing was erased."), menu)]
        await erase_contact(conn, channel, pseudonym)
        return [Reply(t("vi", "Done: your data has been erased. If you write again, Loa starts "
                        "afresh."), menu)]
