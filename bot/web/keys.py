"""The typed application keys of the web layer that every page may read."""
from __future__ import annotations

from aiohttp import web

from bot.delivery.runtime import Runtime

RUNTIME = web.AppKey("loa_runtime", Runtime)   # set once by bot/app.py, complete
