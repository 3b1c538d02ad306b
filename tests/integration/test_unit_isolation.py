"""Per-unit isolation (issue 9): an officer of one commune can neither see nor change another
commune's data through any admin page. The routes are read from the app itself, and every one
under /admin needs a probe here, so a new page cannot escape this test.

What is not a unit's data, by design: translations (per language, decided by that
language's reviewers), the printable outreach kit (public text for any commune), and the login
pages. Officers of the province unit ("tinh") see every unit (README, "Officers and units").
"""
from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import zipfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

import aiohttp
import openpyxl
import pytest
from aiohttp.test_utils import TestClient, TestServer
from support.env import sql_connect
from support.officers import login_as

from bot.app import build_app
from bot.features.officers import passwords
from bot.features.officers import service as officers
from bot.features.outreach import service as outreach
from bot.features.outreach.reports import forms
from bot.store.db import Database, make_engine

A, B = "xa-24175", "xa-24133"
A_NAME, B_NAME = "Xã Hòa Phú", "Phường Buôn Ma Thuột"
MARK = "BIMAT-CUA-PHUONG-B"          # in every text unit B writes
PNG = b"\x89PNG\r\n\x1a\n" + b"B-evidence" * 8
BROADCAST_ACTIONS = ("test", "submit", "approve", "reject", "stop", "variant", "retract",
                     "edit", "delete", "xyz")


@dataclass
class World:
    """Unit B's objects, made through the pages by an administrator of B."""

    client: TestClient
    settings: object
    b_officer: int = 0
    b_unit: int = 0
    a_unit: int = 0
    b_entry: int = 0
    b_broadcast: int = 0
    last_month: str = ""
    notes: list[str] = field(default_factory=list)

    def sql(self, query: str, *params: object) -> list[tuple]:
        with sql_connect(self.settings) as db:
            return list(db.execute(query, params))


Probe = Callable[[World], Awaitable[None]]
PROBES: dict[tuple[str, str], Probe] = {}


def probe(method: str, path: str) -> Callable[[Probe], Probe]:
    def register(fn: Probe) -> Probe:
        PROBES[(method, path)] = fn
        return fn
    return register


@pytest.fixture
async def client(settings):
    """The app with a minority language on, so the translation pages exist too."""
    app = build_app(replace(settings, languages=("vi", "rad")))
    async with TestClient(TestServer(app)) as c:
        yield c


async def csrf_of(client, path: str = "/admin") -> str:
    text = await (await client.get(path)).text()
    return re.search(r'name="csrf" value="([^"]+)"', text)[1]


def entry_form(csrf: str, day: str, commune: str, note: str,
               evidence: bytes | None = None, **extra: str) -> aiohttp.FormData:
    data = aiohttp.FormData()
    for key, value in {"csrf": csrf, "day": day, "form": "loudspeaker",
                       "medium": "Loa truyền thanh", "runs": "3", "reached": "",
                       "communes": commune, "languages": "vi", "note": note, **extra}.items():
        data.add_field(key, value)
    if evidence:
        data.add_field("evidence", evidence, filename="bien-ban.png",
                       content_type="application/octet-stream")
    return data


async def text_of(response) -> str:
    body = await response.read()
    return body.decode("utf-8", "replace")


def assert_hidden(w: World, text: str) -> None:
    """Nothing of unit B in a page or file shown to the officer of A."""
    assert MARK not in text
    assert f"/admin/outreach/{w.b_entry}" not in text
    assert f"/admin/broadcasts/{w.b_broadcast}\"" not in text
    assert "b.quantri" not in text                          # B's login name


async def seed(client, settings) -> World:
    last = forms.shift_month(forms.month_of(outreach.today_vn()), -1)
    w = World(client, settings, last_month=last)
    w.b_officer = await login_as(client, settings, B, "admin")
    csrf = await csrf_of(client, "/admin/outreach/new")
    saved = await client.post("/admin/outreach/new", data=entry_form(
        csrf, f"{last}-05", "24133", f"{MARK} ghi chú", PNG), allow_redirects=False)
    assert saved.status == 303, await saved.text()
    created = await client.post("/admin/broadcasts", data={
        "csrf": csrf, "kind": "message", "text": f"{MARK} thông báo của phường"},
        allow_redirects=False)
    assert created.status == 302
    w.b_broadcast = int(created.headers["Location"].rsplit("/", 1)[1])
    client.session.cookie_jar.clear()
    ((w.b_unit,),) = w.sql("select id from unit where code = ?", B)
    ((w.a_unit,),) = w.sql("select id from unit where code = ?", A)
    ((w.b_entry,),) = w.sql("select id from outreach_entry where unit_id = ?", w.b_unit)
    db = Database(make_engine(settings.database_url))
    try:
        async with db.begin() as conn:
            await passwords.store_password(conn, w.b_officer, "b.quantri",
                                           passwords.hash_password("Mật khẩu của phường B"),
                                           "test")
    finally:
        await db.dispose()
    return w


