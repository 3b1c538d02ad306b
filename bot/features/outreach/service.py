"""Offline outreach runs logged by officers: validation, create/correct/delete, the monthly
submission that locks a month, and audited amendments after it.

Every rule lives here, so the admin form, the /ghinhan chat dialog and the leaflet kit refuse
the same wrong input with the same message. Messages are English msgids put through `tr`.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.features.officers import service as officers
from bot.features.outreach.models import (
    OutreachDialog,
    OutreachEntry,
    ReportAmendment,
    ReportSubmission,
)
from bot.features.outreach.reports import forms
from bot.store.models import utcnow
from bot.store.retention import Rule

ENTRY = OutreachEntry.__table__
SUBMISSION = ReportSubmission.__table__
AMENDMENT = ReportAmendment.__table__
DIALOG = OutreachDialog.__table__
TZ = dt.timezone(dt.timedelta(hours=7))
FIRST_DAY = dt.date(2024, 1, 1)
MAX_RUNS = 100_000
MAX_REACHED = 10_000_000
MAX_TEXT = 120
MAX_NOTE = 1000
MAX_REASON = 1000
MAX_EVIDENCE = 10 * 1024 * 1024
EVIDENCE_TYPES = {".jpg", ".jpeg", ".png", ".webp", ".heic", ".pdf", ".doc", ".docx", ".xls",
                  ".xlsx", ".odt", ".ods"}
WRITE_ROLES = ("editor", "approver")          # admins pass every role check
Tr = Callable[..., str]                         # tr(msgid, **values) -> translated text
_DATE_DMY = re.compile(r"^(\d{1,2})[/.\-](\d{1,2})(?:[/.\-](\d{4}))?$")
_DATE_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


# Retention (bot/features/privacy/retention.py): an officer's /ghinhan dialog abandoned half-way
# (it holds what they typed) goes after BOT_RETENTION_DAYS.
RETENTION: tuple[Rule, ...] = (
    Rule("outreach_dialogs", DIALOG, lambda cut: DIALOG.c.updated_at < cut, None),
)


class OutreachError(ValueError):
    """Refused input; `errors` maps a field name ("_" for the whole form) to a message."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(self.errors.values()))


@dataclass(frozen=True)
class Actor:
    """The officer doing something, whether from the admin page or the chat."""

    officer_id: int
    unit_id: int
    role: str

    @property
    def name(self) -> str:
        return f"officer:{self.officer_id}"

    @property
    def can_write(self) -> bool:
        return self.role in (*WRITE_ROLES, "admin")


@dataclass(frozen=True)
class EntryInput:
    """One validated offline outreach entry."""

    day: dt.date
    form: str
    medium: str
    runs: int
    reached: int | None = None
    communes: tuple[str, ...] = ()
    languages: tuple[str, ...] = ("vi",)
    note: str | None = None
    form_other: str | None = None
    groups: tuple[str, ...] = ()          # target groups reached; () = not recorded

    @property
    def month(self) -> str:
        return forms.month_of(self.day)

    def values(self) -> dict[str, Any]:
        return {"day": self.day, "month": self.month, "form": self.form,
                "form_other": self.form_other, "medium": self.medium, "runs": self.runs,
                "reached": self.reached, "communes": ",".join(self.communes),
                "languages": ",".join(self.languages), "note": self.note,
                "target_groups": ",".join(self.groups)}


def today_vn() -> dt.date:
    return dt.datetime.now(TZ).date()


# -- parsing one field at a time (shared by the form and the chat dialog) ----------------------

def parse_day(text: str, today: dt.date, tr: Tr) -> dt.date:
    raw = text.strip()
    if not raw:
        raise OutreachError({"day": tr("Enter the date the outreach took place.")})
    day: dt.date | None = None
    try:
        if (m := _DATE_ISO.match(raw)) is not None:
            day = dt.date(int(m[1]), int(m[2]), int(m[3]))
        elif (m := _DATE_DMY.match(raw)) is not None:
            day = dt.date(int(m[3]) if m[3] else today.year, int(m[2]), int(m[1]))
    except ValueError:
        day = None
    if day is None:
        raise OutreachError({"day": tr("'{value}' is not a date. Write it like 25/11/2026.",
                                       value=raw[:30])})
    if day > today:
        raise OutreachError({"day": tr("{date} is in the future. Log outreach once it has "
                                       "taken place.", date=day.strftime("%d/%m/%Y"))})
    if day < FIRST_DAY:
        raise OutreachError({"day": tr("{date} is before 2024; Loa's reports start in "
                                       "January 2024.", date=day.strftime("%d/%m/%Y"))})
    return day


