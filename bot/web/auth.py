"""Officer login for the admin pages: one-time links from the chat, cookie sessions, CSRF."""
from __future__ import annotations

import hmac
from dataclasses import dataclass

from aiohttp import web

from bot import officers

COOKIE = "loa_session"


@dataclass(frozen=True)
class OfficerInfo:
    id: int
    name: str
    role: str
    unit_id: int
    unit_code: str
    unit_name: str
    language: str | None
    csrf: str

    @property
    def actor(self) -> str:
        return f"officer:{self.id}"

    def can(self, *roles: str) -> bool:
        return self.role == officers.Role.ADMIN or self.role in roles


_OFFICER = "loa_officer"


async def current_officer(request: web.Request) -> OfficerInfo | None:
    """The logged-in officer of this request, or None."""
    if _OFFICER in request:
        return request[_OFFICER]  # type: ignore[no-any-return]
    from bot.app import SERVICES
    token = request.cookies.get(COOKIE, "")
    info = None
    if token and len(token) < 200:
        db = request.app[SERVICES].db
        assert db is not None
        async with db.connect() as conn:
            found = await officers.session_officer(conn, token)
        if found is not None:
            row, csrf = found
            info = OfficerInfo(row.id, row.name, row.role, row.unit_id, row.unit_code,
                               row.unit_name, row.language, csrf)
    request[_OFFICER] = info
    return info


async def current_actor(request: web.Request) -> str:
    officer = await current_officer(request)
    return officer.actor if officer else "anonymous"


async def require_officer(request: web.Request, *roles: str) -> OfficerInfo:
    """The logged-in officer with one of `roles` (admins pass every check)."""
    officer = await current_officer(request)
    if officer is None:
        raise web.HTTPFound("/admin/login")
    if roles and not officer.can(*roles):
        raise web.HTTPForbidden(text="403: your role does not allow this")
    return officer


def check_csrf(officer: OfficerInfo, form: dict[str, str] | object) -> None:
    given = form.get("csrf", "") if hasattr(form, "get") else ""
    if not isinstance(given, str) or not hmac.compare_digest(given.encode(),
                                                             officer.csrf.encode()):
        raise web.HTTPForbidden(text="403: the form is out of date; reload the page")


async def login(request: web.Request) -> web.StreamResponse:
    """GET /admin/login?token=... opens a session; without a token, explains how to log in."""
    from bot.app import SERVICES
    from bot.web.admin import render
    token = request.query.get("token", "")
    if token:
        db = request.app[SERVICES].db
        assert db is not None
        async with db.begin() as conn:
            session_token = await officers.open_session(conn, token[:200])
        if session_token is not None:
            response = web.HTTPFound("/admin")
            response.set_cookie(COOKIE, session_token, httponly=True, samesite="Strict",
                                secure=request.secure, max_age=officers.SESSION_HOURS * 3600,
                                path="/")
            raise response
        return render(request, "login.html", status=403, expired=True)
    return render(request, "login.html", expired=False)


async def logout(request: web.Request) -> web.StreamResponse:
    from bot.app import SERVICES
    officer = await require_officer(request)
    check_csrf(officer, await request.post())
    db = request.app[SERVICES].db
    assert db is not None
    async with db.begin() as conn:
        await officers.close_session(conn, request.cookies.get(COOKIE, ""))
    response = web.HTTPFound("/admin/login")
    response.del_cookie(COOKIE, path="/")
    raise response