def b_state(w: World) -> tuple:
    """Everything of unit B that a probe could have changed."""
    return (w.sql("select id, unit_id, note, runs, evidence_path from outreach_entry "
                  "where unit_id = ?", w.b_unit),
            w.sql("select id, unit_id, status, text from broadcast where unit_id = ?", w.b_unit),
            w.sql("select login_name, password_hash, role, unit_id, active from officer "
                  "where id = ?", w.b_officer),
            w.sql("select count(*) from report_submission where unit_id = ?", w.b_unit))


# -- probes, one per admin route -------------------------------------------------------------------

@probe("GET", "/admin")
async def _overview(w: World) -> None:
    html = await text_of(await w.client.get("/admin"))
    assert_hidden(w, html)
    # The recent actions are the unit's own (before the fix, any unit's administrator saw
    # every unit's audit log).
    for target in (f"broadcast:{w.b_broadcast}", f"outreach:{w.b_entry}",
                   f"officer:{w.b_officer}"):
        assert f'data-target="{target}"' not in html


@probe("GET", "/admin/content")
async def _content_status(w: World) -> None:
    response = await w.client.get("/admin/content")
    assert response.status == 200     # province content, the same for every unit, read-only
    assert_hidden(w, await text_of(response))


@probe("GET", "/admin/login")
async def _login_page(w: World) -> None:
    response = await w.client.get("/admin/login")
    assert response.status == 200
    assert_hidden(w, await text_of(response))


@probe("POST", "/admin/login")
async def _login(w: World) -> None:
    html = await text_of(await w.client.get("/admin/login"))
    token = re.search(r'id="login-form">\s*<input type="hidden" name="csrf" value="([^"]+)"',
                      html)[1]
    response = await w.client.post("/admin/login", data={
        "csrf": token, "login": "b.quantri", "password": "không phải mật khẩu"},
        allow_redirects=False)
    assert response.status == 401 and "loa_session" not in response.cookies
    assert MARK not in await text_of(response)      # (the name typed is shown back)


@probe("GET", "/admin/password")
async def _password_page(w: World) -> None:
    assert_hidden(w, await text_of(await w.client.get("/admin/password")))


@probe("POST", "/admin/password")
async def _password_save(w: World) -> None:
    csrf = await csrf_of(w.client, "/admin/password")
    new = "Mật khẩu mới của xã A"
    taken = await w.client.post("/admin/password", data={
        "csrf": csrf, "officer_id": str(w.b_officer), "officer": str(w.b_officer),
        "login_name": "b.quantri", "new": new, "confirm": new}, allow_redirects=False)
    assert taken.status == 400                       # B's name is not taken over
    mine = await w.client.post("/admin/password", data={
        "csrf": csrf, "officer_id": str(w.b_officer), "login_name": "a.quantri", "new": new,
        "confirm": new}, allow_redirects=False)
    assert mine.status == 303                        # changes the officer who is logged in
    assert w.sql("select count(*) from officer where login_name = 'a.quantri' and id = ?",
                 w.b_officer) == [(0,)]


def b_question(w: World) -> tuple[int, int]:
    """A question asked by a citizen of B's commune, and a sample B proposed (planted once)."""
    found = w.sql("select id, sample_id from question where commune_code = ?", B[3:])
    if not found:
        w.sql("insert into question (asked_at, channel, language, contact_pseudonym, text, "
              "outcome, score, status, commune_code) values ('2026-12-01 08:00:00', 'web', "
              "'vi', 'pb', ?, 'unsure', 0, 'new', ?)", f"{MARK} máy kêu tít tít", B[3:])
        w.sql("insert into learned_sample (topic, text, created_by, created_at, status, "
              "unit_id) values (NULL, ?, ?, '2026-12-01 08:00:00', 'pending', ?)",
              f"{MARK} mẫu", f"officer:{w.b_officer}", w.b_unit)
        found = w.sql("select id, sample_id from question where commune_code = ?", B[3:])
    ((sample_id,),) = w.sql("select id from learned_sample where unit_id = ?", w.b_unit)
    return found[0][0], sample_id


