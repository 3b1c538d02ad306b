"""Admin pages for announcements: compose, preview, test send, approve, progress, stop, retract."""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import select

from bot.delivery.runtime import Runtime
from bot.features.broadcasts.models import BroadcastKind, BroadcastStatus
from bot.features.broadcasts.runner import BroadcastRunner
from bot.features.broadcasts.service import Audience, BroadcastError, Broadcasts
from bot.features.officers import service as officers
from bot.features.officers import web as auth
from bot.features.officers.models import Role
from bot.store import queries
from bot.store.models import utcnow
from bot.web.admin import NavEntry, add_page, add_static, add_templates, render

VN = dt.timezone(dt.timedelta(hours=7))
COMPOSERS = (Role.EDITOR, Role.APPROVER)


TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"


@dataclass(frozen=True)
class BroadcastPages(Runtime):
    """What the announcement pages use, besides the shared runtime."""

    broadcasts: Broadcasts
    broadcast_runner: BroadcastRunner
    wake_outbox: Callable[[str, str], None]     # (channel, lane): its sender, in any process


PAGES = web.AppKey("broadcast_pages", BroadcastPages)


def _services(request: web.Request) -> BroadcastPages:
    return request.app[PAGES]


def _unit_filter(officer: auth.OfficerInfo) -> int | None:
    """Province officers see every unit; reviewers see every announcement (to review its
    translation); others see their own unit's."""
    if officer.unit_code == officers.PROVINCE_UNIT or officer.role == Role.REVIEWER:
        return None
    return officer.unit_id


def _parse_send_at(raw: str) -> dt.datetime | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        local = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise BroadcastError("send_at") from None
    return (local if local.tzinfo else local.replace(tzinfo=VN)).astimezone(dt.UTC)


async def list_page(request: web.Request) -> web.Response:
    officer = await auth.require_officer(request)
    services = _services(request)
    async with services.db.connect() as conn:
        rows = await services.broadcasts.list(conn, _unit_filter(officer))
    return _form_page(request, services, rows=rows, error=None, values={})


def _form_page(request: web.Request, services: BroadcastPages, rows: list[Any], error: str | None,
               values: dict[str, Any], status: int = 200) -> web.Response:
    content = services.conversation.contents["vi"]
    topics = [(t.id, t.title) for t in content.topics.values()]
    officer = request.get(auth.OFFICER)
    communes = officers.communes()
    if officer is not None and officer.unit_code.startswith("xa-"):   # only its own
        communes = [c for c in communes if c["code"] == officer.unit_code[3:]]
    return render(request, "broadcasts.html", status=status, rows=rows, error=error,
                  values=values, topics=topics, communes=communes,
                  languages=services.conversation.languages,
                  channels=services.broadcasts.channels, label=services.broadcasts.status_label)


async def create(request: web.Request) -> web.StreamResponse:
    officer = await auth.require_officer(request, *COMPOSERS)
    form = await request.post()
    auth.check_csrf(officer, form)
    services = _services(request)
    t = services.translator.gettext
    topic = str(form.get("topic", "")) or None
    text = str(form.get("text", ""))
    content = services.conversation.contents["vi"]
    if topic and topic in content.topics and not text.strip():
        chosen = content.topics[topic]
        text = f"{chosen.title}\n\n{chosen.body}"
    if str(form.get("kind")) == BroadcastKind.POLL and not text.strip():
        text = t("vi", "Have you (or your family member) switched to a 4G phone?")
    variants = {lang: str(form.get(f"text_{lang}", "")) for lang in
                services.conversation.languages if lang != "vi"}
    try:
        days_raw = str(form.get("active_days", "")).strip()
        communes = tuple(str(v) for v in form.getall("communes", []))
        if officer.unit_code.startswith("xa-"):   # a commune or ward reaches its own people
            own = officer.unit_code[3:]
            if set(communes) - {own}:
                raise BroadcastError(t("vi", "A commune or ward can send only to the citizens "
                                       "registered in it."))
            communes = (own,)
        audience = Audience(
            languages=tuple(str(v) for v in form.getall("languages", [])),
            channels=tuple(str(v) for v in form.getall("channels", [])),
            communes=communes, active_days=int(days_raw) if days_raw else None)
        send_at = _parse_send_at(str(form.get("send_at", "")))
        async with services.db.begin() as conn:
            broadcast_id = await services.broadcasts.create(
                conn, officer.actor, officer.unit_id, officer.id,
                str(form.get("kind", BroadcastKind.MESSAGE)), text, variants, audience, send_at,
                topic if topic in content.topics else None)
    except (BroadcastError, ValueError) as exc:
        message = str(exc)
        if message == "send_at" or isinstance(exc, ValueError) and \
                not isinstance(exc, BroadcastError):
            message = t("vi", "Check the send time and the number of days.")
        async with services.db.connect() as conn:
            rows = await services.broadcasts.list(conn, _unit_filter(officer))
        return _form_page(request, services, rows, message, dict(form), status=400)
    raise web.HTTPFound(f"/admin/broadcasts/{broadcast_id}")


