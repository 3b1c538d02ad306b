"""Admin page /admin/content: how current Loa's answers are, per topic and per fact.

Every topic text, the phone check and every fact of content/facts.yml (hotlines, dates, prices)
carries the date it was checked (`as_of`) and the date it must be checked again (`review_by`).
This page lists them for the province's officers: what is overdue, what falls due this
calendar month, and which facts each text states (with their current values), so an officer
sees at once which answers a changed hotline or date would change.

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
from bot.web.admin import NavEntry, add_page, add_templates, render
from bot.web.keys import RUNTIME

PATH = "/admin/content"
VN = dt.timezone(dt.timedelta(hours=7))

OVERDUE, DUE, OK, UNDATED = "overdue", "due", "ok", "undated"
_ORDER = {OVERDUE: 0, DUE: 1, UNDATED: 2, OK: 3}
TOPIC, CHECK, FACT, HELP = "topic", "check", "fact", "help"


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
    due += [DueItem(FACT, r.fact.name, r.fact.note or r.fact.value, r.fact.review_by, r.status)
            for r in fact_rows if r.status in (OVERDUE, DUE)]
    due.sort(key=lambda d: (_ORDER[d.status], d.review_by, d.kind == FACT, d.id))
    return Overview(day, month_end(day), tuple(texts), tuple(fact_rows), tuple(due))


TEMPLATES = Path(__file__).resolve().parent / "templates"


async def content_page(request: web.Request) -> web.Response:
    """GET /admin/content: every officer (any role, any unit)."""
    await auth.require_officer(request)
    content = request.app[RUNTIME].conversation.contents["vi"]
    return render(request, "content_status.html", view=overview(content, today()))


def setup(app: web.Application) -> None:
    add_templates(app, TEMPLATES)
    add_page(app, NavEntry(PATH, "Content"))
    app.router.add_get(PATH, content_page)


def feature() -> Feature:
    """/admin/content: review dates of topics and facts."""
    return Feature("content", web=setup)
