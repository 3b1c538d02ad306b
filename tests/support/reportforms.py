"""Shared by several test modules (moved from tests/test_report_web.py)."""
from __future__ import annotations

import re

import aiohttp

from bot.features.outreach import service as outreach
from bot.features.outreach.reports import forms


def months() -> tuple[str, str]:
    """(last month, this month) in Vietnam time."""
    this = forms.month_of(outreach.today_vn())
    return forms.shift_month(this, -1), this


async def csrf_of(client, path: str = "/admin/outreach/new") -> str:  # type: ignore[no-untyped-def]
    text = await (await client.get(path)).text()
    return re.search(r'name="csrf" value="([^"]+)"', text)[1]


def form(csrf: str, evidence: tuple[str, bytes] | None = None, **over: object) -> aiohttp.FormData:
    last, _ = months()
    values: dict[str, object] = {"csrf": csrf, "day": f"{last}-05", "form": "loudspeaker",
                                 "medium": "Loa truyền thanh xã", "runs": "4", "reached": "",
                                 "communes": ["24175"], "languages": ["vi", "rad"],
                                 "note": "Phát 2 buổi sáng, chiều"}
    values.update(over)
    data = aiohttp.FormData()
    for key, value in values.items():
        for item in value if isinstance(value, list) else [value]:
            data.add_field(key, str(item))
    if evidence:
        data.add_field("evidence", evidence[1], filename=evidence[0],
                       content_type="application/octet-stream")
    return data


