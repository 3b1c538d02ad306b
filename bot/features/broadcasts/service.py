"""Announcements: draft, preview, test send, second-officer approval, expansion, stop, retract.

A broadcast is expanded into outbox rows on the bulk lane, unique on (broadcast, contact), so
expanding again after a crash cannot send anyone a second copy. Each recipient's row ends in
exactly one final state: sent, blocked, failed (with the reason) or cancelled (stopped).
"""
from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.channels.zalo import oa_state
from bot.core.i18n import Translator
from bot.core.messages import Button, Reply
from bot.core.text import clean_input
from bot.delivery.channel import reply_to_json
from bot.features.broadcasts import notices
from bot.features.broadcasts.models import Broadcast, BroadcastKind, BroadcastStatus
from bot.features.officers import names as officer_names
from bot.features.officers import service as officers
from bot.features.officers.models import Role
from bot.store import queries
from bot.store.models import ContactStatus, OutboxStatus, PollAnswer, utcnow

log = logging.getLogger(__name__)

BROADCAST = Broadcast.__table__
POLL = PollAnswer.__table__
MAX_TEXT = 3000
EXPAND_CHUNK = 2000
OPEN = (OutboxStatus.PENDING, OutboxStatus.RETRY, OutboxStatus.SENDING)
FORM_BROADCAST = "broadcast"           # "tin nhắn thông báo" in reports
POLL_ANSWERS = ("switched", "not_yet", "planning")


class BroadcastError(ValueError):
    """A refused broadcast action; the message is shown to the officer (Vietnamese)."""


_CONTROLS = dict.fromkeys(c for c in range(32) if chr(c) not in "\n\t") | {0x7F: None}


def tidy(text: str) -> str:
    """Typed text as it can be stored and sent: NFC, line breaks as \\n (a browser sends
    \\r\\n), no other control characters (PostgreSQL cannot store a NUL), no lone
    surrogates."""
    return clean_input(text or "").translate(_CONTROLS)


def sender_name(unit: Any) -> str:
    """Who an announcement is from, as citizens read it: "UBND xã Hòa Phú" for a commune or
    ward (its People's Committee), the unit's stored name otherwise."""
    if unit is None:
        return "Loa"
    name = str(unit.name).strip()
    if unit.kind == "commune" and name[:1].isupper():
        return f"UBND {name[:1].lower()}{name[1:]}"
    return name


@dataclass(frozen=True)
class Audience:
    """Who gets a broadcast: always opted-in, not blocked; optionally narrowed."""

    languages: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    communes: tuple[str, ...] = ()
    active_days: int | None = None

    def to_json(self) -> str:
        return json.dumps({"languages": list(self.languages), "channels": list(self.channels),
                           "communes": list(self.communes), "active_days": self.active_days})

    @classmethod
    def from_json(cls, raw: str) -> Audience:
        data = json.loads(raw or "{}")
        return cls(tuple(data.get("languages") or ()), tuple(data.get("channels") or ()),
                   tuple(data.get("communes") or ()), data.get("active_days"))

    def where(self, now: dt.datetime) -> Any:
        c = queries.CONTACT.c
        clauses = [c.subscribed.is_(True), c.status == ContactStatus.ACTIVE]
        if self.languages:
            clauses.append(func.coalesce(c.lang, "vi").in_(self.languages))
        if self.channels:
            clauses.append(c.channel.in_(self.channels))
        if self.communes:
            clauses.append(c.commune_code.in_(self.communes))
        if self.active_days:
            clauses.append(c.last_seen_at >= now - dt.timedelta(days=self.active_days))
        return and_(*clauses)


@dataclass
class Progress:
    total: int
    by_status: dict[str, int] = field(default_factory=dict)
    rate_per_s: float = 0.0
    eta_s: float | None = None

    @property
    def remaining(self) -> int:
        return sum(self.by_status.get(s, 0) for s in OPEN)

    @property
    def done(self) -> int:
        return self.total - self.remaining


