"""The monthly outreach report: the official table per unit and summed, submission status,
breakdowns (target groups among them), citizens who switched to 4G, and the month-over-month
trend.

Built from run_rollup (Loa's own runs, however many) and outreach_entry (offline runs logged
by officers, a few thousand a month), never from a scan of the `run` table. Runs are
communication runs (answers, verdicts, announcements, offline runs: bot/delivery/runs.py);
the chatbot's interactions (every chat turn) are shown beside them, never added to them.
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
from bot.core.text import fold
from bot.delivery.runs import COUNTED, GROUP_DIM, ROLLUP
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


def sum_people(items: Iterable[Any]) -> int | None:
    """People reached of several rows: the numbers known added up; None ("not known") only when
    no row knows one and some row had entries without it. Never 0 for "not known"."""
    items = list(items)
    known = [x.people for x in items if x.people is not None]
    if not known and any(x.unknown_people for x in items):
        return None
    return sum(known)


def merge_groups(items: Iterable[Any]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for x in items:
        for code, runs in x.groups.items():
            out[code] += runs
    return dict(out)


@dataclass(frozen=True)
class OfficialRow:
    """One line of the official table: a form of outreach and what it achieved."""

    form: str
    label: str
    runs: int                          # communication runs
    media: str
    people: int | None                 # None: no entry of the row said how many
    notes: str
    interactions: int | None = None    # the chatbot's chat turns (its row only)
    unknown_people: int = 0            # offline entries without a number of people
    groups: dict[str, int] = field(default_factory=dict, hash=False)   # group code -> runs


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
    def people(self) -> int | None:
        return sum_people(self.rows)

    @property
    def unknown_people(self) -> int:
        return sum(r.unknown_people for r in self.rows)

    @property
    def interactions(self) -> int:
        return sum(r.interactions or 0 for r in self.rows)

    @property
    def groups(self) -> dict[str, int]:
        return merge_groups(self.rows)


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
    people: int | None
    unknown_people: int = 0


@dataclass(frozen=True)
class Line:
    """A line of a breakdown table."""

    key: str
    label: str
    runs: int
    people: int | None = None
    interactions: int | None = None
    unknown_people: int = 0


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
    # web chat interactions from addresses refused by a limit that day (web/limits.py)
    webchat_limited_runs: int = 0
    by_group: tuple[Line, ...] = ()       # runs per target group, in the order of the list
    generated_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(TZ))

    @property
    def total_runs(self) -> int:
        return sum(r.runs for r in self.totals)

    @property
    def total_people(self) -> int | None:
        return sum_people(self.totals)

    @property
    def total_unknown_people(self) -> int:
        return sum(r.unknown_people for r in self.totals)

    @property
    def total_interactions(self) -> int:
        return sum(r.interactions or 0 for r in self.totals)

    @property
    def group_codes(self) -> tuple[str, ...]:
        """The groups of the breakdown: every group of the list, and "not recorded" if any."""
        return tuple(x.key for x in self.by_group)

    def filter_statuses(self, status: str = "", query: str = "") -> tuple[UnitStatus, ...]:
        """The status table narrowed to one status and/or names containing `query` (typed
        with or without Vietnamese marks)."""
        key = fold(query)[:80]
        return tuple(s for s in self.statuses if (not status or s.status == status)
                     and (not key or key in fold(s.name) or key in s.code))

    def status_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATUSES, 0)
        for s in self.statuses:
            counts[s.status] += 1
        return counts

    def to_json(self) -> dict[str, Any]:
        def rows(items: Iterable[OfficialRow]) -> list[dict[str, Any]]:
            return [{"form": r.form, "label": r.label, "runs": r.runs, "media": r.media,
                     "people": r.people, "people_unknown_entries": r.unknown_people,
                     "interactions": r.interactions, "groups": dict(r.groups),
                     "notes": r.notes} for r in items]

        def lines(items: Iterable[Line]) -> list[dict[str, Any]]:
            return [{"key": x.key, "label": x.label, "runs": x.runs, "people": x.people,
                     **({"interactions": x.interactions} if x.interactions is not None
                        else {})} for x in items]

        return {
            "month": self.month, "scope": "province" if self.province else "unit",
            "unit": {"code": self.unit_code, "name": self.unit_name},
            "deadline": self.deadline.isoformat(), "total_runs": self.total_runs,
            "total_people": self.total_people,
            "people_unknown_entries": self.total_unknown_people,
            "total_interactions": self.total_interactions, "official": rows(self.totals),
            "units": [{"code": u.code, "name": u.name, "runs": u.runs, "people": u.people,
                       "people_unknown_entries": u.unknown_people, "groups": u.groups,
                       "rows": rows(u.rows)} for u in self.units],
            "statuses": [{"code": s.code, "name": s.name, "status": s.status,
                          "submitted_at": s.submitted_at.isoformat() if s.submitted_at else None,
                          "amendments": s.amendments, "runs": s.runs, "people": s.people,
                          "people_unknown_entries": s.unknown_people}
                         for s in self.statuses],
            "status_counts": self.status_counts(),
            "by_group": lines(self.by_group),
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
    """Sums for one form in one scope: runs, people, runs per medium, groups, notes."""

    def __init__(self) -> None:
        self.runs = 0
        self.people = 0
        self.known = False              # some contribution said how many people
        self.unknown_people = 0         # entries that did not
        self.interactions: int | None = None
        self.media: dict[str, int] = defaultdict(int)
        self.groups: dict[str, int] = defaultdict(int)
        self.notes: list[str] = []

    def add(self, medium: str, runs: int, people: int | None) -> None:
        self.runs += runs
        self.media[medium] += runs
        if people is None:
            self.unknown_people += 1
        else:
            self.people += people
            self.known = True

    def add_loa(self, medium: str, runs: int, people: int) -> None:
        """Loa's own runs: people always known (citizens counted, messages delivered)."""
        self.runs += runs
        self.media[medium] += runs
        self.people += people
        self.known = True

    def add_interactions(self, n: int) -> None:
        self.interactions = (self.interactions or 0) + n


