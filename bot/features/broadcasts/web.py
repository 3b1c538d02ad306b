"""Admin pages for announcements: compose, edit, preview, test send, approve or send back (with a
reason), what waits for my approval, progress, stop, and withdraw, retract or delete after a
confirmation.

Every page lives under the routes registered in `setup` (the per-unit isolation test probes
each route): the approval queue is `/admin/broadcasts?view=waiting`, the edit form and the
confirmation steps are views of `/admin/broadcasts/{id}` (`?edit=1`, `?confirm=retract`); the
actions are in actions.py, what the pages share in pages.py."""
from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from bot.features.broadcasts import labels, workflow
from bot.features.broadcasts.actions import CONFIRMED, act, confirm_page, done_notice
from bot.features.broadcasts.models import BroadcastStatus
from bot.features.broadcasts.pages import (
    COMPOSERS,
    PAGES,
    STATIC,
    TEMPLATES,
    BroadcastPages,
    edit_page,
    form_context,
    form_values,
    load,
    pages_of,
    problem,
    read_form,
    row_values,
    show_page,
    unit_filter,
)
from bot.features.broadcasts.service import BroadcastError
from bot.features.officers import names as officer_names
from bot.features.officers import service as officers
from bot.features.officers import web as auth
from bot.features.officers.models import Role
from bot.web.admin import (
    NavEntry,
    Waiting,
    add_page,
    add_static,
    add_templates,
    add_waiting,
    render,
)

__all__ = ["BroadcastPages", "setup"]


async def list_page(request: web.Request) -> web.Response:
    officer = await auth.require_officer(request)
    services = pages_of(request)
    if request.query.get("view") == "waiting":
        return await _waiting_page(request, services, officer)
    message = None
    deleted = request.query.get("deleted", "")
    if deleted.isascii() and deleted.isdigit() and len(deleted) < 10:
        message = services.translator.gettext("vi", "Announcement #{id} was deleted.",
                                              id=deleted)
    return await _list(request, services, officer, None, {}, message=message)


async def _list(request: web.Request, services: BroadcastPages, officer: auth.OfficerInfo,
                error: str | None, values: dict[str, Any], status: int = 200,
                message: str | None = None) -> web.Response:
    async with services.db.connect() as conn:
        rows = await services.broadcasts.list(conn, unit_filter(officer))
        waiting = await workflow.waiting_for(services.broadcasts, conn, officer)
        news = await workflow.author_news(services.broadcasts, conn, officer)
        units = {u.id: u.name for u in await officers.list_units(conn)}
        retracted = await workflow.retractions(
            conn, [r.id for r in rows if r.status in (BroadcastStatus.DONE,
                                                      BroadcastStatus.STOPPED)])
    return render(request, "broadcasts.html", status=status, rows=rows, error=error,
                  message=message, values=values, waiting=len(waiting), news=news,
                  units=units, show_unit=unit_filter(officer) is None, vn_time=labels.vn_time,
                  state=lambda r: workflow.state_label(services.broadcasts, r,
                                                       retracted.get(r.id)),
                  **form_context(services, officer))


async def _waiting_page(request: web.Request, services: BroadcastPages,
                        officer: auth.OfficerInfo) -> web.Response:
    async with services.db.connect() as conn:
        rows = await workflow.waiting_for(services.broadcasts, conn, officer)
        units = {u.id: u.name for u in await officers.list_units(conn)}
        authors = await officer_names.display_names(conn, services.translator)
    return render(request, "broadcasts_waiting.html", rows=rows, units=units, authors=authors,
                  approver=officer.can(Role.APPROVER), vn_time=labels.vn_time)


async def create(request: web.Request) -> web.StreamResponse:
    officer = await auth.require_officer(request, *COMPOSERS)
    form = await request.post()
    auth.check_csrf(officer, form)
    services = pages_of(request)
    try:
        kind, text, variants, audience, send_at, topic = read_form(services, officer, form)
        async with services.db.begin() as conn:
            broadcast_id = await services.broadcasts.create(
                conn, officer.actor, officer.unit_id, officer.id, kind, text, variants,
                audience, send_at, topic)
    except (BroadcastError, ValueError) as exc:
        return await _list(request, services, officer,
                           problem(services.translator.gettext, exc), form_values(form),
                           status=400)
    raise web.HTTPFound(f"/admin/broadcasts/{broadcast_id}")


# -- one announcement ------------------------------------------------------------------------

async def show(request: web.Request) -> web.Response:
    officer = await auth.require_officer(request)
    services, row = await load(request, officer)
    if request.query.get("edit") and workflow.may_edit(officer, row):
        return await edit_page(request, services, officer, row, row_values(row), None)
    if request.query.get("confirm") in CONFIRMED:
        return await confirm_page(request, services, row, officer,
                                   request.query["confirm"])
    notice = done_notice(services.translator.gettext, request.query.get("done", ""),
                      request.query)
    return await show_page(request, services, row, officer, notice, None)


async def progress_json(request: web.Request) -> web.Response:
    officer = await auth.require_officer(request)
    services, row = await load(request, officer)
    t = services.translator
    async with services.db.connect() as conn:
        p = await services.broadcasts.progress(conn, row)
        retraction = (await workflow.retractions(conn, [row.id])).get(row.id)
    return web.Response(text=json.dumps({
        "status": row.status,
        "status_label": workflow.state_label(services.broadcasts, row, retraction),
        "total": p.total, "done": p.done, "remaining": p.remaining,
        "by_status": p.by_status, "rate": round(p.rate_per_s, 2),
        "eta_s": None if p.eta_s is None else round(p.eta_s),
        "pace": labels.pace(t, row, p, services.settings.quiet_hours)},
        ensure_ascii=False), content_type="application/json")


async def _waiting_panel(request: web.Request, officer: Any) -> list[Waiting]:
    """For the overview: announcements this officer may approve, and news of their own
    (sent back with the reason, approved, stopped, finished)."""
    services = pages_of(request)
    t = services.broadcasts.t.gettext
    async with services.db.connect() as conn:
        pending = await workflow.waiting_for(services.broadcasts, conn, officer)
        news = await workflow.author_news(services.broadcasts, conn, officer)
    out = []
    if pending:
        out.append(Waiting(t("vi", "{n} announcement(s) wait for your approval.",
                             n=len(pending)), "/admin/broadcasts?view=waiting"))
    out += [Waiting(line, f"/admin/broadcasts/{bid}") for bid, _level, line in news]
    return out


def setup(app: web.Application, pages: BroadcastPages) -> None:
    app[PAGES] = pages
    add_templates(app, TEMPLATES)
    add_static(app, STATIC)                 # /static/broadcast.js and .css
    add_page(app, NavEntry("/admin/broadcasts", "Announcements"))
    add_page(app, NavEntry("/admin/broadcasts?view=waiting", "Waiting for my approval",
                           (Role.APPROVER,)))
    add_waiting(app, _waiting_panel)       # the overview's "Việc chờ bạn"
    app.router.add_get("/admin/broadcasts", list_page)
    app.router.add_post("/admin/broadcasts", create)
    app.router.add_get("/admin/broadcasts/{id:\\d+}", show)
    app.router.add_get("/admin/broadcasts/{id:\\d+}/progress", progress_json)
    app.router.add_post("/admin/broadcasts/{id:\\d+}/{action:[a-z]+}", act)
