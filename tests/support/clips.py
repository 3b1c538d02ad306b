"""Shared by several test modules (moved from tests/test_translation_audio.py)."""
from __future__ import annotations

import hashlib
from pathlib import Path

from bot.features.translations.audio import check_clip, ogg_opus, store_clip
from bot.features.translations.files import write_text_unit
from bot.features.translations.rules import Provenance, digest
from support.translations import TEST_DESK, TEST_REVIEWER, approved, vi_sources


def shipped_clip(content: Path, lang: str, topic: str, *, status: str = "approved",
                 source_hash: str | None = None, seconds: float = 40) -> str:
    """An approved (test data) clip recorded in a topic's translation file; returns its path."""
    data = ogg_opus(seconds)
    info = check_clip(data)
    path = store_clip(content / "media", lang, topic, data, info)
    source = vi_sources(content)[topic]
    block = {"file": path, "sha256": hashlib.sha256(data).hexdigest(),
             "speaker": "Test speaker (test data)", "editor": "Test editor (test data)",
             "recorded": "2026-11-20", "licence": "test licence",
             "source_hash": source_hash or digest(source), "status": status,
             "reviewer": TEST_REVIEWER, "organisation": TEST_DESK, "reviewed": "2026-11-21"}
    write_text_unit(content / lang / f"{topic}.md", lang, topic, Provenance(),
                    {k: "" for k in source}, source, block)
    assert approved(source).source_hash == digest(source)
    return path


