"""The admin page (placeholder until the officer issues): this month's runs and queue health."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, select_autoescape

from bot.reports.monthly import TZ, monthly_counts
from bot.store import queries

_TEMPLATES = Path(__file__).resolve().parent / "templates"


def _environment(translator: object) -> Environment:
    env = Environment(loader=FileSystemLoader(_TEMPLATES), autoescape=select_autoescape(),
                      extensions=["jinja2.ext.i18n"])
    gettext = translator.gettext
    env.install_gettext_callables(  # type: ignore[attr-defined]
        lambda msg: gettext("vi", msg), lambda s, p, n: gettext("vi", s if n == 1 else p),
        newstyle=True)
    return env


async def admin_page(request: web.Request) -> web.Response:
    from bot.app import SERVICES
    services = request.app[SERVICES]
    assert services.db is not None
    month = dt.datetime.now(TZ).strftime("%Y-%m")
    async with services.db.connect() as conn:
        counts = await monthly_counts(conn, month)
        queues = await queries.count_by_status(conn)
    html = request.app[_ENV].get_template("admin.html").render(
        month=month, counts=counts, queues=queues, unit=services.settings.unit,
        telegram=services.telegram_bot is not None)
    return web.Response(text=html, content_type="text/html")


_ENV = web.AppKey("admin_jinja", Environment)


def setup_admin(app: web.Application, translator: object) -> None:
    app[_ENV] = _environment(translator)
    app.router.add_get("/admin", admin_page)
