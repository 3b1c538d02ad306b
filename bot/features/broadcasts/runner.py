"""Runs broadcasts: starts them at their time, closes them, keeps the author's progress
message up to date, notifies approvers, retracts; and answers the chat buttons involved."""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.i18n import Translator
from bot.core.messages import Button, InboundKind, Reply
from bot.delivery.channel import Channel, Sent
from bot.delivery.commands import Chat, Command
from bot.delivery.waiting import woken
from bot.features.broadcasts import labels, workflow
from bot.features.broadcasts.models import BroadcastStatus
from bot.features.broadcasts.service import (
    BROADCAST,
    BroadcastError,
    Broadcasts,
    Progress,
    sender_name,
)
from bot.features.officers import service as officers
from bot.store import queries
from bot.store.db import Database
from bot.store.models import OutboxStatus, utcnow

log = logging.getLogger(__name__)

PROGRESS_EVERY_S = 3.0
BAR = 10


def progress_text(t: Translator, row: Any, p: Progress, quiet_hours: str = "") -> str:
    share = p.done / p.total if p.total else 1.0
    bar = "█" * round(share * BAR) + "░" * (BAR - round(share * BAR))
    s = p.by_status
    state = {BroadcastStatus.SENDING: t.gettext("vi", "sending"),
             BroadcastStatus.DONE: t.gettext("vi", "finished"),
             BroadcastStatus.APPROVED: t.gettext("vi", "approved, waiting for its send time"),
             }.get(row.status, t.gettext("vi", "stopped"))
    text = t.gettext("vi", "Announcement #{id}: {state}", id=row.id, state=state)
    text += f"\n[{bar}] {share:.0%}\n"
    text += t.gettext("vi", "sent {sent} · blocked {blocked} · failed {failed} · cancelled "
                      "{cancelled} · remaining {remaining}", sent=s.get(OutboxStatus.SENT, 0),
                      blocked=s.get(OutboxStatus.BLOCKED, 0), failed=s.get(OutboxStatus.FAILED, 0),
                      cancelled=s.get(OutboxStatus.CANCELLED, 0), remaining=p.remaining)
    said = labels.pace(t, row, p, quiet_hours)
    return f"{text}\n{said}" if said else text