class Broadcasts:
    """Every broadcast action, each inside the caller's transaction and audited."""

    def __init__(self, translator: Translator, languages: tuple[str, ...],
                 channels: tuple[str, ...], quiet_hours: str = "") -> None:
        self.t = translator
        self.languages = languages
        self.channels = channels
        self.quiet_hours = quiet_hours      # "21:00-07:00" (Vietnam time): when sending waits

    # -- composing ---------------------------------------------------------------------------
    def validate(self, text: str, variants: dict[str, str], audience: Audience,
                 send_at: dt.datetime | None, known_communes: set[str]) -> tuple[str,
                                                                                  dict[str, str]]:
        t = self.t.gettext
        text = tidy(text).strip()
        if not text:
            raise BroadcastError(t("vi", "Write the announcement text."))
        if len(text) > MAX_TEXT:
            raise BroadcastError(t("vi", "The text is too long ({n} characters, at most {max}).",
                                   n=len(text), max=MAX_TEXT))
        clean = {lang: tidy(v).strip() for lang, v in variants.items() if v and tidy(v).strip()}
        for lang, value in clean.items():
            if lang not in self.languages or lang == "vi":
                raise BroadcastError(t("vi", "Unknown language: {lang}.", lang=lang))
            if len(value) > MAX_TEXT:
                raise BroadcastError(t("vi", "The text is too long ({n} characters, at most "
                                       "{max}).", n=len(value), max=MAX_TEXT))
        unknown = [c for c in audience.communes if c not in known_communes]
        if unknown:
            raise BroadcastError(t("vi", "Unknown commune code: {code}.", code=unknown[0]))
        for channel in audience.channels:
            if channel not in self.channels:
                raise BroadcastError(t("vi", "Unknown channel: {name}.", name=channel))
        if audience.active_days is not None and not 1 <= audience.active_days <= 3650:
            raise BroadcastError(t("vi", "\"Active within\" must be 1 to 3650 days."))
        if send_at is not None and send_at < utcnow() - dt.timedelta(minutes=1):
            raise BroadcastError(t("vi", "The send time is in the past."))
        return text, clean

    async def create(self, conn: AsyncConnection, actor: str, unit_id: int,
                     author_id: int | None, kind: str, text: str, variants: dict[str, str],
                     audience: Audience, send_at: dt.datetime | None,
                     topic: str | None = None) -> int:
        if kind not in (BroadcastKind.MESSAGE, BroadcastKind.POLL):
            raise BroadcastError(self.t.gettext("vi", "Unknown kind of announcement."))
        known = {c["code"] for c in officers.communes()}
        text, variants = self.validate(text, variants, audience, send_at, known)
        broadcast_id = (await conn.execute(BROADCAST.insert().values(
            unit_id=unit_id, author_id=author_id, kind=kind, topic=topic, text=text,
            variants=json.dumps(variants, ensure_ascii=False), variants_approved="{}",
            audience=audience.to_json(),
            send_at=send_at, status=BroadcastStatus.DRAFT, created_at=utcnow(), recipients=0)
            .returning(BROADCAST.c.id))).scalar_one()
        await officers.audit(conn, actor, "broadcast.create", f"broadcast:{broadcast_id}", None,
                             {"kind": kind, "text": text, "audience": audience.to_json(),
                              "send_at": send_at}, unit_id)
        return int(broadcast_id)

    async def get(self, conn: AsyncConnection, broadcast_id: int) -> Any:
        row = (await conn.execute(select(BROADCAST).where(BROADCAST.c.id == broadcast_id))
               ).first()
        if row is None:
            raise BroadcastError(self.t.gettext("vi", "No such announcement."))
        return row

    async def list(self, conn: AsyncConnection, unit_id: int | None, limit: int = 50) -> list[Any]:
        stmt = select(BROADCAST).order_by(BROADCAST.c.id.desc()).limit(limit)
        if unit_id is not None:
            stmt = stmt.where(BROADCAST.c.unit_id == unit_id)
        return list((await conn.execute(stmt)).all())

    def render(self, row: Any, lang: str, test: bool = False, draft: bool = False,
               sender: str | None = None) -> Reply:
        """The message as a citizen of `lang` gets it: the translation only once a reviewer of
        that language approved it, Vietnamese otherwise. `draft` shows it to reviewers. With
        `sender` (sender_name of the unit), as it is sent: who it is from first and how to
        stop them last, in the citizen's language where that line's translation is approved."""
        variants = json.loads(row.variants or "{}")
        approved = json.loads(row.variants_approved or "{}")
        text = variants.get(lang) if lang in approved or draft else None
        text = text or row.text
        t = self.t.gettext
        if sender is not None:
            text = (t(lang, "Announcement from {sender}:", sender=sender) + "\n" + text
                    + "\n\n" + t(lang, "Type DỪNG to stop receiving these."))
        if test:
            text = t("vi", "[TEST – only officers receive this]") + "\n" + text
        buttons: tuple[tuple[Button, ...], ...] = ()
        if row.kind == BroadcastKind.POLL:
            buttons = ((Button(t(lang, "Yes, switched to 4G"), f"poll:{row.id}:switched"),),
                       (Button(t(lang, "Not yet"), f"poll:{row.id}:not_yet"),),
                       (Button(t(lang, "Planning to switch"), f"poll:{row.id}:planning"),))
        return Reply(text, buttons)

    async def audience_counts(self, conn: AsyncConnection,
                              row: Any) -> dict[tuple[str, str], int]:
        """Recipients per (language, channel) if it were sent now."""
        audience = Audience.from_json(row.audience)
        c = queries.CONTACT.c
        lang = func.coalesce(c.lang, "vi")
        result = await conn.execute(select(lang, c.channel, func.count())
                                    .where(audience.where(utcnow()))
                                    .group_by(lang, c.channel))
        return {(str(language), str(channel)): int(n) for language, channel, n in result.all()}

    async def zalo_reach(self, conn: AsyncConnection, row: Any,
                         allow_paid: bool) -> dict[str, int] | None:
        """For Zalo OA recipients: reachable free now (inside their free-reply window with free
        replies left, bot/channels/zalo/oa_state.py), needing a paid message, and unreachable
        (paid sending is off)."""
        if oa_state.ZALO_OA not in self.channels:
            return None
        c = queries.CONTACT.c
        audience = Audience.from_json(row.audience)
        now = utcnow()
        base = (select(func.count()).select_from(queries.CONTACT)
                .where(audience.where(now), c.channel == oa_state.ZALO_OA))
        total = (await conn.execute(base)).scalar_one()
        free = (await conn.execute(base.where(oa_state.has_free_reply(c.pseudonym, now)))
                ).scalar_one()
        outside = int(total) - int(free)
        return {"free": int(free), "paid": outside if allow_paid else 0,
                "unreachable": 0 if allow_paid else outside}

    # -- the approval workflow ---------------------------------------------------------------
    def _check_unit(self, officer: Any, row: Any) -> None:
        if officer.unit_code != officers.PROVINCE_UNIT and officer.unit_id != row.unit_id:
            raise BroadcastError(self.t.gettext("vi", "This announcement belongs to another "
                                                "unit."))

    async def _set_status(self, conn: AsyncConnection, row: Any, actor: str, action: str,
                          expected: tuple[str, ...], noted: dict[str, Any] | None = None,
                          **values: Any) -> None:
        if row.status not in expected:
            raise BroadcastError(self.t.gettext(
                "vi", "Not possible now: the announcement is {status}.",
                status=self.status_label(row.status)))
        result = await conn.execute(update(BROADCAST).where(
            BROADCAST.c.id == row.id, BROADCAST.c.status == row.status).values(**values))
        if result.rowcount != 1:   # someone else acted at the same moment
            raise BroadcastError(self.t.gettext("vi", "Someone else changed it just now; "
                                                "reload."))
        await officers.audit(conn, actor, action, f"broadcast:{row.id}",
                             {"status": row.status}, {**values, **(noted or {})}, row.unit_id)

    async def submit(self, conn: AsyncConnection, officer: Any, broadcast_id: int) -> list[Any]:
        """Ask for approval; returns the approvers to notify."""
        row = await self.get(conn, broadcast_id)
        self._check_unit(officer, row)
        if not (officer.role in (Role.EDITOR, Role.ADMIN) or officer.id == row.author_id):
            raise BroadcastError(self.t.gettext("vi", "Only an editor can submit it."))
        await self._set_status(conn, row, f"officer:{officer.id}", "broadcast.submit",
                               (BroadcastStatus.DRAFT, BroadcastStatus.REJECTED),
                               status=BroadcastStatus.PENDING)
        approvers = await officers.officers(conn, row.unit_id, (Role.APPROVER, Role.ADMIN))
        province = await officers.unit_by_code(conn, officers.PROVINCE_UNIT)
        if province is not None and province.id != row.unit_id:
            approvers += await officers.officers(conn, province.id, (Role.APPROVER, Role.ADMIN))
        return [a for a in approvers if a.id != row.author_id]

    async def approve(self, conn: AsyncConnection, officer: Any, broadcast_id: int) -> Any:
        row = await self.get(conn, broadcast_id)
        self._check_unit(officer, row)
        t = self.t.gettext
        if officer.role not in (Role.APPROVER, Role.ADMIN):
            raise BroadcastError(t("vi", "Only an approver can approve."))
        if officer.id == row.author_id:
            raise BroadcastError(t("vi", "A second officer must approve: you wrote this one."))
        await self._set_status(conn, row, f"officer:{officer.id}", "broadcast.approve",
                               (BroadcastStatus.PENDING,), status=BroadcastStatus.APPROVED,
                               approver_id=officer.id, approved_at=utcnow())
        return await self.get(conn, broadcast_id)

    async def approve_variant(self, conn: AsyncConnection, officer: Any, broadcast_id: int,
                              lang: str) -> None:
        """A reviewer of `lang` approves that language's version of an announcement."""
        row = await self.get(conn, broadcast_id)
        t = self.t.gettext
        if officer.role != Role.REVIEWER or officer.language != lang:
            raise BroadcastError(t("vi", "Only a reviewer of this language can approve its "
                                   "translation."))
        if lang not in json.loads(row.variants or "{}"):
            raise BroadcastError(t("vi", "There is no translation in this language."))
        if row.status not in (BroadcastStatus.DRAFT, BroadcastStatus.PENDING,
                              BroadcastStatus.APPROVED):
            raise BroadcastError(t("vi", "Not possible now: the announcement is {status}.",
                                   status=self.status_label(row.status)))
        approved = json.loads(row.variants_approved or "{}")
        approved[lang] = {"reviewer": officer.id, "at": utcnow().isoformat()}
        await conn.execute(update(BROADCAST).where(BROADCAST.c.id == row.id).values(
            variants_approved=json.dumps(approved)))
        await officers.audit(conn, f"officer:{officer.id}", "broadcast.variant.approve",
                             f"broadcast:{row.id}", None, {"language": lang}, row.unit_id)

    async def approve_as_operator(self, conn: AsyncConnection, broadcast_id: int) -> None:
        row = await self.get(conn, broadcast_id)
        await self._set_status(conn, row, "operator", "broadcast.approve",
                               (BroadcastStatus.DRAFT, BroadcastStatus.PENDING),
                               status=BroadcastStatus.APPROVED, approved_at=utcnow())

    async def stop(self, conn: AsyncConnection, actor: str, officer: Any | None,
                   broadcast_id: int) -> int:
        """Stop sending: waiting recipients are cancelled at once; returns how many."""
        row = await self.get(conn, broadcast_id)
        if officer is not None:
            self._check_unit(officer, row)
            if officer.role == Role.VIEWER or officer.role == Role.REVIEWER:
                raise BroadcastError(self.t.gettext("vi", "Your role cannot stop sending."))
        await self._set_status(conn, row, actor, "broadcast.stop",
                               (BroadcastStatus.APPROVED, BroadcastStatus.SENDING,
                                BroadcastStatus.PENDING), status=BroadcastStatus.STOPPED,
                               finished_at=utcnow())
        result = await conn.execute(update(queries.OUTBOX).where(
            queries.OUTBOX.c.broadcast_id == broadcast_id,
            queries.OUTBOX.c.status.in_([OutboxStatus.PENDING, OutboxStatus.RETRY]))
            .values(status=OutboxStatus.CANCELLED, last_error="stopped by an officer"))
        await self._log_runs(conn, await self.get(conn, broadcast_id))
        cancelled = int(result.rowcount or 0)
        by = (await officer_names.display_name(conn, self.t, officer.id) if officer is not None
              else notices.operator_name(self.t))
        told = (notices.withdrawn(self.t, row, by) if row.status == BroadcastStatus.PENDING
                else notices.stopped(self.t, row, by, cancelled))
        await notices.tell_author(conn, self.channels, row, told,
                                  skip_officer=officer.id if officer is not None else None)
        return cancelled

    def status_label(self, status: str) -> str:
        t = self.t.gettext
        return {BroadcastStatus.DRAFT: t("vi", "a draft"),
                BroadcastStatus.PENDING: t("vi", "waiting for approval"),
                BroadcastStatus.APPROVED: t("vi", "approved, waiting for its send time"),
                BroadcastStatus.SENDING: t("vi", "being sent"),
                BroadcastStatus.STOPPED: t("vi", "stopped"),
                BroadcastStatus.DONE: t("vi", "sent"),
                BroadcastStatus.REJECTED: t("vi", "sent back")}.get(status, status)

    # -- sending -----------------------------------------------------------------------------
    def outbox_row(self, row: Any, contact: Any, reply: Reply, now: dt.datetime,
                   lane: str = "bulk") -> dict[str, Any]:
        return {"inbox_id": None, "contact_id": contact.id, "channel": contact.channel,
                "address": contact.address, "lane": lane, "payload": reply_to_json(reply),
                "status": OutboxStatus.PENDING, "attempts": 0, "not_before": now,
                "last_error": None, "ambiguous": False, "created_at": now, "sent_at": None,
                "broadcast_id": row.id}

    async def expand_due(self, conn: AsyncConnection) -> list[int]:
        """Turn approved broadcasts whose time has come into bulk outbox rows (idempotent)."""
        now = utcnow()
        stmt = select(BROADCAST).where(
            BROADCAST.c.status == BroadcastStatus.APPROVED,
            (BROADCAST.c.send_at.is_(None)) | (BROADCAST.c.send_at <= now))
        if conn.dialect.name == "postgresql":   # another process may be expanding it
            stmt = stmt.with_for_update(skip_locked=True)
        due = (await conn.execute(stmt)).all()
        started = []
        for row in due:
            await self.expand(conn, row, now)
            started.append(row.id)
        return started

    async def expand(self, conn: AsyncConnection, row: Any, now: dt.datetime) -> int:
        audience = Audience.from_json(row.audience)
        c = queries.CONTACT.c
        sender = sender_name(await officers.unit_by_id(conn, row.unit_id))
        replies = {lang: self.render(row, lang, sender=sender)
                   for lang in ("vi", *self.languages)}
        insert = queries._insert(conn)(queries.OUTBOX).on_conflict_do_nothing(
            index_elements=["broadcast_id", "contact_id"])
        last = 0
        while True:   # page through the audience so memory stays flat for any size
            page = (await conn.execute(
                select(c.id, c.channel, c.address, c.lang).where(audience.where(now))
                .where(c.channel.in_(self.channels), c.id > last).order_by(c.id)
                .limit(EXPAND_CHUNK))).all()
            if not page:
                break
            last = page[-1].id
            await conn.execute(insert, [self.outbox_row(
                row, contact, replies.get(contact.lang or "vi") or replies["vi"], now)
                for contact in page])
        total = (await conn.execute(select(func.count()).select_from(queries.OUTBOX).where(
            queries.OUTBOX.c.broadcast_id == row.id))).scalar_one()
        await conn.execute(update(BROADCAST).where(BROADCAST.c.id == row.id).values(
            status=BroadcastStatus.SENDING, started_at=now, recipients=total))
        await officers.audit(conn, "system", "broadcast.start", f"broadcast:{row.id}", None,
                             {"recipients": total}, row.unit_id)
        log.info("broadcast %s: %d recipients queued", row.id, total)
        return int(total)

    async def progress(self, conn: AsyncConnection, row: Any) -> Progress:
        o = queries.OUTBOX.c
        counts = dict((await conn.execute(select(o.status, func.count())
                                          .where(o.broadcast_id == row.id)
                                          .group_by(o.status))).all())
        progress = Progress(total=sum(counts.values()), by_status=counts)
        recent = (await conn.execute(select(func.count()).where(
            o.broadcast_id == row.id, o.status == OutboxStatus.SENT,
            o.sent_at >= utcnow() - dt.timedelta(seconds=30)))).scalar_one()
        progress.rate_per_s = recent / 30.0
        if progress.rate_per_s > 0 and progress.remaining:
            progress.eta_s = progress.remaining / progress.rate_per_s
        return progress

    async def finish_done(self, conn: AsyncConnection) -> list[int]:
        """Close broadcasts with nobody left to send to, and log their communication runs."""
        o = queries.OUTBOX.c
        sending = (await conn.execute(select(BROADCAST).where(
            BROADCAST.c.status == BroadcastStatus.SENDING))).all()
        finished = []
        for row in sending:
            open_rows = (await conn.execute(select(func.count()).where(
                o.broadcast_id == row.id, o.status.in_(OPEN)))).scalar_one()
            if open_rows:
                continue
            await conn.execute(update(BROADCAST).where(
                BROADCAST.c.id == row.id, BROADCAST.c.status == BroadcastStatus.SENDING)
                .values(status=BroadcastStatus.DONE, finished_at=utcnow()))
            await self._log_runs(conn, row)
            done = dict((await conn.execute(select(o.status, func.count()).where(
                o.broadcast_id == row.id).group_by(o.status))).all())
            await notices.tell_author(conn, self.channels, row,
                                      notices.finished(self.t, row, done))
            finished.append(row.id)
        return finished

    async def _log_runs(self, conn: AsyncConnection, row: Any) -> None:
        """One communication run per channel and language, `reached` = messages delivered."""
        o, c = queries.OUTBOX.c, queries.CONTACT.c
        unit = await officers.unit_by_id(conn, row.unit_id)
        lang = func.coalesce(c.lang, "vi")
        groups = (await conn.execute(
            select(o.channel, lang, func.count()).join(queries.CONTACT, c.id == o.contact_id)
            .where(o.broadcast_id == row.id, o.status == OutboxStatus.SENT)
            .group_by(o.channel, lang))).all()
        from bot.delivery.runs import add_runs  # runs and the report's rollups together
        await add_runs(conn, [
            {"at": utcnow(), "unit": unit.name if unit else "?", "form": FORM_BROADCAST,
             "medium": channel, "kind": str(row.kind), "topic": row.topic, "language": language,
             "commune_code": None, "contact_pseudonym": None, "reached": int(n), "score": None}
            for channel, language, n in groups])

    # -- polls -------------------------------------------------------------------------------
    async def answer_poll(self, conn: AsyncConnection, broadcast_id: int, answer: str,
                          pseudonym: str, commune: str | None) -> bool:
        if answer not in POLL_ANSWERS:
            return False
        row = (await conn.execute(select(BROADCAST.c.id, BROADCAST.c.unit_id, BROADCAST.c.kind)
                                  .where(BROADCAST.c.id == broadcast_id))).first()
        if row is None or row.kind != BroadcastKind.POLL:
            return False
        insert = queries._insert(conn)(POLL).values(
            broadcast_id=broadcast_id, contact_pseudonym=pseudonym, unit_id=row.unit_id,
            commune_code=commune, answer=answer, at=utcnow())
        await conn.execute(insert.on_conflict_do_update(
            index_elements=["broadcast_id", "contact_pseudonym"],
            set_={"answer": answer, "at": utcnow()}))
        return True


async def poll_counts(conn: AsyncConnection, start: dt.datetime,
                      end: dt.datetime) -> dict[str, int]:
    """Latest poll answer per citizen in [start, end): how many switched, not yet, planning."""
    rows = (await conn.execute(select(POLL.c.answer, func.count(func.distinct(
        POLL.c.contact_pseudonym))).where(POLL.c.at >= start, POLL.c.at < end)
        .group_by(POLL.c.answer))).all()
    return {answer: int(n) for answer, n in rows}
