"""The overview's "recent officer actions" as a commune administrator reads them (issue 17):
an announcement sent for approval, Loa starting it by itself, an outreach entry logged and
deleted, each in a plain sentence; no "thao tác quản trị", no operator standing in for Loa
and no internal entry number (the helpers' invitations are still the operator's)."""
from __future__ import annotations

import datetime as dt
import re

from support.officers import login_as, make_officer
from support.outreach import tr

from bot.features.officers import service as officers
from bot.features.outreach import service as outreach
from bot.store.db import Database, make_engine

COMMUNE = "xa-24175"


async def test_recent_actions_are_plain_sentences(client, settings):
    await login_as(client, settings, COMMUNE, "admin")
    ama, _ = await make_officer(settings, COMMUNE, "editor", "Ama")
    day = outreach.today_vn() - dt.timedelta(days=1)
    db = Database(make_engine(settings.database_url))
    try:
        async with db.begin() as conn:
            unit = await officers.unit_by_code(conn, COMMUNE)
            actor = outreach.Actor(ama, unit.id, "editor")
            for _ in range(3):     # entries of other numbers first: the number is not the name
                await outreach.create_entry(conn, actor, outreach.EntryInput(
                    day, "leaflet", "Tờ rơi", 1), tr)
            entry = await outreach.create_entry(conn, actor, outreach.EntryInput(
                day, "meeting", "Họp thôn", 2, 140, ("24175",)), tr)
            await outreach.delete_entry(conn, actor, entry, tr)
            await officers.audit(conn, f"officer:{ama}", "broadcast.submit", "broadcast:1",
                                 {"status": "draft"}, {"status": "pending_approval"}, unit.id)
            await officers.audit(conn, "system", "broadcast.start", "broadcast:1", None,
                                 {"recipients": 3}, unit.id)
    finally:
        await db.dispose()

    html = await (await client.get("/admin")).text()
    table = re.search(r'<table id="actions">(.*?)</table>', html, re.S)
    assert table
    lines = [" ".join(re.sub(r"<[^>]+>", " ", row).split())
             for row in re.findall(r"<tr data-target[^>]*>(.*?)</tr>", table[1], re.S)]
    said = " | ".join(lines)
    date = day.strftime("%d/%m/%Y")
    assert "Loa đã bắt đầu gửi thông báo số 1" in said
    assert "Ama đã gửi duyệt thông báo số 1" in said
    assert f"Ama đã xóa bản ghi hoạt động ngày {date} (Hội nghị / họp dân)" in said
    assert f"Ama đã lập bản ghi hoạt động ngày {date} (Hội nghị / họp dân)" in said
    assert f"Ama đã lập bản ghi hoạt động ngày {date} (Tờ rơi / pa-nô / áp phích)" in said
    for wrong in ("thao tác quản trị", "người vận hành đã bắt đầu", "số 4",
                  "bản ghi truyền thông số", "outreach:", "broadcast."):
        assert wrong not in said, (wrong, said)
