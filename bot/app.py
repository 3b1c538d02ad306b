"""The composition root: build_app(settings) builds one Loa process, complete, from its parts.

Order: the shared runtime (settings, database, cluster, content, channels), then the senders,
the features (each a `Feature`, bot/features/__init__.py), the handler with the features'
chat commands, the inbox; then the web application: the admin shell, each channel's routes,
each feature's pages, health. Nothing is filled in later. The one cleanup context starts the
background work when the application starts (only in processes that run workers) and stops
it at the end.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from aiohttp import web
from telegram import Bot

from bot.channels.telegram import service as telegram
from bot.channels.telegram.adapter import NAME as TELEGRAM
from bot.channels.telegram.adapter import TelegramChannel, make_bot
from bot.channels.web import limits as webchat_limits
from bot.channels.web import models as web_models
from bot.channels.web import routes as webchat
from bot.channels.web.adapter import NAME as WEB
from bot.channels.web.adapter import WebChannel
from bot.channels.web.limits import Limits
from bot.channels.webhook import Inbox
from bot.channels.zalo import models as zalo_models
from bot.channels.zalo import oa_state
from bot.channels.zalo import service as zalo
from bot.core.content import ContentSet, load_content
from bot.core.conversation import Conversation
from bot.core.i18n import GettextTranslator
from bot.delivery import models as delivery_models
from bot.delivery.channel import Channel
from bot.delivery.cluster import Cluster
from bot.delivery.commands import Router
from bot.delivery.handler import Handler
from bot.delivery.inbox import InboxWorker
from bot.delivery.jobs import TICK_S, JobScheduler
from bot.delivery.outbox import InFlight, ReplySender, parse_quiet_hours, recover_loop
from bot.delivery.runtime import Runtime
from bot.features.base import Feature
from bot.features.broadcasts import feature as broadcasts
from bot.features.broadcasts.runner import BroadcastChat
from bot.features.content.web import feature as content
from bot.features.officers import feature as officers
from bot.features.officers.chat import OfficerCommands
from bot.features.officers.service import communes, sync_units
from bot.features.outreach import feature as outreach
from bot.features.outreach import models as outreach_models
from bot.features.outreach import service as outreach_service
from bot.features.outreach.chat import OutreachChat
from bot.features.privacy import feature as privacy
from bot.features.privacy.forget import ForgetCommand
from bot.features.questions import feature as questions
from bot.features.questions import models as question_models
from bot.features.questions import service as questions_service
from bot.features.translations import feature as translations
from bot.ops.metrics import METRICS, Metrics, heartbeat, timing_middleware, watch_workers
from bot.settings import Settings
from bot.store.classifier_cache import cached_classifier
from bot.store.db import Database, make_engine
from bot.store.erasure import STORE_ERASURE, Erasure
from bot.store.retention import STORE_RULES, Part
from bot.web import health
from bot.web.admin import setup_shell
from bot.web.errors import setup_errors
from bot.web.keys import RUNTIME
from bot.web.security import setup_security

log = logging.getLogger(__name__)

class RemoteInbox:
    """A web-only process stores updates; the worker processes are told to handle them."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def wake(self, ids: list[int] | None = None) -> None:
        self.cluster.notify("loa_inbox")

    async def store_and_handle(self, channel: str,
                               items: list[tuple[str, str]]) -> list[int] | None:
        return None   # no handler here: stored alone, then handled by a worker process


@dataclass(frozen=True)
class Loa:
    """One Loa process as built: what its lifecycle starts, and what operators and tests may
    inspect (`app[LOA]`)."""

    runtime: Runtime
    features: tuple[Feature, ...]
    handler: Handler
    inbox: Inbox                             # where webhooks and pollers report stored events
    worker: InboxWorker | None               # this process's inbox worker; none if web-only
    senders: Mapping[str, ReplySender]       # this process's; none in a web-only process
    telegram_bot: Bot | None
    zalo: zalo.ZaloRuntime | None
    telegram_ready: asyncio.Event


LOA = web.AppKey("loa", Loa)


# The chat features' commands for citizens, listed by /help (the router checks the same
# declarations: bot/delivery/commands.py).
CITIZEN_COMMANDS = tuple(c for chat in (OfficerCommands, OutreachChat, BroadcastChat,
                                        ForgetCommand)
                         for c in chat.commands if not c.officers)


def load_conversation(settings: Settings) -> tuple[GettextTranslator, Conversation]:
    """Content and catalogs, shared by the server, the shell and the ask command."""
    translator = GettextTranslator(settings.locales_dir, settings.languages)
    contents: dict[str, ContentSet] = {"vi": load_content(settings.content_dir, "vi")}
    places = tuple((c["code"], c["name"]) for c in communes())
    classifier = cached_classifier(contents["vi"], settings.cache_dir)
    commands = tuple((c.name, c.help) for c in CITIZEN_COMMANDS)
    return translator, Conversation(contents, translator, settings.languages, places,
                                    classifier, commands)


