"""Privacy as Loa registers it: "/forget" or "xóa dữ liệu" in any chat, and the daily
retention of free text (a job, once across processes). What each erases or blanks is declared
by the owners of the rows and gathered by bot/app.py."""
from __future__ import annotations

from collections.abc import Sequence

from bot.delivery.runtime import Runtime
from bot.features.base import Feature
from bot.features.privacy.forget import ForgetCommand
from bot.features.privacy.retention import retention_job
from bot.store.erasure import Erasure
from bot.store.retention import Part


def feature(runtime: Runtime, retention: Sequence[Part], erasures: Sequence[Erasure]
            ) -> Feature:
    return Feature("privacy", extension=ForgetCommand(runtime.translator, erasures),
                   jobs=(retention_job(runtime.db, runtime.settings, retention),))
