"""Admin pages: the shared page layout and rendering, login-protected home with this month's runs.

Feature pages (broadcasts, reports, questions, translations) render through `render()` so they
share the layout, the logged-in officer and the CSRF token.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, select_autoescape

from bot.features.officers import service as officers
from bot.features.officers import web as auth
from bot.features.outreach.reports.monthly import TZ, monthly_counts
from bot.store import queries

_TEMPLATES = Path(__file__).resolve().parent / "templates"
_ENV = web.AppKey("admin_jinja", Environment)
# (path, label msgid, roles allowed; empty = every officer). Features append their pages.
NAV: list[tuple[str, str, tuple[str, ...]]] = [("/admin", "Overview", ())]


def _environment(translator: Any) -> Environment:
    env = Environment(loader=FileSystemLoader([_TEMPLATES]), autoescape=select_autoescape(),
                      extensions=["jinja2.ext.i18n"])
    gettext = translator.gettext
    env.install_gettext_callables(  # type: ignore[attr-defined]
        lambda msg, **kw: gettext("vi", msg, **kw),
        lambda s, p, n, **kw: gettext("vi", s if n == 1 else p, **kw), newstyle=False)
    return env


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    from bot.features.officers.web import OFFICER
    officer = request.get(OFFICER)
    nav = [(path, label) for path, label, roles in NAV
           if officer is not None and (not roles or officer.can(*roles))]
    html = request.app[_ENV].get_template(template).render(
        officer=officer, csrf=officer.csrf if officer else "", nav=nav, path=request.path,
        **context)
    return web.Response(text=html, content_type="text/html", status=status)


async def admin_page(request: web.Request) -> web.Response:
    from bot.app import SERVICES
    officer = await auth.require_officer(request)
    services = request.app[SERVICES]
    assert services.db is not None
    month = dt.datetime.now(TZ).strftime("%Y-%m")
    async with services.db.connect() as conn:
        counts = await monthly_counts(conn, month)
        queues = await queries.count_by_status(conn)
        # Only the province's administrators see every unit's actions (a commune's
        # administrator sees the commune's own).
        everything = officer.can() and officer.unit_code == officers.PROVINCE_UNIT
        audit = await officers.audit_entries(conn, None if everything else officer.unit_id,
                                             limit=20)
        staff = await _removable_officers(conn, officer)
    return render(request, "admin.html", month=month, counts=counts, queues=queues,
                  unit=services.settings.unit, telegram=services.telegram_bot is not None,
                  audit=audit, staff=staff)


# -- removing an officer -----------------------------------------------------------------------

async def _removable_officers(conn: Any, officer: auth.OfficerInfo) -> list[Any]:
    """The officers an administrator manages: every unit's for the province's, else the unit's
    own; nothing for other roles."""
    if officer.role != officers.Role.ADMIN:
        return []
    province = officer.unit_code == officers.PROVINCE_UNIT
    return await officers.officers(conn, None if province else officer.unit_id)


def _officer_id(request: web.Request) -> int:
    raw = request.match_info["officer_id"]
    if not raw.isdigit() or len(raw) > 9:
        raise web.HTTPNotFound(text="404: no such officer")
    return int(raw)


async def _target(request: web.Request, officer: auth.OfficerInfo) -> Any:
    """The officer to remove, if this administrator manages them (else 404, as for an
    officer that does not exist: another unit's staff is not shown)."""
    from bot.app import SERVICES
    async with request.app[SERVICES].db.connect() as conn:
        target = await officers.officer_by_id(conn, _officer_id(request))
    if target is None or not target.active or (
            officer.unit_code != officers.PROVINCE_UNIT and target.unit_id != officer.unit_id):
        raise web.HTTPNotFound(text="404: no such officer")
    return target


async def remove_page(request: web.Request) -> web.Response:
    """GET /admin/officers/{id}/remove: the confirmation step."""
    officer = await auth.require_officer(request, officers.Role.ADMIN)
    target = await _target(request, officer)
    return render(request, "officer_remove.html", target=target,
                  error=None if target.id != officer.id else _refusal(request, "self"),
                  status=200 if target.id != officer.id else 400)


def _refusal(request: web.Request, code: str) -> str:
    from bot.app import SERVICES
    t = request.app[SERVICES].translator.gettext
    messages = {"self": lambda: t("vi", "You cannot remove yourself. Ask another "
                                  "administrator."),
                "last_admin": lambda: t("vi", "This is the province's last administrator. "
                                        "Add another administrator first.")}
    return messages[code]() if code in messages else t("vi", "This officer no longer exists.")


async def remove_officer(request: web.Request) -> web.StreamResponse:
    """POST /admin/officers/{id}/remove: remove after confirmation (audited)."""
    from bot.app import SERVICES
    officer = await auth.require_officer(request, officers.Role.ADMIN)
    auth.check_csrf(officer, await request.post())
    target = await _target(request, officer)
    try:
        async with request.app[SERVICES].db.begin() as conn:
            actor = await officers.officer_by_id(conn, officer.id)
            await officers.remove_officer(conn, target.id, officer.actor, actor)
    except officers.OfficerError as exc:
        if str(exc) == "not_found":
            raise web.HTTPNotFound(text="404: no such officer") from None
        return render(request, "officer_remove.html", status=400, target=target,
                      error=_refusal(request, str(exc)))
    raise web.HTTPSeeOther(f"/admin?removed={target.id}#officers")


def add_templates(app: web.Application, folder: Path) -> None:
    """A feature's own templates folder joins the search path (base.html stays here)."""
    loader = app[_ENV].loader
    assert isinstance(loader, FileSystemLoader)
    loader.searchpath.append(str(folder))


def setup_admin(app: web.Application, translator: Any) -> None:
    app[_ENV] = _environment(translator)
    for feature in ("officers", "outreach", "broadcasts", "translations", "questions",
                    "content"):   # temporary: each feature registers its own (next commit)
        add_templates(app, _TEMPLATES.parent.parent / "features" / feature / "templates")
    app.router.add_get("/admin", admin_page)
    app.router.add_get("/admin/officers/{officer_id}/remove", remove_page)
    app.router.add_post("/admin/officers/{officer_id}/remove", remove_officer)
    auth.setup(app)     # /admin/login (link or password), /admin/logout, /admin/password
