"""Admin page /admin/content: how current Loa's answers are, per topic and per fact.

Every topic text, the phone check and every fact of content/facts.yml (hotlines, dates, prices)
carries the date it was checked (`as_of`) and the date it must be checked again (`review_by`).
This page lists them for the officers: what is overdue, what falls due this calendar month,
and which facts each text states (with their current values), so an officer sees at once which
answers a changed hotline or date would change. It speaks to commune officers: topics by their
title, facts by a Vietnamese name (FACT_LABELS); the keys, the English notes of facts.yml, the
sources and the file names are for the province's administrators, folded away.

Read-only province content: every logged-in officer sees it, whatever the role and unit. It
reads only the Vietnamese ContentSet Loa already holds in memory (no file or database access).
"""
from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from bot.core.content import CHECK_ID, ContentSet, Fact
from bot.features.base import Feature
from bot.features.officers import web as auth
from bot.features.officers.models import Role
from bot.features.officers.service import PROVINCE_UNIT
from bot.web.admin import NavEntry, add_page, add_templates, render
from bot.web.keys import RUNTIME

PATH = "/admin/content"
VN = dt.timezone(dt.timedelta(hours=7))

OVERDUE, DUE, OK, UNDATED = "overdue", "due", "ok", "undated"
_ORDER = {OVERDUE: 0, DUE: 1, UNDATED: 2, OK: 3}
TOPIC, CHECK, FACT, HELP = "topic", "check", "fact", "help"

# What each fact of content/facts.yml is, in words an officer reads (msgids; the Vietnamese is
# in loa_content_status.po). A name, never a value: the value comes from facts.yml. A new fact
# needs its name here (tests/integration/test_admin_content.py checks every fact has one).
FACT_LABELS = {
    "hotline_viettel": "Viettel's hotline",
    "hotline_vinaphone": "VinaPhone's (VNPT) hotline",
    "hotline_mobifone": "MobiFone's hotline",
    "hotline_mobifone_price": "Price of a call to MobiFone's hotline",
    "hotline_consumer": "Consumer complaints hotline",
    "date_2g_only_blocked": "Day phones with 2G only were blocked",
    "date_first_cutoff": "First planned day to block 2G-only phones (postponed)",
    "date_2g_end": "Day 2G ends (under the roadmap)",
    "date_mobifone_2g_end": "Day MobiFone ended 2G",
    "date_3g_end": "Planned end of 3G",
    "date_no_old_phones": "Day making and importing phones without 4G stopped",
    "date_volte_required": "Day new 4G phones had to support VoLTE",
    "price_4g_keypad": "Price of Viettel's 4G phones (2025)",
    "price_volte_smartphone": "Price of Viettel's VoLTE smartphones (2025)",
    "price_fake_4g": "Price of fake \"4G\" phones",
    "amount_state_support": "State support for a poor household that had bought a smartphone "
                            "(programme to 2025)",
    "office_province": "Provincial office in charge of telecoms",
    "distance_offshore": "How far offshore fishermen still have mobile signal",
}
UNNAMED_FACT = "A fact without a name yet"


def fact_label(name: str) -> str:
    """The msgid naming a fact for officers."""
    return FACT_LABELS.get(name, UNNAMED_FACT)


def today() -> dt.date:
    """Today in Vietnam, so "this month" is the province's month whatever the server's time
    zone. Tests replace this function."""
    return dt.datetime.now(VN).date()


def month_end(day: dt.date) -> dt.date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def status(review_by: dt.date | None, day: dt.date) -> str:
    """overdue (review_by has passed), due (later this calendar month), ok, or undated."""
    if review_by is None:
        return UNDATED
    if review_by < day:
        return OVERDUE
    if review_by <= month_end(day):
        return DUE
    return OK


@dataclass(frozen=True, slots=True)
class TextRow:
    """A topic or the phone check."""

    kind: str                                    # TOPIC or CHECK
    id: str
    title: str
    menu_label: str
    as_of: dt.date
    review_by: dt.date | None
    status: str
    facts: tuple[tuple[str, Fact | None], ...]   # (name, the fact; None if unknown)


@dataclass(frozen=True, slots=True)
class FactRow:
    fact: Fact
    status: str
    used_by: tuple[tuple[str, str], ...]         # (TOPIC | CHECK | HELP, id)


@dataclass(frozen=True, slots=True)
class DueItem:
    kind: str                                    # TOPIC, CHECK or FACT
    id: str
    label: str
    review_by: dt.date
    status: str                                  # OVERDUE or DUE


@dataclass(frozen=True, slots=True)
class Overview:
    today: dt.date
    month_end: dt.date
    texts: tuple[TextRow, ...]
    facts: tuple[FactRow, ...]
    due: tuple[DueItem, ...]                     # overdue first, then due this month


def overview(content: ContentSet, day: dt.date) -> Overview:
    """Status of every text and fact of `content` on `day` (pure: no I/O)."""
    facts = content.facts or {}

    def used(names: tuple[str, ...]) -> tuple[tuple[str, Fact | None], ...]:
        return tuple((name, facts.get(name)) for name in names)

    texts = [TextRow(TOPIC, t.id, t.title, t.menu_label, t.as_of, t.review_by,
                     status(t.review_by, day), used(t.facts))
             for t in sorted(content.topics.values(), key=lambda t: t.id)]
    check = content.check
    texts.append(TextRow(CHECK, CHECK_ID, check.title, check.menu_label, check.as_of,
                         check.review_by, status(check.review_by, day), used(check.facts)))
    users: dict[str, list[tuple[str, str]]] = {}
    for row in texts:
        for name, _ in row.facts:
            users.setdefault(name, []).append((row.kind, row.id))
    for name in content.help_facts:
        users.setdefault(name, []).append((HELP, ""))
    fact_rows = [FactRow(f, status(f.review_by, day), tuple(users.get(f.name, ())))
                 for f in sorted(facts.values(), key=lambda f: f.name)]
    due = [DueItem(r.kind, r.id, r.title, r.review_by, r.status)
           for r in texts if r.review_by is not None and r.status in (OVERDUE, DUE)]
    due += [DueItem(FACT, r.fact.name, fact_label(r.fact.name), r.fact.review_by, r.status)
            for r in fact_rows if r.status in (OVERDUE, DUE)]
    due.sort(key=lambda d: (_ORDER[d.status], d.review_by, d.kind == FACT, d.id))
    return Overview(day, month_end(day), tuple(texts), tuple(fact_rows), tuple(due))


TEMPLATES = Path(__file__).resolve().parent / "templates"


async def content_page(request: web.Request) -> web.Response:
    """GET /admin/content: every officer (any role, any unit); the province's administrators
    also get the technical details (keys, notes, sources, files), folded."""
    officer = await auth.require_officer(request)
    content = request.app[RUNTIME].conversation.contents["vi"]
    view = overview(content, today())
    return render(request, "content_status.html", view=view, fact_label=fact_label,
                  titles={(r.kind, r.id): r.title for r in view.texts},
                  technical=officer.unit_code == PROVINCE_UNIT and officer.role == Role.ADMIN)


def setup(app: web.Application) -> None:
    add_templates(app, TEMPLATES)
    add_page(app, NavEntry(PATH, "Content"))
    app.router.add_get(PATH, content_page)


def feature() -> Feature:
    """/admin/content: review dates of topics and facts."""
    return Feature("content", web=setup)
