"""Runs stored inbound events through the core: state, runs and outbox written atomically.

Events are handled in batches (one transaction for many events, which is what makes SQLite
fast); if a batch fails, each event is retried alone so one bad event cannot hold back others.

One contact's events are handled one at a time and in inbox id order, also when several
processes share the database (their state, e.g. the menu a citizen is in and the flood count,
would otherwise be lost to a concurrent write, and a second message answered before the first).
A batch claims its rows (skipping rows other transactions hold), parses them and then holds its
contacts until it commits (PostgreSQL: transaction advisory locks on a hash of channel and
pseudonym, taken in ascending order; SQLite: the batch is the database's one writer from its
start). Holding a contact, it looks for the contact's other unhandled rows: stamped ones (see
below) and unstamped earlier ones, which it parses. Those nobody holds it takes on and handles
in order with its own; from the first one another transaction holds, it leaves the contact's
later rows unhandled, stamped with the contact's key (inbox.contact_key). That transaction,
which is waiting for the contact, finds them stamped once it holds it, and takes them on. The
contact's state is read and written only while holding the contact, so it is never stale. An
event that keeps failing holds its contact's later events back until it is given up
(MAX_ATTEMPTS); every batch of the contact retries it, so that comes soon.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import orjson
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.conversation import Conversation
from bot.core.messages import ConversationState, Event, Inbound, Reply
from bot.delivery.channel import Channel, Envelope, ParseError, reply_to_json
from bot.delivery.commands import Expecting, Router
from bot.delivery.outbox import InFlight, Outgoing
from bot.delivery.runs import RunObserver, add_runs
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
# Other unhandled rows a batch looks at for the order of its contacts (see unhandled_of_contacts)
ORDER_LOOKUP = 500
HANDLE_TRIES = 8       # handle(): rounds while an earlier message of the contact is in other hands
WHOSE_KEPT = 20_000    # contact keys of other transactions' rows remembered (then forgotten)


class TurnLog(Protocol):
    """Keeps what a conversation turn leaves for later, in the batch's transaction: the review
    log of questions Loa could not answer well (bot/features/questions)."""

    def row(self, matcher: Any, inbound: Inbound, events: Sequence[Event], *, channel: str,
            language: str, pseudonym: str, at: dt.datetime,
            commune: str | None = None) -> dict[str, Any] | None: ...

    async def insert(self, conn: AsyncConnection, rows: list[dict[str, Any]]) -> None: ...


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
class _Row:
    """An inbox row as a batch sees it: parsed, and whose (contacts' order keys) it is."""

    id: int
    channel: str
    envelopes: list[Envelope] | None    # None: not parseable (error says why)
    error: str | None
    keys: tuple[str, ...]               # empty: no contact (malformed, or nothing to answer)
    stamped: str | None = None          # inbox.contact_key as stored
    received_at: dt.datetime | None = None


@dataclass
class _Turn:
    channel: str
    contact: _Contact
    outbox: list[dict[str, Any]] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    questions: list[dict[str, Any]] = field(default_factory=list)   # kept for review
    flooded: bool = False             # over the flood limit: not answered (maybe a note)


_Store = tuple[str, list[tuple[str, str]], list[int]]   # channel, events, their ids (out)


@dataclass(frozen=True)
class _Raw:
    """An inbox row as read from the database (or as just stored, with its payload)."""

    id: int
    channel: str
    payload: str | None
    contact_key: str | None
    received_at: dt.datetime | None


class Handler:
    """Turns inbox rows into conversation turns; the only writer of contact state."""

    def __init__(self, db: Database, conversation: Conversation, channels: Mapping[str, Channel],
                 secret: str, unit: str,
                 on_outbox: Callable[[str], None] = lambda channel: None,
                 router: Router | None = None, *, turn_log: TurnLog | None = None,
                 run_observers: Sequence[RunObserver] = (),
                 in_flight: InFlight | None = None,
                 direct: Mapping[str, Callable[[list[Any]], None]] | None = None,
                 claimed_by: int | None = None, flood_limit: int = FLOOD_LIMIT,
                 flood_window_s: float = FLOOD_WINDOW_S) -> None:
        """`router`: the features' chat commands and buttons, answered first; `turn_log`: what
        a turn leaves for review; `run_observers` see the runs in the same transaction;
        `direct`: channel -> this process's sender taking freshly committed replies
        (ReplySender.take), marked as claimed by `claimed_by` (cluster.py); `in_flight` is
        shared with those senders."""
        self.db = db
        self.flood_limit = flood_limit
        self.flood_window_s = flood_window_s
        self.router = router
        self.turn_log = turn_log
        self.run_observers = tuple(run_observers)
        self.direct: Mapping[str, Callable[[list[Any]], None]] = dict(direct or {})
        self.claimed_by = claimed_by
        self.in_flight = in_flight if in_flight is not None else InFlight()
        self.conversation = conversation
        self.channels = channels
        self.secret = secret
        self.unit = unit
        self.on_outbox = on_outbox
        self._lock = asyncio.Lock()   # one batch at a time in this process (and see above)
        self._whose: dict[int, tuple[str, ...]] = {}   # inbox id: contact keys (see _in_order)

    async def handle(self, inbox_id: int) -> None:
        """Handle one event now. When this returns the event is handled, here or by another
        transaction that took it on (the web chat then reads its replies from the outbox),
        unless an earlier event of its contact stays in other hands through all the tries."""
        for attempt in range(HANDLE_TRIES):
            if inbox_id not in await self.handle_batch([inbox_id], wait=True):
                return
            # The transaction holding the earlier event has not reached the contact yet; it
            # takes this one on once it does, or leaves it to the next try.
            await asyncio.sleep(0.005 * 2 ** attempt)
        log.warning("inbox %s: left unhandled, an earlier event of its contact is still in "
                    "other hands", inbox_id)

    async def handle_batch(self, inbox_ids: Sequence[int], wait: bool = False) -> list[int]:
        """Handle these events (those still unhandled and not in another transaction's hands,
        unless `wait`: see queries.new_inbox_rows). Returns the ids left unhandled because an
        earlier event of their contact is in other hands (to be tried again shortly)."""
        left: list[int] = []
        async with self._lock:
            taken: list[int] = []   # other unhandled events of the batch's contacts it took on
            try:
                written, left = await self._batch(inbox_ids, taken, wait)
            except Exception as exc:
                ids = sorted({*inbox_ids, *taken})
                if len(ids) == 1:
                    await self._record_failure(ids[0], exc)
                    return []
                log.warning("batch of %d failed (%s); handling one by one", len(ids),
                            exc.__class__.__name__)
                written = set()
                for inbox_id in ids:   # alone: a failure is counted against its own event
                    try:
                        done, later = await self._batch([inbox_id], None)
                        written |= done
                        left += later
                    except Exception as single:
                        await self._record_failure(inbox_id, single)
        for channel in written:
            self.on_outbox(channel)
        return left

    async def store_and_handle(self, channel: str, items: list[tuple[str, str]]
                               ) -> tuple[list[int], list[int]]:
        """Store these raw events (external id, payload; repeats skipped) and handle them in
        the same transaction. Returns the ids stored and those left for later (as
        handle_batch). Raises if the transaction failed: then nothing was stored."""
        stored: list[int] = []
        async with self._lock:
            written, left = await self._batch([], [], store=(channel, items, stored))
        for name in written:
            self.on_outbox(name)
        return stored, left

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

    async def _batch(self, inbox_ids: Sequence[int], taken: list[int] | None,
                     wait: bool = False, store: _Store | None = None
                     ) -> tuple[set[str], list[int]]:
        # Replies marked 'sending' for this process's senders are held before the commit; if
        # it fails they are let go, and recover_loop hands back any the database kept.
        async with self.in_flight.claiming() as hold:
            handed, turns, left = await self._write_batch(inbox_ids, hold, taken, wait, store)
        for channel in {row.channel for row in handed}:   # committed: now they may go out
            self.direct[channel]([row for row in handed if row.channel == channel])
        return {t.channel for t in turns if t.outbox} - set(self.direct), left

    async def _write_batch(self, inbox_ids: Sequence[int],
                           hold: Callable[[Sequence[Any]], None], taken: list[int] | None,
                           wait: bool, store: _Store | None = None
                           ) -> tuple[list[Outgoing], list[_Turn], list[int]]:
        """One transaction: inbox rows done, contacts saved, replies, runs and questions.
        `taken` collects the ids of other events of the batch's contacts it took on (None:
        take none, the batch is one event retried alone). `store`: (channel, events, out):
        store these events first and handle them, their ids appended to out."""
        async with self.db.begin() as conn:
            # Events stored here are inserted as handled (no payload kept), as nearly all
            # end up in this transaction: one write per event, not an insert and an update.
            # The few that do not (left for later, unreadable, flooding) are updated below.
            fresh: dict[int, str] = {}   # id -> payload of the events stored here
            if store is not None:   # the insert makes this transaction the writer (SQLite)
                channel, items, out = store
                now = utcnow()
                payloads = dict(items)
                stored = await queries.store_inbox_rows(conn, channel, items, handled_at=now)
                out.extend(row.id for row in stored)
                fresh = {row.id: payloads[row.external_id] for row in stored}
                rows = [self._read(_Raw(row.id, row.channel, fresh[row.id], None,
                                        row.received_at)) for row in stored]
            else:
                await queries.take_writer(conn)
                rows = [self._read(row) for row in
                        await queries.new_inbox_rows(conn, inbox_ids, wait)]
            keys = sorted({key for row in rows for key in row.keys})
            await queries.lock_contacts(conn, [_lock_id(key) for key in keys])
            rows, later = await self._in_order(conn, rows, keys, taken)
            if store is None:
                now = utcnow()
            # Rows left for later say whose they are, for the transaction that takes them on
            # (and those stored here become new events again, payload and all).
            inbox_updates: list[dict[str, Any]] = [
                {"id": row.id, "contact_key": row.keys[0]} if row.id not in fresh else
                {"id": row.id, "contact_key": row.keys[0], "payload": fresh[row.id],
                 "status": InboxStatus.NEW, "handled_at": None}
                for row in later if row.stamped != row.keys[0] or row.id in fresh]
            parsed: list[tuple[int, str, list[Envelope]]] = []
            for row in rows:
                status = InboxStatus.DONE if row.envelopes is not None else InboxStatus.FAILED
                if row.id not in fresh:
                    inbox_updates.append({"id": row.id, "payload": None, "handled_at": now,
                                          "error": row.error, "contact_key": None,
                                          "status": status})
                elif row.error is not None or status is not InboxStatus.DONE:
                    inbox_updates.append({"id": row.id, "error": row.error, "status": status})
                if row.envelopes:
                    parsed.append((row.id, row.channel, row.envelopes))
            # The batch's contacts, and which have an open dialog (/ghinhan), in one query.
            contacts, expecting = await self._contacts(conn, parsed)
            await self._save_contacts(conn, contacts, now, new_only=True)
            turns = []
            flooded: set[int] = set()
            for inbox_id, channel, envelopes in parsed:
                for env in envelopes:
                    contact = contacts[(channel, self._pseudo(channel, env))]
                    turns.append(await self._extension_turn(conn, inbox_id, channel, env,
                                                            contact, now, expecting)
                                 or self._turn(inbox_id, channel, env, contact, now))
                    if turns[-1].flooded:
                        flooded.add(inbox_id)
            for update in inbox_updates:
                if update["id"] in flooded:
                    update["error"] = FLOODED
            inbox_updates += [{"id": i, "error": FLOODED, "status": InboxStatus.DONE}
                              for i in sorted(flooded - {u["id"] for u in inbox_updates})]
            await self._save_contacts(conn, contacts, now)
            await queries.update_many(conn, queries.INBOX, inbox_updates)
            outbox = [dict(o, contact_id=t.contact.id) for t in turns for o in t.outbox]
            # Replies for a channel whose sender runs in this process go to it directly,
            # already marked as being sent, with the Reply itself (REPLY: not a column); the
            # rest wait in the outbox for a claim.
            direct = [o for o in outbox if o["channel"] in self.direct]
            await queries.insert_outbox(conn, [_columns(o) for o in outbox
                                               if o["channel"] not in self.direct])
            received = {row.id: row.received_at for row in rows}   # for the reply latency
            inserted = await queries.insert_outbox_returning(conn, [
                dict(_columns(o), status=OutboxStatus.SENDING, claimed_by=self.claimed_by,
                     claimed_at=now) for o in direct])
            handed = [Outgoing.of(row, received.get(o["inbox_id"]), o[REPLY])
                      for row, o in zip(inserted, direct, strict=True)]
            hold(handed)   # before the commit: never taken for an orphan
            await add_runs(conn, [r for t in turns for r in t.runs],   # runs + rollups
                           self.run_observers)
            if self.turn_log is not None:
                await self.turn_log.insert(conn, [q for t in turns for q in t.questions])
        return handed, turns, [row.id for row in later]

    async def _in_order(self, conn: AsyncConnection, rows: list[_Row], keys: list[str],
                        taken: list[int] | None) -> tuple[list[_Row], list[_Row]]:
        """Holding the contacts of `rows`: the rows to handle now, in id order (with any other
        unhandled rows of these contacts that no one holds, if `taken`), and those left for
        later. A contact's rows wait from its first unhandled row another transaction holds."""
        with_contact = [row for row in rows if row.keys]
        if not with_contact:
            return rows, []
        held = {row.id: row for row in rows}
        wanted = set(keys)
        stamped, unstamped = await queries.unhandled_of_contacts(
            conn, keys, sorted({row.channel for row in with_contact}),
            max(row.id for row in with_contact), list(held), ORDER_LOOKUP)
        others = {row.id: (row.contact_key,) for row in stamped}
        # Unstamped: in another transaction's hands, or in no one's yet; their payloads say
        # whose they are, read once per process (a row's payload never changes).
        unknown = [row.id for row in unstamped if row.id not in self._whose]
        for raw in await queries.inbox_payloads(conn, unknown) if unknown else ():
            if raw.payload is not None:
                self._whose[raw.id] = self._read(raw, quiet=True).keys
        for row in unstamped:
            if wanted.intersection(self._whose.get(row.id, ())):
                others[row.id] = self._whose[row.id]
        if len(self._whose) > WHOSE_KEPT:
            self._whose.clear()
        if taken is not None:
            free = sorted(i for i, ks in others.items() if set(ks) <= wanted)
            for raw in await queries.new_inbox_rows(conn, free) if free else ():
                row = self._read(raw)
                if row.keys and set(row.keys) <= wanted:
                    held[row.id] = row
                    taken.append(row.id)
        first_elsewhere: dict[str, int] = {}   # per contact: its first row this batch lacks
        for inbox_id, ks in others.items():
            if inbox_id not in held:
                for key in wanted.intersection(ks):
                    first_elsewhere[key] = min(first_elsewhere.get(key, inbox_id), inbox_id)
        if len(stamped) >= ORDER_LOOKUP:   # stamped rows not looked at come after these
            for key in wanted:
                first_elsewhere[key] = min(first_elsewhere.get(key, stamped[-1].id + 1),
                                           stamped[-1].id + 1)
        now, later = [], []
        for row in sorted(held.values(), key=lambda r: r.id):
            if any(first_elsewhere.get(key, row.id) < row.id for key in row.keys):
                later.append(row)
                for key in row.keys:
                    first_elsewhere[key] = min(first_elsewhere.get(key, row.id), row.id)
            else:
                now.append(row)
        return now, later

    def _read(self, raw: Any, quiet: bool = False) -> _Row:
        envelopes, error = self._parse(raw.id, raw.channel, raw.payload, quiet)
        keys = tuple(dict.fromkeys(self._order_key(raw.channel, env) for env in envelopes or ()))
        return _Row(raw.id, raw.channel, envelopes, error, keys, raw.contact_key,
                    raw.received_at)

    def _order_key(self, channel: str, env: Envelope) -> str:
        """Whose an event is, as inbox.contact_key stores it: a keyed hash of the contact's
        pseudonym, so the inbox names no one and cannot be joined to the contact table."""
        message = f"order\0{channel}\0{self._pseudo(channel, env)}".encode()
        return hmac.new(self.secret.encode(), message, hashlib.sha256).hexdigest()[:32]

    def _pseudo(self, channel: str, env: Envelope) -> str:
        return pseudonymize(self.secret, channel, env.user_key)

    def _parse(self, inbox_id: int, channel_name: str, payload: str | None,
               quiet: bool = False) -> tuple[list[Envelope] | None, str | None]:
        channel = self.channels.get(channel_name)
        if channel is None or payload is None:
            return None, "no channel or payload"
        try:
            return channel.parse(payload.encode()), None
        except ParseError as exc:
            if not quiet:   # quiet: another batch's row, read for its contact only
                log.warning("inbox %s: malformed %s event: %s", inbox_id, channel_name, exc)
            return None, str(exc)[:200]

    async def _contacts(self, conn: AsyncConnection, parsed: list[tuple[int, str, list[Envelope]]]
                        ) -> tuple[dict[tuple[str, str], _Contact], Expecting | None]:
        """Every contact of the batch, loaded in one query (unknown ones are new), with the
        features' open dialogs (Router.expecting; None without a router)."""
        wanted: dict[tuple[str, str], str] = {}
        for _, channel, envelopes in parsed:
            for env in envelopes:
                wanted[(channel, self._pseudo(channel, env))] = env.address
        router = self.router
        if not wanted:
            return {}, None if router is None else router.expecting([])
        extra, key = (router.dialog_columns, router.dialogs_key) if router is not None \
            else ((), None)
        found = await queries.contacts_by_pseudonym(conn, [p for _, p in wanted], extra, key)
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
        return out, None if router is None else router.expecting(found)

    async def _save_contacts(self, conn: AsyncConnection,
                             contacts: dict[tuple[str, str], _Contact], now: dt.datetime,
                             new_only: bool = False) -> None:
        known = []
        new = [c for c in contacts.values() if c.id is None]   # first-time contacts
        ids = await queries.insert_contacts(conn, [
            {"channel": c.channel, "pseudonym": c.pseudonym, "address": c.address,
             "state": c.state, "lang": c.lang, "status": c.status, "created_at": now,
             "last_seen_at": now, "subscribed": c.subscribed, "commune_code": c.commune_code}
            for c in new])
        for c, contact_id in zip(new, ids, strict=True):
            c.id = contact_id
        inserted = {id(c) for c in new}
        for c in contacts.values():
            if id(c) not in inserted and not new_only and c.touched:
                # (extensions, e.g. erasure, write their own)
                known.append({"id": c.id, "address": c.address, "state": c.state,
                              "lang": c.lang, "status": c.status, "last_seen_at": now,
                              "subscribed": c.subscribed, "commune_code": c.commune_code})
        await queries.update_many(conn, queries.CONTACT, known)

    async def _extension_turn(self, conn: AsyncConnection, inbox_id: int, channel: str,
                              env: Envelope, contact: _Contact, now: dt.datetime,
                              expecting: Expecting | None = None) -> _Turn | None:
        """Officer commands and other features that need the database answer first, in the
        contact's language (bot/delivery/commands.py)."""
        if env.inbound is None or env.stopped or self.router is None:
            return None
        replies = await self.router.handle(conn, channel, env, contact.pseudonym,
                                           contact.lang or "vi", now, expecting)
        if replies is None:
            return None
        result = _Turn(channel, contact)
        for index, reply in enumerate(replies):
            result.outbox.append(self._outbox_row(inbox_id, channel, env, reply, index, now))
        return result

    def _outbox_row(self, inbox_id: int, channel: str, env: Envelope, reply: Reply,
                    index: int, now: dt.datetime) -> dict[str, Any]:
        ack_id = env.ack_id if index == 0 else None
        return {REPLY: (reply, ack_id),
                "inbox_id": inbox_id, "channel": channel, "address": env.address,
                "lane": "reply", "payload": reply_to_json(reply, ack_id),
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
        stored = orjson.loads(contact.state or "{}")
        window = self._flood_window(channel, stored, now)
        if window is not None and window["n"] > self.flood_limit:
            contact.state = orjson.dumps({**stored, "flood": window}).decode()
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
        # a channel that cannot deliver announcements (the web chat) does not offer them
        can_announce = getattr(self.channels.get(channel), "announcements", True)
        turn = self.conversation.step(state, env.inbound, announcements=can_announce)
        if contact.first_contact and turn.replies:   # the privacy notice, once, at first contact
            contact.first_contact = False
            first = turn.replies[0]
            notice = self.conversation.t.gettext(
                "vi", "Loa keeps your questions under an anonymous code to report to the "
                "province, never your name or phone number. Type \"xóa dữ liệu\" to erase them.")
            # before the reply, so its last line ("… chọn một số:") stays next to its buttons
            turn = replace(turn, replies=(replace(first, text=f"{notice}\n\n{first.text}"),
                                          *turn.replies[1:]))
        contact.state = orjson.dumps(turn.state.to_json() if window is None
                                     else {**turn.state.to_json(), "flood": window}).decode()
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
        question = None if self.turn_log is None else self.turn_log.row(
            self.conversation.matcher, env.inbound, turn.events, channel=channel,
            language=turn.state.lang or "vi", pseudonym=contact.pseudonym, at=now,
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


REPLY = "reply"   # an outbox row's Reply and ack id, kept beside its columns for the sender


def _columns(row: dict[str, Any]) -> dict[str, Any]:
    """An outbox row's columns (without REPLY)."""
    return {k: v for k, v in row.items() if k != REPLY}


def _lock_id(key: str) -> int:
    """The 32-bit advisory lock id of a contact key (a collision only serializes two)."""
    value = int(key[:8], 16)
    return value - (1 << 32) if value >= 1 << 31 else value
