"""Reminders on the 10th and 14th to units that have not submitted: queued on the bulk lane to
the unit's officers, once per unit and reminder day, and delivered through Telegram."""
from __future__ import annotations

import datetime as dt
import json
import re

from sqlalchemy import select
from support.outreach import add_officer, database, tr
from support.outreach_chat import register

from bot.features.officers import service as officers
from bot.features.outreach import service as outreach
from bot.features.outreach.reports.reminders import REMINDER, queue_reminders
from bot.store import queries
from bot.store.models import utcnow


async def _contact(db, officer: outreach.Actor) -> None:  # type: ignore[no-untyped-def]
    """The officer wrote to the bot once on Telegram, so Loa can write back."""
    async with db.begin() as conn:
        o = await officers.officer_by_id(conn, officer.officer_id)
        await queries.insert_contact(conn, channel=o.channel, pseudonym=o.pseudonym,
                                     address=o.address, state="{}", status="active",
                                     created_at=utcnow(), last_seen_at=utcnow())


async def _outbox(db) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    async with db.connect() as conn:
        rows = (await conn.execute(select(queries.OUTBOX).order_by(queries.OUTBOX.c.id))).all()
    return [(r.address, r.lane, json.loads(r.payload)["text"]) for r in rows]


async def test_units_are_reminded_once_per_reminder_day(settings):
    async with database(settings.database_url) as db:
        hoa_phu = await add_officer(db, "xa-24175", "editor", channel="telegram")
        hoa_phu_admin = await add_officer(db, "xa-24175", "admin", channel="telegram")
        reviewer = await add_officer(db, "xa-24175", "reviewer", channel="telegram",
                                     language="rad")
        cli_only = await add_officer(db, "xa-24175", "viewer", channel="cli")
        ward = await add_officer(db, "xa-24133", "editor", channel="telegram")
        for officer in (hoa_phu, hoa_phu_admin, reviewer, ward):
            await _contact(db, officer)
        async with db.begin() as conn:     # the ward has submitted November already
            await outreach.submit_month(conn, ward, "2026-11", dt.date(2026, 12, 2), tr)

        async def remind(day: int) -> set[str]:
            async with db.begin() as conn:
                return await queue_reminders(conn, dt.date(2026, 12, day), (10, 14), 15,
                                             {"telegram"}, tr)

        assert await remind(9) == set() and await _outbox(db) == []
        assert await remind(10) == {"telegram"}
        sent = await _outbox(db)
        text = ("Nhắc việc: báo cáo tuyên truyền tháng 11/2026 của Xã Hòa Phú cần nộp trước "
                "ngày 15/12/2026. Gõ /baocao để xem và nộp báo cáo, /ghinhan để ghi nhận hoạt "
                "động.")
        assert sent == [("1", "bulk", text), ("1", "bulk", text)]   # editor and admin only
        assert await remind(10) == set() and len(await _outbox(db)) == 2   # once per day
        assert await remind(11) == set()
        assert await remind(14) == {"telegram"} and len(await _outbox(db)) == 4
        async with db.connect() as conn:
            reminders = (await conn.execute(select(REMINDER.c.unit_id, REMINDER.c.day,
                                                   REMINDER.c.recipients)
                                            .where(REMINDER.c.recipients > 0))).all()
        assert sorted(reminders) == [(hoa_phu.unit_id, dt.date(2026, 12, 10), 2),
                                     (hoa_phu.unit_id, dt.date(2026, 12, 14), 2)]
        async with db.connect() as conn:
            every_unit = (await conn.execute(select(REMINDER).where(
                REMINDER.c.day == dt.date(2026, 12, 10)))).all()
        assert len(every_unit) == 102      # every unit but the ward, even without officers
        assert cli_only.unit_id == hoa_phu.unit_id


async def test_a_reminder_reaches_the_officer_in_telegram(telegram):
    api, settings = telegram
    officer = await register(api, settings, 4201, "xa-24175", "editor")
    today = dt.date(2026, 12, 10)
    async with database(settings.database_url) as db, db.begin() as conn:
        woken = await queue_reminders(conn, today, (10, 14), 15, {"telegram"}, tr)
    assert woken == {"telegram"}
    # The running app's bulk sender finds the row on its next round (or when woken).
    (reminder,) = await officer.next(1)
    assert re.match(r"Nhắc việc: báo cáo tuyên truyền tháng 11/2026 của Xã Hòa Phú",
                    reminder["text"])
