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

from bot import officers
from bot.reports.monthly import TZ, monthly_counts
from bot.store import queries
from bot.web import auth

_TEMPLATES = Path(__file__).resolve().parent / "templates"
_ENV = web.AppKey("admin_jinja", Environment)
# (path, label msgid, roles allowed; empty = every officer). Features append their pages.
NAV: list[tuple[str, str, tuple[str, ...]]] = [("/admin", "Overview", ())]


def _environment(translator: Any) -> Environment:
    env = Environment(loader=FileSystemLoader(_TEMPLATES), autoescape=select_autoescape(),
                      extensions=["jinja2.ext.i18n"])
    gettext = translator.gettext
    env.install_gettext_callables(  # type: ignore[attr-defined]
        lambda msg, **kw: gettext("vi", msg, **kw),
        lambda s, p, n, **kw: gettext("vi", s if n == 1 else p, **kw), newstyle=False)
    return env


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    from bot.web.auth import OFFICER
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
    return render(request, "admin.html", month=month, counts=counts, queues=queues,
                  unit=services.settings.unit, telegram=services.telegram_bot is not None,
                  audit=audit)


def setup_admin(app: web.Application, translator: Any) -> None:
    app[_ENV] = _environment(translator)
    app.router.add_get("/admin", admin_page)
    auth.setup(app)     # /admin/login (link or password), /admin/logout, /admin/password
