"""Officers as Loa registers them: login, password and removal pages, and the officer chat
commands (/dangky registers, /quantri sends an admin login link)."""
from __future__ import annotations

from bot.delivery.runtime import Runtime
from bot.features.base import Feature
from bot.features.officers.chat import OfficerCommands
from bot.features.officers.web import setup


def feature(runtime: Runtime) -> Feature:
    return Feature("officers", web=setup,
                   extension=OfficerCommands(runtime.translator, runtime.settings.public_url))
