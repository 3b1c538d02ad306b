"""An officer's overview (issue 17): their own unit, what waits for them, the report's status
and deadline, recent actions in plain Vietnamese and Vietnam time; no raw keys or codes."""
from __future__ import annotations

import re

from support.officers import login_as

COMMUNE = "xa-24175"


async def test_a_commune_officer_sees_their_own_unit_in_plain_words(client, settings):
    await login_as(client, settings, COMMUNE, "editor")
    html = await (await client.get("/admin")).text()
    assert "Việc chờ bạn" in html
    assert "chưa nộp: hạn nộp" in html                       # the report waits, with its date
    assert 'id="report-status"' in html and "hạn nộp" in html
    assert 'id="by-form"' in html and 'id="total"' in html
    assert "đã đăng ký làm cán bộ" in html                    # the audit in a sentence
    shown = re.sub(r"<[^>]+>", " ", html)                    # what the officer reads
    for raw in ("officer.register", "officer:", "UTC", "xa-24175", "Queues", "pending"):
        assert raw not in shown, raw
    assert 'id="health"' not in html                          # queue internals: province only


async def test_the_province_administrator_sees_sending_health_in_words(client, settings):
    await login_as(client, settings, "tinh", "admin")
    html = await (await client.get("/admin")).text()
    assert 'id="health"' in html and "Tin trả lời và thông báo đang chờ gửi" in html
    assert "outbox" not in html and "(UTC)" not in html
