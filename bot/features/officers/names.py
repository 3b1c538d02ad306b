"""Officers' names as other officers read them: the full name an officer gives (/dangky CODE
Họ tên, /ten, or their unit's administrator on the admin page), checked and tidied, and, where
two officers still share one name, the role and the registration date after it, so that a page
never reads "Ama approved Ama's announcement" without saying which Ama."""
from __future__ import annotations

import datetime as dt
import unicodedata
from collections import defaultdict
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.i18n import Translator
from bot.core.text import clean_input
from bot.features.officers.models import Role
from bot.features.officers.service import (
    OFFICER,
    PROVINCE_UNIT,
    UNIT,
    OfficerError,
    audit,
    officer_by_id,
)

NAME_MAX = 80
VN = dt.timezone(dt.timedelta(hours=7))


def role_label(t: Translator, role: str, lang: str = "vi") -> str:
    labels = {"viewer": t.gettext(lang, "viewer"), "editor": t.gettext(lang, "editor"),
              "approver": t.gettext(lang, "approver"),
              "admin": t.gettext(lang, "administrator"),
              "reviewer": t.gettext(lang, "translation reviewer")}
    return labels.get(role, role)


def clean_name(raw: str) -> str:
    """A full name as typed, stored as NFC on one line with single spaces; raises
    OfficerError("bad_name") unless it has 2 to 80 characters and at least two letters."""
    text = "".join(" " if unicodedata.category(ch).startswith(("C", "Z")) else ch
                   for ch in clean_input(raw or ""))
    name = " ".join(text.split())
    if len(name) > NAME_MAX or sum(ch.isalpha() for ch in name) < 2:
        raise OfficerError("bad_name")
    return name


def may_rename(actor: Any, target: Any) -> bool:
    """Officers name themselves; an administrator names the officers of their unit (the
    province's administrators every unit's)."""
    if actor.id == target.id:
        return True
    return actor.role == Role.ADMIN and (actor.unit_code == PROVINCE_UNIT
                                         or actor.unit_id == target.unit_id)


async def rename(conn: AsyncConnection, officer_id: int, raw_name: str, actor: str) -> Any:
    """Set an officer's name (audited as officer.rename, with the old and the new name);
    returns the officer as it is now."""
    name = clean_name(raw_name)
    target = await officer_by_id(conn, officer_id)
    if target is None or not target.active:
        raise OfficerError("not_found")
    if name != target.name:
        await conn.execute(update(OFFICER).where(OFFICER.c.id == officer_id).values(name=name))
        await audit(conn, actor, "officer.rename", f"officer:{officer_id}",
                    {"name": target.name}, {"name": name}, target.unit_id)
    officer = await officer_by_id(conn, officer_id)
    assert officer is not None
    return officer


def _fold(name: str) -> str:
    return " ".join(str(name).split()).casefold()


def _vn(moment: dt.datetime) -> dt.datetime:
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).astimezone(VN)


async def display_names(conn: AsyncConnection, t: Translator) -> dict[int, str]:
    """officer id -> the name to show. Officers who share a name (removed ones included: the
    audit log still names them) get their role and registration date after it, and their
    unit when they belong to different units: "Ama (duyệt tin, đăng ký 02/12/2026)"."""
    rows = (await conn.execute(
        select(OFFICER.c.id, OFFICER.c.name, OFFICER.c.role, OFFICER.c.unit_id,
               OFFICER.c.created_at, UNIT.c.name.label("unit_name"))
        .join(UNIT, UNIT.c.id == OFFICER.c.unit_id).order_by(OFFICER.c.id))).all()
    groups: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        groups[_fold(row.name)].append(row)
    names = {row.id: str(row.name) for row in rows}
    for group in groups.values():
        if len(group) > 1:
            names.update(_told_apart(t, group))
    return names


def _told_apart(t: Translator, group: list[Any]) -> dict[int, str]:
    units = len({row.unit_id for row in group}) > 1

    def qualified(row: Any, when: str) -> str:
        parts = [str(row.unit_name)] if units else []
        parts += [role_label(t, row.role), t.gettext("vi", "registered {date}", date=when)]
        return f"{row.name} ({', '.join(parts)})"

    for moment in ("%d/%m/%Y", "%H:%M %d/%m/%Y"):
        named = {row.id: qualified(row, _vn(row.created_at).strftime(moment)) for row in group}
        if len(set(named.values())) == len(named):
            return named
    return {row.id: t.gettext("vi", "{name}, officer no. {id}", name=named[row.id], id=row.id)
            for row in group}


async def display_name(conn: AsyncConnection, t: Translator, officer_id: int | None) -> str:
    """One officer's name as pages and chat messages show it."""
    if officer_id is None:
        return t.gettext("vi", "operator")
    return (await display_names(conn, t)).get(officer_id, t.gettext("vi", "a removed officer"))