@probe("GET", "/admin/questions")
async def _questions(w: World) -> None:
    await asyncio.to_thread(b_question, w)   # writes: from a thread, the app runs here
    response = await w.client.get("/admin/questions")
    assert response.status == 200                    # only the officer's own commune's
    assert_hidden(w, await text_of(response))


@probe("POST", "/admin/questions")
async def _questions_action(w: World) -> None:
    question_id, _ = await asyncio.to_thread(b_question, w)
    response = await w.client.post("/admin/questions", data={
        "csrf": await csrf_of(w.client), "action": "out_of_scope", "ids": str(question_id),
        "text": "thời tiết"}, allow_redirects=False)
    assert response.status == 404
    assert_hidden(w, await text_of(response))
    assert w.sql("select status from question where id = ?", question_id) == [("new",)]


@probe("POST", "/admin/questions/samples/{sample_id}")
async def _sample_action(w: World) -> None:
    _, sample_id = await asyncio.to_thread(b_question, w)
    for action in ("approve", "reject", "remove", "xyz"):
        response = await w.client.post(f"/admin/questions/samples/{sample_id}", data={
            "csrf": await csrf_of(w.client), "action": action}, allow_redirects=False)
        assert response.status in (403, 404), action
        assert_hidden(w, await text_of(response))
    assert w.sql("select status from learned_sample where id = ?", sample_id) == [("pending",)]


@probe("GET", "/admin/reports")
async def _report(w: World) -> None:
    for query in (f"unit={B}&month={w.last_month}", f"unit=tinh&month={w.last_month}",
                  f"unit=&month={w.last_month}"):
        response = await w.client.get(f"/admin/reports?{query}")
        html = await text_of(response)
        assert response.status == 200 and A_NAME in html.split("<main>")[1]
        assert_hidden(w, html)
        assert 'id="statuses"' not in html          # not the province's table of units


@probe("GET", "/admin/reports/export.{fmt}")
async def _exports(w: World) -> None:
    for fmt in ("csv", "xlsx", "docx", "png"):
        for unit in (B, ""):
            response = await w.client.get(
                f"/admin/reports/export.{fmt}?unit={unit}&month={w.last_month}")
            assert response.status == 200
            body = await response.read()
            if fmt == "csv":
                text = body.decode("utf-8-sig")
                codes = {row[1] for row in list(csv.reader(io.StringIO(text)))[1:]}
                assert codes - {""} <= {A} and B_NAME not in text
            elif fmt == "xlsx":
                book = openpyxl.load_workbook(io.BytesIO(body), read_only=True)
                text = " ".join(str(c) for s in book.worksheets for r in s.iter_rows(
                    values_only=True) for c in r if c is not None)
            elif fmt == "docx":
                with zipfile.ZipFile(io.BytesIO(body)) as z:
                    text = z.read("word/document.xml").decode("utf-8")
            else:
                text = ""
                assert response.content_type == "image/png"
            if fmt in ("xlsx", "docx"):
                assert A_NAME in text and B_NAME not in text and B not in text
            assert_hidden(w, text)


@probe("POST", "/admin/reports/submit")
async def _submit(w: World) -> None:
    response = await w.client.post("/admin/reports/submit", data={
        "csrf": await csrf_of(w.client), "month": w.last_month, "unit": B,
        "unit_id": str(w.b_unit), "confirm": "yes"}, allow_redirects=False)
    assert response.status == 303
    assert w.sql("select count(*) from report_submission where unit_id = ?",
                 w.b_unit) == [(0,)]
    assert w.sql("select count(*) from report_submission where unit_id = ?",
                 w.a_unit) == [(1,)]                # A's own month was submitted


@probe("GET", "/admin/outreach/new")
async def _outreach_form(w: World) -> None:
    assert_hidden(w, await text_of(await w.client.get("/admin/outreach/new")))