def channel_names(settings: Settings) -> tuple[str, ...]:
    """The channels `build_channels` builds for these settings, without building them (the
    CLI announces on the same channels as a running Loa)."""
    names = [WEB]
    if settings.telegram_token:
        names.append(TELEGRAM)
    names += zalo.channel_names(settings)
    return tuple(names)


def build_channels(settings: Settings, conversation: Conversation,
                   translator: GettextTranslator, db: Database
                   ) -> tuple[dict[str, Channel], Bot | None, zalo.ZaloRuntime | None]:
    """Every configured channel: the web chat always, Telegram and Zalo by their settings.
    The CLI uses the same list, so an announcement reaches the same channels from both."""
    channels: dict[str, Channel] = {WEB: WebChannel()}
    bot = None
    if settings.telegram_token:
        bot = make_bot(settings.telegram_token, settings.telegram_api_url,
                       settings.send_concurrency)
        channels[TELEGRAM] = TelegramChannel(bot, settings.telegram_webhook_secret,
                                             settings.content_dir / "media",
                                             paid_broadcast=settings.telegram_paid_rate > 0)
    zalo_runtime = zalo.build_zalo(settings, conversation, translator, channels, db)
    return channels, bot, zalo_runtime


def retention_parts(settings: Settings) -> tuple[Part, ...]:
    """What the retention of free text blanks or deletes, as each owner declares it, in the
    order of the passes (the questions' own shorter limit before the web chat's sweeps)."""
    return (*STORE_RULES, *outreach_service.RETENTION, *oa_state.RETENTION,
            questions_service.retention(settings.question_retention_days),
            *webchat_limits.retention(settings.webchat_retention_days))


# What "xóa dữ liệu" erases or anonymises, as each owner of per-citizen rows declares it
# (tests/unit/test_erasure_declared.py fails on a per-citizen table declared by nobody).
ERASURES: tuple[Erasure, ...] = (*STORE_ERASURE, *delivery_models.ERASURE, *web_models.ERASURE,
                                 *zalo_models.ERASURE, *outreach_models.ERASURE,
                                 *question_models.ERASURE)


def build_features(runtime: Runtime, wake_outbox: Callable[[str, str], None]
                   ) -> tuple[Feature, ...]:
    """Loa's features, in the order of the admin menu and of the chat commands' turn."""
    return (officers.feature(runtime),
            questions.feature(runtime),
            outreach.feature(runtime, wake_outbox),
            broadcasts.feature(runtime, wake_outbox),
            translations.feature(runtime),
            content(),
            privacy.feature(runtime, retention_parts(runtime.settings), ERASURES))


def build_app(settings: Settings) -> web.Application:
    translator, conversation = load_conversation(settings)
    db = Database(make_engine(settings.database_url))
    cluster = Cluster(settings.database_url, can_lead=settings.role != "web")
    channels, bot, zalo_runtime = build_channels(settings, conversation, translator, db)
    runtime = Runtime(settings, db, cluster, translator, conversation, channels)
    workers = settings.role != "web"

    senders: dict[str, ReplySender] = {}

    def wake_outbox(channel: str, lane: str = "reply") -> None:
        if channel in senders:
            senders[channel].wake(lane)
        elif channel != WEB:   # its sender runs in another process
            cluster.notify("loa_outbox", channel)

    features = build_features(runtime, wake_outbox)
    in_flight = InFlight()
    if workers:
        quiet = parse_quiet_hours(settings.quiet_hours)
        for name, channel in channels.items():
            if name == WEB:
                continue
            paid = name == TELEGRAM and settings.telegram_paid_rate > 0
            rate = settings.telegram_paid_rate if paid else \
                settings.telegram_rate if name == TELEGRAM else settings.zalo_rate
            senders[name] = ReplySender(db, channel, settings.send_concurrency, rate=rate,
                                        quiet=quiet, on_sent=_told(features), cluster=cluster,
                                        in_flight=in_flight,
                                        bulk_concurrency=settings.send_concurrency if paid else 1)
    router = Router([f.extension for f in features if f.extension is not None], translator)
    handler = Handler(db, conversation, channels, settings.secret_key, settings.unit,
                      lambda channel: wake_outbox(channel), router,
                      turn_log=next((f.turn_log for f in features if f.turn_log), None),
                      run_observers=(webchat_limits.count_runs,),   # web runs per address
                      in_flight=in_flight,
                      direct={name: sender.take for name, sender in senders.items()},
                      claimed_by=cluster.instance_id)
    worker = InboxWorker(db, handler) if workers else None
    inbox: Inbox = worker if worker is not None else RemoteInbox(cluster)
    telegram_ready = asyncio.Event()
    loa = Loa(runtime, features, handler, inbox, worker, senders, bot, zalo_runtime,
              telegram_ready)

    app = web.Application(client_max_size=256 * 1024)
    app[RUNTIME] = runtime
    app[LOA] = loa
    app[METRICS] = Metrics()
    setup_security(app)             # headers on every answer (bot/web/security.py)
    app.middlewares.append(timing_middleware)   # outermost: times every answer, errors too
    setup_errors(app, webchat.errors(translator)["busy"])
    if settings.role == "workers":   # handling and sending only
        app.middlewares.append(health.workers_only_middleware)
    setup_shell(app, translator)
    webchat.setup(app, webchat.WebChat(runtime, handler.handle, Limits.from_settings(settings)))
    telegram.setup_routes(app, runtime, inbox)
    if zalo_runtime is not None:
        app[zalo.ZALO] = zalo_runtime
    zalo.setup_routes(app, runtime, zalo_runtime, inbox)
    for feature in features:
        if feature.web is not None:
            feature.web(app)
    health.setup(app, health.Health(
        runtime, senders, tuple(name for name in channels if name != WEB),
        lambda: "off" if bot is None else ("ready" if telegram_ready.is_set()
                                           else "connecting")))
    app.cleanup_ctx.append(_lifecycle)
    return app