def parse_form(code: str, other: str, tr: Tr) -> tuple[str, str | None]:
    code = code.strip()
    if code not in forms.OFFLINE_CODES:
        raise OutreachError({"form": tr("Choose a form of outreach from the list.")})
    if code != "other":
        return code, None
    other = " ".join(other.split())
    if not other:
        raise OutreachError({"form_other": tr("Describe the other form of outreach.")})
    if len(other) > MAX_TEXT:
        raise OutreachError({"form_other": tr("Keep it under {limit} characters.",
                                              limit=MAX_TEXT)})
    return code, other


def parse_medium(text: str, tr: Tr) -> str:
    medium = " ".join(text.split())
    if not medium:
        raise OutreachError({"medium": tr("Enter the medium used (for example: commune "
                                          "loudspeaker system, Zalo, leaflet).")})
    if len(medium) > MAX_TEXT:
        raise OutreachError({"medium": tr("Keep it under {limit} characters.", limit=MAX_TEXT)})
    return medium


def _whole_number(text: str) -> int | None:
    raw = text.strip().replace(" ", "")
    if re.fullmatch(r"-?\d{1,3}([.,]\d{3})+", raw):
        raw = raw.replace(".", "").replace(",", "")
    return int(raw) if re.fullmatch(r"-?\d{1,9}", raw) else None


def parse_runs(text: str, tr: Tr) -> int:
    runs = _whole_number(text)
    if runs is None:
        raise OutreachError({"runs": tr("Enter the number of runs as a whole number, for "
                                        "example 3.")})
    if runs < 1:
        raise OutreachError({"runs": tr("The number of runs must be 1 or more.")})
    if runs > MAX_RUNS:
        raise OutreachError({"runs": tr("{n} runs in one entry is too many; split it or check "
                                        "the number.", n=runs)})
    return runs


def parse_reached(text: str, tr: Tr) -> int | None:
    if not text.strip():
        return None
    reached = _whole_number(text)
    if reached is None or reached < 0:
        raise OutreachError({"reached": tr("People reached must be a whole number, 0 or more; "
                                           "leave it empty if not known.")})
    if reached > MAX_REACHED:
        raise OutreachError({"reached": tr("{n} people is more than the province's "
                                           "population; check the number.", n=reached)})
    return reached


def parse_communes(items: Iterable[str], tr: Tr) -> tuple[str, ...]:
    codes: list[str] = []
    unknown: list[str] = []
    for item in items:
        for part in item.split(","):
            if not part.strip():
                continue
            code = forms.find_commune(part)
            if code is None:
                unknown.append(part.strip()[:40])
            elif code not in codes:
                codes.append(code)
    if unknown:
        raise OutreachError({"communes": tr("Unknown commune or ward: {names}. Use the name "
                                            "from the list, e.g. Hòa Phú or Buôn Ma Thuột.",
                                            names=", ".join(unknown))})
    return tuple(codes)


def reach_of(commune_code: str | None) -> tuple[str, ...] | None:
    """The communes a unit may log outreach for: a commune or ward only itself (its unit row
    carries its commune code); the province and the other units (radio, newspaper, carriers)
    every commune (None)."""
    return (commune_code,) if commune_code else None


async def unit_reach(conn: AsyncConnection, unit_id: int) -> tuple[str, ...] | None:
    unit = await officers.unit_by_id(conn, unit_id)
    return reach_of(unit.commune_code if unit is not None else None)


def check_reach(communes: Iterable[str], reach: tuple[str, ...] | None, tr: Tr) -> None:
    """Refuses communes outside the unit's reach, whatever a form or a chat sent."""
    if reach is None:
        return
    others = [c for c in communes if c not in reach]
    if others:
        raise OutreachError({"communes": tr(
            "Your unit logs outreach only for {own}, not for {others}. Outreach in another "
            "commune or ward is logged by that commune or ward.",
            own=", ".join(forms.commune_name(c) for c in reach),
            others=", ".join(forms.commune_name(c) for c in others))})


def parse_languages(items: Iterable[str], tr: Tr) -> tuple[str, ...]:
    codes = [c.strip() for item in items for c in item.split(",") if c.strip()]
    unknown = [c for c in codes if c not in forms.LANGUAGE_CODES]
    if unknown:
        raise OutreachError({"languages": tr("Unknown language: {codes}.",
                                             codes=", ".join(unknown)[:80])})
    return tuple(dict.fromkeys(codes)) or ("vi",)


