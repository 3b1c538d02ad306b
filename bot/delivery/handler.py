"""Runs stored inbound events through the core: state, runs and outbox written atomically.

Events are handled in batches (one transaction for many events, which is what makes SQLite
fast); if a batch fails, each event is retried alone so one bad event cannot hold back others.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.channels.base import Channel, Envelope, ParseError, reply_to_json
from bot.core.conversation import Conversation
from bot.core.messages import ConversationState, Reply
from bot.delivery.outbox import InFlight
from bot.delivery.runs import add_runs
from bot.features.questions import service as questions
from bot.store import queries
from bot.store.db import Database
from bot.store.models import ContactStatus, InboxStatus, OutboxStatus, utcnow
from bot.store.pseudonym import pseudonymize

log = logging.getLogger(__name__)

FORM_CHATBOT = "chatbot_qa"      # "hỏi đáp qua chatbot" in reports
MAX_ATTEMPTS = 3
# A citizen sending more than FLOOD_LIMIT messages within FLOOD_WINDOW_S seconds (counted from
# the first one) gets one polite note, then no answer until the window ends. The count lives in
# the contact's stored state, so every process sees it. Such messages log no communication run
# (nothing was communicated): their inbox rows say FLOODED. The web chat is limited per session
# by its route instead (an HTTP 429 with a message), so it is left out here.
FLOOD_LIMIT = 20
FLOOD_WINDOW_S = 60.0
FLOOD_EXEMPT = frozenset({"web"})
FLOODED = "flood: not answered"


class Extension(Protocol):
    """Something that answers certain inbounds itself (officer commands, poll answers ...).

    Returns the replies when it handled the inbound (no communication run is logged for it),
    or None to let the citizen conversation answer. Runs inside the batch's transaction.
    """

    async def handle(self, conn: AsyncConnection, channel: str, env: Envelope, pseudonym: str,
                     now: dt.datetime) -> list[Reply] | None: ...


@dataclass(eq=False)
class _Contact:
    """A contact as one batch sees and changes it."""

    id: int | None
    channel: str
    pseudonym: str
    address: str
    state: str = "{}"
    lang: str | None = None
    status: str = ContactStatus.ACTIVE
    commune_code: str | None = None
    subscribed: bool = False
    first_contact: bool = False       # shown the privacy notice on this turn
    touched: bool = False             # changed by the conversation: to be saved


@dataclass
class _Turn:
    channel: str
    contact: _Contact
    outbox: list[dict[str, Any]] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    questions: list[dict[str, Any]] = field(default_factory=list)   # kept for review
    flooded: bool = False             # over the flood limit: not answered (maybe a note)


class Handler:
    """Turns inbox rows into conversation turns; the only writer of contact state."""

    def __init__(self, db: Database, conversation: Conversation, channels: Mapping[str, Channel],
                 secret: str, unit: str,
                 on_outbox: Callable[[str], None] = lambda channel: None,
                 extensions: Sequence[Extension] = (), flood_limit: int = FLOOD_LIMIT,
                 flood_window_s: float = FLOOD_WINDOW_S) -> None:
        self.db = db
        self.flood_limit = flood_limit
        self.flood_window_s = flood_window_s
        self.extensions = tuple(extensions)
        # channel -> callable taking freshly committed reply rows (see ReplySender.take)
        self.direct: dict[str, Callable[[list[Any]], None]] = {}
        self.claimed_by: int | None = None   # this process (cluster.py), for direct rows
        self.in_flight = InFlight()          # shared with this process's senders
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
        if isinstance(exc, DBAPIError) and (exc.connection_invalidated or exc.statement is None):
            # The database went away or refuses connections (restart, failover): not the
            # event's fault. It stays new and is handled once the database is back.
            log.warning("inbox %s: database unavailable (%s); will retry", inbox_id,
                        exc.__class__.__name__)
            return
        log.error("inbox %s: handling failed (%s)", inbox_id, exc.__class__.__name__,
                  exc_info=exc)
        async with self.db.begin() as conn:
            await queries.add_inbox_attempt(conn, inbox_id, exc.__class__.__name__,
                                            MAX_ATTEMPTS)

    async def _batch(self, inbox_ids: Sequence[int]) -> set[str]:
        # Replies marked 'sending' for this process's senders are held before the commit; if
        # it fails they are let go, and recover_loop hands back any the database kept.
        async with self.in_flight.claiming() as hold:
            handed, turns = await self._write_batch(inbox_ids, hold)
        for channel in {row.channel for row in handed}:   # committed: now they may go out
            self.direct[channel]([row for row in handed if row.channel == channel])
        return {t.channel for t in turns if t.outbox} - set(self.direct)

    async def _write_batch(self, inbox_ids: Sequence[int],
                           hold: Callable[[Sequence[Any]], None]
                           ) -> tuple[Sequence[Any], list[_Turn]]:
        """One transaction: inbox rows done, contacts saved, replies, runs and questions."""
        async with self.db.begin() as conn:
            rows = await queries.new_inbox_rows(conn, inbox_ids)
            now = utcnow()
            inbox_updates: list[dict[str, Any]] = []
            parsed: list[tuple[int, str, list[Envelope]]] = []
            for row in rows:
                envelopes, error = self._parse(row.id, row.channel, row.payload)
                inbox_updates.append({"id": row.id, "payload": None, "handled_at": now,
                                      "error": error, "status": InboxStatus.DONE
                                      if envelopes is not None else InboxStatus.FAILED})
                if envelopes:
                    parsed.append((row.id, row.channel, envelopes))
            contacts = await self._contacts(conn, parsed)
            await self._save_contacts(conn, contacts, now, new_only=True)
            turns = []
            flooded: set[int] = set()
            for inbox_id, channel, envelopes in parsed:
                for env in envelopes:
                    contact = contacts[(channel, self._pseudo(channel, env))]
                    turns.append(await self._extension_turn(conn, inbox_id, channel, env,
                                                            contact, now)
                                 or self._turn(inbox_id, channel, env, contact, now))
                    if turns[-1].flooded:
                        flooded.add(inbox_id)
            for update in inbox_updates:
                if update["id"] in flooded:
                    update["error"] = FLOODED
            await self._save_contacts(conn, contacts, now)
            await queries.update_many(conn, queries.INBOX, inbox_updates)
            outbox = [dict(o, contact_id=t.contact.id) for t in turns for o in t.outbox]
            # Replies for a channel whose sender runs in this process go to it directly,
            # already marked as being sent; the rest wait in the outbox for a claim.
            direct = [dict(o, status=OutboxStatus.SENDING, claimed_by=self.claimed_by,
                           claimed_at=now)
                      for o in outbox
                      if o["channel"] in self.direct]
            await queries.insert_outbox(conn, [o for o in outbox
                                               if o["channel"] not in self.direct])
            handed = await queries.insert_outbox_returning(conn, direct)
            hold(handed)   # before the commit: never taken for an orphan
            await add_runs(conn, [r for t in turns for r in t.runs])   # runs + rollups
            await questions.insert_questions(conn, [q for t in turns for q in t.questions])
        return handed, turns

    def _pseudo(self, channel: str, env: Envelope) -> str:
        return pseudonymize(self.secret, channel, env.user_key)

    def _parse(self, inbox_id: int, channel_name: str,
               payload: str | None) -> tuple[list[Envelope] | None, str | None]:
        channel = self.channels.get(channel_name)
        if channel is None or payload is None:
            return None, "no channel or payload"
        try:
            return channel.parse(payload.encode()), None
        except ParseError as exc:
            log.warning("inbox %s: malformed %s event: %s", inbox_id, channel_name, exc)
            return None, str(exc)[:200]

    async def _contacts(self, conn: AsyncConnection, parsed: list[tuple[int, str, list[Envelope]]]
                        ) -> dict[tuple[str, str], _Contact]:
        """Every contact of the batch, loaded in one query; unknown ones are new."""
        wanted: dict[tuple[str, str], str] = {}
        for _, channel, envelopes in parsed:
            for env in envelopes:
                wanted[(channel, self._pseudo(channel, env))] = env.address
        if not wanted:
            return {}
        found = await queries.contacts_by_pseudonym(conn, [p for _, p in wanted])
        known = {(c.channel, c.pseudonym): c for c in found}
        out = {}
        for key, address in wanted.items():
            c = known.get(key)
            out[key] = _Contact(id=None, channel=key[0], pseudonym=key[1], address=address,
                                first_contact=True) \
                if c is None else _Contact(id=c.id, channel=c.channel, pseudonym=c.pseudonym,
                                           address=address, state=c.state, lang=c.lang,
                                           status=c.status, commune_code=c.commune_code,
                                           subscribed=c.subscribed)
        return out

    async def _save_contacts(self, conn: AsyncConnection,
                             contacts: dict[tuple[str, str], _Contact], now: dt.datetime,
                             new_only: bool = False) -> None:
        known = []
        for c in contacts.values():
            if c.id is None:   # first-time contacts: few per batch
                c.id = await queries.insert_contact(
                    conn, channel=c.channel, pseudonym=c.pseudonym, address=c.address,
                    state=c.state, lang=c.lang, status=c.status, created_at=now,
                    last_seen_at=now, subscribed=c.subscribed, commune_code=c.commune_code)
            elif not new_only and c.touched:   # extensions (e.g. erasure) write their own
                known.append({"id": c.id, "address": c.address, "state": c.state,
                              "lang": c.lang, "status": c.status, "last_seen_at": now,
                              "subscribed": c.subscribed, "commune_code": c.commune_code})
        await queries.update_many(conn, queries.CONTACT, known)

    async def _extension_turn(self, conn: AsyncConnection, inbox_id: int, channel: str,
                              env: Envelope, contact: _Contact,
                              now: dt.datetime) -> _Turn | None:
        """Officer commands and other features that need the database answer first."""
        if env.inbound is None or env.stopped:
            return None
        for extension in self.extensions:
            replies = await extension.handle(conn, channel, env, contact.pseudonym, now)
            if replies is not None:
                result = _Turn(channel, contact)
                for index, reply in enumerate(replies):
                    result.outbox.append(self._outbox_row(inbox_id, channel, env, reply,
                                                          index, now))
                return result
        return None

    def _outbox_row(self, inbox_id: int, channel: str, env: Envelope, reply: Reply,
                    index: int, now: dt.datetime) -> dict[str, Any]:
        return {"inbox_id": inbox_id, "channel": channel, "address": env.address,
                "lane": "reply", "payload": reply_to_json(reply, env.ack_id if index == 0
                                                          else None),
                "status": OutboxStatus.PENDING, "attempts": 0, "not_before": now,
                "last_error": None, "ambiguous": False, "created_at": now, "sent_at": None}

    def _turn(self, inbox_id: int, channel: str, env: Envelope, contact: _Contact,
              now: dt.datetime) -> _Turn:
        result = _Turn(channel, contact)
        if env.stopped:
            contact.status, contact.touched = ContactStatus.STOPPED, True
            log.info("contact %s stopped the bot", contact.id)
            return result
        if env.inbound is None:
            return result
        contact.status = ContactStatus.ACTIVE
        contact.touched = True
        stored = json.loads(contact.state or "{}")
        window = self._flood_window(channel, stored, now)
        if window is not None and window["n"] > self.flood_limit:
            contact.state = json.dumps({**stored, "flood": window})
            result.flooded = True
            if window["n"] == self.flood_limit + 1:   # one note per window, then silence
                log.info("contact %s: more than %d messages in %.0f s; not answered until the "
                         "window ends", contact.id, self.flood_limit, self.flood_window_s)
                note = self.conversation.t.gettext(
                    contact.lang or "vi", "You are sending a lot of messages. Please wait a "
                    "minute, then ask again.")
                result.outbox.append(self._outbox_row(inbox_id, channel, env, Reply(note),
                                                      0, now))
            return result
        state = ConversationState.from_json(stored)
        turn = self.conversation.step(state, env.inbound)
        if contact.first_contact and turn.replies:   # the privacy notice, once, at first contact
            contact.first_contact = False
            first = turn.replies[0]
            notice = self.conversation.t.gettext(
                "vi", "Loa keeps your questions under an anonymous code to report to the "
                "province, never your name or phone number. Type \"xóa dữ liệu\" to erase them.")
            turn = replace(turn, replies=(replace(first, text=f"{first.text}\n\n{notice}"),
                                          *turn.replies[1:]))
        contact.state = json.dumps(turn.state.to_json() if window is None
                                   else {**turn.state.to_json(), "flood": window})
        contact.lang = turn.state.lang
        contact.subscribed = turn.state.subscribed       # the audience of announcements
        contact.commune_code = turn.state.commune
        for index, reply in enumerate(turn.replies):
            result.outbox.append(self._outbox_row(inbox_id, channel, env, reply, index, now))
        for event in turn.events:
            result.runs.append({
                "at": now, "unit": self.unit, "form": FORM_CHATBOT, "medium": channel,
                "kind": event.kind, "topic": event.topic, "language": turn.state.lang or "vi",
                "served_language": event.served_language or turn.state.lang or "vi",
                "commune_code": contact.commune_code, "contact_pseudonym": contact.pseudonym,
                "reached": 1, "score": event.score})
        question = questions.review_row(self.conversation.matcher, env.inbound, turn.events,
                                        channel=channel, language=turn.state.lang or "vi",
                                        pseudonym=contact.pseudonym, at=now,
                                        commune=contact.commune_code)   # who may see it
        if question is not None:      # unanswered or unsure: the text is kept for review
            result.questions.append(question)
        return result

    def _flood_window(self, channel: str, stored: object,
                      now: dt.datetime) -> dict[str, float] | None:
        """This message counted in the contact's window {"since": epoch s, "n": messages}."""
        if channel in FLOOD_EXEMPT:
            return None
        window = stored.get("flood") if isinstance(stored, dict) else None
        at = now.timestamp()
        if not isinstance(window, dict) or not isinstance(window.get("since"), int | float) \
                or not isinstance(window.get("n"), int) \
                or not 0 <= at - window["since"] < self.flood_window_s:
            window = {"since": at, "n": 0}
        return {"since": window["since"], "n": window["n"] + 1}
