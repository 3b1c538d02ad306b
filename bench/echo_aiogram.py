"""A bare aiogram 3 echo bot: the second baseline bench/replies.py compares Loa with.

Untuned on purpose: aiogram's defaults (each update handled in its own task, one aiohttp
session). BOT_TELEGRAM_API_URL is PTB's base_url, ``http://host:port/bot``, to which PTB
appends the token; aiogram wants the server root and builds ``{root}/bot{token}/{method}``
itself, so both bots hit the same URLs. SIGTERM / SIGINT stop polling and exit 0.
"""
from __future__ import annotations

import asyncio
import os
import sys

from aiogram import Bot, Dispatcher, F
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message

dp = Dispatcher()


@dp.message(F.text)
async def echo(message: Message) -> None:
    await message.answer(message.text)


async def main() -> int:
    token, base_url = os.environ["BOT_TELEGRAM_TOKEN"], os.environ["BOT_TELEGRAM_API_URL"]
    root = base_url.rstrip("/").removesuffix("/bot")
    session = AiohttpSession(api=TelegramAPIServer.from_base(root))
    bot = Bot(token, session=session)
    await dp.start_polling(bot, polling_timeout=20, handle_signals=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