def parse_groups(items: Iterable[str], tr: Tr) -> tuple[str, ...]:
    """Target groups from codes (the form's boxes) or typed names or numbers (the chat), in the
    order of the list; none is allowed (not recorded)."""
    chosen: set[str] = set()
    unknown: list[str] = []
    for item in items:
        for part in item.split(","):
            if not part.strip():
                continue
            code = forms.find_group(part, tr)
            if code is None:
                unknown.append(part.strip()[:40])
            else:
                chosen.add(code)
    if unknown:
        raise OutreachError({"groups": tr(
            "Unknown target group: {names}. Choose from: {choices}.",
            names=", ".join(unknown)[:120],
            choices="; ".join(f"{i}. {forms.group_label(tr, c)}"
                              for i, c in enumerate(forms.GROUP_CODES, 1)))})
    return tuple(c for c in forms.GROUP_CODES if c in chosen)


def parse_note(text: str, tr: Tr) -> str | None:
    note = text.strip()
    if len(note) > MAX_NOTE:
        raise OutreachError({"note": tr("The note is too long (at most {limit} characters).",
                                        limit=MAX_NOTE)})
    return note or None


def parse_entry(fields: Mapping[str, str | list[str]], today: dt.date, tr: Tr) -> EntryInput:
    """Validate a whole entry; every wrong field is reported at once."""
    def one(name: str) -> str:
        value = fields.get(name, "")
        return value[0] if isinstance(value, list) and value else str(value or "")

    def many(name: str) -> list[str]:
        value = fields.get(name, [])
        return list(value) if isinstance(value, list) else [value] if value else []

    errors: dict[str, str] = {}
    parsed: dict[str, Any] = {}
    steps: tuple[tuple[str, Callable[[], Any]], ...] = (
        ("day", lambda: parse_day(one("day"), today, tr)),
        ("form", lambda: parse_form(one("form"), one("form_other"), tr)),
        ("medium", lambda: parse_medium(one("medium"), tr)),
        ("runs", lambda: parse_runs(one("runs"), tr)),
        ("reached", lambda: parse_reached(one("reached"), tr)),
        ("communes", lambda: parse_communes(many("communes"), tr)),
        ("languages", lambda: parse_languages(many("languages"), tr)),
        ("groups", lambda: parse_groups(many("groups"), tr)),
        ("note", lambda: parse_note(one("note"), tr)))
    for name, step in steps:
        try:
            parsed[name] = step()
        except OutreachError as exc:
            errors.update(exc.errors)
    if errors:
        raise OutreachError(errors)
    form, other = parsed.pop("form")
    return EntryInput(form=form, form_other=other, **parsed)


# -- evidence files --------------------------------------------------------------------------