def _told(features: Sequence[Feature]) -> Callable[[list[object]], None]:
    listeners = [f.on_sent for f in features if f.on_sent is not None]

    def on_sent(rows: list[object]) -> None:
        for listener in listeners:
            listener()
    return on_sent


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    """Start: the cluster, the unit list, each feature's start, then (in processes that run
    workers) the inbox worker, the senders, the intakes, the leader's duties and the jobs.
    Stop: all of it, in reverse."""
    loa = app[LOA]
    runtime = loa.runtime
    settings, db, cluster = runtime.settings, runtime.db, runtime.cluster
    await cluster.start()
    tasks: list[asyncio.Task[None]] = []
    try:
        async with db.begin() as conn:
            await sync_units(conn, settings.unit)
        if loa.zalo is not None:
            await zalo.seed_tokens(loa.zalo)
        for feature in loa.features:   # before any message is handled
            if feature.start is not None:
                await feature.start()
        reloading: set[asyncio.Task[None]] = set()
        for feature in loa.features:
            for topic, reload in feature.reloads.items():
                cluster.on(topic, _reloader(cluster, topic, reload, reloading))
        if loa.worker is not None:
            tasks = _start_workers(app, loa, loa.worker)
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if loa.telegram_bot is not None:
            with contextlib.suppress(Exception):
                await loa.telegram_bot.shutdown()
        if loa.zalo is not None:
            await zalo.close(loa.zalo)
        await cluster.stop()
        await db.dispose()


def _reloader(cluster: Cluster, topic: str, reload: Callable[[], Awaitable[None]],
              running: set[asyncio.Task[None]]) -> Callable[[str], None]:
    """Another process announced a change: reload it here (not the process's own notice)."""
    def listener(sender: str) -> None:
        if sender == str(cluster.instance_id):
            return

        async def run() -> None:
            try:
                await reload()
            except Exception as exc:
                log.warning("%s: reload failed (%s)", topic, exc.__class__.__name__)

        task = asyncio.create_task(run(), name=f"reload-{topic}")
        running.add(task)
        task.add_done_callback(running.discard)
    return listener


def _start_workers(app: web.Application, loa: Loa, inbox: InboxWorker
                   ) -> list[asyncio.Task[None]]:
    runtime, handler = loa.runtime, loa.handler
    db, cluster = runtime.db, runtime.cluster
    cluster.on("loa_inbox", lambda _payload: inbox.wake())   # stored by a web-only process
    tasks = [asyncio.create_task(inbox.run(), name="inbox-worker"),
             asyncio.create_task(recover_loop(
                 db, cluster, lambda: [s.wake() for s in loa.senders.values()],
                 handler.in_flight), name="recover-in-flight")]
    for name, sender in loa.senders.items():
        tasks.append(asyncio.create_task(sender.run(), name=f"{name}-sender"))
    for feature in loa.features:   # once per bot, in whichever process leads
        for duty, run in feature.duties.items():
            tasks.append(asyncio.create_task(cluster.lead(duty, run), name=duty))
    # Every process schedules the jobs; the leases run each once per period (jobs.py).
    scheduler = JobScheduler(db, [job for f in loa.features for job in f.jobs],
                             beat=heartbeat(app, "jobs", stale_after_s=TICK_S * 30))
    tasks.append(asyncio.create_task(scheduler.run(), name="jobs"))
    if db.dialect == "sqlite":   # the write-ahead log copied back off the writers' path
        tasks.append(asyncio.create_task(db.checkpoints(), name="sqlite-checkpoints"))
    if loa.telegram_bot is not None:
        tasks.append(asyncio.create_task(
            telegram.intake(loa.telegram_bot, runtime, inbox, loa.telegram_ready),
            name="telegram-intake"))
    if loa.zalo is not None and loa.zalo.bot_api is not None:
        tasks.append(asyncio.create_task(zalo.bot_intake(loa.zalo, runtime, inbox),
                                         name="zalo-bot-intake"))
    watch_workers(app, tasks)   # /healthz: a worker that died makes the status degraded
    return tasks