def _official(accs: dict[str, _Acc], tr: Tr) -> tuple[OfficialRow, ...]:
    out = []
    for form in sorted(accs, key=lambda f: (forms.FORM_ORDER.get(f, 99), f)):
        acc = accs[form]
        media = sorted(acc.media.items(), key=lambda kv: (-kv[1], kv[0]))
        counted = [(m, n) for m, n in media if n]
        if len(media) == 1 or not counted:     # one medium, or only interactions so far
            media_text = "; ".join(m for m, _ in media)
        else:
            media_text = "; ".join(f"{m} ({n:,})".replace(",", ".") for m, n in counted)
        notes = list(dict.fromkeys(acc.notes))
        if form == forms.FORM_CHATBOT:
            notes.insert(0, tr("People: different citizens Loa answered (a topic or the phone "
                               "check's result), on every channel."))
            notes.insert(1, tr("Chatbot interactions (every chat turn, answers included): {n}",
                               n=_fmt(acc.interactions or 0)))
        elif form == forms.FORM_BROADCAST:
            notes.insert(0, tr("People: messages delivered."))
        if acc.unknown_people:
            notes.append(tr("People reached not known for {n} entries.", n=acc.unknown_people))
        text = "; ".join(notes)
        people = acc.people if acc.known or not acc.unknown_people else None
        out.append(OfficialRow(form, forms.form_label(tr, form), acc.runs, media_text,
                               people, text if len(text) <= 400 else text[:399] + "…",
                               acc.interactions, acc.unknown_people, dict(acc.groups)))
    return tuple(out)


def _fmt(n: int) -> str:
    return f"{n:,}".replace(",", ".")


def counting_rule(tr: Tr) -> tuple[str, ...]:
    """How the report counts, in the words shown under the table and in every export."""
    return (tr("How it is counted: a communication run is an answer Loa gave (a topic answered "
               "or the phone check's result), an announcement delivered (one run per channel "
               "and language of each announcement), or a run of offline outreach logged by an "
               "officer. Menu taps, language screens, the steps of the phone check, \"Do you "
               "want to ask about…?\" questions and messages Loa could not answer are not "
               "communication runs; with the answers they are the chatbot's interactions "
               "(every turn of a conversation with Loa), shown apart."),
            tr("Target groups: an offline entry names the groups it reached; a run of Loa counts "
               "for ethnic minorities when a minority language was chosen, for the elderly "
               "when the question was asked for a parent or grandparent, for fishermen and "
               "seafarers when it was a seafarer's question, and for the general public "
               "otherwise. A run can count for several groups, so the groups can add up to "
               "more than the runs."),
            tr("People reached: for the chatbot, different citizens Loa answered (a topic or "
               "the phone check's result), on Telegram, Zalo and the web chat alike; a citizen "
               "who only opened the menu or chose a language is not counted. For "
               "announcements, messages delivered; for offline outreach, the number the "
               "officer gave, \"not known\" where an entry gave none; totals add the numbers "
               "given and say how many entries gave none."))


