"""Zalo at run time: wiring of both Zalo channels, the Bot Platform polling loop and the
webhooks. The OA's token store and free-reply windows are in bot/channels/zalo/oa_state.py."""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.channels.base import Channel, ParseError
from bot.channels.zalo.bot import NAME as ZALO_BOT
from bot.channels.zalo.bot import NO_UPDATE, ZaloBotApi, ZaloBotChannel, ZaloBotError, update_id
from bot.channels.zalo.common import (
    JsonHttp,
    Pacer,
    ReplyRenderer,
    TransportError,
    build_shortcuts,
    check_unicode,
)
from bot.channels.zalo.oa import NAME as ZALO_OA
from bot.channels.zalo.oa import ZaloOAChannel, read_event
from bot.channels.zalo.oa_state import OATokenStore, ReplyWindows
from bot.core.conversation import Conversation
from bot.core.i18n import GettextTranslator
from bot.delivery.outbox import ReplySender, parse_quiet_hours
from bot.ops.metrics import watch_workers
from bot.settings import Settings
from bot.store import queries
from bot.store.db import Database

if TYPE_CHECKING:
    from bot.app import Services

log = logging.getLogger(__name__)

BOT_WEBHOOK_PATH = "/zalo/bot/webhook"
OA_WEBHOOK_PATH = "/zalo/oa/webhook"


# -- wiring --------------------------------------------------------------------------------

@dataclass
class ZaloRuntime:
    """What the Zalo channels share at run time."""

    settings: Settings
    http: JsonHttp
    poll_http: JsonHttp
    bot_api: ZaloBotApi | None = None
    tokens: OATokenStore | None = None
    windows: ReplyWindows | None = None
    bot_ready: asyncio.Event = field(default_factory=asyncio.Event)


ZALO = web.AppKey("zalo", ZaloRuntime)


def media_url(settings: Settings) -> str:
    """Where Zalo users can fetch voice clips: an explicit URL, else the public https URL."""
    if settings.zalo_media_url:
        return settings.zalo_media_url
    if settings.public_url.startswith("https://"):
        return settings.public_url.rstrip("/") + "/media"
    return ""


def build_zalo(settings: Settings, conversation: Conversation, translator: GettextTranslator,
               channels: dict[str, Channel]) -> ZaloRuntime | None:
    """Adds the configured Zalo channels to `channels`; None when Zalo is not configured."""
    if not settings.zalo_bot_token and not settings.zalo_oa_app_id:
        return None
    http = JsonHttp(pool=settings.send_concurrency + 4)
    runtime = ZaloRuntime(settings, http, JsonHttp(timeout=60.0, pool=2))
    renderer = ReplyRenderer(build_shortcuts(conversation),
                             lambda msgid: translator.gettext("vi", msgid), media_url(settings))
    if settings.zalo_bot_token:
        runtime.bot_api = ZaloBotApi(settings.zalo_bot_token, settings.zalo_api_url, http)
        channels[ZALO_BOT] = ZaloBotChannel(runtime.bot_api, settings.zalo_webhook_secret,
                                            renderer, Pacer(settings.zalo_rate))
    if settings.zalo_oa_app_id:
        runtime.windows = ReplyWindows(settings.secret_key)
        runtime.tokens = OATokenStore(settings.zalo_oa_app_id, settings.zalo_app_secret_key,
                                      settings.zalo_oauth_url, http)
        channels[ZALO_OA] = ZaloOAChannel(
            settings.zalo_oa_app_id, settings.zalo_oa_secret_key, settings.zalo_oa_api_url,
            http, runtime.tokens, runtime.windows, renderer, Pacer(settings.zalo_rate),
            allow_paid=settings.zalo_oa_allow_paid, max_age_s=settings.zalo_oa_max_age)
    return runtime


