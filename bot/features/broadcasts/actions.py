"""The actions on one announcement (POST /admin/broadcasts/{id}/{action}): test send, submit,
approve, send back with a reason, stop, approve a translation, edit, and the destructive
ones, withdraw (a waiting one is not to be sent), retract and delete, which run only after a
confirmation step with a one-time token."""
from __future__ import annotations

import hashlib
import hmac
from typing import Any

from aiohttp import web
from sqlalchemy import func, select

from bot.features.broadcasts import workflow
from bot.features.broadcasts.models import BroadcastStatus
from bot.features.broadcasts.pages import (
    COMPOSERS,
    SENT,
    BroadcastPages,
    deletable_channels,
    edit_page,
    form_values,
    load,
    pages_of,
    problem,
    read_form,
    show_page,
    unit_filter,
)
from bot.features.broadcasts.service import BroadcastError, sender_name
from bot.features.officers import service as officers
from bot.features.officers import web as auth
from bot.features.officers.models import Role
from bot.store import queries
from bot.store.models import utcnow
from bot.web.admin import render

CONFIRMED = ("retract", "delete", "withdraw")     # destructive: only after a confirmation


def done_notice(t: Any, done: str, query: Any) -> tuple[str, str] | None:
    """(level, text) after an action (the page is reached by redirect): "ok", or "warn" when
    it did less than it sounds (nobody got the test, nobody was told) and says what to do."""
    n, m = query.get("n", "0")[:9], query.get("m", "0")[:9]   # counts only: no text echoed
    n = n if n.isascii() and n.isdigit() else "0"
    m = m if m.isascii() and m.isdigit() else "0"
    if done == "test" and n == "0":
        return "warn", t("vi", "Nobody got the test: no officer of your unit has linked Telegram "
                         "to Loa yet. Each officer sends /dangky with their invite code to the "
                         "Loa bot in Telegram (an administrator gives invite codes); then press "
                         "“Test send to my unit” again.")
    if done == "submit" and n == "0":
        if m == "0":
            return "warn", t("vi", "Submitted, but nobody can approve it yet: your unit has no "
                             "approver besides you. Ask an administrator to invite one (role "
                             "approver); until then it waits.")
        return "warn", t("vi", "Submitted, but no approver was told: none of the {m} approver(s) "
                         "has linked Telegram to Loa. Tell them to open Announcements → "
                         "Waiting for my approval, or to send /dangky with an invite code to "
                         "the Loa bot so that they are told next time.", m=m)
    if done == "approve" and query.get("empty") == "1":
        return "warn", t("vi", "Approved, but nobody matches its audience now: it will reach "
                         "nobody unless citizens opt in before it is sent.")
    messages = {
        "test": lambda: t("vi", "Test sent to {n} officer(s) of your unit.", n=n),
        "submit": lambda: t("vi", "Sent for approval; {n} approver(s) notified in the chat.",
                            n=n),
        "approve": lambda: t("vi", "Approved. Sending starts at its time (quiet hours "
                             "respected)."),
        "reject": lambda: t("vi", "Sent back. Its author sees the reason."),
        "stop": lambda: t("vi", "Stopped. {n} recipients will not get it.", n=n),
        "withdraw": lambda: t("vi", "Withdrawn: it will not be sent to anyone. Its text stays "
                              "here to read."),
        "edit": lambda: t("vi", "Saved. It is a draft again: submit it for approval."),
        "retract": lambda: t("vi", "Deleted {deleted} message(s); {not_deleted} could not be "
                             "deleted (see the audit log).", deleted=n, not_deleted=m),
        "variant": lambda: t("vi", "Translation approved."),
    }
    if done == "retract" and m != "0":
        return "warn", messages["retract"]()
    return ("ok", messages[done]()) if done in messages else None


# -- the confirmation step -------------------------------------------------------------------

async def _confirm_token(services: BroadcastPages, officer: auth.OfficerInfo, row: Any,
                         action: str) -> str:
    """Good once: bound to the session and to the announcement's latest audit entry, which the
    confirmed action itself adds, so a second click of the same confirmation is refused."""
    async with services.db.connect() as conn:
        last = (await conn.execute(select(func.max(officers.AUDIT.c.id)).where(
            officers.AUDIT.c.target == f"broadcast:{row.id}"))).scalar_one()
    message = f"{row.id}:{action}:{row.status}:{last}".encode()
    return hmac.new(officer.csrf.encode(), message, hashlib.sha256).hexdigest()[:32]


