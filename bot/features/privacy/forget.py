"""A citizen's right to be forgotten: "/forget" or "xóa dữ liệu" erases their personal data.

Counts in reports stay (runs lose the pseudonym; poll answers keep the answer under a random
id); free text, chat addresses, conversation state and per-citizen rows of features go. Which
rows those are is declared by the owners of the tables (`Erasure`, bot/store/erasure.py) and
gathered by the composition root; tests/unit/test_erasure_declared.py checks none is missing.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.i18n import Translator
from bot.core.messages import Button, InboundKind, Reply
from bot.core.text import fold
from bot.delivery.commands import Chat, Command
from bot.store import queries
from bot.store.erasure import Erasure, erase, erased_pseudonym
from bot.store.models import ContactStatus, OutboxStatus

log = logging.getLogger(__name__)

COMMANDS = ("forget", "xoadulieu")
WORDS = {"xoa du lieu", "xoa du lieu cua toi", "xoa thong tin", "forget me"}


async def erase_contact(conn: AsyncConnection, channel: str, pseudonym: str,
                        erasures: Sequence[Erasure]) -> int:
    """Erase one citizen's personal data on one channel: their contact row and the addresses
    of their messages here, then the rows `erasures` declare, in that order; returns rows
    touched."""
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
                           .values(pseudonym=erased_pseudonym(), address="",
                                   state="{}", lang=None, commune_code=None, subscribed=False,
                                   status=ContactStatus.STOPPED))
    for erasure in erasures:
        touched += await erase(conn, erasure, pseudonym)
    log.info("erased a contact's data on %s (%d rows)", channel, touched)
    return touched


class ForgetCommand:
    """"/xoadulieu" or "xóa dữ liệu" in any chat (bot/delivery/commands.py): asks for
    confirmation, then erases; in the contact's language."""

    commands = (Command(COMMANDS[1], "erase what Loa keeps about you", officers=False,
                        aliases=COMMANDS[:1]),)
    prefixes = ("forget:",)

    def __init__(self, translator: Translator, erasures: Sequence[Erasure]) -> None:
        self.t = translator
        self.erasures = tuple(erasures)

    def open_dialog(self, contact: Any) -> Any | None:
        return None   # no dialogs: free text it takes is known from the text alone

    async def _kept(self, chat: Chat) -> list[str]:
        """What Loa really keeps about this contact, named in the confirmation: the language
        and commune only once chosen, announcements only when subscribed (never on the web
        chat, which takes no subscription), and always the questions."""
        t, lang = self.t.gettext, chat.lang
        c = queries.CONTACT.c
        contact = (await chat.conn.execute(
            select(c.lang, c.commune_code, c.subscribed).where(
                c.channel == chat.channel, c.pseudonym == chat.pseudonym))).first()
        kept = []
        if contact is not None and contact.lang:
            kept.append(t(lang, "your language"))
        if contact is not None and contact.commune_code:
            kept.append(t(lang, "your commune or ward"))
        if contact is not None and contact.subscribed:
            kept.append(t(lang, "your subscription to announcements"))
        kept.append(t(lang, "your questions"))
        return kept

    async def handle(self, chat: Chat) -> list[Reply] | None:
        inbound = chat.env.inbound
        if inbound is None:
            return None
        lang, t = chat.lang, self.t.gettext
        asked = (inbound.kind is InboundKind.COMMAND and inbound.text in COMMANDS) or \
            (inbound.kind is InboundKind.TEXT and fold(inbound.text) in WORDS)
        if asked:
            kept = ", ".join(await self._kept(chat))
            return [Reply(t(lang, "Erase everything Loa keeps about you ({kept})? Anonymous "
                            "counts for the province's report stay.", kept=kept),
                          ((Button(t(lang, "Yes, erase"), "forget:yes"),
                            Button(t(lang, "No"), "forget:no")),))]
        if inbound.kind is not InboundKind.CHOICE or not inbound.choice.startswith("forget:"):
            return None
        menu = ((Button(t(lang, "☰ Main menu"), "menu"),),)
        if inbound.choice != "forget:yes":
            return [Reply(t(lang, "Nothing was erased."), menu)]
        await erase_contact(chat.conn, chat.channel, chat.pseudonym, self.erasures)
        return [Reply(t(lang, "Done: your data has been erased. If you write again, Loa starts "
                        "afresh."), menu)]
