"""HTTP routes: the web chat page and API, the Telegram webhook, admin, health and metrics."""
from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlparse

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from bot.app import SERVICES, Services
from bot.channels.base import ParseError, reply_from_json
from bot.channels.telegram import adapter as tg
from bot.channels.web import limits as webchat_limits
from bot.channels.web.adapter import NAME as WEB
from bot.channels.web.adapter import BadRequest, validate
from bot.channels.zalo.service import setup_zalo_routes
from bot.features.officers.web import client_address
from bot.features.outreach.web import setup_reports
from bot.ops.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from bot.ops.metrics import METRICS, Metrics, lag_problems, read_lag, timing_middleware
from bot.store import queries
from bot.store.models import OutboxStatus, utcnow
from bot.store.pseudonym import pseudonymize
from bot.web.admin import setup_admin
from bot.web.security import may_see_detail, setup_security

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
WEBHOOK_PATH = "/telegram/webhook"
HEALTH_TIMEOUT_S = 5.0


def _json(data: object, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=_dumps)


def _errors(services: Services) -> dict[str, str]:
    t = services.translator.gettext
    return {
        "bad": t("vi", "Your message could not be read. Please reload the page and try again."),
        "too_long": t("vi", "Your message is too long. Please write at most 2000 characters."),
        "empty": t("vi", "Please type a question or a number."),
        "rate": t("vi", "Too many messages from your connection. Please wait a while and ask "
                  "again, or call your carrier's free hotline."),
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
    assert services.db is not None and services.handler is not None
    started = time.monotonic()
    external_id = hashlib.sha256(f"{message.session}:{message.message_id}".encode()).hexdigest()
    settings = services.settings
    pseudonym = pseudonymize(settings.secret_key, WEB, message.session)
    client = webchat_limits.client_key(settings.secret_key, client_address(request))
    try:
        async with services.db.begin() as conn:
            inbox_id = await queries.find_inbox_id(conn, WEB, external_id[:40])
            # A retry of a message already stored is answered again without counting; anything
            # new counts against the session's and the address's limits (in the database, so
            # they hold across processes) and, over them, stores nothing at all.
            if inbox_id is None and not await webchat_limits.admit(
                    conn, request.app[LIMITS], pseudonym,
                    webchat_limits.session_key(settings.secret_key, message.session), client,
                    utcnow()):
                refused = True
            else:
                refused = False
                if inbox_id is None:
                    inbox_id = await queries.insert_inbox(conn, WEB, external_id[:40],
                                                          message.payload)
                if inbox_id is None:   # stored meanwhile by a concurrent retry
                    inbox_id = await queries.find_inbox_id(conn, WEB, external_id[:40])
        if refused:
            return _json({"error": errors["rate"]}, status=429)
        if inbox_id is None:
            raise SQLAlchemyError("inbox row vanished")
        await services.handler.handle(inbox_id)
        async with services.db.begin() as conn:
            rows = await queries.outbox_for_inbox(conn, inbox_id)
            fresh = [r.id for r in rows if r.status != OutboxStatus.SENT]   # not a retry's
            await queries.mark_sent(conn, fresh)
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
    request.app[METRICS].observe_web_replies(WEB, len(fresh), time.monotonic() - started)
    return _json({"messages": out})


async def telegram_webhook(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    channel = services.channels.get(tg.NAME)
    if channel is None:
        raise web.HTTPNotFound()
    body = await request.read()
    if not channel.verify(dict(request.headers), body):
        log.warning("telegram webhook: request with a wrong secret refused")
        return _json({"ok": False, "error": "unauthorized"}, status=401)
    try:
        update_id = tg.update_id(body)
    except ParseError as exc:
        return _json({"ok": False, "error": str(exc)}, status=400)
    assert services.db is not None and services.worker is not None
    try:
        async with services.db.store() as conn:
            inbox_id = await queries.insert_inbox(conn, tg.NAME, update_id,
                                                  body.decode("utf-8"))
    except (SQLAlchemyError, UnicodeDecodeError):
        log.exception("telegram webhook: could not store update %s", update_id)
        return _json({"ok": False}, status=503)   # Telegram will retry
    if inbox_id is not None:   # a repeated delivery needs no work
        services.worker.wake([inbox_id])
    return _json({"ok": True})


async def healthz(request: web.Request) -> web.Response:
    """The detail for monitoring (bot/web/security.py: may_see_detail); anyone else (a load
    balancer, a curious visitor) learns only the status and the code: no counts, worker
    names or leader."""
    response = await _health(request)
    if may_see_detail(request):
        return response
    status = json.loads(response.text or "{}").get("status", "error")
    return _json({"status": status}, status=response.status)


async def _health(request: web.Request) -> web.Response:
    """200 when the database answers, every worker of this process is alive and nothing waits
    too long; otherwise 503 with `problems` saying what (bot/ops/metrics.py)."""
    services = request.app[SERVICES]
    assert services.db is not None
    observed = request.app[METRICS]
    observed.attach(services.senders)
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT_S), services.db.connect() as conn:
            queues = await queries.count_by_status(conn)
            lag = await read_lag(conn, _intake_channels(services), services.senders)
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        log.warning("healthz: database unreachable (%s)", exc.__class__.__name__)
        return _json({"status": "error", "database": "unreachable"}, status=503)
    telegram = "off" if services.telegram_bot is None else (
        "ready" if services.telegram_ready.is_set() else "connecting")
    problems = observed.workers.problems() + lag_problems(lag)
    cluster = services.cluster
    return _json({"status": "degraded" if problems else "ok", "database": "ok",
                  "telegram": telegram, "queues": queues, "workers": observed.workers.states(),
                  "lag_s": lag, "problems": problems, "role": services.settings.role,
                  "instance": cluster.instance_id if cluster else None,
                  "leader": bool(cluster and cluster.is_leader)},
                 status=503 if problems else 200)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format; the list of metrics is in the README."""
    services = request.app[SERVICES]
    assert services.db is not None
    if not may_see_detail(request):
        raise web.HTTPForbidden(text="403: metrics are for monitoring (BOT_METRICS_ALLOW)")
    body = await request.app[METRICS].render(services.db, _intake_channels(services),
                                             services.senders)
    return web.Response(body=body, headers={"Content-Type": METRICS_CONTENT_TYPE})


def _intake_channels(services: Services) -> list[str]:
    """Channels whose updates wait in the inbox for a worker (web chat: answered at once)."""
    return [name for name in services.channels if name != WEB]


async def _observe(app: web.Application) -> AsyncIterator[None]:
    """After every sender exists (the last cleanup_ctx): their outcomes feed the metrics."""
    app[METRICS].attach(app[SERVICES].senders)
    yield
    await app[METRICS].close()


LIMITS = web.AppKey("webchat_limits", webchat_limits.Limits)
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


WORKER_PATHS = ("/healthz", "/metrics")


@web.middleware
async def workers_only_middleware(request: web.Request, handler):  # type: ignore[no-untyped-def]
    """`run --workers-only`: only health and metrics answer; the rest is another process's."""
    if request.path not in WORKER_PATHS:
        raise web.HTTPNotFound(text="404: this Loa process runs workers only")
    return await handler(request)


def setup_routes(app: web.Application) -> None:
    app[METRICS] = Metrics()
    setup_security(app)             # headers on every answer (bot/web/security.py)
    app.middlewares.append(timing_middleware)   # outermost: times every answer, errors too
    app.middlewares.append(errors_middleware)
    if app[SERVICES].settings.role == "workers":   # handling and sending only
        app.middlewares.append(workers_only_middleware)
    app[LIMITS] = webchat_limits.Limits.from_settings(app[SERVICES].settings)
    app.router.add_get("/", index)
    app.router.add_get("/embed.js", embed_js)
    app.router.add_static("/static/", STATIC)
    app.router.add_post("/api/chat", chat)
    webhook_url = app[SERVICES].settings.telegram_webhook_url
    app.router.add_post(urlparse(webhook_url).path or WEBHOOK_PATH if webhook_url
                        else WEBHOOK_PATH, telegram_webhook)
    setup_zalo_routes(app, SERVICES)
    setup_admin(app, app[SERVICES].translator)
    from bot.features.questions.web import setup_review
    setup_review(app)                 # /admin/questions: unanswered questions, learned samples
    setup_reports(app)
    from bot.features.broadcasts import web as broadcasts
    broadcasts.setup(app)
    from bot.features.translations.web import setup_translations
    setup_translations(app)           # /admin/translations; installs approved translations
    from bot.features.content.web import setup_content_status
    setup_content_status(app)         # /admin/content: review dates of topics and facts
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.cleanup_ctx.append(_observe)
