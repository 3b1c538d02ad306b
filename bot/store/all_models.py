"""Imports every module that defines tables, so Alembic and tests see the whole schema.

Each feature keeps its tables in its own module; add one import line here per module.
"""
import bot.store.models  # noqa: F401
import bot.store.models_broadcast  # noqa: F401
import bot.store.models_jobs  # noqa: F401
import bot.store.models_officers  # noqa: F401
import bot.store.models_outreach  # noqa: F401
import bot.store.models_questions  # noqa: F401
import bot.store.models_translations  # noqa: F401
import bot.store.models_webchat  # noqa: F401
import bot.store.models_zalo  # noqa: F401