@probe("POST", "/admin/outreach/new")
async def _outreach_create(w: World) -> None:
    csrf = await csrf_of(w.client, "/admin/outreach/new")
    response = await w.client.post("/admin/outreach/new", data=entry_form(
        csrf, outreach.today_vn().isoformat(), "24175", "Xã A phát loa", unit=B,
        unit_id=str(w.b_unit), officer_id=str(w.b_officer)), allow_redirects=False)
    assert response.status == 303
    ((unit_id,),) = w.sql("select unit_id from outreach_entry where note = 'Xã A phát loa'")
    assert unit_id == w.a_unit


@probe("GET", "/admin/outreach/{entry_id}")
async def _outreach_edit_form(w: World) -> None:
    response = await w.client.get(f"/admin/outreach/{w.b_entry}")
    assert response.status == 404
    assert_hidden(w, await text_of(response))


@probe("POST", "/admin/outreach/{entry_id}")
async def _outreach_edit(w: World) -> None:
    csrf = await csrf_of(w.client, "/admin/outreach/new")
    response = await w.client.post(f"/admin/outreach/{w.b_entry}", data=entry_form(
        csrf, f"{w.last_month}-06", "24175", "ghi đè", reason="thử"), allow_redirects=False)
    assert response.status == 404


@probe("POST", "/admin/outreach/{entry_id}/delete")
async def _outreach_delete(w: World) -> None:
    response = await w.client.post(f"/admin/outreach/{w.b_entry}/delete", data={
        "csrf": await csrf_of(w.client), "reason": "thử", "confirm": "yes"},
        allow_redirects=False)
    assert response.status == 404


@probe("GET", "/admin/outreach/{entry_id}/evidence")
async def _evidence(w: World) -> None:
    response = await w.client.get(f"/admin/outreach/{w.b_entry}/evidence")
    assert response.status == 404 and PNG not in await response.read()


@probe("GET", "/admin/leaflets")
async def _kit(w: World) -> None:
    response = await w.client.get(f"/admin/leaflets?commune={B[3:]}")
    assert response.status == 200                  # the kit page, with A's commune only
    html = await text_of(response)
    assert_hidden(w, html)
    assert f'value="{B[3:]}"' not in html


@probe("GET", "/admin/leaflets/leaflet.pdf")
async def _leaflet(w: World) -> None:
    response = await w.client.get(f"/admin/leaflets/leaflet.pdf?commune={B[3:]}")
    # 403: another commune's kit is that commune's to print (issue 17)
    assert response.status == 403 and MARK.encode() not in await response.read()


@probe("GET", "/admin/leaflets/script")
async def _script(w: World) -> None:
    response = await w.client.get(f"/admin/leaflets/script?commune={B[3:]}")
    assert response.status == 403                  # another commune's kit (issue 17)
    assert_hidden(w, await text_of(response))


@probe("POST", "/admin/leaflets/log")
async def _kit_log(w: World) -> None:
    before = w.sql("select count(*) from outreach_entry where unit_id = ?", w.b_unit)
    response = await w.client.post("/admin/leaflets/log", data={
        "csrf": await csrf_of(w.client), "kind": "loudspeaker", "commune": B[3:],
        "unit": B}, allow_redirects=False)
    # Refused: A logs outreach only for its own commune (issue 17), and never as B's.
    assert response.status == 409
    assert w.sql("select count(*) from outreach_entry where unit_id = ?", w.b_unit) == before


@probe("GET", "/admin/broadcasts")
async def _broadcasts(w: World) -> None:
    html = await text_of(await w.client.get("/admin/broadcasts"))
    assert_hidden(w, html)
    assert f'href="/admin/broadcasts/{w.b_broadcast}"' not in html


@probe("POST", "/admin/broadcasts")
async def _broadcast_create(w: World) -> None:
    response = await w.client.post("/admin/broadcasts", data={
        "csrf": await csrf_of(w.client), "kind": "message", "text": "Thông báo của xã A",
        "unit_id": str(w.b_unit), "unit": B}, allow_redirects=False)
    assert response.status == 302
    ((unit_id,),) = w.sql("select unit_id from broadcast where text = 'Thông báo của xã A'")
    assert unit_id == w.a_unit


@probe("GET", "/admin/broadcasts/{id}")
async def _broadcast(w: World) -> None:
    response = await w.client.get(f"/admin/broadcasts/{w.b_broadcast}")
    assert response.status == 404
    assert_hidden(w, await text_of(response))