def _refuse(t: Any, officer: auth.OfficerInfo, row: Any, action: str) -> None:
    """Who may withdraw, retract or delete, and when (checked before confirming and again
    after)."""
    if action == "retract":
        if not officer.can(Role.APPROVER, Role.EDITOR):
            raise BroadcastError(t("vi", "Your role cannot retract."))
        if row.status not in SENT:
            raise BroadcastError(t("vi", "Nothing has been sent yet, so there is nothing to "
                                   "retract."))
    elif action == "withdraw" and row.status != BroadcastStatus.PENDING:
        raise BroadcastError(t("vi", "Only an announcement waiting for approval can be "
                               "withdrawn."))
    elif not workflow.may_edit(officer, row):
        raise BroadcastError(t("vi", "Only its author or an approver of its unit can change or "
                               "delete it, before it is approved."))


async def confirm_page(request: web.Request, services: BroadcastPages, row: Any,
                        officer: auth.OfficerInfo, action: str,
                        status: int = 200) -> web.Response:
    t = services.translator.gettext
    try:
        _refuse(t, officer, row, action)
    except BroadcastError as exc:
        return await show_page(request, services, row, officer, None, str(exc), status=409)
    plan = None
    if action == "retract":
        async with services.db.connect() as conn:
            plan = await workflow.retract_plan(conn, row.id, deletable_channels(services))
    return render(request, "broadcast_confirm.html", status=status, row=row, action=action,
                  plan=plan, token=await _confirm_token(services, officer, row, action),
                  label=services.broadcasts.status_label)


# -- actions ---------------------------------------------------------------------------------

async def act(request: web.Request) -> web.StreamResponse:
    officer = await auth.require_officer(request)
    form = await request.post()
    auth.check_csrf(officer, form)
    action = request.match_info["action"]
    try:
        services, row = await load(request, officer)
    except web.HTTPNotFound:
        if action == "delete" and await _was_deleted(request, officer):
            raise web.HTTPFound("/admin/broadcasts") from None   # a second click: done already
        raise
    t = services.translator.gettext
    if action == "stop" and row.status == BroadcastStatus.PENDING:
        action = "withdraw"       # nothing is being sent: it is withdrawn, after confirming
    try:
        if action in CONFIRMED:
            _refuse(t, officer, row, action)
            if not form.get("confirm"):   # the first click only asks
                return await confirm_page(request, services, row, officer, action)
            expected = await _confirm_token(services, officer, row, action)
            if not hmac.compare_digest(str(form.get("confirm", "")).encode(),
                                       expected.encode()):
                raise BroadcastError(t("vi", "This confirmation is out of date (pressed twice, "
                                       "or the announcement changed meanwhile): nothing more "
                                       "was done. Check the announcement below."))
        if action == "edit":
            return await _edit(request, services, officer, row, form)
        extra = await _do(services, officer, row, action, form)
    except BroadcastError as exc:
        if action == "reject" and row.status == BroadcastStatus.PENDING:
            status = 400 if not str(form.get("reason", "")).strip() else 409
        else:
            status = 409
        try:
            services, row = await load(request, officer)
        except web.HTTPNotFound:
            raise web.HTTPFound("/admin/broadcasts") from None
        return await show_page(request, services, row, officer, None, str(exc), status=status)
    if action == "delete":
        raise web.HTTPFound(f"/admin/broadcasts?deleted={row.id}")
    raise web.HTTPFound(f"/admin/broadcasts/{row.id}?done={action}{extra}")


async def _was_deleted(request: web.Request, officer: auth.OfficerInfo) -> bool:
    """An announcement of the officer's own unit that was deleted (audit log)."""
    raw = request.match_info["id"]
    if len(raw) > 9:
        return False
    async with pages_of(request).db.connect() as conn:
        entry = (await conn.execute(select(officers.AUDIT.c.unit_id).where(
            officers.AUDIT.c.target == f"broadcast:{int(raw)}",
            officers.AUDIT.c.action == "broadcast.delete"))).first()
    return entry is not None and unit_filter(officer) in (None, entry.unit_id)


