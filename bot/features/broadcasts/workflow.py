"""No dead ends for an announcement: editing and deleting it before it is sent, sending it
back with a reason its author reads, approving it (never by whoever wrote or last changed it),
what waits for whose approval, what became of an officer's own announcements, and the state it
is really in after a retraction or a withdrawal.

The reason and who decided live in the audit log (`broadcast.reject`), and so does what a
retraction did (`broadcast.retract`: how many messages it deleted, when, by whom): every action
writes the log anyway, so no column is needed for them.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.features.broadcasts import labels, notices
from bot.features.broadcasts.models import BroadcastStatus
from bot.features.broadcasts.service import (
    BROADCAST,
    Audience,
    BroadcastError,
    Broadcasts,
    tidy,
)
from bot.features.officers import names as officer_names
from bot.features.officers import service as officers
from bot.features.officers.models import Role
from bot.store import queries
from bot.store.models import OutboxStatus, utcnow

AUDIT = officers.AUDIT
# Nothing has gone to any citizen yet: the text may still change, or the whole thing go.
EDITABLE = (BroadcastStatus.DRAFT, BroadcastStatus.PENDING, BroadcastStatus.REJECTED)
REASON_MAX = 500
NEWS_DAYS = 7


def _same_unit(officer: Any, row: Any) -> bool:
    return officer.unit_code == officers.PROVINCE_UNIT or officer.unit_id == row.unit_id


def may_manage(officer: Any, row: Any) -> bool:
    """Its author, or an approver (administrator) of its unit (or of the province)."""
    return _same_unit(officer, row) and officer.role != Role.REVIEWER and (
        officer.id == row.author_id or officer.role in (Role.APPROVER, Role.ADMIN))


def may_edit(officer: Any, row: Any) -> bool:
    return row.status in EDITABLE and may_manage(officer, row)


def _refuse_unless_editable(service: Broadcasts, officer: Any, row: Any) -> None:
    t = service.t.gettext
    if not may_manage(officer, row):
        raise BroadcastError(t("vi", "Only its author or an approver of its unit can change "
                               "or delete it."))
    if row.status not in EDITABLE:
        raise BroadcastError(t("vi", "Not possible now: the announcement is {status}.",
                               status=service.status_label(row.status)))


async def edit(service: Broadcasts, conn: AsyncConnection, officer: Any, row: Any, kind: str,
               text: str, variants: dict[str, str], audience: Audience,
               send_at: dt.datetime | None, topic: str | None) -> None:
    """Change a draft, a waiting or a sent-back announcement; it becomes a draft again, to be
    submitted (and approved) anew. A translation approved for a text that changed is no longer
    approved."""
    _refuse_unless_editable(service, officer, row)
    known = {c["code"] for c in officers.communes()}
    text, variants = service.validate(text, variants, audience, send_at, known)
    old_variants = json.loads(row.variants or "{}")
    approved = {} if text != row.text else {
        lang: who for lang, who in json.loads(row.variants_approved or "{}").items()
        if variants.get(lang) == old_variants.get(lang)}
    values = {"kind": kind, "topic": topic, "text": text,
              "variants": json.dumps(variants, ensure_ascii=False),
              "variants_approved": json.dumps(approved), "audience": audience.to_json(),
              "send_at": send_at, "status": BroadcastStatus.DRAFT}
    result = await conn.execute(update(BROADCAST).where(
        BROADCAST.c.id == row.id, BROADCAST.c.status == row.status).values(
        **values, approver_id=None, approved_at=None))
    if result.rowcount != 1:
        raise BroadcastError(service.t.gettext("vi", "Someone else changed it just now; "
                                               "reload."))
    await officers.audit(conn, f"officer:{officer.id}", "broadcast.edit", f"broadcast:{row.id}",
                         {"status": row.status, "text": row.text, "audience": row.audience,
                          "send_at": row.send_at}, values, row.unit_id)


async def remove(service: Broadcasts, conn: AsyncConnection, officer: Any, row: Any) -> None:
    """Delete an announcement nobody has been sent yet (the audit log keeps its text)."""
    _refuse_unless_editable(service, officer, row)
    result = await conn.execute(delete(BROADCAST).where(BROADCAST.c.id == row.id,
                                                        BROADCAST.c.status == row.status))
    if result.rowcount != 1:
        raise BroadcastError(service.t.gettext("vi", "Someone else changed it just now; "
                                               "reload."))
    await officers.audit(conn, f"officer:{officer.id}", "broadcast.delete", f"broadcast:{row.id}",
                         {"status": row.status, "text": row.text, "author_id": row.author_id},
                         None, row.unit_id)


def clean_reason(service: Broadcasts, reason: str) -> str:
    t = service.t.gettext
    reason = " ".join(tidy(reason).split())
    if not reason:
        raise BroadcastError(t("vi", "Write why you send it back, so that its author knows "
                               "what to change."))
    if len(reason) > REASON_MAX:
        raise BroadcastError(t("vi", "The reason is too long ({n} characters, at most {max}).",
                               n=len(reason), max=REASON_MAX))
    return reason


async def send_back(service: Broadcasts, conn: AsyncConnection, officer: Any, broadcast_id: int,
                    reason: str) -> str | None:
    """Send a waiting announcement back to its author with the reason (required); returns the
    channel of the author's chat to wake, if they have one."""
    row = await service.get(conn, broadcast_id)
    service._check_unit(officer, row)
    if officer.role not in (Role.APPROVER, Role.ADMIN) and officer.id != row.author_id:
        raise BroadcastError(service.t.gettext("vi", "Only an approver can send it back."))
    reason = clean_reason(service, reason)
    await service._set_status(conn, row, f"officer:{officer.id}", "broadcast.reject",
                              (BroadcastStatus.PENDING,), noted={"reason": reason},
                              status=BroadcastStatus.REJECTED)
    by = await officer_names.display_name(conn, service.t, officer.id)
    return await notices.tell_author(conn, service.channels, row,
                                     notices.sent_back(service.t, row, by, reason),
                                     skip_officer=officer.id)


