"""Telegram at run time: the webhook route, and connecting the bot (retrying while Telegram
is unreachable) then polling getUpdates in the leading process or registering the webhook."""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from urllib.parse import urlparse

from aiohttp import web
from telegram import Bot
from telegram.error import InvalidToken, TelegramError

from bot.channels.telegram import adapter as tg
from bot.channels.telegram.adapter import ALLOWED_UPDATES
from bot.channels.telegram.poller import TelegramPoller
from bot.channels.webhook import Inbox, receive
from bot.delivery.runtime import Runtime

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/telegram/webhook"


@dataclass(frozen=True)
class TelegramWebhook:
    runtime: Runtime
    channel: tg.TelegramChannel
    inbox: Inbox


TELEGRAM_WEBHOOK = web.AppKey("telegram_webhook", TelegramWebhook)


async def webhook(request: web.Request) -> web.Response:
    deps = request.app.get(TELEGRAM_WEBHOOK)
    if deps is None:   # Telegram is off
        raise web.HTTPNotFound()
    return await receive(request, deps.runtime.db, deps.inbox, tg.NAME, deps.channel.verify,
                         lambda body: (tg.update_id(body), None))


def setup_routes(app: web.Application, runtime: Runtime, inbox: Inbox) -> None:
    """POST /telegram/webhook (or the path of BOT_TELEGRAM_WEBHOOK_URL); 404 when off."""
    channel = runtime.channels.get(tg.NAME)
    if isinstance(channel, tg.TelegramChannel):
        app[TELEGRAM_WEBHOOK] = TelegramWebhook(runtime, channel, inbox)
    url = runtime.settings.telegram_webhook_url
    app.router.add_post(urlparse(url).path or WEBHOOK_PATH if url else WEBHOOK_PATH, webhook)


async def intake(bot: Bot, runtime: Runtime, inbox: Inbox, ready: asyncio.Event) -> None:
    """Connect to Telegram (retrying while unreachable), then poll or register the webhook."""
    settings = runtime.settings
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
        ready.set()
        return
    ready.set()
    # getUpdates allows one poller per bot: the leading process polls.
    await runtime.cluster.lead("telegram-poller",
                               lambda: TelegramPoller(bot, runtime.db, inbox).run())