@probe("GET", "/admin/broadcasts/{id}/progress")
async def _broadcast_progress(w: World) -> None:
    response = await w.client.get(f"/admin/broadcasts/{w.b_broadcast}/progress")
    assert response.status == 404


@probe("POST", "/admin/broadcasts/{id}/{action}")
async def _broadcast_act(w: World) -> None:
    csrf = await csrf_of(w.client)
    for action in BROADCAST_ACTIONS:
        response = await w.client.post(f"/admin/broadcasts/{w.b_broadcast}/{action}", data={
            "csrf": csrf, "lang": "rad"}, allow_redirects=False)
        assert response.status == 404, action
        assert_hidden(w, await text_of(response))


@probe("GET", "/admin/translations")
async def _translations(w: World) -> None:
    response = await w.client.get("/admin/translations")
    assert response.status == 200                   # per language, not per unit
    assert_hidden(w, await text_of(response))


@probe("GET", "/admin/translations/{lang}")
async def _translation_lang(w: World) -> None:
    response = await w.client.get("/admin/translations/rad")
    assert response.status == 200
    assert_hidden(w, await text_of(response))


@probe("GET", "/admin/translations/{lang}/preview")
async def _translation_preview(w: World) -> None:
    response = await w.client.get("/admin/translations/rad/preview")
    assert response.status == 403                   # drafts: reviewers of the language only


@probe("POST", "/admin/translations/{lang}/review")
async def _translation_review(w: World) -> None:
    response = await w.client.post("/admin/translations/rad/review", data={
        "csrf": await csrf_of(w.client), "unit": "topic:timeline", "decision": "approved"},
        allow_redirects=False)
    assert response.status == 403                   # an administrator does not decide


@probe("GET", "/admin/translations/{lang}/export.po")
async def _translation_export(w: World) -> None:
    response = await w.client.get("/admin/translations/rad/export.po")
    assert response.status == 200
    assert_hidden(w, await text_of(response))


async def _multipart_csrf_only(w: World, path: str) -> None:
    data = aiohttp.FormData()
    data.add_field("csrf", await csrf_of(w.client), content_type="text/plain")   # multipart
    response = await w.client.post(path, data=data, allow_redirects=False)
    assert response.status == 400                   # nothing to store; nothing of B shown
    assert_hidden(w, await text_of(response))


@probe("POST", "/admin/translations/{lang}/clips")
async def _translation_clip(w: World) -> None:
    await _multipart_csrf_only(w, "/admin/translations/rad/clips")


@probe("POST", "/admin/translations/{lang}/import")
async def _translation_import(w: World) -> None:
    await _multipart_csrf_only(w, "/admin/translations/rad/import")


@probe("GET", "/admin/officers/{officer_id}/remove")
async def _officer_remove_page(w: World) -> None:
    response = await w.client.get(f"/admin/officers/{w.b_officer}/remove")
    assert response.status in (403, 404)            # B's officers are not A's to remove
    assert_hidden(w, await text_of(response))


@probe("POST", "/admin/officers/{officer_id}/remove")
async def _officer_remove(w: World) -> None:
    response = await w.client.post(f"/admin/officers/{w.b_officer}/remove",
                                   data={"csrf": await csrf_of(w.client)},
                                   allow_redirects=False)
    assert response.status in (403, 404)            # b_state checks B's officer is active


@probe("GET", "/admin/officers/{officer_id}/name")
async def _officer_name_page(w: World) -> None:
    response = await w.client.get(f"/admin/officers/{w.b_officer}/name")
    assert response.status == 404                   # B's officers are not A's to rename
    assert_hidden(w, await text_of(response))


@probe("POST", "/admin/officers/{officer_id}/name")
async def _officer_rename(w: World) -> None:
    response = await w.client.post(f"/admin/officers/{w.b_officer}/name", data={
        "csrf": await csrf_of(w.client), "name": "Tên do xã A đặt"}, allow_redirects=False)
    assert response.status == 404
    assert w.sql("select count(*) from officer where name = 'Tên do xã A đặt'") == [(0,)]


