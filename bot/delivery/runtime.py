"""What every channel and feature is given, complete when built (by bot/app.py, the
composition root): no part is filled in later, none is optional."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from bot.core.conversation import Conversation
from bot.core.i18n import GettextTranslator
from bot.delivery.channel import Channel
from bot.delivery.cluster import Cluster
from bot.settings import Settings
from bot.store.db import Database


@dataclass(frozen=True)
class Runtime:
    """The shared parts of one Loa process. A feature that needs more declares its own
    dataclass extending this one (`FeatureDeps(**runtime.parts(), more=...)`)."""

    settings: Settings
    db: Database
    cluster: Cluster                       # leader election and notifications between processes
    translator: GettextTranslator
    conversation: Conversation
    channels: Mapping[str, Channel]        # every configured channel, web chat included

    def parts(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(Runtime)}
