"""Officer login for the admin pages: one-time links from the chat or a login name and password
(passwords.py), cookie sessions, CSRF, the page where an officer sets a password, and removing
an officer."""
from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.delivery.runtime import Runtime
from bot.features.officers import passwords
from bot.features.officers import service as officers
from bot.store.models import utcnow
from bot.web.admin import VIEWER, NavEntry, add_page, add_templates, render
from bot.web.keys import RUNTIME
from bot.web.security import client_address, is_https

COOKIE = "loa_session"
LOGIN_CSRF_COOKIE = "loa_login_csrf"     # double-submit token of the login form (no session yet)
VN = dt.timezone(dt.timedelta(hours=7))


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


OFFICER = web.RequestKey("loa_officer", OfficerInfo)   # the logged-in officer of a request
_OFFICER = OFFICER
TEMPLATES = Path(__file__).resolve().parent / "templates"


def _services(request: web.Request) -> Runtime:
    return request.app[RUNTIME]


async def current_officer(request: web.Request) -> OfficerInfo | None:
    """The logged-in officer of this request, or None."""
    if _OFFICER in request:
        return request[_OFFICER]
    token = request.cookies.get(COOKIE, "")
    info = None
    if token and len(token) < 200:
        async with _services(request).db.connect() as conn:
            found = await officers.session_officer(conn, token)
        if found is not None:
            row, csrf = found
            info = OfficerInfo(row.id, row.name, row.role, row.unit_id, row.unit_code,
                               row.unit_name, row.language, csrf)
    request[_OFFICER] = info
    request[VIEWER] = info          # the layout's menu and CSRF token (bot/web/admin.py)
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


def _set_session(request: web.Request, response: web.HTTPException, token: str) -> None:
    response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", secure=is_https(request),
                        max_age=officers.SESSION_HOURS * 3600, path="/")


# -- login -------------------------------------------------------------------------------------

def _login_page(request: web.Request, status: int = 200, expired: bool = False,
                error: str | None = None, login_name: str = "") -> web.Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not (20 <= len(token) <= 64 and token.isascii()):
        token = secrets.token_urlsafe(24)
    response = render(request, "login.html", status=status, expired=expired, error=error,
                      login_csrf=token, login_name=login_name)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="Strict",
                        secure=is_https(request), max_age=2 * 3600, path="/admin/login")
    return response


async def login(request: web.Request) -> web.StreamResponse:
    """GET /admin/login?token=... opens a session; without a token, the login form."""
    token = request.query.get("token", "")
    if token:
        async with _services(request).db.begin() as conn:
            session_token = await officers.open_session(conn, token[:200])
        if session_token is not None:
            response = web.HTTPFound("/admin")
            _set_session(request, response, session_token)
            raise response
        return _login_page(request, status=403, expired=True)
    return _login_page(request)


def _until(moment: dt.datetime | None) -> str:
    return (moment or dt.datetime.now(dt.UTC)).astimezone(VN).strftime("%H:%M")


async def password_login(request: web.Request) -> web.StreamResponse:
    """POST /admin/login: login name and password; failures are counted (passwords.py)."""
    services = _services(request)
    t = services.translator.gettext
    form = await request.post()
    login_name = str(form.get("login", ""))[:80]
    password = str(form.get("password", ""))
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    given = str(form.get("csrf", ""))
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        return _login_page(request, 403, error=t("vi", "The form is out of date. Reload the "
                                                 "page and try again."), login_name=login_name)
    result = await passwords.attempt_login(services.db, services.settings.secret_key,
                                           login_name, password, client_address(request))
    if result.outcome is passwords.Outcome.OK:
        assert result.officer_id is not None
        async with services.db.begin() as conn:
            link = await officers.create_login_link(conn, result.officer_id)
            session_token = await officers.open_session(conn, link)
        assert session_token is not None
        response = web.HTTPSeeOther("/admin")
        _set_session(request, response, session_token)
        response.del_cookie(LOGIN_CSRF_COOKIE, path="/admin/login")
        raise response
    if result.outcome is passwords.Outcome.LOCKED:
        error = t("vi", "This account is locked for a while after {n} failed logins. Wait until "
                  "{time} or log in with a link from the chat: send /quantri to the Loa bot.",
                  n=passwords.ACCOUNT_FAILURES, time=_until(result.until))
        status = 429
    elif result.outcome is passwords.Outcome.CLIENT_LOCKED:
        error = t("vi", "Too many failed logins from this network address. Wait until {time} "
                  "or log in with a link from the chat: send /quantri to the Loa bot.",
                  time=_until(result.until))
        status = 429
    else:
        error = t("vi", "The login name or password is not correct.")
        status = 401
    return _login_page(request, status, error=error, login_name=login_name)


