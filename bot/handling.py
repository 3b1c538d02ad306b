"""Runs stored inbound events through the core: state, runs and outbox written atomically.

Events are handled in batches (one transaction for many events, which is what makes SQLite
fast); if a batch fails, each event is retried alone so one bad event cannot hold back others.
"""
from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping, Sequence

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.channels.base import Channel, Envelope, ParseError, reply_to_json
from bot.core.conversation import Conversation
from bot.core.messages import ConversationState
from bot.pseudonym import pseudonymize
from bot.store.models import (CommunicationRun, Contact, ContactStatus, InboxEvent, InboxStatus,
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
        self._lock = asyncio.Lock()   # one batch at a time keeps each contact's turns in order

    async def handle(self, inbox_id: int) -> None:
        await self.handle_batch([inbox_id])

    async def handle_batch(self, inbox_ids: Sequence[int]) -> None:
        async with self._lock:
            try:
                written = await self._batch(inbox_ids)
            except Exception as exc:
                if len(inbox_ids) == 1:
                    await self._record_failure(inbox_ids[0], exc)
                    return
                log.warning("batch of %d failed (%s); handling one by one", len(inbox_ids),
                            exc.__class__.__name__)
                written = set()
                for inbox_id in inbox_ids:
                    try:
                        written |= await self._batch([inbox_id])
                    except Exception as single:
                        await self._record_failure(inbox_id, single)
        for channel in written:
            self.on_outbox(channel)

    async def _record_failure(self, inbox_id: int, exc: Exception) -> None:
        """A bug must not kill the worker nor lose the event: count the try, give up at 3."""
        log.error("inbox %s: handling failed (%s)", inbox_id, exc.__class__.__name__,
                  exc_info=exc)
        async with self.sessions() as session, session.begin():
            row = await session.get(InboxEvent, inbox_id)
            if row is not None:
                row.attempts += 1
                row.error = exc.__class__.__name__
                if row.attempts >= MAX_ATTEMPTS:
                    row.status = InboxStatus.FAILED

    async def _batch(self, inbox_ids: Sequence[int]) -> set[str]:
        async with self.sessions() as session, session.begin():
            rows = (await session.exec(
                select(InboxEvent).where(col(InboxEvent.id).in_(list(inbox_ids)),
                                         InboxEvent.status == InboxStatus.NEW)
                .order_by(col(InboxEvent.id)))).all()
            parsed: list[tuple[InboxEvent, list[Envelope]]] = []
            now = utcnow()
            for row in rows:
                row.handled_at = now
                envelopes = self._parse(row)
                row.status, row.payload = (InboxStatus.DONE if envelopes is not None
                                           else InboxStatus.FAILED), None
                if envelopes:
                    parsed.append((row, envelopes))
            contacts = await self._contacts(session, parsed)
            written: set[str] = set()
            outbox: list[dict[str, object]] = []
            runs: list[dict[str, object]] = []
            for row, envelopes in parsed:
                for env in envelopes:
                    pseudonym = pseudonymize(self.secret, row.channel, env.user_key)
                    contact = contacts[(row.channel, pseudonym)]
                    if self._turn(row, env, contact, pseudonym, outbox, runs):
                        written.add(row.channel)
            # Plain multi-row INSERTs: the ORM unit of work costs more than the turn itself.
            if outbox:
                await session.exec(insert(OutboxMessage), params=outbox)  # type: ignore[call-overload]
            if runs:
                await session.exec(insert(CommunicationRun), params=runs)  # type: ignore[call-overload]
            return written

    def _parse(self, row: InboxEvent) -> list[Envelope] | None:
        channel = self.channels.get(row.channel)
        if channel is None or row.payload is None:
            row.error = "no channel or payload"
            return None
        try:
            return channel.parse(row.payload.encode())
        except ParseError as exc:
            log.warning("inbox %s: malformed %s event: %s", row.id, row.channel, exc)
            row.error = str(exc)[:200]
            return None

    async def _contacts(self, session: AsyncSession,
                        parsed: list[tuple[InboxEvent, list[Envelope]]]
                        ) -> dict[tuple[str, str], Contact]:
        """Load every contact of the batch in one query; create the new ones."""
        wanted: dict[tuple[str, str], str] = {}
        for row, envelopes in parsed:
            for env in envelopes:
                wanted[(row.channel, pseudonymize(self.secret, row.channel, env.user_key))] = \
                    env.address
        if not wanted:
            return {}
        found = (await session.exec(select(Contact).where(
            col(Contact.pseudonym).in_([p for _, p in wanted])))).all()
        contacts = {(c.channel, c.pseudonym): c for c in found if (c.channel, c.pseudonym)
                    in wanted}
        now = utcnow()
        for key, address in wanted.items():
            contact = contacts.get(key)
            if contact is None:
                contact = Contact(channel=key[0], pseudonym=key[1], address=address,
                                  created_at=now, last_seen_at=now)
                session.add(contact)
                contacts[key] = contact
            else:
                contact.address, contact.last_seen_at = address, now
        await session.flush()   # new contacts get their ids
        return contacts

    def _turn(self, row: InboxEvent, env: Envelope, contact: Contact, pseudonym: str,
              outbox: list[dict[str, object]], runs: list[dict[str, object]]) -> bool:
        if env.stopped:
            contact.status = ContactStatus.STOPPED
            log.info("contact %s stopped the bot", contact.id)
            return False
        if env.inbound is None:
            return False
        contact.status = ContactStatus.ACTIVE
        state = ConversationState.from_json(json.loads(contact.state or "{}"))
        turn = self.conversation.step(state, env.inbound)
        contact.state = json.dumps(turn.state.to_json())
        contact.lang = turn.state.lang
        now = utcnow()
        for index, reply in enumerate(turn.replies):
            outbox.append(OutboxMessage(
                inbox_id=row.id, contact_id=contact.id, channel=row.channel,
                payload=reply_to_json(reply, env.ack_id if index == 0 else None),
                not_before=now, created_at=now).model_dump(exclude={"id"}))
        for event in turn.events:
            runs.append(CommunicationRun(
                at=now, unit=self.unit, form=FORM_CHATBOT, medium=row.channel, kind=event.kind,
                topic=event.topic, language=turn.state.lang or "vi",
                commune_code=contact.commune_code, contact_pseudonym=pseudonym,
                score=event.score).model_dump(exclude={"id"}))
        return bool(turn.replies)