def zalo_context(key: web.AppKey[Services]
                 ) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup_ctx (after the database and inbox worker): senders, intake, token seeding."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        runtime = app.get(ZALO)
        if runtime is None:
            yield
            return
        services = app[key]
        assert services.db is not None and services.worker is not None
        settings = runtime.settings
        tasks: list[asyncio.Task[None]] = []
        if runtime.tokens is not None and runtime.windows is not None:
            runtime.tokens.db = runtime.windows.db = services.db
            try:
                await runtime.tokens.seed(settings.zalo_oa_access_token,
                                          settings.zalo_oa_refresh_token)
            except SQLAlchemyError as exc:   # not log.exception: SQL errors carry the tokens
                log.error("zalo_oa: could not store the configured token pair (%s)",
                          exc.__class__.__name__)
        for name in (ZALO_BOT, ZALO_OA):
            if name in services.channels and services.settings.role != "web":
                runner = services.broadcast_runner
                sender = ReplySender(services.db, services.channels[name],
                                     settings.send_concurrency, rate=settings.zalo_rate,
                                     quiet=parse_quiet_hours(settings.quiet_hours),
                                     on_sent=lambda rows, r=runner: r.wake() if r else None,
                                     cluster=services.cluster,
                                     in_flight=services.handler.in_flight
                                     if services.handler is not None else None)
                services.senders[name] = sender
                if services.handler is not None:
                    services.handler.direct[name] = sender.take
                tasks.append(asyncio.create_task(sender.run(), name=f"{name}-sender"))
        if runtime.bot_api is not None and services.settings.role != "web":
            tasks.append(asyncio.create_task(_bot_intake(runtime, services),
                                             name="zalo-bot-intake"))
        watch_workers(app, tasks)   # /healthz (bot/ops/metrics.py)
        yield
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await runtime.http.close()
        await runtime.poll_http.close()

    return context


async def _bot_intake(runtime: ZaloRuntime, services: Services) -> None:
    """Check the token (retrying while Zalo is unreachable), then poll or set the webhook."""
    api, settings = runtime.bot_api, runtime.settings
    assert api is not None and services.db is not None and services.worker is not None
    delay = 1.0
    while True:
        try:
            me = await api.call("getMe")
            break
        except ZaloBotError as exc:
            if exc.code == 401:
                log.error("Zalo rejected BOT_ZALO_BOT_TOKEN; the Zalo bot is off")
                return
            log.warning("zalo getMe failed (error %s); retrying in %.0f s", exc.code, delay)
        except TransportError as exc:
            log.warning("Zalo not reachable (%s); retrying in %.0f s", exc, delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 60.0)
    log.info("Zalo bot %s connected", me.get("id") if isinstance(me, dict) else "?")
    if settings.zalo_webhook_url:
        while True:
            try:
                await api.call("setWebhook", {"url": settings.zalo_webhook_url,
                                              "secret_token": settings.zalo_webhook_secret})
                break
            except (ZaloBotError, TransportError) as exc:
                log.warning("zalo setWebhook failed (%s); retrying", exc.__class__.__name__)
                await asyncio.sleep(5)
        log.info("Zalo bot webhook registered")
        runtime.bot_ready.set()
        return
    poller = ZaloBotPoller(ZaloBotApi(settings.zalo_bot_token, settings.zalo_api_url,
                                      runtime.poll_http), services.db, services.worker.wake)
    if services.cluster is None:
        await poller.run(on_ready=runtime.bot_ready.set)
        return
    # One poller per bot: the leading process polls (bot/delivery/cluster.py).
    await services.cluster.lead("zalo-bot-poller",
                                lambda: poller.run(on_ready=runtime.bot_ready.set))


class ZaloBotPoller:
    """Long-polls getUpdates. Zalo gives no offset to confirm with: an update is Zalo's to
    forget once returned, so it is stored before the next call (retrying the database until
    it accepts); the webhook mode is the one where Zalo redelivers what Loa did not take."""

    def __init__(self, api: ZaloBotApi, db: Database, wake: Callable[[list[int]], None],
                 timeout: int = 30) -> None:
        self.api = api
        self.db = db
        self.wake = wake
        self.timeout = timeout

    async def run(self, on_ready: Callable[[], None] = lambda: None) -> None:
        while True:   # getUpdates and a webhook exclude each other
            try:
                await self.api.call("deleteWebhook")
                break
            except ZaloBotError as exc:
                if exc.code == 401:
                    log.error("Zalo rejected BOT_ZALO_BOT_TOKEN; polling stopped")
                    return
                log.warning("zalo deleteWebhook failed (error %s); retrying", exc.code)
            except TransportError:
                log.warning("zalo deleteWebhook failed (network); retrying")
            await asyncio.sleep(3)
        on_ready()
        while True:
            started = time.monotonic()
            try:
                result = await self.api.call("getUpdates", {"timeout": str(self.timeout)},
                                             timeout=self.timeout + 15)
            except ZaloBotError as exc:
                if exc.code == 401:
                    log.error("Zalo rejected BOT_ZALO_BOT_TOKEN; polling stopped")
                    return
                if exc.code != NO_UPDATE:
                    log.warning("zalo getUpdates failed (error %s); retrying in 3 s", exc.code)
                    await asyncio.sleep(3)
                elif time.monotonic() - started < 1.0:
                    await asyncio.sleep(1.0)   # a server that does not hold the poll
                continue
            except TransportError as exc:
                log.warning("zalo getUpdates failed (%s); retrying in 3 s", exc)
                await asyncio.sleep(3)
                continue
            for update in result if isinstance(result, list) else [result]:
                if isinstance(update, dict):
                    await self.store(json.dumps(update, ensure_ascii=False))

    async def store(self, payload: str) -> None:
        try:
            external = update_id(payload.encode())
        except ParseError:
            return
        while True:
            try:
                async with self.db.begin() as conn:
                    inbox_id = await queries.insert_inbox(conn, ZALO_BOT, external, payload)
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:   # class only: SQL errors carry the citizen's words
                log.error("could not store a zalo update (%s); retrying",
                          exc.__class__.__name__)
                await asyncio.sleep(1)
        if inbox_id is not None:
            self.wake([inbox_id])


