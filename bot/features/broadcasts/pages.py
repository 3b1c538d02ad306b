"""What the announcement pages share: their dependencies, who sees which announcement, the
compose form, and the page of one announcement (preview, audience, progress, actions)."""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.delivery.runtime import Runtime
from bot.features.broadcasts import labels, workflow
from bot.features.broadcasts.models import BroadcastKind, BroadcastStatus
from bot.features.broadcasts.runner import BroadcastRunner
from bot.features.broadcasts.service import Audience, BroadcastError, Broadcasts, sender_name
from bot.features.officers import names as officer_names
from bot.features.officers import service as officers
from bot.features.officers import web as auth
from bot.features.officers.models import Role
from bot.web.admin import render

VN = labels.VN
COMPOSERS = (Role.EDITOR, Role.APPROVER)
SENT = (BroadcastStatus.SENDING, BroadcastStatus.DONE, BroadcastStatus.STOPPED)
TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"


@dataclass(frozen=True)
class BroadcastPages(Runtime):
    """What the announcement pages use, besides the shared runtime."""

    broadcasts: Broadcasts
    broadcast_runner: BroadcastRunner
    wake_outbox: Callable[[str, str], None]     # (channel, lane): its sender, in any process


PAGES = web.AppKey("broadcast_pages", BroadcastPages)


def pages_of(request: web.Request) -> BroadcastPages:
    return request.app[PAGES]


def unit_filter(officer: auth.OfficerInfo) -> int | None:
    """Province officers see every unit; reviewers see every announcement (to review its
    translation); others see their own unit's."""
    if officer.unit_code == officers.PROVINCE_UNIT or officer.role == Role.REVIEWER:
        return None
    return officer.unit_id


def own_commune(officer: auth.OfficerInfo) -> str | None:
    """A commune or ward reaches only the citizens registered in it."""
    return officer.unit_code[3:] if officer.unit_code.startswith("xa-") else None


def parse_send_at(raw: str) -> dt.datetime | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        local = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise BroadcastError("send_at") from None
    return (local if local.tzinfo else local.replace(tzinfo=VN)).astimezone(dt.UTC)


def form_values(form: Any) -> dict[str, Any]:
    """What the officer typed, to show the form again as it was."""
    values: dict[str, Any] = {k: str(v) for k, v in form.items()
                              if k not in ("languages", "channels", "communes", "csrf")}
    for key in ("languages", "channels", "communes"):
        values[key] = [str(v) for v in form.getall(key, [])]
    return values


def row_values(row: Any) -> dict[str, Any]:
    audience = Audience.from_json(row.audience)
    values: dict[str, Any] = {
        "kind": row.kind, "topic": row.topic or "", "text": row.text,
        "languages": list(audience.languages), "channels": list(audience.channels),
        "communes": list(audience.communes), "active_days": audience.active_days or "",
        "send_at": labels.as_vn(row.send_at).strftime("%Y-%m-%dT%H:%M") if row.send_at else ""}
    for lang, text in json.loads(row.variants or "{}").items():
        values[f"text_{lang}"] = text
    return values


def form_context(services: BroadcastPages, officer: auth.OfficerInfo | None) -> dict[str, Any]:
    content = services.conversation.contents["vi"]
    own = own_commune(officer) if officer is not None else None
    return {"topics": [(t.id, t.title) for t in content.topics.values()],
            "communes": officers.communes(), "own_commune": own,
            "own_commune_name": labels.commune_name(own) if own else "",
            "languages": services.conversation.languages,
            "channels": services.broadcasts.channels,
            "language_name": lambda lang: labels.language_name(services.translator, lang),
            "channel_name": labels.channel_name}


