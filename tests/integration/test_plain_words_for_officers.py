"""No engineer's words on officers' pages (review of issue 17, F17): the province overview's
tables say what they count by, and the kit page tells a commune officer in plain Vietnamese
why nothing can be printed, leaving the setting's name to the province's administrators."""
from __future__ import annotations

import re

from support.officers import login_as


def headers(html: str) -> list[str]:
    return re.findall(r'<th scope="col">([^<]*)</th>', html)


async def test_the_province_overview_tables_say_what_they_count_by(client, settings):
    await login_as(client, settings, "tinh", "admin")
    html = await (await client.get("/admin")).text()
    found = headers(html)
    for first in ("Phương tiện", "Chủ đề", "Ngôn ngữ"):
        assert found[found.index(first) + 1] == "Số lượt", found
    assert "Giá trị" not in found


async def test_the_kit_page_names_no_setting_to_a_commune_officer(client, settings):
    assert settings.public_url.startswith("http://")        # no public https address here
    await login_as(client, settings, "xa-24175", "editor")
    page = await (await client.get("/admin/leaflets")).text()
    problem = re.search(r'id="address-problem">(.*?)</div>', page, re.S)[1]
    assert ("Máy chủ chưa có địa chỉ công khai https, nên chưa in được mã QR; hãy báo quản trị "
            "viên tỉnh.") in problem
    assert "BOT_PUBLIC_URL" not in problem and "127.0.0.1" not in problem
    client.session.cookie_jar.clear()
    await login_as(client, settings, "tinh", "admin")        # who can have it set
    page = await (await client.get("/admin/leaflets")).text()
    problem = re.search(r'id="address-problem">(.*?)</div>', page, re.S)[1]
    assert f"BOT_PUBLIC_URL đang là “{settings.public_url}”" in problem
    assert "hãy báo quản trị viên tỉnh" not in problem
