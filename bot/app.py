"""The composition root: build_app(settings) wires store, core, channels, workers and web."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiohttp import web
from telegram import Bot
from telegram.error import InvalidToken, TelegramError

from bot.channels.base import Channel
from bot.channels.telegram.adapter import ALLOWED_UPDATES, TelegramChannel, make_bot
from bot.channels.telegram.adapter import NAME as TELEGRAM
from bot.channels.web.adapter import NAME as WEB
from bot.channels.web.adapter import WebChannel
from bot.channels.zalo.service import ZALO, build_zalo, zalo_context
from bot.core.content import ContentSet, load_content
from bot.core.conversation import Conversation
from bot.core.i18n import GettextTranslator
from bot.delivery.cluster import Cluster
from bot.delivery.handler import Handler
from bot.delivery.inbox import InboxWorker, TelegramPoller
from bot.delivery.jobs import start_jobs
from bot.delivery.outbox import ReplySender, parse_quiet_hours, recover_loop
from bot.features.broadcasts.runner import BroadcastChat, BroadcastRunner
from bot.features.broadcasts.service import Broadcasts
from bot.features.officers.chat import OfficerCommands
from bot.features.officers.service import communes, sync_units
from bot.features.outreach.chat import outreach_extension
from bot.features.privacy.forget import ForgetCommand
from bot.ops.metrics import watch_workers
from bot.settings import Settings
from bot.store.classifier_cache import cached_classifier
from bot.store.db import Database, make_engine

log = logging.getLogger(__name__)


@dataclass
class Services:
    """What request handlers and workers share; created once per application."""

    settings: Settings
    translator: GettextTranslator
    conversation: Conversation
    channels: dict[str, Channel]
    db: Database | None = None
    handler: Handler | None = None
    worker: InboxWorker | None = None
    senders: dict[str, ReplySender] = field(default_factory=dict)
    telegram_bot: Bot | None = None
    telegram_ready: asyncio.Event = field(default_factory=asyncio.Event)
    broadcasts: Broadcasts | None = None
    broadcast_runner: BroadcastRunner | None = None
    cluster: Cluster | None = None


class RemoteInbox:
    """A web-only process stores updates; the worker processes are told to handle them."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def wake(self, ids: list[int] | None = None) -> None:
        self.cluster.notify("loa_inbox")


SERVICES = web.AppKey("services", Services)


def load_conversation(settings: Settings) -> tuple[GettextTranslator, Conversation]:
    """Content and catalogs, shared by the server, the shell and the ask command."""
    translator = GettextTranslator(settings.locales_dir, settings.languages)
    contents: dict[str, ContentSet] = {"vi": load_content(settings.content_dir, "vi")}
    places = tuple((c["code"], c["name"]) for c in communes())
    classifier = cached_classifier(contents["vi"], settings.cache_dir)
    return translator, Conversation(contents, translator, settings.languages, places,
                                    classifier)


def build_app(settings: Settings) -> web.Application:
    translator, conversation = load_conversation(settings)
    channels: dict[str, Channel] = {WEB: WebChannel()}
    bot = None
    if settings.telegram_token:
        bot = make_bot(settings.telegram_token, settings.telegram_api_url,
                       settings.send_concurrency)
        channels[TELEGRAM] = TelegramChannel(bot, settings.telegram_webhook_secret,
                                             settings.content_dir / "media")
    zalo = build_zalo(settings, conversation, translator, channels)
    services = Services(settings, translator, conversation, channels, telegram_bot=bot)
    app = web.Application(client_max_size=256 * 1024)
    app[SERVICES] = services
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_workers)
    if zalo is not None:
        app[ZALO] = zalo
        app.cleanup_ctx.append(zalo_context(SERVICES))
    from bot.web.routes import setup_routes
    setup_routes(app)
    return app


