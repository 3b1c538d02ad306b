"""HTTP routes: the web chat page and API, the Telegram webhook, admin, health and metrics."""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import time
from collections import OrderedDict
from pathlib import Path
from urllib.parse import urlparse

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from bot.app import SERVICES, Services
from bot.channels import telegram as tg
from bot.channels.base import ParseError, reply_from_json
from bot.channels.web import NAME as WEB
from bot.channels.web import BadRequest, validate
from bot.store import queries
from bot.store.models import OutboxStatus
from bot.web.admin import setup_admin
from bot.web.reports import setup_reports
from bot.zalo import setup_zalo_routes

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
RATE_PER_MINUTE = 30
WEBHOOK_PATH = "/telegram/webhook"


class RateLimiter:
    """A small per-key sliding window, enough to stop a runaway script on the web chat."""

    def __init__(self, per_minute: int, max_keys: int = 10_000) -> None:
        self.per_minute = per_minute
        self.max_keys = max_keys
        self._hits: OrderedDict[str, list[float]] = OrderedDict()

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        hits = [t for t in self._hits.pop(key, []) if now - t < 60.0]
        allowed = len(hits) < self.per_minute
        if allowed:
            hits.append(now)
        self._hits[key] = hits
        while len(self._hits) > self.max_keys:
            self._hits.popitem(last=False)
        return allowed


def _json(data: object, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=_dumps)


def _errors(services: Services) -> dict[str, str]:
    t = services.translator.gettext
    return {
        "bad": t("vi", "Your message could not be read. Please reload the page and try again."),
        "too_long": t("vi", "Your message is too long. Please write at most 2000 characters."),
        "empty": t("vi", "Please type a question or a number."),
        "rate": t("vi", "Too many messages at once. Please wait a minute."),
        "busy": t("vi", "Loa is busy. Please try again in a moment."),
    }


async def index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "index.html")


async def embed_js(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "embed.js")


