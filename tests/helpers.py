"""Small helpers shared by tests."""
from __future__ import annotations

from bot.app import load_conversation
from bot.core.conversation import Conversation
from bot.settings import Settings

_cache: dict[tuple[str, ...], Conversation] = {}


def conversation(languages: tuple[str, ...] = ("vi",)) -> Conversation:
    """The real conversation over the shipped content and compiled catalogs."""
    if languages not in _cache:
        settings = Settings(languages=languages, secret_key="x")
        _cache[languages] = load_conversation(settings)[1]
    return _cache[languages]
