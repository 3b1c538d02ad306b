"""Every interface string the code shows has a Vietnamese translation (no English leaks)."""
from __future__ import annotations

import ast
import re
from pathlib import Path

from support.catalogs import vietnamese_msgids  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_CALL = re.compile(r"""_\(\s*(["'])(.+?)\1""")


def used_msgids() -> dict[str, str]:
    """msgid -> where it is used, for t.gettext(lang, "...") / t(lang, "...") and _("...")."""
    found: dict[str, str] = {}
    for path in (ROOT / "bot").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or len(node.args) < 2:
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else \
                node.func.id if isinstance(node.func, ast.Name) else ""
            msgid = node.args[1]
            if name in ("gettext", "t", "Command") and isinstance(msgid, ast.Constant) \
                    and isinstance(msgid.value, str):
                found.setdefault(msgid.value, f"{path.relative_to(ROOT)}:{node.lineno}")
    for path in (ROOT / "bot").rglob("*.html"):
        for match in TEMPLATE_CALL.finditer(path.read_text(encoding="utf-8")):
            found.setdefault(match.group(2), str(path.relative_to(ROOT)))
    return found




def test_every_shown_string_has_a_vietnamese_translation():
    translated = vietnamese_msgids()
    missing = {msgid: where for msgid, where in used_msgids().items() if msgid not in translated}
    assert missing == {}


def test_the_extractor_sees_the_strings():
    used = used_msgids()
    assert "Updated {date}" in used and "Loa – administration" in used