class BroadcastRunner:
    """The background side of broadcasts, one per process."""

    def __init__(self, db: Database, service: Broadcasts, translator: Translator,
                 channels: dict[str, Channel], wake_bulk: Any, wake_reply: Any = None) -> None:
        self.db = db
        self.service = service
        self.t = translator
        self.channels = channels
        self.wake_bulk = wake_bulk          # callable(channel) waking that channel's bulk lane
        self.wake_reply = wake_reply        # the same for the reply lane (authors' notices)
        self._wake = asyncio.Event()
        self._last_progress: dict[int, float] = {}

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("broadcast runner round failed")
            await woken(self._wake, 1.0)

    async def tick(self) -> None:
        async with self.db.connect() as conn:   # idle most of the time: read before locking
            busy = (await conn.execute(select(BROADCAST.c.id).where(BROADCAST.c.status.in_(
                [BroadcastStatus.APPROVED, BroadcastStatus.SENDING])).limit(1))).first()
        if busy is None and not self._last_progress:
            return
        async with self.db.begin() as conn:
            started = await self.service.expand_due(conn)
            finished = await self.service.finish_done(conn)
        if finished and self.wake_reply is not None:   # the authors' "finished" notices
            for channel in self.channels:
                self.wake_reply(channel)
        if started:
            for channel in self.channels:
                self.wake_bulk(channel)
            for broadcast_id in started:   # approved in the chat: the author gets progress too
                if broadcast_id not in self._last_progress:
                    await self.start_progress(broadcast_id)
        async with self.db.connect() as conn:
            rows = (await conn.execute(select(BROADCAST).where(
                BROADCAST.c.progress_address.is_not(None),
                BROADCAST.c.status.in_([BroadcastStatus.SENDING, BroadcastStatus.DONE,
                                        BroadcastStatus.STOPPED]),
                BROADCAST.c.id.in_(list(self._active(started, finished)))))).all()
        for row in rows:
            await self.update_progress(row, force=row.id in finished or row.id in started)

    def _active(self, started: list[int], finished: list[int]) -> set[int]:
        return set(started) | set(finished) | set(self._last_progress)

    async def start_progress(self, broadcast_id: int) -> None:
        """Send the author a progress message with a stop button, to be edited in place."""
        async with self.db.connect() as conn:
            row = await self.service.get(conn, broadcast_id)
            author = await officers.officer_by_id(conn, row.author_id) if row.author_id else None
        channel = self.channels.get(author.channel) if author is not None else None
        if channel is None or not author.address:
            return
        async with self.db.connect() as conn:
            progress = await self.service.progress(conn, row)
        result = await channel.send(author.address, self._progress_reply(row, progress))
        if isinstance(result, Sent) and result.message_id:
            async with self.db.begin() as conn:
                await conn.execute(update(BROADCAST).where(BROADCAST.c.id == row.id).values(
                    progress_address=author.address, progress_message_id=result.message_id))
            self._last_progress[row.id] = time.monotonic()

    def _progress_reply(self, row: Any, progress: Progress) -> Reply:
        buttons: tuple[tuple[Button, ...], ...] = ()
        if row.status in (BroadcastStatus.SENDING, BroadcastStatus.APPROVED):
            buttons = ((Button(self.t.gettext("vi", "⏹ Stop sending"), f"bc:stop:{row.id}"),),)
        return Reply(progress_text(self.t, row, progress, self.service.quiet_hours), buttons)

    async def update_progress(self, row: Any, force: bool = False) -> None:
        last = self._last_progress.get(row.id, 0.0)
        if not force and time.monotonic() - last < PROGRESS_EVERY_S:
            return
        self._last_progress[row.id] = time.monotonic()
        if row.status in (BroadcastStatus.DONE, BroadcastStatus.STOPPED):
            self._last_progress.pop(row.id, None)
        channel = self.channels.get("telegram")
        editor = getattr(channel, "edit", None)
        if editor is None or not row.progress_message_id:
            return
        async with self.db.connect() as conn:
            progress = await self.service.progress(conn, row)
        await editor(row.progress_address, row.progress_message_id,
                     self._progress_reply(row, progress))

    async def notify_approvers(self, conn: AsyncConnection, broadcast_id: int,
                               approvers: list[Any]) -> int:
        """Queue a message with Approve / Send back buttons to each approver who has a chat."""
        row = await self.service.get(conn, broadcast_id)
        text = self.t.gettext("vi", "Announcement #{id} waits for your approval:", id=row.id)
        sender = sender_name(await officers.unit_by_id(conn, row.unit_id))
        reply = Reply(f"{text}\n\n{self.service.render(row, 'vi', sender=sender).text}",
                      ((Button(self.t.gettext("vi", "✅ Approve"), f"bc:approve:{row.id}"),
                        Button(self.t.gettext("vi", "↩ Send back"), f"bc:reject:{row.id}")),))
        rows = []
        for approver in approvers:
            contact = (await conn.execute(select(queries.CONTACT).where(
                queries.CONTACT.c.channel == approver.channel,
                queries.CONTACT.c.pseudonym == approver.pseudonym))).first()
            if contact is not None and approver.channel in self.channels:
                rows.append(dict(self.service.outbox_row(row, contact, reply, utcnow(),
                                                         lane="reply"), broadcast_id=None))
        await queries.insert_outbox(conn, rows)
        return len(rows)

    async def retract(self, actor: str, officer: Any | None, broadcast_id: int) -> dict[str, int]:
        """Delete the sent messages that can still be deleted; record what could not. The
        messages are claimed first (marked retracted in one statement), so a second request
        at the same moment (a double click) finds nothing left to delete."""
        o = queries.OUTBOX.c
        async with self.db.begin() as conn:
            row = await self.service.get(conn, broadcast_id)
            if officer is not None:
                self.service._check_unit(officer, row)
            claimed = (await conn.execute(
                update(queries.OUTBOX).where(o.broadcast_id == broadcast_id,
                                             o.status == OutboxStatus.SENT,
                                             o.retracted_at.is_(None))
                .values(retracted_at=utcnow())
                .returning(o.id, o.channel, o.address, o.external_message_id))).all()
        deleted, failed = [], []
        for message in claimed:
            deleter = getattr(self.channels.get(message.channel), "delete", None)
            if deleter is None or not message.external_message_id:
                failed.append((message.id, "this channel cannot delete messages"))
                continue
            result = await deleter(message.address, message.external_message_id)
            if isinstance(result, Sent):
                deleted.append(message.id)
            else:
                failed.append((message.id, getattr(result, "reason", "error")))
        async with self.db.begin() as conn:
            await queries.update_many(conn, queries.OUTBOX, [
                {"id": i, "retracted_at": None, "last_error": f"retract failed: {reason}"[:200]}
                for i, reason in failed])
            await officers.audit(conn, actor, "broadcast.retract", f"broadcast:{broadcast_id}",
                                 None, {"deleted": len(deleted), "not_deleted": len(failed)},
                                 row.unit_id)
        return {"deleted": len(deleted), "not_deleted": len(failed)}


