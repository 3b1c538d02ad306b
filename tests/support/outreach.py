"""Shared helpers of the issue-7 tests (no tests here): databases, officers, a known dataset.

The dataset is written through the same functions Loa uses (add_runs for chatbot and
broadcast runs, create_entry for offline entries), and `expected_*` recompute the report's
numbers from the raw rows independently, so the exports can be checked cell by cell.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import secrets
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.core.i18n import GettextTranslator
from bot.delivery.runs import add_runs
from bot.features.officers import service as officers
from bot.features.outreach import service as outreach
from bot.store.db import Database, make_engine

ROOT = Path(__file__).resolve().parents[2]
TRANSLATOR = GettextTranslator(ROOT / "locales")
PROVINCE_NAME = "Sở Khoa học và Công nghệ tỉnh Đắk Lắk"
MONTH = "2026-10"
TODAY = dt.date(2026, 11, 20)        # the reports below are built "as of" this day


def tr(msgid: str, **values: object) -> str:
    return TRANSLATOR.gettext("vi", msgid, **values)


@contextlib.asynccontextmanager
async def database(url: str) -> AsyncIterator[Database]:
    db = Database(make_engine(url))
    try:
        async with db.begin() as conn:
            await officers.sync_units(conn, PROVINCE_NAME)
        yield db
    finally:
        await db.dispose()


async def add_officer(db: Database, unit: str, role: str, name: str = "Cán bộ",
                      channel: str = "cli", language: str | None = None) -> outreach.Actor:
    async with db.begin() as conn:
        code = await officers.create_invite(conn, unit, role, "test", language)
        row = await officers.redeem_invite(conn, code, channel, secrets.token_hex(8), "1", name)
    return outreach.Actor(row.id, row.unit_id, row.role)


def at(day: int, hour: int = 9, month: str = MONTH) -> dt.datetime:
    """A UTC timestamp of a Vietnam-time day of `month`."""
    year, number = (int(x) for x in month.split("-"))
    return dt.datetime(year, number, day, hour, tzinfo=dt.timezone(dt.timedelta(hours=7))
                       ).astimezone(dt.UTC)


def run(when: dt.datetime, unit: str = PROVINCE_NAME, form: str = "chatbot_qa",
        medium: str = "telegram", kind: str = "answer", topic: str | None = "timeline",
        language: str = "vi", commune: str | None = None, who: str | None = "p1",
        reached: int = 1) -> dict[str, Any]:
    return {"at": when, "unit": unit, "form": form, "medium": medium, "kind": kind,
            "topic": topic, "language": language, "commune_code": commune,
            "contact_pseudonym": who, "reached": reached, "score": None}


@dataclass
class Dataset:
    """What was written, to recompute the report independently."""

    runs: list[dict[str, Any]] = field(default_factory=list)
    entries: list[tuple[str, outreach.EntryInput]] = field(default_factory=list)  # (unit, e)
    actors: dict[str, outreach.Actor] = field(default_factory=dict)


async def seed(db: Database) -> Dataset:
    """Runs of October 2026 (and one of September and November) for two units and the Sở."""
    data = Dataset()
    data.actors["tinh"] = await add_officer(db, "tinh", "admin", "Chị Hoa")
    data.actors["xa-24175"] = await add_officer(db, "xa-24175", "editor", "Anh Y Bih")
    data.actors["xa-24133"] = await add_officer(db, "xa-24133", "editor", "Chị Lan")
    unit_24133 = "Phường Buôn Ma Thuột"
    runs = [
        run(at(1), who="p1", commune="24175"), run(at(1, 10), who="p1", commune="24175"),
        run(at(2), who="p2", medium="web", topic="affected"),
        run(at(3), who="p3", medium="web", topic=None, kind="menu", language="rad"),
        run(at(31, 23), who="p4", topic="contact", commune="24133"),   # 31/10 23:00 VN
        run(at(1, 6), form="broadcast", medium="telegram", who=None, reached=5000,
            topic=None, kind="message"),
        run(at(5), unit=unit_24133, form="broadcast", medium="telegram", who=None,
            reached=1200, topic=None, kind="message", commune="24133"),
        run(at(30, month="2026-09"), who="p9"),                        # September
        run(at(1, 0, month="2026-11"), who="p10"),                     # 1/11 00:00 VN
    ]
    async with db.begin() as conn:
        await add_runs(conn, runs)
    data.runs = runs
    entries = [
        ("xa-24175", outreach.EntryInput(dt.date(2026, 10, 3), "loudspeaker",
                                         "Hệ thống loa truyền thanh xã", 6, None,
                                         ("24175",), ("vi", "rad"), "Phát sáng và chiều")),
        ("xa-24175", outreach.EntryInput(dt.date(2026, 10, 12), "meeting", "Họp thôn", 2, 140,
                                         ("24175",), ("vi",), None)),
        # A commune logs outreach only for itself (issue 17); the province for any commune.
        ("xa-24175", outreach.EntryInput(dt.date(2026, 10, 20), "other", "Xe loa lưu động", 1,
                                         300, ("24175",), ("vi",), None,
                                         form_other="Diễu hành xe loa")),
        ("xa-24133", outreach.EntryInput(dt.date(2026, 10, 15), "leaflet", "Tờ rơi", 3, 900,
                                         ("24133",), ("vi",), "Phát tại chợ")),
        ("xa-24133", outreach.EntryInput(dt.date(2026, 9, 28), "leaflet", "Tờ rơi", 1, 50,
                                         ("24133",), ("vi",), None)),
    ]
    async with db.begin() as conn:
        for unit, entry in entries:
            await outreach.create_entry(conn, data.actors[unit], entry, tr)
    data.entries = entries
    return data


def in_month(when: dt.datetime, month: str = MONTH) -> bool:
    return (when + dt.timedelta(hours=7)).strftime("%Y-%m") == month


def expected_official(data: Dataset, unit_names: set[str] | None = None,
                      units: set[str] | None = None) -> dict[str, tuple[int, int | None]]:
    """form -> (runs, people) for October, from the raw rows (None = every unit); people of
    offline entries without a number are left out, and a form none of whose entries gave one
    has None (the report says "không rõ")."""
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    reach: dict[str, set[tuple[str, str, str]]] = defaultdict(set)
    known: set[str] = set()
    unknown: set[str] = set()
    for r in data.runs:
        if not in_month(r["at"]) or (unit_names is not None and r["unit"] not in unit_names):
            continue
        # a communication run: an answer, a verdict or an announcement (not a menu, a check
        # step or a clarification: those are the chatbot's interactions)
        out[r["form"]][0] += r["form"] != "chatbot_qa" or r["kind"] in ("answer", "verdict")
        known.add(r["form"])
        if r["form"] == "chatbot_qa" and r["kind"] not in ("answer", "verdict"):
            pass    # a chat contact is a person only once Loa answered it (any medium)
        elif r["contact_pseudonym"]:
            reach[r["form"]].add((r["unit"], r["medium"], r["contact_pseudonym"]))
        else:
            out[r["form"]][1] += r["reached"]
    for form, people in reach.items():
        out[form][1] += len(people)
    for unit, e in data.entries:
        if e.month != MONTH or (units is not None and unit not in units):
            continue
        out[e.form][0] += e.runs
        out[e.form][1] += e.reached or 0
        (unknown if e.reached is None else known).add(e.form)
    return {k: (v[0], None if k in unknown and k not in known else v[1])
            for k, v in out.items()}


async def entries_in(client) -> list:  # type: ignore[no-untyped-def]
    """The offline entries stored, as the app running behind `client` reads them."""
    from bot.features.outreach import service as outreach
    from bot.web.keys import RUNTIME
    async with client.server.app[RUNTIME].db.connect() as conn:
        return await outreach.list_entries(conn)