def read_form(services: BroadcastPages, officer: auth.OfficerInfo,
               form: Any) -> tuple[str, str, dict[str, str], Audience, dt.datetime | None,
                                   str | None]:
    """(kind, text, variants, audience, send_at, topic) from the compose or edit form."""
    t = services.translator.gettext
    content = services.conversation.contents["vi"]
    topic = str(form.get("topic", "")) or None
    text = str(form.get("text", ""))
    kind = str(form.get("kind", BroadcastKind.MESSAGE))
    if kind not in (BroadcastKind.MESSAGE, BroadcastKind.POLL):
        raise BroadcastError(t("vi", "Unknown kind of announcement."))
    if topic and topic in content.topics and not text.strip():
        chosen = content.topics[topic]
        text = f"{chosen.title}\n\n{chosen.body}"
    if kind == BroadcastKind.POLL and not text.strip():
        text = t("vi", "Have you (or your family member) switched to a 4G phone?")
    variants = {lang: str(form.get(f"text_{lang}", "")) for lang in
                services.conversation.languages if lang != "vi"}
    communes = tuple(str(v) for v in form.getall("communes", []))
    own = own_commune(officer)
    if own is not None:
        if set(communes) - {own}:
            raise BroadcastError(t("vi", "A commune or ward can send only to the citizens "
                                   "registered in it."))
        communes = (own,)
    days_raw = str(form.get("active_days", "")).strip()
    audience = Audience(languages=tuple(str(v) for v in form.getall("languages", [])),
                        channels=tuple(str(v) for v in form.getall("channels", [])),
                        communes=communes, active_days=int(days_raw) if days_raw else None)
    send_at = parse_send_at(str(form.get("send_at", "")))
    return kind, text, variants, audience, send_at, topic if topic in content.topics else None


def problem(t: Any, exc: Exception) -> str:
    message = str(exc)
    if message == "send_at" or not isinstance(exc, BroadcastError):
        return t("vi", "Check the send time and the number of days.")
    return message


async def load(request: web.Request, officer: auth.OfficerInfo) -> tuple[BroadcastPages, Any]:
    services = pages_of(request)
    try:
        raw = request.match_info["id"]
        if len(raw) > 9:     # beyond any id (and an INTEGER column on PostgreSQL)
            raise ValueError(raw)
        broadcast_id = int(raw)
        async with services.db.connect() as conn:
            row = await services.broadcasts.get(conn, broadcast_id)
    except (ValueError, BroadcastError):
        raise web.HTTPNotFound(text="404: no such announcement") from None
    if unit_filter(officer) not in (None, row.unit_id):
        raise web.HTTPNotFound(text="404: no such announcement")
    return services, row


def deletable_channels(services: BroadcastPages) -> set[str]:
    """The channels whose sent messages a retraction can delete (Telegram)."""
    return {name for name, channel in services.broadcast_runner.channels.items()
            if getattr(channel, "delete", None) is not None}


async def edit_page(request: web.Request, services: BroadcastPages, officer: auth.OfficerInfo,
                    row: Any, values: dict[str, Any], error: str | None,
                    status: int = 200) -> web.Response:
    """The edit form, under the approver's reason when it was sent back: that is what the
    officer is changing it for."""
    async with services.db.connect() as conn:
        sent_back = await workflow.sent_back_note(
            conn, row.id, await officer_names.display_names(conn, services.translator))
    return render(request, "broadcast_edit.html", status=status, row=row, values=values,
                  error=error, label=services.broadcasts.status_label, sent_back=sent_back,
                  vn_time=labels.vn_time, **form_context(services, officer))


