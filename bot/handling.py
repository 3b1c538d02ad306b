"""Runs one stored inbound event through the core, in one transaction: state, runs, outbox."""
from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.channels.base import Channel, ParseError, reply_to_json
from bot.core.conversation import Conversation
from bot.core.messages import ConversationState
from bot.pseudonym import pseudonymize
from bot.store import queries
from bot.store.models import (CommunicationRun, ContactStatus, InboxEvent, InboxStatus,
                              OutboxMessage, utcnow)

log = logging.getLogger(__name__)

FORM_CHATBOT = "chatbot_qa"      # "hỏi đáp qua chatbot" in reports
MAX_ATTEMPTS = 3


class Handler:
    """Turns inbox rows into conversation turns; the only writer of contact state."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], conversation: Conversation,
                 channels: Mapping[str, Channel], secret: str, unit: str,
                 on_outbox: Callable[[str], None] = lambda channel: None) -> None:
        self.sessions = sessions
        self.conversation = conversation
        self.channels = channels
        self.secret = secret
        self.unit = unit
        self.on_outbox = on_outbox
        self._lock = asyncio.Lock()   # one turn at a time keeps each contact's turns in order

    async def handle(self, inbox_id: int) -> None:
        async with self._lock:
            channel_name = await self._handle_locked(inbox_id)
        if channel_name:
            self.on_outbox(channel_name)

    async def _handle_locked(self, inbox_id: int) -> str | None:
        try:
            async with self.sessions() as session, session.begin():
                row = await session.get(InboxEvent, inbox_id)
                if row is None or row.status != InboxStatus.NEW:
                    return None
                wrote = await self._turn(session, row)
                return row.channel if wrote else None
        except Exception as exc:   # a bug must not kill the worker nor lose the event
            log.exception("inbox %s: handling failed (%s)", inbox_id, exc.__class__.__name__)
            async with self.sessions() as session, session.begin():
                row = await session.get(InboxEvent, inbox_id)
                if row is not None:
                    row.attempts += 1
                    row.error = exc.__class__.__name__
                    if row.attempts >= MAX_ATTEMPTS:
                        row.status = InboxStatus.FAILED
            return None

    async def _turn(self, session: AsyncSession, row: InboxEvent) -> bool:
        channel = self.channels.get(row.channel)
        row.handled_at = utcnow()
        if channel is None or row.payload is None:
            row.status, row.error = InboxStatus.FAILED, "no channel or payload"
            return False
        try:
            envelopes = channel.parse(row.payload.encode())
        except ParseError as exc:
            log.warning("inbox %s: malformed %s event: %s", row.id, row.channel, exc)
            row.status, row.error, row.payload = InboxStatus.FAILED, str(exc)[:200], None
            return False
        wrote = False
        for env in envelopes:
            pseudonym = pseudonymize(self.secret, row.channel, env.user_key)
            contact = await queries.upsert_contact(session, row.channel, pseudonym, env.address)
            if env.stopped:
                contact.status = ContactStatus.STOPPED
                log.info("contact %s stopped the bot", contact.id)
                continue
            if env.inbound is None:
                continue
            contact.status = ContactStatus.ACTIVE
            state = ConversationState.from_json(json.loads(contact.state or "{}"))
            turn = self.conversation.step(state, env.inbound)
            contact.state = json.dumps(turn.state.to_json())
            contact.lang = turn.state.lang
            for index, reply in enumerate(turn.replies):
                session.add(OutboxMessage(
                    inbox_id=row.id, contact_id=contact.id, channel=row.channel,
                    payload=reply_to_json(reply, env.ack_id if index == 0 else None)))
                wrote = True
            for event in turn.events:
                session.add(CommunicationRun(
                    unit=self.unit, form=FORM_CHATBOT, medium=row.channel, kind=event.kind,
                    topic=event.topic, language=turn.state.lang or "vi",
                    commune_code=contact.commune_code, contact_pseudonym=pseudonym,
                    score=event.score))
        row.status, row.payload = InboxStatus.DONE, None   # citizens' words are not kept
        return wrote
