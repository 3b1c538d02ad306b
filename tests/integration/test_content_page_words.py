"""The "Nội dung" page (/admin/content) speaks to commune officers (issue 17): facts by a
Vietnamese name, topics by their title, no keys, no English notes of facts.yml and no file
names; the province's administrators also get those technical details, folded away."""
from __future__ import annotations

import datetime as dt
import re
from html import unescape

import pytest
from support.catalogs import vietnamese_msgids
from support.officers import login_as

from bot.features.content import web as content_page
from bot.web.keys import RUNTIME


def shown(html: str) -> str:
    """What the officer reads: the text, without tags and attributes."""
    html = re.sub(r"<(style|script)[^>]*>.*?</\1>", " ", html, flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


async def open_page(client, settings, unit: str, role: str, monkeypatch) -> str:
    monkeypatch.setattr(content_page, "today", lambda: dt.date(2027, 3, 15))  # things due
    await login_as(client, settings, unit, role)
    response = await client.get("/admin/content")
    assert response.status == 200
    return await response.text()


@pytest.mark.parametrize("role", ["editor", "admin"])
async def test_a_commune_officer_reads_names_and_titles_not_keys(client, settings, role,
                                                                  monkeypatch):
    html = await open_page(client, settings, "xa-24175", role, monkeypatch)
    content = client.server.app[RUNTIME].conversation.contents["vi"]
    text = shown(html)
    assert "Ngày tắt sóng 2G (theo lộ trình)" in text and "15/9/2026" in text
    assert "Tổng đài MobiFone" in text and "Cước gọi tổng đài MobiFone" in text
    for topic in content.topics.values():
        assert topic.title in text
    for name, fact in content.facts.items():
        assert name not in text, name                         # date_2g_end, hotline_…
        assert fact.note not in text, fact.note               # the English notes
        assert fact.source not in text, fact.source
    for raw in ("after_shutdown.emergency", "switch.volte", "scams.fake_hotlines",
                "content/", "facts.yml", "as_of", "review_by", "Chi tiết kỹ thuật"):
        assert raw not in text, raw
    # the facts a topic states, and the topics using a fact, by name
    timeline = re.search(r'<tr id="topic-timeline".*?</tr>', html, re.S)
    assert timeline and "Ngày tắt sóng 2G (theo lộ trình)" in shown(timeline[0])
    used = re.search(r'<tr id="fact-amount_state_support".*?</tr>', html, re.S)
    assert used and content.topics["support.poor_households"].title in shown(used[0])
    due = re.search(r'<section id="due".*?</section>', html, re.S)
    assert due and "Tổng đài Viettel" in shown(due[0])


async def test_the_province_administrator_can_unfold_the_technical_details(
        client, settings, monkeypatch):
    html = await open_page(client, settings, "tinh", "admin", monkeypatch)
    content = client.server.app[RUNTIME].conversation.contents["vi"]
    details = re.search(r'<details id="technical">(.*?)</details>', html, re.S)
    assert details, "no technical details"
    inside = shown(details[1])
    assert inside.startswith("Chi tiết kỹ thuật") and "content/facts.yml" in inside
    assert "date_2g_end" in inside and content.facts["date_2g_end"].note in inside
    assert "after_shutdown.emergency" in inside
    outside = shown(html.replace(details[0], ""))
    assert "date_2g_end" not in outside and "facts.yml" not in outside


def test_every_fact_has_a_vietnamese_name():
    from pathlib import Path

    from bot.core.content import load_content
    facts = load_content(Path(__file__).resolve().parents[2] / "content", "vi").facts or {}
    translated = vietnamese_msgids()
    assert sorted(set(facts) - set(content_page.FACT_LABELS)) == []
    for name, msgid in content_page.FACT_LABELS.items():
        assert msgid in translated, name
    assert content_page.UNNAMED_FACT in translated
