"""A bare python-telegram-bot echo bot: the baseline bench/replies.py compares Loa with."""
from __future__ import annotations

import os
import sys

from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if update.message is not None and update.message.text is not None:
        await update.message.reply_text(update.message.text)


def main() -> int:
    token, base_url = os.environ["BOT_TELEGRAM_TOKEN"], os.environ["BOT_TELEGRAM_API_URL"]
    app = Application.builder().token(token).base_url(base_url).build()
    app.add_handler(MessageHandler(filters.TEXT, echo))
    app.run_polling(poll_interval=0.0, timeout=20, drop_pending_updates=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
