"""The officer's pages on a phone (issue 17): at 360 px nothing scrolls sideways, for a
commune officer and for the province (whose report has the widest tables)."""
from __future__ import annotations

import pytest
from support.browser import open_as

PAGES = ("/admin", "/admin/reports", "/admin/outreach/new", "/admin/leaflets",
         "/admin/broadcasts", "/admin/questions")


@pytest.mark.sqlite_only      # the layout's business, not the database's
@pytest.mark.parametrize("unit", ["xa-24175", "tinh"])
async def test_every_officer_page_fits_a_360_px_phone(browser, live_server, settings, unit):
    page = await open_as(browser, live_server, settings, unit, "admin",
                         viewport={"width": 360, "height": 740}, is_mobile=True,
                         has_touch=True)
    for path in PAGES:
        response = await page.goto(live_server + path)
        assert response is not None and response.status == 200, path
        scroll, inner = await page.evaluate(
            "[document.documentElement.scrollWidth, window.innerWidth]")
        assert scroll <= inner, f"{path}: {scroll} px wide on a {inner} px screen"
    assert not page.errors   # type: ignore[attr-defined]
