"""Imports every module that defines tables, so Alembic and tests see the whole schema.

Each feature keeps its tables in its own module; add one import line here per module.
"""
import bot.channels.web.models  # noqa: F401
import bot.channels.zalo.models  # noqa: F401
import bot.delivery.models  # noqa: F401
import bot.features.broadcasts.models  # noqa: F401
import bot.features.officers.models  # noqa: F401
import bot.features.outreach.models  # noqa: F401
import bot.features.questions.models  # noqa: F401
import bot.features.translations.models  # noqa: F401
import bot.store.models  # noqa: F401
