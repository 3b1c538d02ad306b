"""The admin page /admin/content through the real app: who may see it, the topics with their
dates and the facts they state, and the "due for review this month" list on chosen days."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from support.officers import login_as

from bot.features.content import web as content_status
from bot.features.content.web import DUE, OK, OVERDUE, status
from bot.web.keys import RUNTIME


def row(html: str, row_id: str) -> str:
    found = re.search(rf'<tr id="{re.escape(row_id)}"[^>]*>(.*?)</tr>', html, re.S)
    assert found, f"no row {row_id}"
    return found[1]


def due_list(html: str) -> dict[tuple[str, str], str]:
    """(kind, id) -> status of every entry of the "due this month" list."""
    section = re.search(r'<section id="due".*?</section>', html, re.S)
    assert section
    return {(kind, ident): state for kind, ident, state in re.findall(
        r'data-kind="(\w+)" data-id="([^"]+)" data-status="(\w+)"', section[0])}


def shown(day: dt.date) -> str:
    return f'<time datetime="{day.isoformat()}">{day.strftime("%d/%m/%Y")}</time>'


async def test_content_page(client, settings, monkeypatch):
    # Anonymous: sent to the login page, nothing shown.
    response = await client.get("/admin/content", allow_redirects=False)
    assert response.status == 302 and response.headers["Location"] == "/admin/login"

    # Any officer of any unit (here the lowest role of a commune) sees the province's content.
    await login_as(client, settings, "xa-24175", "viewer")
    services = client.server.app[RUNTIME]
    content = services.conversation.contents["vi"]
    t = services.translator.gettext
    timeline, contact = content.topics["timeline"], content.topics["contact"]
    viettel = content.facts["hotline_viettel"]
    assert viettel.value == "1800 8098" and "hotline_viettel" in contact.facts

    monkeypatch.setattr(content_status, "today", lambda: dt.date(2026, 12, 2))
    response = await client.get("/admin/content")
    assert response.status == 200
    html = await response.text()
    assert 'href="/admin/content"' in html                     # in the navigation
    line = row(html, "topic-timeline")
    assert timeline.title in line
    assert shown(timeline.as_of) in line and shown(timeline.review_by) in line
    assert timeline.facts and all(content.facts[n].value in line for n in timeline.facts)
    assert "1800 8098" in row(html, "topic-contact")
    assert content.check.title in row(html, "check-check")
    fact = row(html, "fact-hotline_viettel")
    assert "1800 8098" in fact and shown(viettel.review_by) in fact
    assert 'href="#topic-contact"' in fact and t("vi", "help line") in fact   # used by
    # Everything is due in March 2027 or later: nothing this month, in Vietnamese.
    assert timeline.review_by == viettel.review_by == dt.date(2027, 3, 1)
    assert due_list(html) == {}
    assert t("vi", "Nothing is due this month") in html
    assert t("vi", "Nothing is due this month") != "Nothing is due this month"

    # On 1 March 2027 what must be checked by that day is due; later in March it is overdue.
    later = {name for name, f in content.facts.items() if f.review_by > dt.date(2027, 3, 31)}
    assert "date_2g_only_blocked" in later                     # review_by 2027-06-01
    for day, expected in ((dt.date(2027, 3, 1), DUE), (dt.date(2027, 3, 15), OVERDUE)):
        monkeypatch.setattr(content_status, "today", lambda day=day: day)
        html = await (await client.get("/admin/content")).text()
        listed = due_list(html)
        assert listed[("topic", "timeline")] == expected
        assert listed[("topic", "contact")] == expected
        assert listed[("check", "check")] == expected
        assert listed[("fact", "hotline_viettel")] == expected
        assert not any(("fact", name) in listed for name in later)
        assert t("vi", "Nothing is due this month") not in html
        assert t("vi", "overdue" if expected == OVERDUE else "due this month") \
            in row(html, "topic-timeline")
        assert t("vi", "ok") in row(html, "fact-date_2g_only_blocked")

    # Overdue entries come first in the list.
    monkeypatch.setattr(content_status, "today", lambda: dt.date(2027, 6, 1))
    states = list(due_list(await (await client.get("/admin/content")).text()).values())
    assert OVERDUE in states and DUE in states
    assert states == sorted(states, key=lambda s: s != OVERDUE)


@pytest.mark.parametrize(("review_by", "today", "expected"), [
    (dt.date(2027, 3, 1), dt.date(2027, 2, 28), OK),
    (dt.date(2027, 3, 1), dt.date(2027, 3, 1), DUE),
    (dt.date(2027, 3, 31), dt.date(2027, 3, 2), DUE),
    (dt.date(2027, 3, 1), dt.date(2027, 3, 2), OVERDUE),
    (dt.date(2028, 2, 29), dt.date(2028, 2, 1), DUE),          # leap year
    (dt.date(2028, 1, 1), dt.date(2027, 12, 31), OK),          # next month, next year
])
def test_status(review_by, today, expected):
    assert status(review_by, today) == expected
