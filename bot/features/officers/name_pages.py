"""The page where an officer's name is changed, by the officer or by their unit's
administrator (GET and POST /admin/officers/{id}/name): the name other officers read on the
announcements, the overview and in the chat (names.py)."""
from __future__ import annotations

import datetime as dt
from typing import Any

from aiohttp import web

from bot.delivery.runtime import Runtime
from bot.features.officers import names
from bot.features.officers import service as officers
from bot.features.officers.web import VN, OfficerInfo, check_csrf, require_officer
from bot.web.admin import render
from bot.web.keys import RUNTIME


def _services(request: web.Request) -> Runtime:
    return request.app[RUNTIME]


def _officer_id(request: web.Request) -> int:
    raw = request.match_info["officer_id"]
    if not raw.isdigit() or len(raw) > 9:
        raise web.HTTPNotFound(text="404: no such officer")
    return int(raw)


async def _named(request: web.Request, officer: OfficerInfo) -> Any:
    """The officer whose name this officer may change: themselves, or (administrators) an
    officer of their unit, every unit's for the province's; anyone else is a 404, as for an
    officer that does not exist."""
    async with _services(request).db.connect() as conn:
        target = await officers.officer_by_id(conn, _officer_id(request))
    if target is None or not target.active or not names.may_rename(officer, target):
        raise web.HTTPNotFound(text="404: no such officer")
    return target


def _name_page(request: web.Request, officer: OfficerInfo, target: Any, value: str,
               error: str | None = None, status: int = 200) -> web.Response:
    created = target.created_at if target.created_at.tzinfo else \
        target.created_at.replace(tzinfo=dt.UTC)
    return render(request, "officer_name.html", status=status, target=target, value=value,
                  error=error, own=target.id == officer.id, done=request.query.get("done") == "1",
                  registered=created.astimezone(VN).strftime("%d/%m/%Y"),
                  max_length=names.NAME_MAX)


async def name_page(request: web.Request) -> web.Response:
    """GET /admin/officers/{id}/name: the name other officers see, and a form to change it."""
    officer = await require_officer(request)
    target = await _named(request, officer)
    return _name_page(request, officer, target, target.name)


async def name_save(request: web.Request) -> web.StreamResponse:
    """POST /admin/officers/{id}/name: change it (audited as officer.rename)."""
    officer = await require_officer(request)
    form = await request.post()
    check_csrf(officer, form)
    target = await _named(request, officer)
    typed = str(form.get("name", ""))[:1000]
    try:
        async with _services(request).db.begin() as conn:
            await names.rename(conn, target.id, typed, officer.actor)
    except officers.OfficerError as exc:
        if str(exc) == "not_found":
            raise web.HTTPNotFound(text="404: no such officer") from None
        t = _services(request).translator.gettext
        return _name_page(request, officer, target, typed[:names.NAME_MAX], t(
            "vi", "Write the full name: 2 to {max} characters, with letters, for example "
            "Nguyễn Văn A.", max=names.NAME_MAX), status=400)
    raise web.HTTPSeeOther(f"/admin/officers/{target.id}/name?done=1")


def setup_names(app: web.Application) -> None:
    """The name page; the overview's list of officers and the password page link to it."""
    app.router.add_get("/admin/officers/{officer_id}/name", name_page)
    app.router.add_post("/admin/officers/{officer_id}/name", name_save)
