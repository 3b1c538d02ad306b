"""Translations as Loa registers them: the approved texts in the files count from the first
request; at start (once the database is open, before any message is handled) and whenever
another process records a decision, the reviewers' decisions and clips are applied."""
from __future__ import annotations

from bot.delivery.runtime import Runtime
from bot.features.base import Feature
from bot.features.translations.service import install_from_files
from bot.features.translations.store import refresh
from bot.features.translations.web import CHANGED, setup


def feature(runtime: Runtime) -> Feature:
    service = install_from_files(runtime.settings, runtime.conversation, runtime.translator)

    async def apply_decisions() -> None:
        async with runtime.db.connect() as conn:
            await refresh(conn, service)
        service.install(runtime.conversation, runtime.translator)

    return Feature("translations", web=lambda app: setup(app, service), start=apply_decisions,
                   reloads={CHANGED: apply_decisions})