SEND_BACK = ("tralai",)


class BroadcastChat:
    """Chat buttons (bot/delivery/commands.py): poll answers from citizens; approve, send back
    and stop from officers, and /tralai NUMBER REASON (sending back needs a reason, which a
    button cannot carry). Answers in the contact's language."""

    commands: tuple[Command, ...] = (
        Command(SEND_BACK[0], "send an announcement back to its author with the reason: "
                "/tralai NUMBER reason"),)
    prefixes = ("poll:", "bc:")

    def __init__(self, service: Broadcasts, translator: Translator,
                 runner: BroadcastRunner) -> None:
        self.service = service
        self.t = translator
        self.runner = runner

    def open_dialog(self, contact: Any) -> Any | None:
        return None   # no dialogs: free text it takes is known from the text alone

    async def handle(self, chat: Chat) -> list[Reply] | None:
        inbound, conn = chat.env.inbound, chat.conn
        channel, pseudonym = chat.channel, chat.pseudonym
        if inbound is None:
            return None
        lang, t = chat.lang, self.t.gettext
        if inbound.kind is InboundKind.COMMAND and inbound.text in SEND_BACK:
            return await self._send_back_command(chat, inbound.args)
        if inbound.kind is not InboundKind.CHOICE:
            return None

        parts = inbound.choice.split(":")
        if parts[0] == "poll" and len(parts) == 3 and parts[1].isdigit():
            contact = (await conn.execute(select(queries.CONTACT.c.commune_code).where(
                queries.CONTACT.c.channel == channel,
                queries.CONTACT.c.pseudonym == pseudonym))).first()
            ok = await self.service.answer_poll(conn, int(parts[1]), parts[2], pseudonym,
                                                contact.commune_code if contact else None)
            if not ok:
                return None
            thanks = t(lang, "Thank you! Your answer helps the province.")
            rows: tuple[tuple[Button, ...], ...] = ((Button(t(lang, "☰ Main menu"), "menu"),),)
            if parts[2] != "switched":
                rows = ((Button(t(lang, "How to switch to 4G"), "topic:switch"),), *rows)
            return [Reply(thanks, rows)]
        if parts[0] != "bc" or len(parts) != 3 or not parts[2].isdigit() or len(parts[2]) > 9:
            return None
        officer = await officers.officer_for(conn, channel, pseudonym)
        if officer is None:
            return [Reply(t(lang, "Only registered officers can do this."))]
        officer = await officers.officer_by_id(conn, officer.id)
        broadcast_id = int(parts[2])
        try:
            if parts[1] == "approve":
                await workflow.approve(self.service, conn, officer, broadcast_id)
                self.runner.wake()
                return [Reply(t(lang, "Approved. Announcement #{id} will be sent at its time.",
                                id=broadcast_id))]
            if parts[1] == "reject":   # the reason is typed: say how
                row = await self.service.get(conn, broadcast_id)
                self.service._check_unit(officer, row)
                return [Reply(t(lang, "To send announcement #{id} back, type the reason like "
                                "this: /tralai {id} the date is wrong", id=broadcast_id))]
            if parts[1] == "stop":
                cancelled = await self.service.stop(conn, f"officer:{officer.id}", officer,
                                                    broadcast_id)
                return [Reply(t(lang, "Stopped. {n} recipients will not get it.",
                                n=cancelled))]
        except BroadcastError as exc:
            return [Reply(str(exc))]
        return None

    async def _send_back_command(self, chat: Chat, args: str) -> list[Reply] | None:
        t, lang = self.t.gettext, chat.lang
        found = await officers.officer_for(chat.conn, chat.channel, chat.pseudonym)
        if found is None:
            return None   # a citizen typing it gets the normal conversation
        officer = await officers.officer_by_id(chat.conn, found.id)
        number, _, reason = args.strip().lstrip("#").partition(" ")
        if not number.isdigit() or len(number) > 9:
            return [Reply(t(lang, "Type the announcement's number and the reason, like this: "
                            "/tralai 12 the date is wrong"))]
        try:
            told = await workflow.send_back(self.service, chat.conn, officer, int(number),
                                            reason)
        except BroadcastError as exc:
            return [Reply(str(exc))]
        if told is None:
            return [Reply(t(lang, "Sent back: announcement #{id} will not be sent. Its author "
                            "reads the reason on the Announcements page.", id=int(number)))]
        return [Reply(t(lang, "Sent back: announcement #{id} will not be sent. Its author has "
                        "been told the reason in the chat.", id=int(number)))]