def check_evidence(filename: str, size: int, tr: Tr) -> str:
    """The file's lower-case extension, or OutreachError."""
    ext = Path(filename).suffix.lower()
    if ext not in EVIDENCE_TYPES:
        raise OutreachError({"evidence": tr("Evidence must be a photo (JPG, PNG), a PDF or an "
                                            "office document.")})
    if size > MAX_EVIDENCE:
        raise OutreachError({"evidence": tr("The evidence file is too large (at most {mb} MB).",
                                            mb=MAX_EVIDENCE // (1024 * 1024))})
    return ext


def store_evidence(data_dir: Path, filename: str, content: bytes, tr: Tr) -> tuple[str, str]:
    """Save an uploaded file; returns (path relative to data_dir, cleaned original name)."""
    ext = check_evidence(filename, len(content), tr)
    relative = f"evidence/{uuid.uuid4().hex}{ext}"
    path = data_dir / relative
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # 600 whatever the umask: evidence may show people's faces, names and phone numbers
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(content)
    name = re.sub(r"[^\w .()-]", "_", Path(filename).name)[:120] or f"evidence{ext}"
    return relative, name


def evidence_token(secret: str, officer_id: int, relative: str, name: str) -> str:
    """A signed reference to a file uploaded with a form that was refused, so it is kept."""
    body = f"{relative}|{name}"
    sig = hmac.new(secret.encode(), f"{officer_id}|{body}".encode(), hashlib.sha256).hexdigest()
    return f"{body}|{sig[:32]}"


def read_evidence_token(secret: str, officer_id: int, token: str,
                        data_dir: Path) -> tuple[str, str] | None:
    parts = token.split("|")
    if len(parts) != 3 or not re.fullmatch(r"evidence/[0-9a-f]{32}\.[a-z]{3,4}", parts[0]):
        return None
    expected = evidence_token(secret, officer_id, parts[0], parts[1]).rsplit("|", 1)[1]
    if not hmac.compare_digest(expected, parts[2]) or not (data_dir / parts[0]).is_file():
        return None
    return parts[0], parts[1]


# -- the database ----------------------------------------------------------------------------

def entry_json(row: Row[Any] | EntryInput | Mapping[str, Any]) -> dict[str, Any]:
    """What the audit log and amendments record of an entry."""
    get = (lambda k: getattr(row, k, None)) if not isinstance(row, Mapping) else row.get
    def codes(value: Any) -> list[str]:
        return list(value) if isinstance(value, tuple) else [
            c for c in (value or "").split(",") if c]

    groups = get("groups") if isinstance(row, EntryInput) else get("target_groups")
    return {"day": str(get("day")), "form": get("form"), "form_other": get("form_other"),
            "medium": get("medium"), "runs": get("runs"), "reached": get("reached"),
            "communes": codes(get("communes")), "languages": codes(get("languages")),
            "groups": codes(groups), "note": get("note"), "evidence": get("evidence_name")}


async def submission(conn: AsyncConnection, unit_id: int, month: str) -> Row[Any] | None:
    return (await conn.execute(select(SUBMISSION).where(
        SUBMISSION.c.unit_id == unit_id, SUBMISSION.c.month == month))).first()


async def submitted_months(conn: AsyncConnection, unit_id: int) -> set[str]:
    return set((await conn.execute(select(SUBMISSION.c.month)
                                   .where(SUBMISSION.c.unit_id == unit_id))).scalars())


async def get_entry(conn: AsyncConnection, entry_id: int) -> Row[Any] | None:
    return (await conn.execute(select(ENTRY).where(ENTRY.c.id == entry_id,
                                                   ENTRY.c.deleted_at.is_(None)))).first()


async def list_entries(conn: AsyncConnection, month: str | None = None,
                       unit_id: int | None = None) -> list[Row[Any]]:
    stmt = select(ENTRY).where(ENTRY.c.deleted_at.is_(None))
    if month is not None:
        stmt = stmt.where(ENTRY.c.month == month)
    if unit_id is not None:
        stmt = stmt.where(ENTRY.c.unit_id == unit_id)
    return list((await conn.execute(stmt.order_by(ENTRY.c.day, ENTRY.c.id))).all())


def locked_message(month: str, tr: Tr) -> str:
    return tr("The report for {month} has already been submitted. To change it, give the "
              "reason for the amendment.", month=forms.month_label(month))


async def _check_open(conn: AsyncConnection, unit_id: int, months: set[str],
                      reason: str | None, tr: Tr) -> list[str]:
    """The submitted months among `months`; refuses unless a reason makes it an amendment."""
    locked = [m for m in sorted(months) if await submission(conn, unit_id, m) is not None]
    if locked and not (reason or "").strip():
        raise OutreachError({"reason": locked_message(locked[0], tr)})
    if locked and len(reason or "") > MAX_REASON:
        raise OutreachError({"reason": tr("Keep the reason under {limit} characters.",
                                          limit=MAX_REASON)})
    return locked


async def _amend(conn: AsyncConnection, actor: Actor, months: list[str], entry_id: int,
                 action: str, reason: str, before: dict[str, Any] | None,
                 after: dict[str, Any] | None) -> None:
    now = utcnow()
    for month in months:
        await conn.execute(AMENDMENT.insert().values(
            unit_id=actor.unit_id, month=month, entry_id=entry_id, action=action,
            reason=reason.strip(), officer_id=actor.officer_id, at=now,
            before=None if before is None else json.dumps(before, ensure_ascii=False),
            after=None if after is None else json.dumps(after, ensure_ascii=False)))
        await conn.execute(update(SUBMISSION).where(
            SUBMISSION.c.unit_id == actor.unit_id, SUBMISSION.c.month == month).values(
            amendments=SUBMISSION.c.amendments + 1, last_amended_at=now))
        await officers.audit(conn, actor.name, "report.amend", f"report:{month}", before,
                             {"entry": entry_id, "action": action, "reason": reason.strip(),
                              "after": after}, actor.unit_id)


def _require_writer(actor: Actor, tr: Tr) -> None:
    if not actor.can_write:
        raise OutreachError({"_": tr("Your role can view reports but not log outreach.")})


async def create_entry(conn: AsyncConnection, actor: Actor, entry: EntryInput, tr: Tr, *,
                       source: str = "form", evidence: tuple[str, str] | None = None,
                       reason: str | None = None) -> int:
    _require_writer(actor, tr)
    check_reach(entry.communes, await unit_reach(conn, actor.unit_id), tr)
    locked = await _check_open(conn, actor.unit_id, {entry.month}, reason, tr)
    now = utcnow()
    entry_id = (await conn.execute(ENTRY.insert().values(
        unit_id=actor.unit_id, source=source, created_by=actor.officer_id, created_at=now,
        updated_at=now, evidence_path=evidence[0] if evidence else None,
        evidence_name=evidence[1] if evidence else None, **entry.values())
        .returning(ENTRY.c.id))).scalar_one()
    after = {**entry_json(entry), "evidence": evidence[1] if evidence else None}
    await officers.audit(conn, actor.name, "outreach.create", f"outreach:{entry_id}", None,
                         {**after, "source": source}, actor.unit_id)
    if locked:
        await _amend(conn, actor, locked, entry_id, "create", reason or "", None, after)
    return entry_id


async def _own_entry(conn: AsyncConnection, actor: Actor, entry_id: int, tr: Tr) -> Row[Any]:
    _require_writer(actor, tr)
    row = await get_entry(conn, entry_id)
    if row is None or row.unit_id != actor.unit_id:
        raise OutreachError({"_": tr("This entry does not exist or belongs to another unit.")})
    if row.created_by != actor.officer_id and actor.role != "admin":
        raise OutreachError({"_": tr("Only the officer who logged this entry, or the unit's "
                                     "administrator, can change it.")})
    return row


async def update_entry(conn: AsyncConnection, actor: Actor, entry_id: int, entry: EntryInput,
                       tr: Tr, *, evidence: tuple[str, str] | None = None,
                       reason: str | None = None) -> None:
    row = await _own_entry(conn, actor, entry_id, tr)
    check_reach(entry.communes, await unit_reach(conn, actor.unit_id), tr)
    locked = await _check_open(conn, actor.unit_id, {row.month, entry.month}, reason, tr)
    values: dict[str, Any] = {**entry.values(), "updated_at": utcnow()}
    if evidence is not None:
        values.update(evidence_path=evidence[0], evidence_name=evidence[1])
    await conn.execute(update(ENTRY).where(ENTRY.c.id == entry_id).values(**values))
    before = entry_json(row)
    after = {**entry_json(entry), "evidence": evidence[1] if evidence else row.evidence_name}
    await officers.audit(conn, actor.name, "outreach.update", f"outreach:{entry_id}", before,
                         after, actor.unit_id)
    if locked:
        await _amend(conn, actor, locked, entry_id, "update", reason or "", before, after)


async def delete_entry(conn: AsyncConnection, actor: Actor, entry_id: int, tr: Tr, *,
                       reason: str | None = None) -> None:
    row = await _own_entry(conn, actor, entry_id, tr)
    locked = await _check_open(conn, actor.unit_id, {row.month}, reason, tr)
    await conn.execute(update(ENTRY).where(ENTRY.c.id == entry_id).values(deleted_at=utcnow()))
    before = entry_json(row)
    await officers.audit(conn, actor.name, "outreach.delete", f"outreach:{entry_id}", before,
                         None, actor.unit_id)
    if locked:
        await _amend(conn, actor, locked, entry_id, "delete", reason or "", before, None)


async def submit_month(conn: AsyncConnection, actor: Actor, month: str, today: dt.date,
                       tr: Tr) -> None:
    """Mark the unit's report of `month` submitted; its entries are locked from now on."""
    _require_writer(actor, tr)
    if month >= forms.month_of(today):
        raise OutreachError({"_": tr("{month} is not over yet; submit its report from the 1st "
                                     "of next month.", month=forms.month_label(month))})
    if await submission(conn, actor.unit_id, month) is not None:
        raise OutreachError({"_": tr("The report for {month} has already been submitted.",
                                     month=forms.month_label(month))})
    await conn.execute(SUBMISSION.insert().values(
        unit_id=actor.unit_id, month=month, submitted_at=utcnow(),
        submitted_by=actor.officer_id, amendments=0))
    await officers.audit(conn, actor.name, "report.submit", f"report:{month}", None,
                         {"month": month}, actor.unit_id)


async def amendments(conn: AsyncConnection, month: str,
                     unit_id: int | None = None) -> list[Row[Any]]:
    stmt = select(AMENDMENT).where(AMENDMENT.c.month == month)
    if unit_id is not None:
        stmt = stmt.where(AMENDMENT.c.unit_id == unit_id)
    return list((await conn.execute(stmt.order_by(AMENDMENT.c.id))).all())
