"""The monthly outreach report: the official table per unit and summed, submission status,
breakdowns, citizens who switched to 4G, and the month-over-month trend.

Built from run_rollup (Loa's own runs, however many) and outreach_entry (offline runs logged
by officers, a few thousand a month), never from a scan of the `run` table.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.channels.web import limits as webchat_limits
from bot.delivery.runs import ROLLUP
from bot.features.officers import service as officers
from bot.features.outreach.models import OutreachEntry, ReportSubmission
from bot.features.outreach.reports import forms
from bot.store.models import PollAnswer

ENTRY = OutreachEntry.__table__
SUBMISSION = ReportSubmission.__table__
POLL = PollAnswer.__table__    # type: ignore[attr-defined]
TZ = dt.timezone(dt.timedelta(hours=7))
TREND_MONTHS = 12
STATUSES = ("submitted", "late", "pending", "missing")
Tr = Callable[..., str]


@dataclass(frozen=True)
class OfficialRow:
    """One line of the official table: a form of outreach and what it achieved."""

    form: str
    label: str
    runs: int
    media: str
    people: int
    notes: str


@dataclass(frozen=True)
class UnitSection:
    unit_id: int | None
    code: str
    name: str
    rows: tuple[OfficialRow, ...]

    @property
    def runs(self) -> int:
        return sum(r.runs for r in self.rows)

    @property
    def people(self) -> int:
        return sum(r.people for r in self.rows)


@dataclass(frozen=True)
class UnitStatus:
    unit_id: int
    code: str
    name: str
    status: str                   # submitted, late, pending, missing
    label: str
    submitted_at: dt.datetime | None
    amendments: int
    runs: int
    people: int


@dataclass(frozen=True)
class Line:
    """A line of a breakdown table."""

    key: str
    label: str
    runs: int
    people: int | None = None


@dataclass(frozen=True)
class MonthReport:
    month: str
    province: bool                # every unit summed, or one unit
    unit_code: str
    unit_name: str
    deadline: dt.date
    totals: tuple[OfficialRow, ...]
    units: tuple[UnitSection, ...]
    statuses: tuple[UnitStatus, ...]
    by_commune: tuple[Line, ...]
    by_language: tuple[Line, ...]
    by_served_language: tuple[Line, ...]   # the language answers were given in (fallbacks)
    by_topic: tuple[Line, ...]
    by_channel: tuple[Line, ...]
    switched_to_4g: int
    trend: tuple[Line, ...]       # key = month, oldest first
    # web chat runs from addresses refused by a limit that day (bot/channels/web/limits.py)
    webchat_limited_runs: int = 0
    generated_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(TZ))

    @property
    def total_runs(self) -> int:
        return sum(r.runs for r in self.totals)

    @property
    def total_people(self) -> int:
        return sum(r.people for r in self.totals)

    def status_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATUSES, 0)
        for s in self.statuses:
            counts[s.status] += 1
        return counts

    def to_json(self) -> dict[str, Any]:
        def rows(items: Iterable[OfficialRow]) -> list[dict[str, Any]]:
            return [{"form": r.form, "label": r.label, "runs": r.runs, "media": r.media,
                     "people": r.people, "notes": r.notes} for r in items]

        def lines(items: Iterable[Line]) -> list[dict[str, Any]]:
            return [{"key": x.key, "label": x.label, "runs": x.runs, "people": x.people}
                    for x in items]

        return {
            "month": self.month, "scope": "province" if self.province else "unit",
            "unit": {"code": self.unit_code, "name": self.unit_name},
            "deadline": self.deadline.isoformat(), "total_runs": self.total_runs,
            "total_people": self.total_people, "official": rows(self.totals),
            "units": [{"code": u.code, "name": u.name, "runs": u.runs, "people": u.people,
                       "rows": rows(u.rows)} for u in self.units],
            "statuses": [{"code": s.code, "name": s.name, "status": s.status,
                          "submitted_at": s.submitted_at.isoformat() if s.submitted_at else None,
                          "amendments": s.amendments, "runs": s.runs, "people": s.people}
                         for s in self.statuses],
            "status_counts": self.status_counts(),
            "by_commune": lines(self.by_commune), "by_language": lines(self.by_language),
            "by_served_language": lines(self.by_served_language),
            "by_topic": lines(self.by_topic), "by_channel": lines(self.by_channel),
            "switched_to_4g": self.switched_to_4g, "trend": lines(self.trend),
            "webchat_limited_runs": self.webchat_limited_runs}


# -- citizens who switched ---------------------------------------------------------------------

async def switched_to_4g(conn: AsyncConnection, start: dt.datetime, end: dt.datetime,
                         unit_id: int | None = None) -> int:
    """Citizens who answered a follow-up poll in [start, end) that they switched to 4G.

    The polls are announcements' (features/broadcasts): one `poll_answer` row per poll and
    citizen, `answer` = "switched" / "not_yet" / "planning", `unit_id` = the polling unit.
    """
    stmt = select(func.count(func.distinct(POLL.c.contact_pseudonym))).where(
        POLL.c.answer == "switched", POLL.c.at >= start, POLL.c.at < end)
    if unit_id is not None:
        stmt = stmt.where(POLL.c.unit_id == unit_id)
    return int((await conn.execute(stmt)).scalar_one())


# -- building ----------------------------------------------------------------------------------

def status_of(sub: Row[Any] | None, month: str, today: dt.date, deadline_day: int) -> str:
    due = forms.deadline(month, deadline_day)
    if sub is not None:
        return "late" if forms.vn_time(sub.submitted_at).date() >= due else "submitted"
    return "missing" if today >= due else "pending"


def status_label(tr: Tr, status: str) -> str:
    return {"submitted": tr("Submitted"), "late": tr("Submitted late"),
            "pending": tr("Not yet submitted"), "missing": tr("Missing")}[status]


class _Acc:
    """Sums for one form in one scope: runs, people, runs per medium, notes."""

    def __init__(self) -> None:
        self.runs = 0
        self.people = 0
        self.media: dict[str, int] = defaultdict(int)
        self.notes: list[str] = []
        self.unknown_people = 0

    def add(self, medium: str, runs: int, people: int) -> None:
        self.runs += runs
        self.people += people
        self.media[medium] += runs


def _official(accs: dict[str, _Acc], tr: Tr) -> tuple[OfficialRow, ...]:
    out = []
    for form in sorted(accs, key=lambda f: (forms.FORM_ORDER.get(f, 99), f)):
        acc = accs[form]
        media = sorted(acc.media.items(), key=lambda kv: (-kv[1], kv[0]))
        media_text = media[0][0] if len(media) == 1 else "; ".join(
            f"{m} ({n:,})".replace(",", ".") for m, n in media)
        notes = list(dict.fromkeys(acc.notes))
        if form == forms.FORM_CHATBOT:
            notes.insert(0, tr("People: different citizens who used the chatbot."))
        elif form == forms.FORM_BROADCAST:
            notes.insert(0, tr("People: messages delivered."))
        if acc.unknown_people:
            notes.append(tr("People reached not known for {n} entries.", n=acc.unknown_people))
        text = "; ".join(notes)
        out.append(OfficialRow(form, forms.form_label(tr, form), acc.runs, media_text,
                               acc.people, text if len(text) <= 400 else text[:399] + "…"))
    return tuple(out)


async def build_report(conn: AsyncConnection, month: str, tr: Tr, *, unit_code: str | None = None,
                       province_name: str = "", today: dt.date | None = None,
                       deadline_day: int = 15,
                       topic_labels: dict[str, str] | None = None) -> MonthReport:
    """The report of `month` for one unit (`unit_code`), or for the province (None)."""
    today = today or dt.datetime.now(TZ).date()
    units = await officers.list_units(conn)
    by_name = {u.name: u for u in units}
    unit = None
    if unit_code is not None:
        unit = next((u for u in units if u.code == unit_code), None)
        if unit is None:
            raise ValueError(f"unknown unit '{unit_code}'")
    # Loa's own runs carry the operating unit's name (settings.unit): that is the province unit.
    names = None
    if unit is not None:
        names = {unit.name} | ({province_name} if unit.code == officers.PROVINCE_UNIT
                               and province_name else set())
        by_name.update(dict.fromkeys(names, unit))
    elif province_name:
        province = next((u for u in units if u.code == officers.PROVINCE_UNIT), None)
        if province is not None:
            by_name.setdefault(province_name, province)

    def rollup(*cols: Any, dims: tuple[str, ...], months: tuple[str, ...] = (month,)) -> Any:
        stmt = (select(*cols, func.sum(ROLLUP.c.runs), func.sum(ROLLUP.c.people))
                .where(ROLLUP.c.month.in_(months) if len(months) > 1
                       else ROLLUP.c.month == months[0], ROLLUP.c.dim.in_(dims)
                       if len(dims) > 1 else ROLLUP.c.dim == dims[0])
                .group_by(*cols))
        return stmt.where(ROLLUP.c.unit.in_(sorted(names))) if names is not None else stmt

    def entries_stmt(months: tuple[str, ...]) -> Any:
        stmt = select(ENTRY).where(ENTRY.c.month.in_(months), ENTRY.c.deleted_at.is_(None))
        return stmt.where(ENTRY.c.unit_id == unit.id) if unit is not None else stmt

    # Official table per unit and summed.
    per_unit: dict[tuple[int | None, str], dict[str, _Acc]] = defaultdict(
        lambda: defaultdict(_Acc))
    totals: dict[str, _Acc] = defaultdict(_Acc)
    channel: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for unit_name, form, medium, runs, people in (await conn.execute(rollup(
            ROLLUP.c.unit, ROLLUP.c.form, ROLLUP.c.medium, dims=("total",)))).all():
        owner = by_name.get(unit_name)
        key = (owner.id, owner.code) if owner is not None else (None, unit_name)
        label = forms.channel_label(tr, medium)
        for acc in (per_unit[key][form], totals[form]):
            acc.add(label, int(runs), int(people))
        channel[(form, medium)][0] += int(runs)
        channel[(form, medium)][1] += int(people)
    lines: dict[str, dict[str, int]] = {d: defaultdict(int) for d in
                                        ("commune", "language", "topic", "served")}
    for dim, value, runs, _ in (await conn.execute(rollup(
            ROLLUP.c.dim, ROLLUP.c.value,
            dims=("commune", "language", "topic", "served")))).all():
        lines[dim][value] += int(runs)
    units_by_id = {u.id: u for u in units}
    for e in (await conn.execute(entries_stmt((month,)))).all():
        owner = units_by_id.get(e.unit_id)
        key = (e.unit_id, owner.code if owner is not None else str(e.unit_id))
        for acc in (per_unit[key][e.form], totals[e.form]):
            acc.add(e.medium, e.runs, e.reached or 0)
            if e.reached is None:
                acc.unknown_people += 1
            if e.form_other:
                acc.notes.append(e.form_other)
            if e.note:
                acc.notes.append(e.note.replace("\n", " ")[:160])
        for code in filter(None, e.communes.split(",")):
            lines["commune"][code] += e.runs
        for lang in filter(None, e.languages.split(",")):
            lines["language"][lang] += e.runs

    sections = []
    for (unit_id, code), accs in per_unit.items():
        owner = units_by_id.get(unit_id) if unit_id is not None else None
        sections.append(UnitSection(unit_id, owner.code if owner else "", owner.name if owner
                                    else code, _official(accs, tr)))
    sections.sort(key=lambda s: (s.unit_id is None, s.unit_id or 0, s.name))

    # Submission status of every unit in scope.
    subs_stmt = select(SUBMISSION).where(SUBMISSION.c.month == month)
    if unit is not None:
        subs_stmt = subs_stmt.where(SUBMISSION.c.unit_id == unit.id)
    subs = {s.unit_id: s for s in (await conn.execute(subs_stmt)).all()}
    sums = {s.unit_id: (s.runs, s.people) for s in sections if s.unit_id is not None}
    statuses = []
    for u in ([unit] if unit is not None else units):
        status = status_of(subs.get(u.id), month, today, deadline_day)
        sub = subs.get(u.id)
        runs, people = sums.get(u.id, (0, 0))
        statuses.append(UnitStatus(u.id, u.code, u.name, status, status_label(tr, status),
                                   sub.submitted_at if sub else None,
                                   sub.amendments if sub else 0, runs, people))

    def breakdown(dim: str, label: Callable[[str], str]) -> tuple[Line, ...]:
        items = sorted(((k, v) for k, v in lines[dim].items() if v),
                       key=lambda kv: (-kv[1], kv[0]))
        return tuple(Line(k, label(k), v) for k, v in items)

    topic_labels = topic_labels or {}
    trend = await _trend(conn, month, rollup, entries_stmt)
    start, end = _month_bounds(month)
    return MonthReport(
        month=month, province=unit is None,
        unit_code=unit.code if unit is not None else officers.PROVINCE_UNIT,
        unit_name=unit.name if unit is not None else (province_name or tr("Province")),
        deadline=forms.deadline(month, deadline_day), totals=_official(totals, tr),
        units=tuple(sections), statuses=tuple(statuses),
        by_commune=breakdown("commune", lambda c: forms.commune_name(c) if c
                             else tr("No commune recorded")),
        by_language=breakdown("language", lambda c: forms.language_label(tr, c)),
        by_served_language=breakdown("served", lambda c: forms.language_label(tr, c)),
        by_topic=breakdown("topic", lambda c: topic_labels.get(c, c) if c
                           else tr("No topic (menu, help, other)")),
        by_channel=tuple(Line(f"{f}:{m}", f"{forms.form_label(tr, f)} – "
                              f"{forms.channel_label(tr, m)}", v[0], v[1])
                         for (f, m), v in sorted(channel.items(), key=lambda kv: -kv[1][0])),
        switched_to_4g=await switched_to_4g(conn, start, end,
                                            unit.id if unit is not None else None),
        trend=trend,
        # Web chat runs are the operating unit's: shown where its runs are (all, or its unit).
        webchat_limited_runs=await webchat_limits.limited_runs(conn, month)
        if names is None or province_name in names else 0)


def _month_bounds(month: str) -> tuple[dt.datetime, dt.datetime]:
    year, number = (int(x) for x in month.split("-"))
    start = dt.datetime(year, number, 1, tzinfo=TZ)
    ny, nm = (int(x) for x in forms.shift_month(month, 1).split("-"))
    return start.astimezone(dt.UTC), dt.datetime(ny, nm, 1, tzinfo=TZ).astimezone(dt.UTC)


async def _trend(conn: AsyncConnection, month: str, rollup: Callable[..., Any],
                 entries_stmt: Callable[[tuple[str, ...]], Any]) -> tuple[Line, ...]:
    months = tuple(forms.shift_month(month, -i) for i in range(TREND_MONTHS - 1, -1, -1))
    sums: dict[str, list[int]] = {m: [0, 0] for m in months}
    for m, runs, people in (await conn.execute(rollup(ROLLUP.c.month, dims=("total",),
                                                      months=months))).all():
        sums[m][0] += int(runs)
        sums[m][1] += int(people)
    stmt = entries_stmt(months).with_only_columns(
        ENTRY.c.month, func.sum(ENTRY.c.runs), func.sum(func.coalesce(ENTRY.c.reached, 0))
    ).group_by(ENTRY.c.month)
    for m, runs, people in (await conn.execute(stmt)).all():
        sums[m][0] += int(runs)
        sums[m][1] += int(people)
    return tuple(Line(m, forms.month_label(m), v[0], v[1]) for m, v in sums.items())
