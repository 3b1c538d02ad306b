"""Every validation rule of an offline outreach entry, the lock after submission, audited
amendments, ownership and roles, on SQLite and PostgreSQL."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from support.outreach import MONTH, TODAY, add_officer, database, tr

from bot.features.officers import service as officers
from bot.features.outreach import service as outreach

E = outreach.EntryInput


def fields(**over: object) -> dict[str, object]:
    base: dict[str, object] = {"day": "2026-11-19", "form": "loudspeaker",
                               "medium": "Loa truyền thanh xã", "runs": "2", "reached": "",
                               "communes": ["24175"], "languages": ["vi"], "note": ""}
    base.update(over)
    return base


def errors_of(**over: object) -> dict[str, str]:
    with pytest.raises(outreach.OutreachError) as caught:
        outreach.parse_entry(fields(**over), TODAY, tr)
    return caught.value.errors


def test_a_valid_entry_is_parsed_whole():
    entry = outreach.parse_entry(fields(day="19/11/2026", reached="1.200", communes=[
        "Hòa Phú", "phuong buon ma thuot", "24175"], languages=["vi", "rad", "vi"],
        note="  Phát 2 buổi  "), TODAY, tr)
    assert entry == E(dt.date(2026, 11, 19), "loudspeaker", "Loa truyền thanh xã", 2, 1200,
                      ("24175", "24133"), ("vi", "rad"), "Phát 2 buổi")
    assert entry.month == "2026-11"
    assert outreach.parse_entry(fields(reached="", languages=[], communes=[]), TODAY,
                                tr).languages == ("vi",)


@pytest.mark.parametrize("over, field, message", [
    ({"day": ""}, "day", "Hãy nhập ngày thực hiện tuyên truyền."),
    ({"day": "hôm kia"}, "day", '"hôm kia" không phải là ngày. Hãy viết theo mẫu 25/11/2026.'),
    ({"day": "31/02/2026"}, "day", '"31/02/2026" không phải là ngày.'),
    ({"day": "2026-11-21"}, "day", "Ngày 21/11/2026 chưa tới. Chỉ ghi nhận hoạt động đã thực "
                                   "hiện."),
    ({"day": "30/12/2023"}, "day", "trước năm 2024"),
    ({"form": "tiktok"}, "form", "Hãy chọn hình thức truyền thông trong danh sách."),
    ({"form": "chatbot_qa"}, "form", "Hãy chọn hình thức"),     # Loa logs its own runs
    ({"form": "other"}, "form_other", "Hãy ghi rõ hình thức truyền thông khác."),
    ({"form": "other", "form_other": "x" * 121}, "form_other", "ngắn hơn 120 ký tự"),
    ({"medium": "  "}, "medium", "Hãy nhập phương tiện truyền thông"),
    ({"runs": "-3"}, "runs", "Số lượt thực hiện phải từ 1 trở lên."),
    ({"runs": "0"}, "runs", "Số lượt thực hiện phải từ 1 trở lên."),
    ({"runs": "ba"}, "runs", "Hãy nhập số lượt bằng số nguyên, ví dụ 3."),
    ({"runs": "2.5"}, "runs", "Hãy nhập số lượt bằng số nguyên"),
    ({"runs": "100001"}, "runs", "100001 lượt trong một lần ghi là quá nhiều"),
    ({"reached": "-1"}, "reached", "Số người tiếp cận phải là số nguyên từ 0 trở lên"),
    ({"reached": "nhiều"}, "reached", "để trống nếu không rõ"),
    ({"reached": "20000000"}, "reached", "nhiều hơn dân số của tỉnh"),
    ({"communes": ["Hòa Phú", "Xã Atlantis"]}, "communes",
     "Không tìm thấy xã, phường: Xã Atlantis."),
    ({"languages": ["vi", "klingon"]}, "languages", "Ngôn ngữ không có trong danh sách: klingon."),
    ({"note": "x" * 1001}, "note", "Ghi chú quá dài (tối đa 1000 ký tự)."),
])
def test_each_wrong_field_gets_a_clear_message(over, field, message):
    errors = errors_of(**over)
    assert list(errors) == [field] and message in errors[field]


def test_every_wrong_field_is_reported_at_once():
    errors = errors_of(day="2030-01-01", runs="-1", communes=["Nowhere"])
    assert set(errors) == {"day", "runs", "communes"}


def test_evidence_types_and_size():
    assert outreach.check_evidence("ảnh họp.JPG", 10, tr) == ".jpg"
    with pytest.raises(outreach.OutreachError, match="ảnh \\(JPG, PNG\\)"):
        outreach.check_evidence("virus.exe", 10, tr)
    with pytest.raises(outreach.OutreachError, match="tối đa 10 MB"):
        outreach.check_evidence("big.pdf", outreach.MAX_EVIDENCE + 1, tr)


def test_evidence_token_is_bound_to_the_officer(tmp_path):
    relative, name = outreach.store_evidence(tmp_path, "biên bản.pdf", b"%PDF-1.4 x", tr)
    token = outreach.evidence_token("key", 7, relative, name)
    assert outreach.read_evidence_token("key", 7, token, tmp_path) == (relative, name)
    assert outreach.read_evidence_token("key", 8, token, tmp_path) is None
    forged = token.replace(relative, "evidence/" + "0" * 32 + ".pdf")
    assert outreach.read_evidence_token("key", 7, forged, tmp_path) is None
    assert outreach.read_evidence_token("key", 7, "../../etc/passwd|x|y", tmp_path) is None


async def _audit(db, unit_id):  # type: ignore[no-untyped-def]
    async with db.connect() as conn:
        return [(e.action, e.target, e.before, e.after)
                for e in reversed(await officers.audit_entries(conn, unit_id))]


async def _lock_and_amend(url: str) -> None:
    async with database(url) as db:
        editor = await add_officer(db, "xa-24175", "editor")
        other = await add_officer(db, "xa-24175", "editor", "Người khác")
        admin = await add_officer(db, "xa-24175", "admin", "Quản trị")
        viewer = await add_officer(db, "xa-24175", "viewer")
        neighbour = await add_officer(db, "xa-24133", "admin")
        day = dt.date(2026, 10, 5)
        entry = E(day, "meeting", "Họp thôn", 1, 80, ("24175",), ("vi",), "Thôn 3")
        async with db.begin() as conn:
            entry_id = await outreach.create_entry(conn, editor, entry, tr)
        fixed = E(day, "meeting", "Họp thôn", 2, 120, ("24175",), ("vi",), "Thôn 3 và 4")

        async def refused(actor, action, match, **kw):  # type: ignore[no-untyped-def]
            with pytest.raises(outreach.OutreachError) as caught:
                async with db.begin() as conn:
                    if action == "update":
                        await outreach.update_entry(conn, actor, entry_id, fixed, tr, **kw)
                    elif action == "delete":
                        await outreach.delete_entry(conn, actor, entry_id, tr, **kw)
                    elif action == "create":
                        await outreach.create_entry(conn, actor, fixed, tr, **kw)
                    else:
                        await outreach.submit_month(conn, actor, kw.pop("month", MONTH),
                                                    TODAY, tr)
            assert match in " ".join(caught.value.errors.values())

        await refused(other, "update", "Chỉ cán bộ đã ghi mục này")
        await refused(neighbour, "update", "thuộc đơn vị khác")
        await refused(viewer, "create", "chỉ được xem báo cáo")
        await refused(viewer, "submit", "chỉ được xem báo cáo")
        await refused(editor, "submit", "Tháng 11/2026 chưa kết thúc", month="2026-11")
        async with db.begin() as conn:     # the author corrects it before submitting
            await outreach.update_entry(conn, editor, entry_id, fixed, tr)
            await outreach.submit_month(conn, editor, MONTH, TODAY, tr)
        await refused(admin, "submit", "Báo cáo tháng 10/2026 đã được nộp.")
        locked = "Báo cáo tháng 10/2026 đã nộp. Muốn thay đổi, hãy ghi lý do điều chỉnh."
        await refused(editor, "update", locked)
        await refused(editor, "delete", locked)
        await refused(editor, "create", locked)
        await refused(editor, "update", locked, reason="   ")
        async with db.connect() as conn:      # nothing changed by the refusals
            row = await outreach.get_entry(conn, entry_id)
        assert (row.runs, row.reached, row.note) == (2, 120, "Thôn 3 và 4")

        # An amendment: the change is applied, recorded with its reason, and counted.
        amended = E(day, "meeting", "Họp thôn", 3, 150, ("24175",), ("vi",), "Thôn 3, 4, 5")
        async with db.begin() as conn:
            await outreach.update_entry(conn, admin, entry_id, amended, tr,
                                        reason="Bổ sung thôn 5 theo biên bản")
            new_id = await outreach.create_entry(
                conn, editor, E(dt.date(2026, 10, 30), "leaflet", "Tờ rơi", 1, None),
                tr, reason="Quên ghi buổi phát tờ rơi 30/10")
            await outreach.delete_entry(conn, editor, new_id, tr, reason="Ghi trùng")
            sub = await outreach.submission(conn, editor.unit_id, MONTH)
            amendments = await outreach.amendments(conn, MONTH, editor.unit_id)
            row = await outreach.get_entry(conn, entry_id)
            deleted = (await conn.execute(select(outreach.ENTRY).where(
                outreach.ENTRY.c.id == new_id))).first()
        assert (row.runs, row.reached) == (3, 150) and sub.amendments == 3
        assert deleted.deleted_at is not None                    # kept, marked deleted
        assert [(a.action, a.entry_id, a.reason, a.officer_id) for a in amendments] == [
            ("update", entry_id, "Bổ sung thôn 5 theo biên bản", admin.officer_id),
            ("create", new_id, "Quên ghi buổi phát tờ rơi 30/10", editor.officer_id),
            ("delete", new_id, "Ghi trùng", editor.officer_id)]
        assert json.loads(amendments[0].before)["runs"] == 2
        assert json.loads(amendments[0].after)["runs"] == 3

        log = await _audit(db, editor.unit_id)
        actions = [a for a, *_ in log if a.startswith(("outreach.", "report."))]
        assert actions == ["outreach.create", "outreach.update", "report.submit",
                           "outreach.update", "report.amend", "outreach.create", "report.amend",
                           "outreach.delete", "report.amend"]
        first_update = next(x for x in log if x[0] == "outreach.update")
        assert json.loads(first_update[2])["runs"] == 1 and json.loads(first_update[3])["runs"] == 2
        amend = [x for x in log if x[0] == "report.amend"][0]
        assert amend[1] == "report:2026-10"
        assert json.loads(amend[3])["reason"] == "Bổ sung thôn 5 theo biên bản"
        # Another unit's month is not locked by this submission.
        async with db.begin() as conn:
            await outreach.create_entry(conn, neighbour, E(day, "radio", "Đài", 1), tr)


async def test_lock_after_submission_and_audited_amendments_on_sqlite(settings):
    await _lock_and_amend(settings.database_url)


async def test_lock_after_submission_and_audited_amendments_on_postgres(
        migrated_postgres_url):
    await _lock_and_amend(migrated_postgres_url)


@given(st.integers(min_value=-10**7, max_value=10**7), st.sampled_from(["", ".", ","]))
def test_any_typed_count_is_read_exactly_or_refused(n, separator):
    typed = f"{n:,}".replace(",", separator) if separator else str(n)
    if 1 <= n <= outreach.MAX_RUNS:
        assert outreach.parse_runs(typed, tr) == n
    else:
        with pytest.raises(outreach.OutreachError):
            outreach.parse_runs(typed, tr)
    if 0 <= n <= outreach.MAX_REACHED:
        assert outreach.parse_reached(f" {typed} ", tr) == n
    else:
        with pytest.raises(outreach.OutreachError):
            outreach.parse_reached(typed, tr)


@given(st.dates(min_value=dt.date(2023, 1, 1), max_value=dt.date(2027, 12, 31)))
def test_any_date_is_accepted_only_from_2024_to_today(day):
    for typed in (day.isoformat(), day.strftime("%d/%m/%Y"), f"{day.day}.{day.month}.{day.year}"):
        if outreach.FIRST_DAY <= day <= TODAY:
            assert outreach.parse_day(typed, TODAY, tr) == day
        else:
            with pytest.raises(outreach.OutreachError):
                outreach.parse_day(typed, TODAY, tr)
