"""Officers as Loa registers them: login, password, name and removal pages, and the officer
chat commands (/dangky registers, /ten sets one's name, /quantri sends an admin login link)."""
from __future__ import annotations

from aiohttp import web

from bot.delivery.runtime import Runtime
from bot.features.base import Feature
from bot.features.officers.chat import OfficerCommands
from bot.features.officers.name_pages import setup_names
from bot.features.officers.web import setup


def _pages(app: web.Application) -> None:
    setup(app)
    setup_names(app)


def feature(runtime: Runtime) -> Feature:
    return Feature("officers", web=_pages,
                   extension=OfficerCommands(runtime.translator, runtime.settings.public_url))
