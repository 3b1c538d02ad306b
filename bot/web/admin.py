"""The admin shell: the shared page layout, its menu and rendering.

Feature pages (officers, broadcasts, reports, questions, translations, content) render through
`render()` so they share the layout, the logged-in officer and the CSRF token. Each feature
adds its templates folder, its static files and its menu entries at start-up
(`add_templates`, `add_static`, `add_page`); nothing here knows the features.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, select_autoescape

from bot.core.i18n import Translator

_TEMPLATES = Path(__file__).resolve().parent / "templates"
_STATIC = Path(__file__).resolve().parent / "static"


class Viewer(Protocol):
    """The logged-in officer as the layout needs them (bot/features/officers/web.py)."""

    name: str
    unit_name: str
    csrf: str

    def can(self, *roles: str) -> bool: ...


@dataclass(frozen=True)
class NavEntry:
    path: str
    label: str                     # msgid, shown in Vietnamese
    roles: tuple[str, ...] = ()    # roles that see it; empty: every officer


@dataclass(frozen=True)
class Waiting:
    """One line of "what waits for you" on an officer's overview: plain words and a link."""

    text: str
    link: str


# A feature's contribution to the overview: what waits for this officer (bot/features/…).
Panel = Callable[[web.Request, Any], Awaitable[list[Waiting]]]


@dataclass
class Shell:
    environment: Environment
    nav: list[NavEntry]
    static: dict[str, Path] = field(default_factory=dict)   # /static/<name> -> its file
    panels: list[Panel] = field(default_factory=list)


SHELL = web.AppKey("admin_shell", Shell)
VIEWER = web.RequestKey("loa_viewer", object)   # a Viewer, set by the officers' login


def _environment(translator: Translator) -> Environment:
    env = Environment(loader=FileSystemLoader([str(_TEMPLATES)]),
                      autoescape=select_autoescape(), extensions=["jinja2.ext.i18n"])
    gettext = translator.gettext
    env.install_gettext_callables(  # type: ignore[attr-defined]
        lambda msg, **kw: gettext("vi", msg, **kw),
        lambda s, p, n, **kw: gettext("vi", s if n == 1 else p, **kw), newstyle=False)
    return env


def setup_shell(app: web.Application, translator: Translator) -> None:
    # The officer's home (the overview, bot/features/outreach/web.py) comes first.
    app[SHELL] = Shell(_environment(translator), [NavEntry("/admin", "Overview")])
    add_static(app, _STATIC)
    app.router.add_get("/static/{name}", _static_file)


def add_static(app: web.Application, folder: Path) -> None:
    """The files of a package's `static` folder are served as /static/<file name> (one flat
    namespace: a name taken twice is a mistake, caught at start-up)."""
    files = app[SHELL].static
    for path in sorted(folder.iterdir()):
        if path.is_file():
            if files.get(path.name, path) != path:
                raise ValueError(f"/static/{path.name} is both {files[path.name]} and {path}")
            files[path.name] = path


async def _static_file(request: web.Request) -> web.StreamResponse:
    """Only the registered files: a name is looked up, never joined to a path."""
    path = request.app[SHELL].static.get(request.match_info["name"])
    if path is None:
        raise web.HTTPNotFound()
    return web.FileResponse(path)


def add_templates(app: web.Application, folder: Path) -> None:
    """A feature's own templates folder joins the search path (base.html stays here)."""
    loader = app[SHELL].environment.loader
    assert isinstance(loader, FileSystemLoader)   # built by _environment
    if str(folder) not in loader.searchpath:
        loader.searchpath.append(str(folder))


def add_page(app: web.Application, entry: NavEntry) -> None:
    """A menu entry of the admin pages, in the order features are registered."""
    if entry not in app[SHELL].nav:
        app[SHELL].nav.append(entry)


def add_waiting(app: web.Application, panel: Panel) -> None:
    """A feature tells officers' overviews what waits for them (drafts, approvals, …)."""
    app[SHELL].panels.append(panel)


async def waiting_for(request: web.Request, officer: Any) -> list[Waiting]:
    """Everything the features say waits for this officer, in registration order."""
    found: list[Waiting] = []
    for panel in request.app[SHELL].panels:
        found.extend(await panel(request, officer))
    return found


def viewer(request: web.Request) -> Viewer | None:
    found = request.get(VIEWER)
    return found  # type: ignore[return-value]


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    shell = request.app[SHELL]
    officer = viewer(request)
    nav = [(e.path, e.label) for e in shell.nav
           if officer is not None and (not e.roles or officer.can(*e.roles))]
    html = shell.environment.get_template(template).render(
        officer=officer, csrf=officer.csrf if officer else "", nav=nav, path=request.path,
        **context)
    return web.Response(text=html, content_type="text/html", status=status)