async def chat(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    errors = _errors(services)
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return _json({"error": errors["too_long"]}, status=413)
    try:
        message = validate(body, errors)
    except BadRequest as exc:
        return _json({"error": exc.message}, status=exc.status)
    limiter: RateLimiter = request.app[LIMITER]
    if not limiter.allow(message.session):
        return _json({"error": errors["rate"]}, status=429)
    assert services.db is not None and services.handler is not None
    external_id = hashlib.sha256(f"{message.session}:{message.message_id}".encode()).hexdigest()
    try:
        async with services.db.begin() as conn:
            inbox_id = await queries.insert_inbox(conn, WEB, external_id[:40], message.payload)
            if inbox_id is None:   # the browser retried: answer with what was answered before
                inbox_id = await queries.find_inbox_id(conn, WEB, external_id[:40])
        if inbox_id is None:
            raise SQLAlchemyError("inbox row vanished")
        await services.handler.handle(inbox_id)
        async with services.db.begin() as conn:
            rows = await queries.outbox_for_inbox(conn, inbox_id)
            await queries.mark_sent(conn, [r.id for r in rows if r.status != OutboxStatus.SENT])
            out = []
            for row in rows:
                reply, _ = reply_from_json(row.payload)
                out.append({"text": reply.text,
                            "buttons": [[{"label": b.label, "choice": b.choice} for b in r]
                                        for r in reply.buttons],
                            "audio": f"/media/{reply.audio}" if reply.audio else None})
    except SQLAlchemyError:
        log.exception("web chat: database error")
        return _json({"error": errors["busy"]}, status=503)
    return _json({"messages": out})


async def telegram_webhook(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    channel = services.channels.get(tg.NAME)
    if channel is None:
        raise web.HTTPNotFound()
    body = await request.read()
    if not channel.verify(dict(request.headers), body):
        log.warning("telegram webhook: request with a wrong secret refused")
        return _json({"ok": False, "error": "forbidden"}, status=403)
    try:
        update_id = tg.update_id(body)
    except ParseError as exc:
        return _json({"ok": False, "error": str(exc)}, status=400)
    assert services.db is not None and services.worker is not None
    try:
        async with services.db.begin() as conn:
            inbox_id = await queries.insert_inbox(conn, tg.NAME, update_id,
                                                  body.decode("utf-8"))
    except (SQLAlchemyError, UnicodeDecodeError):
        log.exception("telegram webhook: could not store update %s", update_id)
        return _json({"ok": False}, status=503)   # Telegram will retry
    if inbox_id is not None:   # a repeated delivery needs no work
        services.worker.wake([inbox_id])
    return _json({"ok": True})


async def healthz(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    assert services.db is not None
    try:
        async with services.db.connect() as conn:
            queues = await queries.count_by_status(conn)
    except SQLAlchemyError:
        return _json({"status": "error", "database": "unreachable"}, status=503)
    telegram = "off" if services.telegram_bot is None else (
        "ready" if services.telegram_ready.is_set() else "connecting")
    return _json({"status": "ok", "database": "ok", "telegram": telegram,
                              "queues": queues})


async def metrics(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    assert services.db is not None
    async with services.db.connect() as conn:
        queues = await queries.count_by_channel(conn)
        contacts = await queries.count_contacts(conn)
    lines = ["# HELP loa_queue_rows Inbox and outbox rows by channel and state.",
             "# TYPE loa_queue_rows gauge"]
    for queue, channel, status, count in queues:
        lines.append(f'loa_queue_rows{{queue="{queue}",channel="{channel}",status="{status}"}} '
                     f'{count}')
    lines += ["# HELP loa_sent_total Messages sent by this process since it started.",
              "# TYPE loa_sent_total counter"]
    lines += [f'loa_sent_total{{channel="{name}"}} {sender.sent}'
              for name, sender in sorted(services.senders.items())]
    lines += ["# HELP loa_flood_waits_total Flood-control waits (HTTP 429) since start.",
              "# TYPE loa_flood_waits_total counter"]
    lines += [f'loa_flood_waits_total{{channel="{name}"}} {sender.flood_waits}'
              for name, sender in sorted(services.senders.items())]
    lines += ["# TYPE loa_contacts gauge", f"loa_contacts {contacts}"]
    return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")


LIMITER = web.AppKey("limiter", RateLimiter)
_dumps = functools.partial(json.dumps, ensure_ascii=False)


@web.middleware
async def errors_middleware(request: web.Request, handler):  # type: ignore[no-untyped-def]
    """No stack trace or token ever reaches a client; API callers get a JSON message."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        if request.path.startswith("/api/"):
            return _json({"error": _errors(request.app[SERVICES])["busy"]}, status=500)
        return web.Response(status=500, text="500: internal error")


def setup_routes(app: web.Application) -> None:
    app.middlewares.append(errors_middleware)
    app[LIMITER] = RateLimiter(RATE_PER_MINUTE)
    app.router.add_get("/", index)
    app.router.add_get("/embed.js", embed_js)
    app.router.add_static("/static/", STATIC)
    media = app[SERVICES].settings.content_dir / "media"
    if media.is_dir():
        app.router.add_static("/media/", media)
    app.router.add_post("/api/chat", chat)
    webhook_url = app[SERVICES].settings.telegram_webhook_url
    app.router.add_post(urlparse(webhook_url).path or WEBHOOK_PATH if webhook_url
                        else WEBHOOK_PATH, telegram_webhook)
    setup_zalo_routes(app, SERVICES)
    setup_admin(app, app[SERVICES].translator)
    from bot.web.review import setup_review
    setup_review(app)                 # /admin/questions: unanswered questions, learned samples
    setup_reports(app)
    from bot.web import broadcasts
    broadcasts.setup(app)
    from bot.web.translations import setup_translations
    setup_translations(app)           # /admin/translations; installs approved translations
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
