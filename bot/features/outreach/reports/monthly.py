"""Months in Vietnam time, and the monthly counts of communication runs (from the rollups).

Communication runs are answers, verdicts and announcements (bot/delivery/runs.py); the chat
turns around them (menus, check steps, clarifications) are counted as interactions, apart."""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.delivery.runs import CHATBOT, COUNTED, GROUP_DIM, REACH, ROLLUP

TZ = dt.timezone(dt.timedelta(hours=7))   # Asia/Ho_Chi_Minh has no DST
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class MonthError(ValueError):
    pass


def parse_month(text: str, today: dt.date | None = None) -> tuple[dt.datetime, dt.datetime]:
    """'2026-11' -> [start, end) in UTC for that month in Vietnam time."""
    match = _MONTH.match(text.strip())
    if not match:
        raise MonthError(f"'{text}' is not a month in the form YYYY-MM (e.g. 2026-11)")
    year, month = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12 or year < 2024:
        raise MonthError(f"'{text}' is not a valid month (2024-01 or later)")
    today = today or dt.datetime.now(TZ).date()
    if (year, month) > (today.year, today.month):
        raise MonthError(f"{text} is in the future")
    start = dt.datetime(year, month, 1, tzinfo=TZ)
    end = dt.datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=TZ)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


@dataclass(frozen=True)
class MonthlyCounts:
    """Loa's own runs of a month. `total` and the by_* tables count communication runs, except
    `by_kind`, which counts every run row by what it was; `interactions` is every chat turn."""

    month: str
    total: int
    by_medium: dict[str, int]
    by_form: dict[str, int]
    by_topic: dict[str, int]
    by_language: dict[str, int]
    by_kind: dict[str, int]
    contacts: int
    interactions: int = 0
    by_group: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {"month": self.month, "total": self.total, "interactions": self.interactions,
                "contacts": self.contacts, "by_medium": self.by_medium,
                "by_form": self.by_form, "by_topic": self.by_topic,
                "by_language": self.by_language, "by_group": self.by_group,
                "by_kind": self.by_kind}

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["month", "dimension", "value", "runs"])
        for name, table in (("medium", self.by_medium), ("form", self.by_form),
                            ("topic", self.by_topic), ("language", self.by_language),
                            ("group", self.by_group), ("kind", self.by_kind)):
            for value, count in table.items():
                writer.writerow([self.month, name, value, count])
        writer.writerow([self.month, "interactions", "", self.interactions])
        writer.writerow([self.month, "total", "", self.total])
        return out.getvalue()


async def monthly_counts(conn: AsyncConnection, month: str,
                         today: dt.date | None = None) -> MonthlyCounts:
    """Runs of a month by medium, form, topic, language, target group and kind; read from
    run_rollup."""
    parse_month(month, today)
    month = month.strip()
    rows = (await conn.execute(
        select(ROLLUP.c.dim, ROLLUP.c.form, ROLLUP.c.medium, ROLLUP.c.value,
               func.sum(ROLLUP.c.runs))
        .where(ROLLUP.c.month == month,
               ROLLUP.c.dim.in_(("total", COUNTED, "c_topic", "c_lang", GROUP_DIM, "kind")))
        .group_by(ROLLUP.c.dim, ROLLUP.c.form, ROLLUP.c.medium, ROLLUP.c.value))).all()
    counters: dict[str, Counter[str]] = {d: Counter() for d in
                                         ("medium", "form", "topic", "language", "kind",
                                          "group")}
    names = {"c_topic": "topic", "c_lang": "language", GROUP_DIM: "group", "kind": "kind"}
    interactions = 0
    for dim, form, medium, value, runs in rows:
        if dim == COUNTED:
            counters["medium"][medium] += int(runs)
            counters["form"][form] += int(runs)
        elif dim == "total":
            if form == CHATBOT:            # every chat turn; announcements are no turn
                interactions += int(runs)
        else:
            counters[names[dim]][value or "none"] += int(runs)

    def ordered(counter: Counter[str]) -> dict[str, int]:
        return dict(sorted(((k, v) for k, v in counter.items() if v),
                           key=lambda kv: (-kv[1], kv[0])))

    contacts = (await conn.execute(select(func.count(func.distinct(REACH.c.pseudonym)))
                                   .where(REACH.c.month == month))).scalar_one()
    return MonthlyCounts(
        month=month, total=sum(counters["form"].values()), by_medium=ordered(counters["medium"]),
        by_form=ordered(counters["form"]), by_topic=ordered(counters["topic"]),
        by_language=ordered(counters["language"]), by_kind=ordered(counters["kind"]),
        contacts=int(contacts), interactions=interactions, by_group=ordered(counters["group"]))