async def logout(request: web.Request) -> web.StreamResponse:
    officer = await require_officer(request)
    check_csrf(officer, await request.post())
    async with _services(request).db.begin() as conn:
        await officers.close_session(conn, request.cookies.get(COOKIE, ""))
    response = web.HTTPFound("/admin/login")
    response.del_cookie(COOKIE, path="/")
    raise response


# -- the password page -------------------------------------------------------------------------

def _problem(t: Any, exc: passwords.PasswordError) -> str:
    messages = {
        "bad_name": lambda: t("vi", "The login name must be 3 to 40 characters: letters a-z "
                              "without tone marks, digits, dots, dashes or underscores, "
                              "starting with a letter or a digit."),
        "too_short": lambda: t("vi", "The password must have at least {n} characters.",
                               n=passwords.MIN_LENGTH),
        "too_long": lambda: t("vi", "The password must have at most {n} characters.",
                              n=passwords.MAX_LENGTH),
        "one_char": lambda: t("vi", "The password must not be one character repeated."),
        "is_name": lambda: t("vi", "The password must not be the same as the login name."),
        "taken": lambda: t("vi", "This login name is already used by another officer. Choose "
                           "another one."),
    }
    return messages[exc.code]() if exc.code in messages else str(exc)


async def _password_page(request: web.Request, officer: OfficerInfo, status: int = 200,
                         error: str | None = None, login_name: str | None = None,
                         done: bool = False) -> web.Response:
    async with _services(request).db.connect() as conn:
        row = await officers.officer_by_id(conn, officer.id)
    assert row is not None
    changed = passwords.as_utc(row.password_changed_at)
    return render(request, "password.html", status=status, error=error, done=done,
                  login_name=(row.login_name or "") if login_name is None else login_name,
                  has_password=row.password_hash is not None,
                  changed=changed.astimezone(VN).strftime("%d/%m/%Y %H:%M") if changed else "",
                  min_length=passwords.MIN_LENGTH)


async def password_page(request: web.Request) -> web.Response:
    officer = await require_officer(request)
    return await _password_page(request, officer, done=request.query.get("done") == "1")


async def password_save(request: web.Request) -> web.StreamResponse:
    """Set or change the login name and password; the current password is needed once one
    is set (a stolen session alone cannot take the account over)."""
    officer = await require_officer(request)
    form = await request.post()
    check_csrf(officer, form)
    services = _services(request)
    t = services.translator.gettext
    secret = services.settings.secret_key
    raw_name = str(form.get("login_name", ""))[:80]
    current, new = str(form.get("current", "")), str(form.get("new", ""))
    confirm = str(form.get("confirm", ""))
    async with services.db.connect() as conn:
        row = await officers.officer_by_id(conn, officer.id)
    assert row is not None

    def page(error: str, status: int = 400) -> Any:
        return _password_page(request, officer, status, error, raw_name)

    try:
        name = passwords.check_login_name(raw_name)
        if new or confirm or row.password_hash is None:
            if not new:
                return await page(t("vi", "Type a new password."))
            if new != confirm:
                return await page(t("vi", "The two new passwords are not the same."))
            passwords.check_password(new, name)
    except passwords.PasswordError as exc:
        return await page(_problem(t, exc))
    if row.password_hash is not None:
        if not current:
            return await page(t("vi", "Type your current password to make a change."))
        name_key = passwords.throttle_key(secret, "name", row.login_name or "")
        now = utcnow()
        async with services.db.begin() as conn:    # counted before the check (parallel-safe)
            attempt = await passwords.reserve_attempt(conn, name_key,
                                                      passwords.ACCOUNT_FAILURES, now)
        if not attempt.allowed:
            return await page(t("vi", "This account is locked for a while after {n} failed "
                                "logins. Wait until {time} or log in with a link from the "
                                "chat: send /quantri to the Loa bot.",
                                n=passwords.ACCOUNT_FAILURES, time=_until(attempt.until)), 429)
        if not await asyncio.to_thread(passwords.verify_password, row.password_hash,
                                       current[:passwords.MAX_LENGTH]):
            async with services.db.begin() as conn:
                await officers.audit(conn, officer.actor, "password.change_refused",
                                     f"officer:{officer.id}", None, None, officer.unit_id)
            return await page(t("vi", "The current password is not correct."), 403)
        async with services.db.begin() as conn:   # the owner: forget the count, as a login does
            await passwords.clear_throttle(conn, name_key)
    new_hash = await asyncio.to_thread(passwords.hash_password, new) if new else None
    try:
        async with services.db.begin() as conn:
            await passwords.store_password(
                conn, officer.id, name, new_hash, officer.actor,
                keep_session=officers.digest(request.cookies.get(COOKIE, "")))
    except passwords.PasswordError as exc:
        return await page(_problem(t, exc))
    raise web.HTTPSeeOther("/admin/password?done=1")