async def build_report(conn: AsyncConnection, month: str, tr: Tr, *, unit_code: str | None = None,
                       province_name: str = "", today: dt.date | None = None,
                       deadline_day: int = 15,
                       topic_labels: dict[str, str] | None = None) -> MonthReport:
    """The report of `month` for one unit (`unit_code`), or for the province (None).

    `topic_labels` maps topic ids to their titles (forms.topic_titles of the Vietnamese
    content); `province_name` is the operating unit Loa's own runs are written under."""
    today = today or dt.datetime.now(TZ).date()
    units = await officers.list_units(conn)
    by_name = {u.name: u for u in units}
    unit = None
    if unit_code is not None:
        unit = next((u for u in units if u.code == unit_code), None)
        if unit is None:
            raise ValueError(f"unknown unit '{unit_code}'")
    province = next((u for u in units if u.code == officers.PROVINCE_UNIT), None)
    # Loa's own runs carry the operating unit's name (settings.unit): that is the province unit.
    names = None
    if unit is not None:
        names = {unit.name} | ({province_name} if unit.code == officers.PROVINCE_UNIT
                               and province_name else set())
        by_name.update(dict.fromkeys(names, unit))
    elif province_name and province is not None:
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

    def owner_key(unit_name: str) -> tuple[int | None, str]:
        owner = by_name.get(unit_name)
        return (owner.id, owner.code) if owner is not None else (None, unit_name)

    # Official table per unit and summed: "counted" rows are the communication runs, "total"
    # rows every run row (the chatbot's interactions) and the people reached.
    per_unit: dict[tuple[int | None, str], dict[str, _Acc]] = defaultdict(
        lambda: defaultdict(_Acc))
    totals: dict[str, _Acc] = defaultdict(_Acc)
    channel: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    loa = (await conn.execute(rollup(ROLLUP.c.unit, ROLLUP.c.form, ROLLUP.c.medium,
                                     ROLLUP.c.dim, dims=("total", COUNTED)))).all()
    for unit_name, form, medium, dim, runs, people in loa:
        label = forms.channel_label(tr, medium)
        for acc in (per_unit[owner_key(unit_name)][form], totals[form]):
            if dim == COUNTED:
                acc.add_loa(label, int(runs), 0)
            else:
                acc.add_loa(label, 0, int(people))
                if form == forms.FORM_CHATBOT:
                    acc.add_interactions(int(runs))
        if dim == COUNTED:
            channel[(form, medium)][0] += int(runs)
        else:
            channel[(form, medium)][1] += int(people)
            channel[(form, medium)][2] += int(runs)
    for unit_name, form, group, runs, _ in (await conn.execute(rollup(
            ROLLUP.c.unit, ROLLUP.c.form, ROLLUP.c.value, dims=(GROUP_DIM,)))).all():
        for acc in (per_unit[owner_key(unit_name)][form], totals[form]):
            acc.groups[group] += int(runs)
    lines: dict[str, dict[str, int]] = {d: defaultdict(int) for d in
                                        ("c_comm", "c_lang", "c_topic", "c_served")}
    for dim, value, runs, _ in (await conn.execute(rollup(
            ROLLUP.c.dim, ROLLUP.c.value, dims=tuple(lines)))).all():
        lines[dim][value] += int(runs)
    units_by_id = {u.id: u for u in units}
    for e in (await conn.execute(entries_stmt((month,)))).all():
        owner = units_by_id.get(e.unit_id)
        key = (e.unit_id, owner.code if owner is not None else str(e.unit_id))
        for acc in (per_unit[key][e.form], totals[e.form]):
            acc.add(e.medium, e.runs, e.reached)
            for group in [g for g in e.target_groups.split(",") if g] or [forms.NO_GROUP]:
                acc.groups[group] += e.runs
            if e.form_other:
                acc.notes.append(e.form_other)
            if e.note:
                acc.notes.append(e.note.replace("\n", " ")[:160])
        for code in filter(None, e.communes.split(",")):
            lines["c_comm"][code] += e.runs
        for lang in filter(None, e.languages.split(",")):
            lines["c_lang"][lang] += e.runs

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
    sums = {s.unit_id: (s.runs, s.people, s.unknown_people) for s in sections
            if s.unit_id is not None}
    statuses = []
    for u in ([unit] if unit is not None else units):
        status = status_of(subs.get(u.id), month, today, deadline_day)
        sub = subs.get(u.id)
        runs, people, unknown = sums.get(u.id, (0, 0, 0))
        statuses.append(UnitStatus(u.id, u.code, u.name, status, status_label(tr, status),
                                   sub.submitted_at if sub else None,
                                   sub.amendments if sub else 0, runs, people, unknown))

    def breakdown(dim: str, label: Callable[[str], str]) -> tuple[Line, ...]:
        merged: dict[str, list[Any]] = {}
        for key, runs in lines[dim].items():
            if runs:
                name = label(key)
                merged.setdefault(name, [key, 0])[1] += runs
        items = sorted(((k, name, v) for name, (k, v) in merged.items()),
                       key=lambda x: (-x[2], x[1]))
        return tuple(Line(k, name, v) for k, name, v in items)

    titles = topic_labels or {}
    all_totals = _official(totals, tr)
    groups = merge_groups(all_totals)
    by_group = tuple(Line(code, forms.group_label(tr, code), groups.get(code, 0))
                     for code in (*forms.GROUP_CODES, forms.NO_GROUP)
                     if code != forms.NO_GROUP or groups.get(code))
    trend = await _trend(conn, month, rollup, entries_stmt)
    start, end = _month_bounds(month)
    whole = (province.name if province is not None else "") or province_name or tr("Province")
    return MonthReport(
        month=month, province=unit is None,
        unit_code=unit.code if unit is not None else officers.PROVINCE_UNIT,
        unit_name=unit.name if unit is not None else whole,
        deadline=forms.deadline(month, deadline_day), totals=all_totals,
        units=tuple(sections), statuses=tuple(statuses),
        by_commune=breakdown("c_comm", lambda c: forms.commune_name(c) if c
                             else tr("No commune recorded")),
        by_language=breakdown("c_lang", lambda c: forms.language_label(tr, c)),
        by_served_language=breakdown("c_served", lambda c: forms.language_label(tr, c)),
        by_topic=breakdown("c_topic", lambda c: forms.topic_label(tr, titles, c)),
        by_channel=tuple(Line(f"{f}:{m}", f"{forms.form_label(tr, f)} – "
                              f"{forms.channel_label(tr, m)}", v[0], v[1],
                              v[2] if f == forms.FORM_CHATBOT else None)
                         for (f, m), v in sorted(channel.items(),
                                                 key=lambda kv: (-kv[1][0], -kv[1][2]))),
        switched_to_4g=await switched_to_4g(conn, start, end,
                                            unit.id if unit is not None else None),
        trend=trend,
        # Web chat runs are the operating unit's: shown where its runs are (all, or its unit).
        webchat_limited_runs=await webchat_limits.limited_runs(conn, month)
        if names is None or province_name in names else 0,
        by_group=by_group)