async def _load(request: web.Request, officer: auth.OfficerInfo) -> tuple[Any, Any]:
    services = _services(request)
    try:
        broadcast_id = int(request.match_info["id"])
        async with services.db.connect() as conn:
            row = await services.broadcasts.get(conn, broadcast_id)
    except (ValueError, BroadcastError):
        raise web.HTTPNotFound(text="404: no such announcement") from None
    if _unit_filter(officer) not in (None, row.unit_id):
        raise web.HTTPNotFound(text="404: no such announcement")
    return services, row


async def show(request: web.Request) -> web.Response:
    officer = await auth.require_officer(request)
    services, row = await _load(request, officer)
    message = _message(services.translator.gettext, request.query.get("done", ""),
                       request.query)
    return await _show(request, services, row, officer, message, None)


async def _show(request: web.Request, services: BroadcastPages, row: Any, officer: auth.OfficerInfo,
                message: str | None, error: str | None, status: int = 200) -> web.Response:
    async with services.db.connect() as conn:
        counts = await services.broadcasts.audience_counts(conn, row)
        zalo = await services.broadcasts.zalo_reach(conn, row,
                                                    services.settings.zalo_oa_allow_paid)
        progress = await services.broadcasts.progress(conn, row)
        author = await officers.officer_by_id(conn, row.author_id) if row.author_id else None
        unit = await officers.unit_by_id(conn, row.unit_id)
    variants = json.loads(row.variants or "{}")
    approved = json.loads(row.variants_approved or "{}")
    languages = sorted({lang for lang, _ in counts} | {"vi"} | set(variants))
    # (language, what citizens get, the unreviewed draft if there is one and it is not used)
    previews = [(lang, services.broadcasts.render(row, lang),
                 services.broadcasts.render(row, lang, draft=True)
                 if lang in variants and lang not in approved else None)
                for lang in languages]
    quiet = services.settings.quiet_hours
    start = row.send_at or utcnow()
    return render(request, "broadcast.html", status=status, row=row, counts=counts,
                  previews=previews, progress=progress, author=author, unit=unit,
                  message=message, error=error, quiet=quiet, zalo=zalo,
                  telegram=telegram_pace(services.settings,
                                         sum(n for (_, ch), n in counts.items()
                                             if ch == "telegram")),
                  start_local=start.astimezone(VN), label=services.broadcasts.status_label,
                  audience=Audience.from_json(row.audience), S=BroadcastStatus,
                  is_author=officer.id == row.author_id)


STARS_PER_PAID_MESSAGE = 0.1   # Bot API, sendMessage, allow_paid_broadcast (see README)


def telegram_pace(settings: Any, recipients: int) -> dict[str, Any] | None:
    """How long the Telegram part takes at the configured pace, and what it costs when paid
    broadcasts are on (BOT_TELEGRAM_PAID_RATE): shown before anyone approves."""
    if not recipients or not settings.telegram_token:
        return None
    paid = settings.telegram_paid_rate > 0
    rate = settings.telegram_paid_rate if paid else settings.telegram_rate
    return {"n": recipients, "rate": rate, "paid": paid,
            "minutes": max(1, round(recipients / rate / 60)),
            # Vietnamese digits: 1.234,5
            "stars": f"{recipients * STARS_PER_PAID_MESSAGE:,.1f}".translate(
                str.maketrans(",.", ".,"))}


def _message(t: Any, done: str, query: Any) -> str | None:
    """The confirmation shown after an action (the page is reached by redirect)."""
    n, m = query.get("n", "0")[:9], query.get("m", "0")[:9]   # counts only: no text echoed
    n = n if n.isascii() and n.isdigit() else "0"
    m = m if m.isascii() and m.isdigit() else "0"
    messages = {
        "test": lambda: t("vi", "Test sent to {n} officer(s) of your unit.", n=n),
        "submit": lambda: t("vi", "Sent for approval; {n} approver(s) notified in the chat.",
                            n=n),
        "approve": lambda: t("vi", "Approved. Sending starts at its time (quiet hours "
                             "respected)."),
        "reject": lambda: t("vi", "Sent back."),
        "stop": lambda: t("vi", "Stopped. {n} recipients will not get it.", n=n),
        "retract": lambda: t("vi", "Deleted {deleted} message(s); {not_deleted} could not be "
                             "deleted (see the audit log).", deleted=n,
                             not_deleted=m),
    }
    return messages[done]() if done in messages else None