# -- removing an officer -----------------------------------------------------------------------

async def removable_officers(conn: Any, officer: OfficerInfo) -> list[Any]:
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


async def _target(request: web.Request, officer: OfficerInfo) -> Any:
    """The officer to remove, if this administrator manages them (else 404, as for an
    officer that does not exist: another unit's staff is not shown)."""
    async with _services(request).db.connect() as conn:
        target = await officers.officer_by_id(conn, _officer_id(request))
    if target is None or not target.active or (
            officer.unit_code != officers.PROVINCE_UNIT and target.unit_id != officer.unit_id):
        raise web.HTTPNotFound(text="404: no such officer")
    return target


async def remove_page(request: web.Request) -> web.Response:
    """GET /admin/officers/{id}/remove: the confirmation step."""
    officer = await require_officer(request, officers.Role.ADMIN)
    target = await _target(request, officer)
    return render(request, "officer_remove.html", target=target,
                  error=None if target.id != officer.id else _refusal(request, "self"),
                  status=200 if target.id != officer.id else 400)


def _refusal(request: web.Request, code: str) -> str:
    t = _services(request).translator.gettext
    messages = {"self": lambda: t("vi", "You cannot remove yourself. Ask another "
                                  "administrator."),
                "last_admin": lambda: t("vi", "This is the province's last administrator. "
                                        "Add another administrator first.")}
    return messages[code]() if code in messages else t("vi", "This officer no longer exists.")


async def remove_officer(request: web.Request) -> web.StreamResponse:
    """POST /admin/officers/{id}/remove: remove after confirmation (audited)."""
    officer = await require_officer(request, officers.Role.ADMIN)
    check_csrf(officer, await request.post())
    target = await _target(request, officer)
    try:
        async with _services(request).db.begin() as conn:
            actor = await officers.officer_by_id(conn, officer.id)
            await officers.remove_officer(conn, target.id, officer.actor, actor)
    except officers.OfficerError as exc:
        if str(exc) == "not_found":
            raise web.HTTPNotFound(text="404: no such officer") from None
        return render(request, "officer_remove.html", status=400, target=target,
                      error=_refusal(request, str(exc)))
    raise web.HTTPSeeOther(f"/admin?removed={target.id}#officers")


def setup(app: web.Application) -> None:
    """Login, logout, the password page and removing an officer (the overview links to it);
    the name pages are in name_pages.py."""
    add_templates(app, TEMPLATES)
    add_page(app, NavEntry("/admin/password", "Password"))
    app.router.add_get("/admin/officers/{officer_id}/remove", remove_page)
    app.router.add_post("/admin/officers/{officer_id}/remove", remove_officer)
    app.router.add_get("/admin/login", login)
    app.router.add_post("/admin/login", password_login)
    app.router.add_post("/admin/logout", logout)
    app.router.add_get("/admin/password", password_page)
    app.router.add_post("/admin/password", password_save)