async def _edit(request: web.Request, services: BroadcastPages, officer: auth.OfficerInfo,
                row: Any, form: Any) -> web.StreamResponse:
    t = services.translator.gettext
    if not workflow.may_edit(officer, row):
        raise BroadcastError(t("vi", "Only its author or an approver of its unit can change or "
                               "delete it, before it is approved."))
    try:
        kind, text, variants, audience, send_at, topic = read_form(services, officer, form)
        async with services.db.begin() as conn:
            await workflow.edit(services.broadcasts, conn, officer, row, kind, text, variants,
                                audience, send_at, topic)
    except (BroadcastError, ValueError) as exc:
        return await edit_page(request, services, officer, row, form_values(form),
                               problem(t, exc), status=400)
    raise web.HTTPFound(f"/admin/broadcasts/{row.id}?done=edit")


async def _do(services: BroadcastPages, officer: auth.OfficerInfo, row: Any, action: str,
              form: Any) -> str:
    """Run one action; returns the counts for the message after the redirect."""
    t = services.translator.gettext
    runner = services.broadcast_runner
    broadcasts = services.broadcasts
    woken: set[str] = set()
    extra = ""
    if action == "test":
        if not officer.can(*COMPOSERS) and officer.id != row.author_id:
            raise BroadcastError(t("vi", "Your role cannot send tests."))
        async with services.db.begin() as conn:
            extra = f"&n={await _test_send(conn, services, row, officer)}"
    elif action == "submit":
        async with services.db.begin() as conn:
            approvers = await broadcasts.submit(conn, officer, row.id)
            told = await runner.notify_approvers(conn, row.id, approvers)
        extra = f"&n={told}&m={len(approvers)}"
        woken |= set(broadcasts.channels)          # the approvers' notices
    elif action == "approve":
        async with services.db.begin() as conn:
            approved, channel = await workflow.approve(broadcasts, conn, officer, row.id)
            reach = sum((await broadcasts.audience_counts(conn, approved)).values())
        woken |= {channel} if channel else set()
        extra = "" if reach else "&empty=1"
        runner.wake()
        await runner.start_progress(row.id)
    elif action == "reject":
        async with services.db.begin() as conn:
            channel = await workflow.send_back(broadcasts, conn, officer, row.id,
                                               str(form.get("reason", "")))
        woken |= {channel} if channel else set()
    elif action in ("stop", "withdraw"):         # withdraw: nobody to cancel, nothing to count
        async with services.db.begin() as conn:
            cancelled = await broadcasts.stop(conn, officer.actor, officer, row.id)
        extra = f"&n={cancelled}" if action == "stop" else ""
        woken |= set(broadcasts.channels)          # the author's notice
    elif action == "variant":
        async with services.db.begin() as conn:
            await broadcasts.approve_variant(conn, officer, row.id, str(form.get("lang", "")))
    elif action == "retract":
        result = await runner.retract(officer.actor, officer, row.id)
        extra = f"&n={result['deleted']}&m={result['not_deleted']}"
    elif action == "delete":
        async with services.db.begin() as conn:
            await workflow.remove(broadcasts, conn, officer, row)
    else:
        raise web.HTTPNotFound()
    for channel in woken:
        services.wake_outbox(channel, "reply")
    return extra


async def _test_send(conn: Any, services: BroadcastPages, row: Any,
                     officer: auth.OfficerInfo) -> int:
    """The message as citizens get it, visibly marked as a test, to the chat of each officer
    of the unit."""
    rows = []
    sender = sender_name(await officers.unit_by_id(conn, row.unit_id))
    reply = services.broadcasts.render(row, "vi", test=True, sender=sender)
    for member in await officers.officers(conn, officer.unit_id):
        contact = (await conn.execute(select(queries.CONTACT).where(
            queries.CONTACT.c.channel == member.channel,
            queries.CONTACT.c.pseudonym == member.pseudonym))).first()
        if contact is None or member.channel not in services.channels:
            continue
        rows.append(dict(services.broadcasts.outbox_row(row, contact, reply, utcnow(),
                                                        lane="reply"), broadcast_id=None))
    await queries.insert_outbox(conn, rows)
    await officers.audit(conn, officer.actor, "broadcast.test", f"broadcast:{row.id}", None,
                         {"officers": len(rows)}, row.unit_id)
    for channel in {r["channel"] for r in rows}:
        services.wake_outbox(channel, "reply")
    return len(rows)


