"""Compile the gettext catalogs in locales/ with polib (keeps Plural-Forms for every language)."""
from __future__ import annotations

import sys
from pathlib import Path

import polib

ROOT = Path(__file__).resolve().parents[3]


def compile_catalogs(locales: Path) -> list[Path]:
    from bot.features.translations.rules import MINORITY, vi_strings
    from bot.features.translations.service import shippable_catalog
    vi = vi_strings(locales)
    compiled = []
    for po_path in sorted(locales.glob("*/LC_MESSAGES/*.po")):
        catalog = polib.pofile(str(po_path))
        if po_path.parent.parent.name in MINORITY:   # only approved, current, reviewed entries
            catalog = shippable_catalog(catalog, vi)
        mo_path = po_path.with_suffix(".mo")
        catalog.save_as_mofile(str(mo_path))   # fuzzy (draft) entries are left out
        compiled.append(mo_path)
    return compiled


def main(argv: list[str]) -> int:
    if argv[:1] != ["compile"]:
        print("usage: python -m bot.features.translations.catalogs compile", file=sys.stderr)
        return 2
    for path in compile_catalogs(ROOT / "locales"):
        print(f"compiled {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
