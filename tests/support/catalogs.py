"""Shared by several test modules (moved from tests/unit/test_catalogs.py)."""
from __future__ import annotations

from pathlib import Path

import polib

ROOT = Path(__file__).resolve().parents[2]


def vietnamese_msgids() -> set[str]:
    ids: set[str] = set()
    for po in (ROOT / "locales" / "vi" / "LC_MESSAGES").glob("*.po"):
        ids |= {e.msgid for e in polib.pofile(str(po)) if e.msgstr and not e.fuzzy}
    return ids


