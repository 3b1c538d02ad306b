"""Every interface string of the report, outreach and kit modules has its Vietnamese text in
locales/vi/LC_MESSAGES/loa_reports.po, with the same {placeholders}."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import polib
from jinja2 import Environment

from bot.features.outreach.reports import forms
from bot.features.outreach.web import KIT_FORMS

ROOT = Path(__file__).resolve().parents[2]
OUTREACH = ROOT / "bot" / "features" / "outreach"    # the feature: service, chat, web, reports
MODULES = sorted(OUTREACH.rglob("*.py"))
TEMPLATES = [p for pattern in ("report*.html", "outreach*.html", "leaflet*.html")
             for p in sorted((OUTREACH / "templates").glob(pattern))]


def used_msgids() -> set[str]:
    ids: set[str] = set()
    for path in MODULES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                    and isinstance(node.args[0].value, str):
                func = node.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
                if name == "tr":
                    ids.add(node.args[0].value)
            if isinstance(node, ast.Call) and len(node.args) > 1 \
                    and isinstance(node.args[1], ast.Constant) \
                    and getattr(node.func, "id", "") == "Command":   # /canbo lists its help
                ids.add(node.args[1].value)
    env = Environment(extensions=["jinja2.ext.i18n"])
    for path in TEMPLATES:
        for _, _, message in env.extract_translations(path.read_text(encoding="utf-8")):
            ids.update(m for m in (message if isinstance(message, tuple) else (message,)) if m)
    ids.update(forms.FORM_LABELS.values(), dict(forms.LANGUAGES).values(), forms.CHANNELS.values(),
               (s for v in forms.MEDIUM_SUGGESTIONS.values() for s in v), KIT_FORMS.values(),
               ("Monthly report", "Log outreach", "Leaflets and loudspeaker script"))
    return ids


def test_every_string_has_vietnamese_with_the_same_placeholders():
    catalog = {e.msgid: e for e in polib.pofile(str(ROOT / "locales" / "vi" / "LC_MESSAGES" /
                                                    "loa_reports.po"))}
    used = used_msgids()
    assert len(used) > 200
    missing = sorted(m for m in used if m not in catalog or not catalog[m].msgstr
                     or catalog[m].fuzzy)
    assert missing == []
    for msgid in used:
        assert set(re.findall(r"{(\w+)}", msgid)) == set(re.findall(
            r"{(\w+)}", catalog[msgid].msgstr)), msgid
    assert sorted(set(catalog) - used) == []          # nothing stale left in the catalog


def test_no_other_catalog_overrides_these_strings():
    """Catalogs are chained (loa.mo first, then by name): a msgid another feature translated
    differently would win over this one, so report headers would change under our feet."""
    from bot.core.i18n import GettextTranslator
    translator = GettextTranslator(ROOT / "locales")
    catalog = {e.msgid: e.msgstr for e in polib.pofile(str(
        ROOT / "locales" / "vi" / "LC_MESSAGES" / "loa_reports.po"))}
    overridden = sorted(m for m in used_msgids() if translator.gettext("vi", m) != catalog[m])
    assert overridden == []