async def act(request: web.Request) -> web.Response:
    officer = await auth.require_officer(request)
    form = await request.post()
    auth.check_csrf(officer, form)
    services, row = await _load(request, officer)
    action = request.match_info["action"]
    t = services.translator.gettext
    runner = services.broadcast_runner
    extra = ""
    try:
        if action == "test":
            if not officer.can(*COMPOSERS) and officer.id != row.author_id:
                raise BroadcastError(t("vi", "Your role cannot send tests."))
            async with services.db.begin() as conn:
                extra = f"&n={await _test_send(conn, services, row, officer)}"
        elif action == "submit":
            async with services.db.begin() as conn:
                approvers = await services.broadcasts.submit(conn, officer, row.id)
                extra = f"&n={await runner.notify_approvers(conn, row.id, approvers)}"
            for channel in services.broadcasts.channels:   # the approvers' notices
                services.wake_outbox(channel, "reply")
        elif action == "approve":
            async with services.db.begin() as conn:
                await services.broadcasts.approve(conn, officer, row.id)
            runner.wake()
            await runner.start_progress(row.id)
        elif action == "reject":
            async with services.db.begin() as conn:
                await services.broadcasts.reject(conn, officer, row.id)
        elif action == "stop":
            async with services.db.begin() as conn:
                extra = f"&n={await services.broadcasts.stop(conn, officer.actor, officer, row.id)}"
        elif action == "variant":
            async with services.db.begin() as conn:
                await services.broadcasts.approve_variant(conn, officer, row.id,
                                                          str(form.get("lang", "")))
        elif action == "retract":
            if not officer.can(Role.APPROVER, Role.EDITOR):
                raise BroadcastError(t("vi", "Your role cannot retract."))
            result = await runner.retract(officer.actor, officer, row.id)
            extra = f"&n={result['deleted']}&m={result['not_deleted']}"
        else:
            raise web.HTTPNotFound()
    except BroadcastError as exc:
        services, row = await _load(request, officer)
        return await _show(request, services, row, officer, None, str(exc), status=409)
    raise web.HTTPFound(f"/admin/broadcasts/{row.id}?done={action}{extra}")


async def _test_send(conn: Any, services: BroadcastPages, row: Any,
                     officer: auth.OfficerInfo) -> int:
    """The message, visibly marked as a test, to the chat of each officer of the unit."""
    rows = []
    for member in await officers.officers(conn, officer.unit_id):
        contact = (await conn.execute(select(queries.CONTACT).where(
            queries.CONTACT.c.channel == member.channel,
            queries.CONTACT.c.pseudonym == member.pseudonym))).first()
        if contact is None or member.channel not in services.channels:
            continue
        reply = services.broadcasts.render(row, "vi", test=True)
        rows.append(dict(services.broadcasts.outbox_row(row, contact, reply, utcnow(),
                                                        lane="reply"), broadcast_id=None))
    await queries.insert_outbox(conn, rows)
    await officers.audit(conn, officer.actor, "broadcast.test", f"broadcast:{row.id}", None,
                         {"officers": len(rows)}, row.unit_id)
    for channel in {r["channel"] for r in rows}:
        services.wake_outbox(channel, "reply")
    return len(rows)


async def progress_json(request: web.Request) -> web.Response:
    officer = await auth.require_officer(request)
    services, row = await _load(request, officer)
    async with services.db.connect() as conn:
        p = await services.broadcasts.progress(conn, row)
    return web.Response(text=json.dumps({
        "status": row.status, "total": p.total, "done": p.done, "remaining": p.remaining,
        "by_status": p.by_status, "rate": round(p.rate_per_s, 2),
        "eta_s": None if p.eta_s is None else round(p.eta_s)}), content_type="application/json")


def setup(app: web.Application, pages: BroadcastPages) -> None:
    app[PAGES] = pages
    add_templates(app, TEMPLATES)
    add_static(app, STATIC)                 # /static/broadcast.js: the live progress
    add_page(app, NavEntry("/admin/broadcasts", "Announcements"))
    app.router.add_get("/admin/broadcasts", list_page)
    app.router.add_post("/admin/broadcasts", create)
    app.router.add_get("/admin/broadcasts/{id:\\d+}", show)
    app.router.add_get("/admin/broadcasts/{id:\\d+}/progress", progress_json)
    app.router.add_post("/admin/broadcasts/{id:\\d+}/{action:[a-z]+}", act)