async def _last_changes(conn: AsyncConnection, broadcast_ids: list[int]) -> dict[int, Any]:
    """The last create or edit (actor, action) of each of these announcements, from the audit
    log in one query (ix_audit_target); an announcement with none is left out."""
    if not broadcast_ids:
        return {}
    targets = {f"broadcast:{i}": i for i in broadcast_ids}
    last = (select(func.max(AUDIT.c.id)).where(
        AUDIT.c.target.in_(sorted(targets)),
        AUDIT.c.action.in_(["broadcast.create", "broadcast.edit"]))
        .group_by(AUDIT.c.target))
    rows = await conn.execute(select(AUDIT.c.target, AUDIT.c.actor, AUDIT.c.action)
                              .where(AUDIT.c.id.in_(last)))
    return {targets[row.target]: row for row in rows}


async def _last_change(conn: AsyncConnection, broadcast_id: int) -> Any:
    return (await _last_changes(conn, [broadcast_id])).get(broadcast_id)


async def approve(service: Broadcasts, conn: AsyncConnection, officer: Any,
                  broadcast_id: int) -> tuple[Any, str | None]:
    """The second pair of eyes: never the author, nor an approver who changed the text last.
    Returns the approved row and the channel of the author's chat to wake."""
    last = await _last_change(conn, broadcast_id)
    if last is not None and last.action == "broadcast.edit" and \
            last.actor == f"officer:{officer.id}":
        raise BroadcastError(service.t.gettext("vi", "A second officer must approve: you "
                                               "changed this one last."))
    row = await service.approve(conn, officer, broadcast_id)
    starts = labels.vn_time(labels.start_time(row, service.quiet_hours))
    by = await officer_names.display_name(conn, service.t, officer.id)
    woken = await notices.tell_author(conn, service.channels, row,
                                      notices.approved(service.t, row, by, starts))
    return row, woken


async def sent_back_note(conn: AsyncConnection, broadcast_id: int,
                         names: dict[int, str] | None = None) -> dict[str, Any] | None:
    """Why and by whom it was last sent back, {"reason", "by", "at"}, while that still stands:
    sent back, or edited since but not submitted again. `names`: officers' names as shown
    (officers/names.py), else their stored names."""
    entry = (await conn.execute(select(AUDIT).where(
        AUDIT.c.target == f"broadcast:{broadcast_id}",
        AUDIT.c.action.in_(["broadcast.reject", "broadcast.submit"]))
        .order_by(AUDIT.c.id.desc()).limit(1))).first()
    if entry is None or entry.action != "broadcast.reject":
        return None
    try:
        reason = str(json.loads(entry.after or "{}").get("reason") or "")
    except ValueError:
        reason = ""
    by: str = entry.actor
    if entry.actor.startswith("officer:") and entry.actor[8:].isdigit():
        officer_id = int(entry.actor[8:])
        if names is not None and officer_id in names:
            by = names[officer_id]
        elif (found := await officers.officer_by_id(conn, officer_id)) is not None:
            by = found.name
    return {"reason": reason, "by": by, "at": entry.at}


