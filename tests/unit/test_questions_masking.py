"""Invite codes and phone numbers typed into a chat are never kept: masked before the question
is stored (and, by migration 0012, in questions stored before), so no other officer reads
them on the review page."""
from __future__ import annotations

import asyncio
import datetime as dt

import sqlalchemy as sa
from alembic import command
from support.env import sql_connect
from support.officers import login_as

from bot.features.officers import service as officers
from bot.features.questions import service as questions
from bot.store.db import Database, alembic_config, make_engine

SESSION = "m" * 10 + "masking-session-0001"
PHONES = ("0912345678", "0912 345 678", "091.234.5678", "+84912345678", "84912345678",
          "(0262) 3812 345", "0262.3812.345", "38251234")


async def test_an_invite_code_and_phone_numbers_typed_in_the_web_chat_are_stored_masked(
        client, settings):
    db = Database(make_engine(settings.database_url))
    try:
        async with db.begin() as conn:
            await officers.sync_units(conn, settings.unit)
            code = await officers.create_invite(conn, "xa-24175", "editor", "test")
    finally:
        await db.dispose()
    typed = [f"mã đăng ký của tôi là {code}, đèn điện thoại cứ nhấp nháy",
             f"/dangky {code.lower()} đèn điện thoại cứ nhấp nháy",
             *(f"đèn điện thoại cứ nhấp nháy, nhắn giúp {p}" for p in PHONES)]
    for number, text in enumerate(typed):
        response = await client.post("/api/chat", json={"session": SESSION,
                                                         "id": f"mask{number:04d}", "text": text})
        assert response.status == 200
    with sql_connect(settings) as raw:
        stored = [row[0] for row in raw.execute("select text from question order by id")]
        dump = "\n".join(raw.iterdump()) if hasattr(raw, "iterdump") else ""
    assert len(stored) == len(typed)
    for text in stored:
        assert code not in text.upper() and "[…]" in text, text
        assert not any(p in text for p in PHONES), text
    assert stored[0] == "mã đăng ký của tôi là […], đèn điện thoại cứ nhấp nháy"
    assert code not in dump
    await login_as(client, settings, "tinh", "editor")
    html = await (await client.get("/admin/questions")).text()
    assert "[…]" in html and code not in html.upper()
    assert not any(p in html for p in PHONES)


MASKED = ("số tôi là 0912345678", "số tôi là 0912 345 678", "số tôi là 091.234.5678",
          "số tôi là +84912345678", "số tôi là 84912345678", "số tôi là 0912-345-678",
          "số bàn (0262) 3812 345", "số bàn 02623812345", "số bàn 3825 1234",
          "cccd 066123456789", "mã A1B2C3D4 nè", "mã a1b2c3d4", "/dangky 12AB")
KEPT = ("gọi tổng đài 1800 8098 hay 18001091 hay 1900 1234",      # public hotlines
        "tắt sóng ngày 15.10.2026 hay 15/10/2026 vậy",             # dates
        "từ năm 2025-2026 máy giá 1.500.000 đồng",                 # years, money
        "khi nào tắt sóng 2g", "đăng ký 4g ở đâu")


def test_phone_shapes_and_invite_codes_are_masked_hotlines_and_dates_kept():
    assert [t for t in MASKED if questions.mask(t) == t] == []
    assert [t for t in KEPT if questions.mask(t) != t] == []
    assert questions.mask("mã A1B2C3D4 nè") == "mã […] nè"


async def test_the_migration_masks_stored_questions_and_holds_old_samples(database_url):
    """Rows stored before 0012 are masked by it; samples taught without approval stop being
    used until a province officer approves them."""
    await asyncio.to_thread(command.upgrade, alembic_config(database_url), "0011")
    now = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)
    db = Database(make_engine(database_url))
    try:
        async with db.begin() as conn:
            await conn.execute(sa.text(
                "insert into question (asked_at, channel, language, contact_pseudonym, text, "
                "outcome, score, status) values (:at, 'web', 'vi', 'p', :text, 'unsure', 0, "
                "'new')"), {"at": now, "text": "mã 1A2B3C4D, số 0912 345 678, tổng đài 1800 8098"})
            await conn.execute(sa.text(
                "insert into learned_sample (topic, text, created_by, created_at) values "
                "(NULL, 'đèn điện thoại cứ nhấp nháy', 'officer:1', :at)"), {"at": now})
    finally:
        await db.dispose()
    await asyncio.to_thread(command.upgrade, alembic_config(database_url), "heads")
    with sql_connect(database_url) as raw:
        assert raw.execute("select text, commune_code from question").fetchall() == [
            ("mã […], số […], tổng đài 1800 8098", None)]
        assert raw.execute("select status from learned_sample").fetchall() == [("pending",)]
    await asyncio.to_thread(command.downgrade, alembic_config(database_url), "0011")
    await asyncio.to_thread(command.upgrade, alembic_config(database_url), "heads")