async def show_page(request: web.Request, services: BroadcastPages, row: Any,
                officer: auth.OfficerInfo, notice: tuple[str, str] | None, error: str | None,
                status: int = 200) -> web.Response:
    broadcasts = services.broadcasts
    t = services.translator
    sent = row.status in SENT
    async with services.db.connect() as conn:
        counts = await broadcasts.audience_counts(conn, row)
        zalo = await broadcasts.zalo_reach(conn, row, services.settings.zalo_oa_allow_paid)
        progress = await broadcasts.progress(conn, row)
        names = await officer_names.display_names(conn, t)
        unit = await officers.unit_by_id(conn, row.unit_id)
        sent_back = (await workflow.sent_back_note(conn, row.id, names)
                     if row.status in (BroadcastStatus.REJECTED, BroadcastStatus.DRAFT)
                     else None)
        retraction = (await workflow.retractions(conn, [row.id])).get(row.id)
        deletable = (await workflow.deletable_count(conn, row.id, deletable_channels(services))
                     if row.status in (BroadcastStatus.DONE, BroadcastStatus.STOPPED) else 0)
    author = (names.get(row.author_id, t.gettext("vi", "a removed officer"))
              if row.author_id else t.gettext("vi", "operator"))
    approver = names.get(row.approver_id) if row.approver_id else None
    sender = sender_name(unit)
    variants = json.loads(row.variants or "{}")
    approved = json.loads(row.variants_approved or "{}")
    if sent:   # what went out: Vietnamese and the approved translations
        languages = ["vi", *sorted(lang for lang in variants if lang in approved)]
    else:
        languages = sorted({lang for lang, _ in counts} | {"vi"} | set(variants),
                           key=lambda lang: (lang != "vi", lang))
    # (language, what citizens get, the unreviewed draft if there is one and it is not used)
    previews = [(lang, broadcasts.render(row, lang, sender=sender),
                 broadcasts.render(row, lang, draft=True, sender=sender)
                 if lang in variants and lang not in approved else None)
                for lang in languages]
    audience = Audience.from_json(row.audience)
    return render(
        request, "broadcast.html", status=status, row=row, counts=counts, sent=sent,
        previews=previews, progress=progress, author=author, approver=approver, unit=unit,
        state=workflow.state_label(broadcasts, row, retraction), retraction=retraction,
        retracted_by=(names.get(retraction.officer_id, "") if retraction is not None
                      and retraction.officer_id is not None else ""),
        withdrawn=workflow.withdrawn(row),
        may_retract=row.status == BroadcastStatus.SENDING or deletable > 0,
        notice=notice, error=error, quiet=services.settings.quiet_hours, zalo=zalo,
        telegram=None if sent else telegram_pace(
            services.settings, sum(n for (_, ch), n in counts.items() if ch == "telegram"), t),
        start=labels.vn_time(labels.start_time(row, services.settings.quiet_hours)),
        label=broadcasts.status_label, S=BroadcastStatus, sent_back=sent_back,
        is_author=officer.id == row.author_id, may_edit=workflow.may_edit(officer, row),
        may_approve=officer.can(Role.APPROVER) and officer.id != row.author_id,
        states=[(s, labels.state_label(t, s)) for s in labels.OUTBOX_STATES],
        pace=labels.pace(t, row, progress, services.settings.quiet_hours),
        audience=audience, commune_names=[labels.commune_name(c) for c in audience.communes],
        language_name=lambda lang: labels.language_name(t, lang),
        channel_name=labels.channel_name, vn_time=labels.vn_time)


STARS_PER_PAID_MESSAGE = 0.1   # Bot API, sendMessage, allow_paid_broadcast (see README)


def telegram_pace(settings: Any, recipients: int, t: Any) -> dict[str, Any] | None:
    """How long the Telegram part takes at the configured pace ("chưa đến 1 phút" for a few
    messages, "khoảng 27 phút"), and what it costs when paid broadcasts are on
    (BOT_TELEGRAM_PAID_RATE): shown before anyone approves."""
    if not recipients or not settings.telegram_token:
        return None
    paid = settings.telegram_paid_rate > 0
    rate = settings.telegram_paid_rate if paid else settings.telegram_rate
    return {"n": recipients, "rate": rate, "paid": paid,
            "time": labels.duration(t, recipients / rate),
            # Vietnamese digits: 1.234,5
            "stars": f"{recipients * STARS_PER_PAID_MESSAGE:,.1f}".translate(
                str.maketrans(",.", ".,"))}


