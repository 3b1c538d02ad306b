"""The web surface as an attacker probes it: spreadsheet formulas in exports, PO uploads that
name server files or carry format specs, operational detail on /healthz and /metrics, cookie
and header flags, unapproved voice clips under /media, a clip check blocking the event loop,
and query-string text shown on official pages. Real app, real databases, real files."""
from __future__ import annotations

import asyncio
import csv
import gettext
import io
import threading
from dataclasses import replace
from pathlib import Path

import aiohttp
import openpyxl
import pytest
from aiohttp.test_utils import TestClient, TestServer
from support.officers import login_as
from support.reportforms import csrf_of, form, months
from support.translation_pages import clip_form, login
from support.translations import copy_tree, settings_for

from bot.app import build_app
from bot.core.i18n import GettextTranslator
from bot.features.translations.audio import ogg_opus
from bot.features.translations.files import TranslationImportError, export_catalog, import_catalog
from bot.features.translations.service import StringCatalog
from bot.settings import Settings, SettingsError

FORMULA = '=HYPERLINK("http://x.example","y")'


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    return copy_tree(tmp_path)


@pytest.fixture
def s(settings: Settings, tree) -> Settings:
    return settings_for(settings, *tree, languages=("vi", "rad", "jra"))


async def started(s: Settings, **cookie_jar: object) -> TestClient:
    client = TestClient(TestServer(build_app(s)), **cookie_jar)
    await client.start_server()
    return client


# -- exports: no formula ever ------------------------------------------------------------------

