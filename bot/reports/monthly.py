"""Monthly counts of communication runs by medium, form, topic and language."""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections import Counter
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store import queries

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
    month: str
    total: int
    by_medium: dict[str, int]
    by_form: dict[str, int]
    by_topic: dict[str, int]
    by_language: dict[str, int]
    by_kind: dict[str, int]
    contacts: int

    def to_json(self) -> dict[str, object]:
        return {"month": self.month, "total": self.total, "contacts": self.contacts,
                "by_medium": self.by_medium, "by_form": self.by_form,
                "by_topic": self.by_topic, "by_language": self.by_language,
                "by_kind": self.by_kind}

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["month", "dimension", "value", "runs"])
        for name, table in (("medium", self.by_medium), ("form", self.by_form),
                            ("topic", self.by_topic), ("language", self.by_language),
                            ("kind", self.by_kind)):
            for value, count in table.items():
                writer.writerow([self.month, name, value, count])
        writer.writerow([self.month, "total", "", self.total])
        return out.getvalue()


async def monthly_counts(conn: AsyncConnection, month: str,
                         today: dt.date | None = None) -> MonthlyCounts:
    start, end = parse_month(month, today)
    runs = await queries.runs_between(conn, start, end)

    def count(attr: str) -> dict[str, int]:
        counter = Counter(getattr(r, attr) or "none" for r in runs)
        return dict(sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))

    return MonthlyCounts(
        month=month.strip(), total=len(runs), by_medium=count("medium"), by_form=count("form"),
        by_topic=count("topic"), by_language=count("language"), by_kind=count("kind"),
        contacts=len({r.contact_pseudonym for r in runs if r.contact_pseudonym}))