def _month_bounds(month: str) -> tuple[dt.datetime, dt.datetime]:
    year, number = (int(x) for x in month.split("-"))
    start = dt.datetime(year, number, 1, tzinfo=TZ)
    ny, nm = (int(x) for x in forms.shift_month(month, 1).split("-"))
    return start.astimezone(dt.UTC), dt.datetime(ny, nm, 1, tzinfo=TZ).astimezone(dt.UTC)


async def _trend(conn: AsyncConnection, month: str, rollup: Callable[..., Any],
                 entries_stmt: Callable[[tuple[str, ...]], Any]) -> tuple[Line, ...]:
    """Runs and people per month, the last 12; people "not known" (None) for a month whose
    only people figures were entries without a number."""
    months = tuple(forms.shift_month(month, -i) for i in range(TREND_MONTHS - 1, -1, -1))
    sums: dict[str, list[int]] = {m: [0, 0, 0, 0] for m in months}  # runs, people, known, unknown
    for m, dim, runs, people in (await conn.execute(rollup(
            ROLLUP.c.month, ROLLUP.c.dim, dims=("total", COUNTED), months=months))).all():
        if dim == COUNTED:
            sums[m][0] += int(runs)
        else:
            sums[m][1] += int(people)
            sums[m][2] += 1
    stmt = entries_stmt(months).with_only_columns(
        ENTRY.c.month, func.sum(ENTRY.c.runs), func.sum(func.coalesce(ENTRY.c.reached, 0)),
        func.count(ENTRY.c.reached), func.count()).group_by(ENTRY.c.month)
    for m, runs, people, known, count in (await conn.execute(stmt)).all():
        sums[m][0] += int(runs)
        sums[m][1] += int(people)
        sums[m][2] += int(known)
        sums[m][3] += int(count) - int(known)
    return tuple(Line(m, forms.month_label(m), v[0], None if v[3] and not v[2] else v[1],
                      unknown_people=v[3]) for m, v in sums.items())