async def waiting_for(service: Broadcasts, conn: AsyncConnection, officer: Any) -> list[Any]:
    """The announcements this officer may approve now: waiting, of their unit (every unit for
    the province's approvers, who are asked too), neither written nor last changed by them."""
    if officer.role not in (Role.APPROVER, Role.ADMIN):
        return []
    stmt = select(BROADCAST).where(BROADCAST.c.status == BroadcastStatus.PENDING,
                                   (BROADCAST.c.author_id.is_(None))
                                   | (BROADCAST.c.author_id != officer.id))
    if officer.unit_code != officers.PROVINCE_UNIT:
        stmt = stmt.where(BROADCAST.c.unit_id == officer.unit_id)
    pending = (await conn.execute(stmt.order_by(BROADCAST.c.id))).all()
    changes = await _last_changes(conn, [row.id for row in pending])
    mine = f"officer:{officer.id}"
    return [row for row in pending                          # not one they changed last
            if (last := changes.get(row.id)) is None or last.action != "broadcast.edit"
            or last.actor != mine]


async def author_news(service: Broadcasts, conn: AsyncConnection,
                      officer: Any) -> list[tuple[int, str, str]]:
    """(announcement id, level "ok" or "warn", line) about the officer's own announcements:
    sent back (until changed), approved, stopped or finished within the last days."""
    t = service.t.gettext
    since = utcnow() - dt.timedelta(days=NEWS_DAYS)
    rows = (await conn.execute(select(BROADCAST).where(
        BROADCAST.c.author_id == officer.id,
        BROADCAST.c.status.in_([BroadcastStatus.REJECTED, BroadcastStatus.APPROVED,
                                BroadcastStatus.SENDING, BroadcastStatus.DONE,
                                BroadcastStatus.STOPPED]))
        .order_by(BROADCAST.c.id.desc()).limit(50))).all()
    news = []
    names = await officer_names.display_names(conn, service.t) if any(
        row.status == BroadcastStatus.REJECTED for row in rows) else {}
    for row in rows:
        if row.status == BroadcastStatus.REJECTED:
            note = await sent_back_note(conn, row.id, names)
            news.append((row.id, "warn", t(
                "vi", "Your announcement #{id} was sent back by {name}: {reason} Edit it and "
                "submit it again.", id=row.id, name=note["by"] if note else "?",
                reason=note["reason"] if note else "")))
        elif row.status == BroadcastStatus.DONE and row.finished_at and \
                labels.aware(row.finished_at) >= since:
            news.append((row.id, "ok", t("vi", "Your announcement #{id} has been sent ({time}).",
                                         id=row.id, time=labels.vn_time(row.finished_at))))
        elif row.status == BroadcastStatus.STOPPED and row.finished_at and \
                labels.aware(row.finished_at) >= since:
            when = labels.vn_time(row.finished_at)
            news.append((row.id, "warn", t(
                "vi", "Your announcement #{id} was withdrawn ({time}): it was sent to nobody.",
                id=row.id, time=when) if withdrawn(row) else t(
                "vi", "Your announcement #{id} was stopped ({time}).", id=row.id, time=when)))
        elif row.status in (BroadcastStatus.APPROVED, BroadcastStatus.SENDING) and \
                row.approved_at and labels.aware(row.approved_at) >= since:
            news.append((row.id, "ok", t("vi", "Your announcement #{id} was approved ({time}).",
                                         id=row.id, time=labels.vn_time(row.approved_at))))
    return news[:10]


