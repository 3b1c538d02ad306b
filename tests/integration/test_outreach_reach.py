"""A commune officer logs outreach and prints the kit only for their own commune (issue 17):
the form offers and preselects their commune alone, the server refuses another one with a clear
Vietnamese message whatever the form sent (page, one-click kit log, /ghinhan), and the kit
lists and prints only their commune. The province's officers keep every commune."""
from __future__ import annotations

import datetime as dt
import re

from support.officers import login_as
from support.outreach import entries_in, tr
from support.reportforms import csrf_of, form

from bot.core.messages import Inbound, InboundKind
from bot.features.outreach.chat import DialogContext, dialog_step
from bot.features.outreach.reports import forms

EA_KAR = forms.find_commune("Ea Kar")
REFUSED = ("Đơn vị của bạn chỉ ghi nhận hoạt động cho Xã Hòa Phú, không ghi cho Xã Ea Kar "
           "được. Hoạt động ở xã, phường khác do chính xã, phường đó ghi nhận.")
KIT_REFUSED = ("Đơn vị của bạn chỉ in tờ rơi, áp phích và bài phát loa cho Xã Hòa Phú. Tài liệu "
               "của Xã Ea Kar do chính xã, phường đó in.")


def commune_choices(html: str) -> list[tuple[str, bool]]:
    """(commune code, chosen) of every commune the outreach form offers."""
    boxes = re.findall(r'<input type="checkbox" name="communes" value="(\d+)"( checked)?', html)
    options = re.findall(r'<option value="(\d{5})"( selected)?>', html)
    return [(code, bool(mark)) for code, mark in boxes + options]


def field_errors(html: str) -> list[str]:
    return re.findall(r'class="error field-error" id="[^"]+">([^<]+)<', html)


async def test_the_form_offers_a_commune_officer_only_their_commune_and_preselects_it(
        client, settings):
    await login_as(client, settings, "xa-24175", "editor")
    html = await (await client.get("/admin/outreach/new")).text()
    assert commune_choices(html) == [("24175", True)]
    assert "Xã Ea Kar" not in html and "không chọn = không gắn với xã nào" not in html
    assert "Đơn vị của bạn chỉ ghi nhận hoạt động cho xã, phường của mình." in html


async def test_the_server_refuses_another_commune_whatever_the_form_sent(client, settings):
    await login_as(client, settings, "xa-24175", "editor")
    csrf = await csrf_of(client)
    response = await client.post("/admin/outreach/new", data=form(
        csrf, communes=["24175", EA_KAR]), allow_redirects=False)
    assert response.status == 400
    html = await response.text()
    assert field_errors(html) == [REFUSED]
    assert 'value="Loa truyền thanh xã"' in html            # nothing typed is lost
    assert await entries_in(client) == []
    # Its own commune (or none) is accepted.
    assert (await client.post("/admin/outreach/new", data=form(csrf, communes=["24175"]),
                              allow_redirects=False)).status == 303
    (entry,) = await entries_in(client)
    assert entry.communes == "24175"
    # A correction cannot move the entry to another commune either.
    edit = await client.post(f"/admin/outreach/{entry.id}", data=form(
        csrf, communes=[EA_KAR]), allow_redirects=False)
    assert edit.status == 400 and field_errors(await edit.text()) == [REFUSED]
    assert [e.communes for e in await entries_in(client)] == ["24175"]


async def test_the_province_logs_for_any_commune(client, settings):
    await login_as(client, settings, "tinh", "editor")
    html = await (await client.get("/admin/outreach/new")).text()
    assert len(commune_choices(html)) == 102
    assert "Xã, phường (không chọn = không gắn với xã nào)" in html
    csrf = await csrf_of(client)
    assert (await client.post("/admin/outreach/new", data=form(
        csrf, communes=["24175", EA_KAR]), allow_redirects=False)).status == 303
    (entry,) = await entries_in(client)
    assert entry.communes == f"24175,{EA_KAR}"


async def test_the_kit_lists_and_prints_only_the_officers_commune(client, settings):
    await login_as(client, settings, "xa-24175", "editor")
    page = await (await client.get(f"/admin/leaflets?commune={EA_KAR}")).text()
    select = re.search(r'<select id="commune"[^>]*>(.*?)</select>', page, re.S)[1]
    assert re.findall(r'<option value="(\d+)"( selected)?', select) == [("24175", " selected")]
    assert 'name="commune" value="24175" class="kit-commune"' in page
    for path in ("/admin/leaflets/leaflet.pdf", "/admin/leaflets/script"):
        response = await client.get(f"{path}?commune=Ea Kar")
        assert response.status == 403, path
        assert KIT_REFUSED in await response.text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)[1]
    logged = await client.post("/admin/leaflets/log", data={
        "csrf": csrf, "kind": "loudspeaker", "commune": EA_KAR}, allow_redirects=False)
    assert logged.status == 409 and REFUSED in await logged.text()
    assert await entries_in(client) == []


async def test_the_province_kit_keeps_every_commune(client, settings):
    await login_as(client, settings, "tinh", "viewer")
    page = await (await client.get(f"/admin/leaflets?commune={EA_KAR}")).text()
    select = re.search(r'<select id="commune"[^>]*>(.*?)</select>', page, re.S)[1]
    assert select.count("<option") == 102 and f'value="{EA_KAR}" selected' in select
    script = await client.get(f"/admin/leaflets/script?commune={EA_KAR}")
    assert script.status == 200 and "Kính thưa bà con Xã Ea Kar" in await script.text()


def _at_communes(own: str | None) -> tuple[DialogContext, dict[str, object]]:
    ctx = DialogContext(dt.date(2026, 11, 20), frozenset(), own, tr)
    return ctx, {"step": "communes", "day": "2026-11-19", "form": "loudspeaker",
                 "medium": "Loa", "runs": 2, "reached": None}


def test_ghinhan_asks_a_commune_to_tap_and_refuses_another_commune():
    ctx, state = _at_communes("24175")
    replies, after, _ = dialog_step(state, Inbound(InboundKind.TEXT, text="done"), ctx)
    ask = replies[-1]
    assert ask.text == "Bước 6/9 – Xã, phường nào? Bấm một nút bên dưới."
    assert [b.label for row in ask.buttons for b in row] == ["Xã Hòa Phú", "Không gắn với xã nào",
                                                             "Hủy"]
    replies, after, _ = dialog_step(state, Inbound(InboundKind.TEXT, text="Hòa Phú, Ea Kar"),
                                    ctx)
    assert replies[0].text == REFUSED and after["step"] == "communes"
    _, after, _ = dialog_step(state, Inbound(InboundKind.CHOICE, choice="og:communes:24175"),
                              ctx)
    assert after["communes"] == ["24175"] and after["step"] == "languages"


def test_ghinhan_lets_the_province_type_any_commune():
    ctx, state = _at_communes(None)
    _, after, _ = dialog_step(state, Inbound(InboundKind.TEXT, text="Hòa Phú, Ea Kar"), ctx)
    assert after["communes"] == ["24175", EA_KAR] and after["step"] == "languages"
