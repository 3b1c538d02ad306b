"""Zalo at run time: wiring of both Zalo channels, the Bot Platform polling loop and the
webhooks. The OA's token store and free-reply windows are in bot/channels/zalo/oa_state.py."""
from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlparse

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.channels.webhook import Also, Inbox, receive
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
from bot.delivery.channel import Channel, ParseError
from bot.delivery.runtime import Runtime
from bot.settings import Settings
from bot.store import queries
from bot.store.db import Database

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


def channel_names(settings: Settings) -> tuple[str, ...]:
    """The Zalo channels these settings turn on (as build_zalo adds them)."""
    return tuple(name for name, on in ((ZALO_BOT, settings.zalo_bot_token),
                                       (ZALO_OA, settings.zalo_oa_app_id)) if on)


def build_zalo(settings: Settings, conversation: Conversation, translator: GettextTranslator,
               channels: dict[str, Channel], db: Database) -> ZaloRuntime | None:
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
        runtime.windows = ReplyWindows(settings.secret_key, db)
        runtime.tokens = OATokenStore(settings.zalo_oa_app_id, settings.zalo_app_secret_key,
                                      settings.zalo_oauth_url, http, db)
        channels[ZALO_OA] = ZaloOAChannel(
            settings.zalo_oa_app_id, settings.zalo_oa_secret_key, settings.zalo_oa_api_url,
            http, runtime.tokens, runtime.windows, renderer, Pacer(settings.zalo_rate),
            allow_paid=settings.zalo_oa_allow_paid, max_age_s=settings.zalo_oa_max_age)
    return runtime


async def seed_tokens(zalo: ZaloRuntime) -> None:
    """At start-up: the OA token pair from the settings into the store (if newer)."""
    if zalo.tokens is None:
        return
    try:
        await zalo.tokens.seed(zalo.settings.zalo_oa_access_token,
                               zalo.settings.zalo_oa_refresh_token)
    except SQLAlchemyError as exc:   # not log.exception: SQL errors carry the tokens
        log.error("zalo_oa: could not store the configured token pair (%s)",
                  exc.__class__.__name__)


async def close(zalo: ZaloRuntime) -> None:
    await zalo.http.close()
    await zalo.poll_http.close()


async def bot_intake(runtime: ZaloRuntime, loa: Runtime, inbox: Inbox) -> None:
    """Check the token (retrying while Zalo is unreachable), then poll or set the webhook."""
    api, settings = runtime.bot_api, runtime.settings
    if api is None:
        return
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
                                      runtime.poll_http), loa.db, inbox.wake)
    # One poller per bot: the leading process polls (bot/delivery/cluster.py).
    await loa.cluster.lead("zalo-bot-poller",
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

@dataclass(frozen=True)
class ZaloWebhooks:
    runtime: Runtime
    zalo: ZaloRuntime
    inbox: Inbox


ZALO_WEBHOOKS = web.AppKey("zalo_webhooks", ZaloWebhooks)


async def bot_webhook(request: web.Request) -> web.Response:
    deps = request.app.get(ZALO_WEBHOOKS)
    channel = deps.runtime.channels.get(ZALO_BOT) if deps else None
    if deps is None or channel is None:
        raise web.HTTPNotFound()

    def identify(body: bytes) -> tuple[str, None]:
        check_unicode(body)
        return update_id(body), None

    return await receive(request, deps.runtime.db, deps.inbox, ZALO_BOT, channel.verify,
                         identify)


async def oa_webhook(request: web.Request) -> web.Response:
    deps = request.app.get(ZALO_WEBHOOKS)
    channel = deps.runtime.channels.get(ZALO_OA) if deps else None
    if deps is None or channel is None or deps.zalo.windows is None:
        raise web.HTTPNotFound()
    windows = deps.zalo.windows

    def identify(body: bytes) -> tuple[str, Also]:
        check_unicode(body)
        event = read_event(body)

        async def opens_window(conn: AsyncConnection) -> None:
            if event.opens_window and event.user_id is not None:
                await windows.open(conn, event.user_id, event.at)

        return event.external_id, opens_window

    return await receive(request, deps.runtime.db, deps.inbox, ZALO_OA, channel.verify,
                         identify)


def setup_routes(app: web.Application, runtime: Runtime, zalo: ZaloRuntime | None,
                 inbox: Inbox) -> None:
    """POST /zalo/bot/webhook (or the path of BOT_ZALO_WEBHOOK_URL) and /zalo/oa/webhook
    (bot/channels/webhook.py: 401 if forged, 503 if unstorable so Zalo retries); 404 when
    Zalo is off."""
    if zalo is not None:
        app[ZALO_WEBHOOKS] = ZaloWebhooks(runtime, zalo, inbox)
    url = runtime.settings.zalo_webhook_url
    app.router.add_post((urlparse(url).path if url else "") or BOT_WEBHOOK_PATH, bot_webhook)
    app.router.add_post(OA_WEBHOOK_PATH, oa_webhook)