async def retract_plan(conn: AsyncConnection, broadcast_id: int,
                       deletable_channels: set[str]) -> dict[str, int]:
    """What "retract" would do now: messages it deletes (sent on a channel that can delete
    them, within Telegram's 48 hours), and those it cannot."""
    o = queries.OUTBOX.c
    sent = (await conn.execute(select(o.channel, o.external_message_id, o.sent_at).where(
        o.broadcast_id == broadcast_id, o.status == OutboxStatus.SENT,
        o.retracted_at.is_(None)))).all()
    limit = utcnow() - dt.timedelta(hours=48)
    plan = {"total": len(sent), "deletable": 0, "too_old": 0, "other_channel": 0}
    for channel, message_id, sent_at in sent:
        if channel not in deletable_channels or not message_id:
            plan["other_channel"] += 1
        elif sent_at is not None and labels.aware(sent_at) < limit:
            plan["too_old"] += 1
        else:
            plan["deletable"] += 1
    return plan


async def deletable_count(conn: AsyncConnection, broadcast_id: int,
                          deletable_channels: set[str]) -> int:
    """How many messages a retraction would delete now (retract_plan's "deletable"), in one
    count: the page offers "Retract…" only while there is something to retract."""
    if not deletable_channels:
        return 0
    o = queries.OUTBOX.c
    limit = utcnow() - dt.timedelta(hours=48)
    return int((await conn.execute(select(func.count()).select_from(queries.OUTBOX).where(
        o.broadcast_id == broadcast_id, o.status == OutboxStatus.SENT,
        o.retracted_at.is_(None), o.channel.in_(sorted(deletable_channels)),
        o.external_message_id.is_not(None), o.external_message_id != "",
        o.sent_at.is_(None) | (o.sent_at >= limit)))).scalar_one())


@dataclass(frozen=True)
class Retraction:
    """What the retractions of one announcement did, from the audit log: messages deleted in
    all, those the last one could not delete, and when and by whom the last one deleted."""

    deleted: int
    not_deleted: int
    at: dt.datetime
    actor: str

    @property
    def officer_id(self) -> int | None:
        kind, _, ident = self.actor.partition(":")
        return int(ident) if kind == "officer" and ident.isdigit() else None


async def retractions(conn: AsyncConnection, broadcast_ids: list[int]) -> dict[int, Retraction]:
    """Each of these announcements that was retracted, in one query (ix_audit_target)."""
    if not broadcast_ids:
        return {}
    targets = {f"broadcast:{i}": i for i in broadcast_ids}
    entries = await conn.execute(select(AUDIT.c.target, AUDIT.c.at, AUDIT.c.actor,
                                        AUDIT.c.after).where(
        AUDIT.c.target.in_(sorted(targets)), AUDIT.c.action == "broadcast.retract")
        .order_by(AUDIT.c.id))
    found: dict[int, Retraction] = {}
    for entry in entries:
        try:
            after = json.loads(entry.after or "{}")
            deleted, failed = int(after.get("deleted") or 0), int(after.get("not_deleted") or 0)
        except (ValueError, TypeError, AttributeError):
            deleted, failed = 0, 0
        broadcast_id = targets[entry.target]
        before = found.get(broadcast_id)
        if before is not None and not deleted:     # deleted nothing more: the last one stands
            found[broadcast_id] = Retraction(before.deleted, failed, before.at, before.actor)
            continue
        found[broadcast_id] = Retraction((before.deleted if before else 0) + deleted, failed,
                                         entry.at, entry.actor)
    return found


def withdrawn(row: Any) -> bool:
    """Stopped before anything was sent: withdrawn while waiting for approval, or approved
    and stopped before its send time."""
    return row.status == BroadcastStatus.STOPPED and row.started_at is None


def state_label(service: Broadcasts, row: Any, retraction: Retraction | None = None) -> str:
    """The state an officer reads in the title and the list: the status, except that a
    retracted one says so (how many deleted, when) and a withdrawn one that it went to
    nobody."""
    t = service.t.gettext
    if retraction is not None and retraction.deleted and \
            row.status in (BroadcastStatus.DONE, BroadcastStatus.STOPPED):
        if retraction.not_deleted:
            return t("vi", "retracted: {n} message(s) deleted at {time}, {m} could not be "
                     "deleted", n=retraction.deleted, m=retraction.not_deleted,
                     time=labels.vn_time(retraction.at))
        return t("vi", "retracted: {n} message(s) deleted at {time}", n=retraction.deleted,
                 time=labels.vn_time(retraction.at))
    if withdrawn(row):
        return t("vi", "withdrawn, sent to nobody")
    return service.status_label(row.status)