async def test_exports_write_typed_formulas_as_text(client, settings):
    last, _ = months()
    await login_as(client, settings, "xa-24175", "editor")
    csrf = await csrf_of(client)
    done = await client.post("/admin/outreach/new", allow_redirects=False, data=form(
        csrf, form="other", form_other=FORMULA, medium="@SUM(A1:A9)", note="-1+2"))
    assert done.status == 303
    xlsx = await client.get(f"/admin/reports/export.xlsx?month={last}")
    assert xlsx.status == 200
    book = openpyxl.load_workbook(io.BytesIO(await xlsx.read()))
    cells = [c for ws in book.worksheets for row in ws.iter_rows() for c in row
             if c.value is not None]
    assert [c.coordinate for c in cells if c.data_type == "f"] == []
    texts = [c.value for c in cells if isinstance(c.value, str)]
    assert any(t.startswith(FORMULA) for t in texts)          # kept exactly, as text
    assert any(t.startswith("@SUM(A1:A9)") for t in texts)
    summary = book.worksheets[0]
    assert any(isinstance(c.value, int) and c.value == 4 and c.data_type == "n"
               for row in summary.iter_rows() for c in row)    # the runs stay a number
    raw = (await (await client.get(f"/admin/reports/export.csv?month={last}")).read())
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    values = [v for row in rows for v in row]
    assert not [v for v in values if v[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert any(v.startswith("'" + FORMULA) for v in values)
    assert any(v.startswith("'@SUM(A1:A9)") for v in values)
    assert "4" in values                                       # numbers are not prefixed


# -- PO import: content only, plain placeholders only -----------------------------------------

def test_po_import_never_reads_a_path_named_by_the_upload(s, tmp_path):
    from bot.core.content import load_content
    from bot.features.translations.service import Translations
    service = Translations(s.content_dir, s.locales_dir, ("rad",),
                           load_content(s.content_dir, "vi"))
    po = export_catalog(service, "rad")
    entry = next(e for e in po if e.msgctxt == "ui:Check again")
    entry.msgstr = "RAD-TEST from a server file"
    on_server = tmp_path / "on-server.po"
    po.save(str(on_server))
    for text in (str(on_server), "/etc/passwd", "/no/such/file"):
        with pytest.raises(TranslationImportError) as refused:
            import_catalog(service, "rad", text, "Test translator (test data)")
        assert "not a PO file" in str(refused.value), text
    service.reload()
    unit = next(u for u in service.units["rad"] if u.key == "Check again")
    assert unit.target["text"] != "RAD-TEST from a server file"


async def test_po_upload_with_a_format_spec_is_refused_clearly(s):
    client = await started(s)
    try:
        csrf = await login(client, s, "editor", name="Test editor (test data)")
        exported = await (await client.get("/admin/translations/rad/export.po")).text()
        empty = 'msgctxt "ui:Updated {date}"\nmsgid "Cập nhật ngày {date}"\nmsgstr ""'
        assert empty in exported

        def upload(msgstr: str) -> aiohttp.FormData:
            data = aiohttp.FormData()
            data.add_field("csrf", csrf)
            data.add_field("translator", "Test translator (test data)")
            data.add_field("file", exported.replace(empty, empty[:-2] + f'"{msgstr}"').encode(),
                           filename="rad.po")
            return data

        for bad in ("RAD {date:>300000000}", "RAD {date.zzz}", "RAD {date!r}", "RAD {0}"):
            refused = await client.post("/admin/translations/rad/import", data=upload(bad))
            html = await refused.text()
            assert refused.status == 400, bad
            assert "Chưa nhập gì" in html and "only plain placeholders" in html, bad
        ok = await client.post("/admin/translations/rad/import", data=upload("RAD {date}"),
                               allow_redirects=False)
        assert ok.status == 303
    finally:
        await client.close()


def test_translated_strings_are_formatted_without_running_specs(tmp_path):
    _, locales = copy_tree(tmp_path)
    translator = GettextTranslator(locales, ("vi", "rad"))
    hostile = {"Updated {date}": "RAD {date:>1000000} {date.year} {date}",
               "Question {n} of {total}:": "RAD {n}/{total} {{ok}}"}
    translator.set_catalog("rad", StringCatalog(hostile))
    assert translator.gettext("rad", "Updated {date}", date="01/12/2026") == (
        "RAD {date:>1000000} {date.year} 01/12/2026")
    assert translator.gettext("rad", "Question {n} of {total}:", n=1, total=3) == "RAD 1/3 {ok}"
    assert isinstance(translator._catalogs["vi"], gettext.GNUTranslations)


# -- /healthz and /metrics ---------------------------------------------------------------------

TOKEN = "monitoring-token-0123456789"


async def test_health_and_metrics_detail_only_for_monitoring(settings):
    outside = replace(settings, metrics_allow=("10.9.0.0/16",), metrics_token=TOKEN)
    client = await started(outside)
    try:
        health = await client.get("/healthz")
        assert health.status == 200 and await health.json() == {"status": "ok"}
        assert (await client.get("/metrics")).status == 403
        wrong = {"Authorization": "Bearer not-the-token-at-all"}
        assert (await client.get("/metrics", headers=wrong)).status == 403
        assert await (await client.get("/healthz", headers=wrong)).json() == {"status": "ok"}
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        scraped = await client.get("/metrics", headers=bearer)
        assert scraped.status == 200 and "loa_contacts" in await scraped.text()
        detail = await (await client.get("/healthz", headers=bearer)).json()
        assert {"workers", "queues", "leader"} <= set(detail)
    finally:
        await client.close()
    # Behind a trusted proxy the browser's address counts, not the proxy's.
    proxied = replace(settings, metrics_allow=("10.9.0.0/16",), trusted_proxies=("127.0.0.1",))
    client = await started(proxied)
    try:
        inside = {"X-Forwarded-For": "10.9.3.4"}
        assert (await client.get("/metrics", headers=inside)).status == 200
        assert "workers" in await (await client.get("/healthz", headers=inside)).json()
        far = {"X-Forwarded-For": "203.0.113.7"}
        assert (await client.get("/metrics", headers=far)).status == 403
        assert await (await client.get("/healthz", headers=far)).json() == {"status": "ok"}
    finally:
        await client.close()


def test_metrics_settings_are_checked():
    assert Settings.from_env({}).metrics_allow == ("127.0.0.0/8", "::1/128")
    env = {"BOT_METRICS_ALLOW": "10.0.0.5, 192.168.0.0/16"}
    assert Settings.from_env(env).metrics_allow == ("10.0.0.5/32", "192.168.0.0/16")
    with pytest.raises(SettingsError, match="BOT_METRICS_ALLOW"):
        Settings.from_env({"BOT_METRICS_ALLOW": "intranet"})
    with pytest.raises(SettingsError, match="BOT_METRICS_TOKEN"):
        Settings.from_env({"BOT_METRICS_TOKEN": "short"})


# -- cookies and headers -----------------------------------------------------------------------

def _session_cookie(response: aiohttp.ClientResponse) -> str:
    return next(v for v in response.headers.getall("Set-Cookie", []) if "loa_session=" in v)


async def test_session_cookie_is_secure_behind_https(settings):
    from support.officers import make_officer
    for public, headers, secure in [
            ("https://loa.example.gov.vn", {}, True),
            ("http://127.0.0.1:8080", {}, False),
            ("http://127.0.0.1:8080", {"X-Forwarded-Proto": "https"}, False),  # untrusted peer
    ]:
        client = await started(replace(settings, public_url=public))
        try:
            _, token = await make_officer(settings, "xa-24175", "viewer")
            opened = await client.get(f"/admin/login?token={token}", headers=headers,
                                      allow_redirects=False)
            cookie = _session_cookie(opened).lower()
            assert ("; secure" in cookie) is secure, (public, headers)
            assert "httponly" in cookie and "samesite=strict" in cookie
        finally:
            await client.close()
    client = await started(replace(settings, trusted_proxies=("127.0.0.1",)))
    try:
        _, token = await make_officer(settings, "xa-24175", "viewer")
        opened = await client.get(f"/admin/login?token={token}", allow_redirects=False,
                                  headers={"X-Forwarded-Proto": "https"})
        assert "; secure" in _session_cookie(opened).lower()
    finally:
        await client.close()


async def test_security_headers(client, settings):
    login_page = await client.get("/admin/login")
    await login_as(client, settings, "xa-24175", "editor")
    pages = [login_page] + [await client.get(p) for p in (
        "/admin", "/admin/reports", "/admin/leaflets", "/admin/outreach/new")]
    for page in pages:
        assert page.status == 200, page.url
        csp = page.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
        assert page.headers["X-Frame-Options"] == "DENY"
        assert page.headers["Cache-Control"] == "no-store"
        assert "<script>" not in await page.text() and "onclick=" not in await page.text()
    chat = await client.post("/api/chat", json={"session": "h" * 30, "id": "msg000001x",
                                                "text": "menu"})
    assert chat.status == 200 and chat.headers["Cache-Control"] == "no-store"
    for path in ("/", "/embed.js"):                      # the portal embeds these
        embeddable = await client.get(path)
        assert embeddable.status == 200 and "X-Frame-Options" not in embeddable.headers
    for response in [*pages, chat, embeddable, await client.get("/static/admin.css"),
                     await client.get("/no/such/page")]:
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        server = response.headers.get("Server", "")
        assert "aiohttp" not in server.lower() and "python" not in server.lower()


async def test_static_serves_each_packages_files_and_nothing_else(client):
    """/static/ holds the files of the shell, the web chat and the announcements' pages, each
    from its own package; any other name, or a way out of those folders, is a 404."""
    for name, kind in (("admin.css", "text/css"), ("admin.js", "javascript"),
                       ("chat.css", "text/css"), ("chat.js", "javascript"),
                       ("broadcast.js", "javascript")):
        response = await client.get(f"/static/{name}")
        assert response.status == 200 and kind in response.headers["Content-Type"], name
        assert len(await response.read()) > 100
    for path in ("/static/loa.db", "/static/secret.key", "/static/..%2Fadmin.py",
                 "/static/%2e%2e/app.py", "/static/", "/static/index.html/x"):
        response = await client.get(path)
        assert response.status == 404, path
        assert "Traceback" not in await response.text()


# -- /media --------------------------------------------------------------------------------------

async def test_media_serves_only_approved_clips_to_the_public(s):
    shipped = ogg_opus(40)
    from support.clips import shipped_clip
    approved = shipped_clip(s.content_dir, "jra", "timeline")
    (s.data_dir / "secret.key").write_text("do-not-serve")
    client = await started(s)
    reviewer = await started(s)
    try:
        csrf = await login(client, s, "editor", name="Test editor (test data)")
        assert (await client.post("/admin/translations/rad/clips", allow_redirects=False,
                                  data=clip_form(csrf, shipped, "a.ogg"))).status == 303
        await client.post("/admin/logout", data={"csrf": csrf})
        uploaded = next((s.content_dir / "media" / "rad").glob("*.ogg"))
        draft = f"/media/rad/{uploaded.name}"
        assert (await client.get(draft)).status == 404               # not approved: hidden
        public = await client.get(f"/media/{approved}")
        assert public.status == 200 and public.headers["Content-Type"] == "audio/ogg"
        await login(reviewer, s, "reviewer", "rad")
        crafted = "Gọi ngay 0999 999 999"
        preview = await reviewer.get("/admin/translations/rad/preview",
                                     params={"topic": crafted})
        assert preview.status == 200 and crafted not in await preview.text()
        heard = await reviewer.get(draft)                            # for review only
        assert heard.status == 200 and await heard.read() == shipped
        assert heard.headers["Cache-Control"] == "no-store"
        for probe in ("/media/../secret.key", "/media/rad/../../secret.key",
                      "/media/%2e%2e/%2e%2e/secret.key", "/media/rad/%2e%2e%2f..%2fsecret.key",
                      "/media/rad/nothing.ogg", "/media/jra/"):
            for who in (client, reviewer):
                response = await who.get(probe)
                assert response.status == 404, probe
                assert b"do-not-serve" not in await response.read()
    finally:
        await client.close()
        await reviewer.close()


# -- clip upload off the event loop --------------------------------------------------------------

async def test_healthz_answers_while_a_clip_is_checked(s, monkeypatch):
    from bot.features.translations import web as pages
    real = pages.check_clip
    checking, release = threading.Event(), threading.Event()
    blocked_loop: list[bool] = []

    def check_and_wait(data: bytes):  # type: ignore[no-untyped-def]
        checking.set()
        # Released by the test once /healthz answered; on the event loop that cannot happen.
        if not release.wait(timeout=60):
            blocked_loop.append(True)
        return real(data)

    monkeypatch.setattr(pages, "check_clip", check_and_wait)
    client = await started(s)
    try:
        csrf = await login(client, s, "editor", name="Test editor (test data)")
        upload = asyncio.create_task(client.post(
            "/admin/translations/rad/clips", allow_redirects=False,
            data=clip_form(csrf, ogg_opus(280), "long.ogg")))
        await asyncio.to_thread(checking.wait, 60)
        health = await client.get("/healthz")
        assert health.status == 200 and not upload.done()
        release.set()
        assert (await upload).status == 303
        assert blocked_loop == []
    finally:
        release.set()
        await client.close()


# -- no query-string text on official pages ----------------------------------------------------

async def test_pages_show_only_fixed_notices(client, settings):
    await login_as(client, settings, "xa-24175", "editor")
    crafted = "Tài khoản bị khóa, gọi 0999 999 999"
    for path in ("/admin/reports", "/admin/leaflets"):
        for notice in (f"error:{crafted}", f"logged:{crafted}", crafted):
            page = await client.get(path, params={"notice": notice})
            assert page.status == 200 and crafted not in await page.text(), (path, notice)
    chosen = await client.get("/admin/leaflets", params={"commune": crafted})
    assert chosen.status == 200 and crafted not in await chosen.text()
    saved = await client.get("/admin/reports", params={"notice": "saved"})
    assert 'class="ok" role="status"' in await saved.text()          # known codes still work
    # A refused action still says why (on the page itself, not through the URL).
    _, this = months()
    refused = await client.post("/admin/reports/submit", data={
        "csrf": await csrf_of(client), "month": this, "confirm": "yes"},
        allow_redirects=False)
    assert refused.status == 409 and 'role="alert"' in await refused.text()


# -- the admin pages still work in a browser under the Content-Security-Policy -----------------

async def test_leaflet_page_script_runs_under_the_policy(browser, live_server, settings):
    from support.browser import open_as
    # a province officer: the commune list to choose from (a commune's officers see their own)
    page = await open_as(browser, live_server, settings, "tinh", "editor")
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text)
            if "Content Security Policy" in m.text else None)
    response = await page.goto(f"{live_server}/admin/leaflets")
    assert "script-src 'self';" in (await response.all_headers())["content-security-policy"]
    await page.select_option("#commune", "24133")
    from playwright.async_api import expect
    await expect(page.locator(".kit-commune").first).to_have_value("24133")
    await page.goto(f"{live_server}/admin/leaflets/script?commune=24175")
    await page.evaluate("window.print = () => { document.body.dataset.printed = 'yes'; }")
    await page.get_by_role("button", name="In", exact=True).click()
    await expect(page.locator("body")).to_have_attribute("data-printed", "yes")
    assert refused == [] and page.errors == []  # type: ignore[attr-defined]