@probe("POST", "/admin/logout")
async def _logout(w: World) -> None:
    """Last: logging out ends the officer's own session, not unit B's."""
    db = Database(make_engine(w.settings.database_url))
    try:
        async with db.begin() as conn:           # B is logged in somewhere else
            link = await officers.create_login_link(conn, w.b_officer)
            b_session = await officers.open_session(conn, link)
    finally:
        await db.dispose()
    response = await w.client.post("/admin/logout", data={"csrf": await csrf_of(w.client)},
                                   allow_redirects=False)
    assert response.status == 302
    async with TestClient(TestServer(build_app(w.settings))) as b_browser:
        b_browser.session.cookie_jar.update_cookies({"loa_session": b_session})
        assert (await b_browser.get("/admin", allow_redirects=False)).status == 200


# -- the tests -----------------------------------------------------------------------------------

def admin_routes(app) -> set[tuple[str, str]]:
    return {(route.method, route.resource.canonical) for route in app.router.routes()
            if route.resource is not None and route.resource.canonical.startswith("/admin")
            and route.method != "HEAD"}


async def test_every_admin_route_has_an_isolation_probe(client):
    missing = admin_routes(client.server.app) - set(PROBES)
    assert not missing, f"add a probe to tests/test_unit_isolation.py for: {sorted(missing)}"
    assert not set(PROBES) - admin_routes(client.server.app)   # no stale probes either


async def test_an_officer_of_one_commune_cannot_see_or_change_another(client, settings):
    w = await seed(client, settings)
    before = b_state(w)
    await login_as(client, settings, A, "admin")       # an administrator passes every role
    order = [key for key in PROBES if key != ("POST", "/admin/logout")] + [
        ("POST", "/admin/logout")]
    for key in order:
        if key in admin_routes(client.server.app):
            await PROBES[key](w)
            assert b_state(w) == before, key
    # An editor of A (not an administrator) is refused B's objects the same way.
    client.session.cookie_jar.clear()
    await login_as(client, settings, A, "editor")
    for key in (("GET", "/admin/broadcasts/{id}"), ("GET", "/admin/outreach/{entry_id}"),
                ("GET", "/admin/outreach/{entry_id}/evidence"), ("GET", "/admin")):
        await PROBES[key](w)
    assert b_state(w) == before


async def test_province_officers_see_every_unit(client, settings):
    w = await seed(client, settings)
    await login_as(client, settings, "tinh", "admin")
    page = await client.get(f"/admin/broadcasts/{w.b_broadcast}")
    assert page.status == 200 and MARK in await page.text()
    report = await (await client.get(f"/admin/reports?unit={B}&month={w.last_month}")).text()
    assert MARK in report and B_NAME in report
    evidence = await client.get(f"/admin/outreach/{w.b_entry}/evidence")
    assert evidence.status == 200 and await evidence.read() == PNG
    overview = await (await client.get("/admin")).text()
    assert f'data-target="broadcast:{w.b_broadcast}"' in overview
    assert f"thông báo số {w.b_broadcast}" in overview and "broadcast.create" not in overview
    # ... but they read a commune's entries; they do not edit them.
    assert (await client.get(f"/admin/outreach/{w.b_entry}")).status == 404


async def test_a_commune_announces_only_to_its_own_citizens(client, settings):
    """A commune officer cannot aim an announcement at another commune's citizens; with no
    commune chosen, the audience is the officer's own commune, never the whole province."""
    await login_as(client, settings, A, "editor")
    page = await text_of(await client.get("/admin/broadcasts"))
    assert 'value="24175"' in page and 'value="24133"' not in page
    csrf = await csrf_of(client, "/admin/broadcasts")
    refused = await client.post("/admin/broadcasts", data={
        "csrf": csrf, "kind": "message", "text": "Gửi sang phường khác", "communes": "24133"},
        allow_redirects=False)
    assert refused.status == 400
    assert "chỉ gửi được cho người dân" in await refused.text()
    assert w_sql(settings, "select count(*) from broadcast") == [(0,)]
    created = await client.post("/admin/broadcasts", data={
        "csrf": csrf, "kind": "message", "text": "Gửi trong xã"}, allow_redirects=False)
    assert created.status == 302
    ((audience,),) = w_sql(settings, "select audience from broadcast")
    assert json.loads(audience)["communes"] == ["24175"]


def w_sql(settings, query: str) -> list[tuple]:
    with sql_connect(settings) as db:
        return list(db.execute(query))