# -- webhooks ------------------------------------------------------------------------------

def _answer(data: dict[str, object], status: int = 200) -> web.Response:
    return web.json_response(data, status=status)


def setup_zalo_routes(app: web.Application, key: web.AppKey[Services]) -> None:
    """POST /zalo/bot/webhook (or the path of BOT_ZALO_WEBHOOK_URL) and /zalo/oa/webhook.
    Forged requests get 401, like the Telegram webhook; unstorable ones 503 so Zalo retries."""
    settings = app[key].settings

    async def bot_webhook(request: web.Request) -> web.Response:
        services = request.app[key]
        channel = services.channels.get(ZALO_BOT)
        if channel is None:
            raise web.HTTPNotFound()
        body = await request.read()
        if not channel.verify(dict(request.headers), body):
            log.warning("zalo bot webhook: request with a wrong secret refused")
            return _answer({"ok": False, "error": "unauthorized"}, 401)
        try:
            check_unicode(body)
            external = update_id(body)
        except ParseError as exc:
            return _answer({"ok": False, "error": str(exc)}, 400)
        return await _store(services, ZALO_BOT, external, body, None)

    async def oa_webhook(request: web.Request) -> web.Response:
        services = request.app[key]
        channel = services.channels.get(ZALO_OA)
        runtime = request.app.get(ZALO)
        if channel is None or runtime is None or runtime.windows is None:
            raise web.HTTPNotFound()
        body = await request.read()
        if not channel.verify(dict(request.headers), body):
            log.warning("zalo OA webhook: bad, missing or stale signature refused")
            return _answer({"ok": False, "error": "unauthorized"}, 401)
        try:
            check_unicode(body)
            event = read_event(body)
        except ParseError as exc:
            return _answer({"ok": False, "error": str(exc)}, 400)
        windows = runtime.windows

        async def opens_window(conn: AsyncConnection) -> None:
            if event.opens_window and event.user_id is not None:
                await windows.open(conn, event.user_id, event.at)

        return await _store(services, ZALO_OA, event.external_id, body, opens_window)

    path = urlparse(settings.zalo_webhook_url).path if settings.zalo_webhook_url else ""
    app.router.add_post(path or BOT_WEBHOOK_PATH, bot_webhook)
    app.router.add_post(OA_WEBHOOK_PATH, oa_webhook)


async def _store(services: Services, channel: str, external: str, body: bytes,
                 also: Callable[[AsyncConnection], Any] | None) -> web.Response:
    """Store the event (and what goes with it) before answering 200; a repeat is a no-op."""
    assert services.db is not None and services.worker is not None
    try:
        async with services.db.store() as conn:
            inbox_id = await queries.insert_inbox(conn, channel, external, body.decode("utf-8"))
            if inbox_id is not None and also is not None:
                await also(conn)
    except (SQLAlchemyError, UnicodeDecodeError) as exc:   # SQL errors carry the words
        log.error("%s webhook: could not store an event (%s)", channel, exc.__class__.__name__)
        return _answer({"ok": False}, 503)
    if inbox_id is not None:
        services.worker.wake([inbox_id])
    return _answer({"ok": True})