async def _database(app: web.Application) -> AsyncIterator[None]:
    services = app[SERVICES]
    services.db = Database(make_engine(services.settings.database_url))
    services.cluster = cluster = Cluster(services.settings.database_url,
                                         can_lead=services.settings.role != "web")
    await cluster.start()
    senders = services.senders

    def on_outbox(channel: str) -> None:
        if channel in senders:
            senders[channel].wake()
        else:   # its sender runs in another process
            cluster.notify("loa_outbox", channel)

    async with services.db.begin() as conn:
        await sync_units(conn, services.settings.unit)
    officer_commands = OfficerCommands(services.translator, services.settings.public_url)
    services.broadcasts = Broadcasts(services.translator, services.conversation.languages,
                                     tuple(c for c in services.channels if c != "web"))
    services.broadcast_runner = BroadcastRunner(
        services.db, services.broadcasts, services.translator, services.channels,
        lambda channel: senders[channel].wake("bulk") if channel in senders else None)
    broadcast_chat = BroadcastChat(services.broadcasts, services.translator,
                                   services.broadcast_runner)
    services.handler = Handler(services.db, services.conversation, services.channels,
                               services.settings.secret_key, services.settings.unit, on_outbox,
                               extensions=[officer_commands, broadcast_chat,
                                           outreach_extension(services),
                                           ForgetCommand(services.translator)])
    services.handler.claimed_by = cluster.instance_id
    services.worker = InboxWorker(services.db, services.handler)
    if services.settings.role == "web":
        services.worker = RemoteInbox(cluster)   # type: ignore[assignment]
    else:   # stored by a web-only process: handle it here
        worker = services.worker
        cluster.on("loa_inbox", lambda _payload: worker.wake())
    yield
    await cluster.stop()
    await services.db.dispose()


async def _workers(app: web.Application) -> AsyncIterator[None]:
    services = app[SERVICES]
    if services.settings.role == "web":   # workers run in other processes
        yield
        return
    assert services.db is not None and services.worker is not None
    assert services.handler is not None
    cluster, runner = services.cluster, services.broadcast_runner
    assert cluster is not None and runner is not None
    tasks = [asyncio.create_task(services.worker.run(), name="inbox-worker")]
    tasks.append(asyncio.create_task(recover_loop(
        services.db, cluster, lambda: [s.wake() for s in services.senders.values()],
        services.handler.in_flight), name="recover-in-flight"))
    # Once per bot, in whichever process leads (bot/delivery/cluster.py).
    tasks.append(asyncio.create_task(cluster.lead("broadcasts", runner.run),
                                     name="broadcasts"))
    # Report reminders and retention: every process schedules them, job_lease runs each
    # once per period (bot/delivery/jobs.py).
    tasks.append(start_jobs(app, services))
    if services.telegram_bot is not None:
        sender = ReplySender(services.db, services.channels[TELEGRAM],
                             services.settings.send_concurrency,
                             rate=services.settings.telegram_rate,
                             quiet=parse_quiet_hours(services.settings.quiet_hours),
                             on_sent=lambda rows: runner.wake(), cluster=cluster,
                             in_flight=services.handler.in_flight)
        services.senders[TELEGRAM] = sender
        services.handler.direct[TELEGRAM] = sender.take
        tasks.append(asyncio.create_task(sender.run(), name="telegram-sender"))
        tasks.append(asyncio.create_task(_telegram(services), name="telegram-intake"))
    watch_workers(app, tasks)   # /healthz: a worker that died makes the status degraded
    yield
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    if services.telegram_bot is not None:
        with contextlib.suppress(Exception):
            await services.telegram_bot.shutdown()


async def _telegram(services: Services) -> None:
    """Connect to Telegram (retrying while unreachable), then poll or register the webhook."""
    bot, settings = services.telegram_bot, services.settings
    assert bot is not None and services.db is not None and services.worker is not None
    delay = 1.0
    while True:
        try:
            await bot.initialize()
            break
        except InvalidToken:
            log.error("Telegram rejected BOT_TELEGRAM_TOKEN; Telegram is off, web chat runs")
            return
        except TelegramError as exc:
            log.warning("Telegram not reachable (%s); retrying in %.0f s",
                        exc.__class__.__name__, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 60.0)
    log.info("Telegram bot @%s connected", bot.username)
    if settings.telegram_webhook_url:
        while True:
            try:
                await bot.set_webhook(settings.telegram_webhook_url,
                                      secret_token=settings.telegram_webhook_secret,
                                      allowed_updates=ALLOWED_UPDATES)
                break
            except TelegramError as exc:
                log.warning("setWebhook failed (%s); retrying", exc.__class__.__name__)
                await asyncio.sleep(5)
        log.info("Telegram webhook registered")
        services.telegram_ready.set()
        return
    services.telegram_ready.set()
    assert services.cluster is not None
    # getUpdates allows one poller per bot: the leading process polls.
    await services.cluster.lead("telegram-poller",
                                lambda: TelegramPoller(bot, services.db, services.worker).run())
