"""The announcement pages as a commune officer uses them (issue 17): drafts are edited and
deleted, sending back needs a reason that the author reads, approvers have a queue, "0 people"
is a warning that says what to do, destructive actions ask first, and everything reads in
Vietnamese with Vietnam time."""
from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest
from aiohttp.test_utils import TestClient, TestServer
from support.broadcast_pages import (
    A,
    B,
    compose,
    get,
    log_in,
    officer,
    plant_outbox,
    post,
    sql,
    status_of,
)
from support.broadcasts import can_delete
from support.env import sql_write
from support.officers import make_officer

from bot.app import build_app


@pytest.fixture
async def client(settings):
    """Loa with an ethnic language on (Ê Đê), so the pages name languages; no quiet hours,
    so that what the progress says does not depend on the time of day."""
    app = build_app(replace(settings, languages=("vi", "rad"), quiet_hours=""))
    async with TestClient(TestServer(app)) as c:
        yield c


async def test_a_draft_is_edited_then_deleted_only_after_confirming(client, settings):
    author = await officer(client, settings, A, "editor", "Chị Soạn")
    broadcast_id = await compose(client, "Họp thôn thứ Bảy lúc 8 giờ.")
    _, page = await get(client, f"/admin/broadcasts/{broadcast_id}")
    assert 'name="edit"' in page and 'value="delete"' in page        # Sửa, Xóa…
    status, form = await get(client, f"/admin/broadcasts/{broadcast_id}?edit=1")
    assert status == 200 and "Họp thôn thứ Bảy lúc 8 giờ." in form and "Lưu thay đổi" in form
    status, page, location = await post(client, f"/admin/broadcasts/{broadcast_id}/edit",
                                        {"kind": "message", "text": "Họp thôn Chủ nhật lúc 8 giờ."})
    assert status == 302 and location.endswith("done=edit")
    ((text,),) = sql(settings, "select text from broadcast where id = ?", broadcast_id)
    assert text == "Họp thôn Chủ nhật lúc 8 giờ."
    status, page, _ = await post(client, f"/admin/broadcasts/{broadcast_id}/edit",
                                 {"kind": "message", "text": "  "})
    assert status == 400 and "Bạn viết nội dung thông báo." in page   # the form again, kept

    # Another editor of the unit (not the author, not an approver) changes nothing.
    await officer(client, settings, A, "editor", "Anh Khác")
    _, page = await get(client, f"/admin/broadcasts/{broadcast_id}")
    assert 'name="edit"' not in page
    status, page, _ = await post(client, f"/admin/broadcasts/{broadcast_id}/edit",
                                 {"kind": "message", "text": "Đổi trộm"})
    assert status == 409 and "Chỉ người soạn hoặc người duyệt" in page
    status, _, _ = await post(client, f"/admin/broadcasts/{broadcast_id}/delete",
                              {"confirm": "x"})
    assert status == 409 and status_of(settings, broadcast_id) == "draft"

    # Delete: one POST without the confirmation only asks, naming what goes.
    await log_in(client, settings, author)
    status, page, _ = await post(client, f"/admin/broadcasts/{broadcast_id}/delete")
    assert status == 200 and "Xóa thông báo số" in page and "Họp thôn Chủ nhật" in page
    assert "Chưa có tin nào gửi cho người dân" in page
    assert status_of(settings, broadcast_id) == "draft"
    status, page, _ = await post(client, f"/admin/broadcasts/{broadcast_id}/delete",
                                 {"confirm": "forged"})
    assert status == 409 and "đã cũ" in page and status_of(settings, broadcast_id) == "draft"
    _, page = await get(client, f"/admin/broadcasts/{broadcast_id}?confirm=delete")
    token = re.search(r'name="confirm" value="([^"]+)"', page)[1]
    assert re.search(r'<form[^>]*id="confirm-form"[^>]*data-once', page)   # clicked once only
    status, _, location = await post(client, f"/admin/broadcasts/{broadcast_id}/delete",
                                     {"confirm": token})
    assert status == 302 and location == f"/admin/broadcasts?deleted={broadcast_id}"
    assert status_of(settings, broadcast_id) is None
    status, _, location = await post(client, f"/admin/broadcasts/{broadcast_id}/delete",
                                     {"confirm": token})             # the double click
    assert status == 302 and location == "/admin/broadcasts"
    _, page = await get(client, f"/admin/broadcasts?deleted={broadcast_id}")
    assert f"Đã xóa thông báo số {broadcast_id}." in page
    actions = [a for (a,) in sql(settings, "select action from audit_log where target = ? "
                                 "order by id", f"broadcast:{broadcast_id}")]
    assert actions == ["broadcast.create", "broadcast.edit", "broadcast.delete"]


async def test_sending_back_needs_a_reason_the_author_reads_then_resubmits(client, settings):
    author = await officer(client, settings, A, "editor", "Chị Soạn")
    broadcast_id = await compose(client, "Đổi máy 4G miễn phí ngày 30/11.")
    status, _, location = await post(client, f"/admin/broadcasts/{broadcast_id}/submit")
    approver = await officer(client, settings, A, "approver", "Anh Duyệt")

    _, queue = await get(client, "/admin/broadcasts?view=waiting")
    assert f'href="/admin/broadcasts/{broadcast_id}"' in queue and "Chị Soạn" in queue
    status, page, _ = await post(client, f"/admin/broadcasts/{broadcast_id}/reject",
                                 {"reason": "   "})
    assert status == 400 and "Hãy ghi lý do trả lại" in page
    assert status_of(settings, broadcast_id) == "pending_approval"
    status, _, location = await post(client, f"/admin/broadcasts/{broadcast_id}/reject",
                                     {"reason": "Sai ngày: đợt đổi máy là 29/11."})
    assert status == 302 and status_of(settings, broadcast_id) == "rejected"
    _, queue = await get(client, "/admin/broadcasts?view=waiting")
    assert f'href="/admin/broadcasts/{broadcast_id}"' not in queue

    await log_in(client, settings, author)
    _, listing = await get(client, "/admin/broadcasts")
    assert (f"Thông báo số {broadcast_id} của bạn bị trả lại bởi Anh Duyệt, lý do: Sai ngày: "
            "đợt đổi máy là 29/11.") in listing
    _, page = await get(client, f"/admin/broadcasts/{broadcast_id}")
    assert "Sai ngày: đợt đổi máy là 29/11." in page and "Gửi duyệt lại" in page
    await post(client, f"/admin/broadcasts/{broadcast_id}/edit",
               {"kind": "message", "text": "Đổi máy 4G miễn phí ngày 29/11."})
    status, _, _ = await post(client, f"/admin/broadcasts/{broadcast_id}/submit")
    assert status == 302 and status_of(settings, broadcast_id) == "pending_approval"

    await log_in(client, settings, approver)
    _, queue = await get(client, "/admin/broadcasts?view=waiting")
    assert f'href="/admin/broadcasts/{broadcast_id}"' in queue
    status, _, _ = await post(client, f"/admin/broadcasts/{broadcast_id}/approve")
    assert status == 302 and status_of(settings, broadcast_id) != "pending_approval"
    await log_in(client, settings, author)
    _, listing = await get(client, "/admin/broadcasts")
    # approved, or (nobody to send to) already finished by the runner meanwhile
    assert re.search(f"Thông báo số {broadcast_id} của bạn (đã được duyệt|đã gửi xong)",
                     listing)
    ((after,),) = sql(settings, "select after from audit_log where action = 'broadcast.reject'")
    assert json.loads(after)["reason"] == "Sai ngày: đợt đổi máy là 29/11."


@pytest.mark.sqlite_only   # page wording and rules: the database adds nothing
async def test_an_approver_who_changed_the_text_last_cannot_approve_it(client, settings):
    await officer(client, settings, A, "editor", "Chị Soạn")
    broadcast_id = await compose(client, "Tin cần sửa")
    await officer(client, settings, A, "approver", "Anh Duyệt")
    status, _, _ = await post(client, f"/admin/broadcasts/{broadcast_id}/edit",
                              {"kind": "message", "text": "Tin người duyệt tự viết"})
    assert status == 302
    await sql_write(settings, "update broadcast set status = 'pending_approval' where id = ?",
                    broadcast_id)
    _, queue = await get(client, "/admin/broadcasts?view=waiting")
    assert f'href="/admin/broadcasts/{broadcast_id}"' not in queue
    status, page, _ = await post(client, f"/admin/broadcasts/{broadcast_id}/approve")
    assert status == 409 and "bạn là người sửa nội dung này sau cùng" in page


@pytest.mark.sqlite_only
async def test_another_units_officer_can_neither_open_nor_change_it(client, settings):
    await officer(client, settings, A, "editor", "Soạn A")
    broadcast_id = await compose(client, "Tin của xã A")
    await post(client, f"/admin/broadcasts/{broadcast_id}/submit")
    await officer(client, settings, B, "admin", "Quản trị B")     # every role, another unit
    for path in ("?edit=1", "?confirm=delete", "?confirm=retract", ""):
        status, page = await get(client, f"/admin/broadcasts/{broadcast_id}{path}")
        assert status == 404 and "Tin của xã A" not in page, path
    for action, data in (("edit", {"kind": "message", "text": "Tin của B"}),
                         ("delete", {"confirm": "x"}), ("reject", {"reason": "Không"})):
        status, page, _ = await post(client, f"/admin/broadcasts/{broadcast_id}/{action}", data)
        assert status == 404 and "Tin của xã A" not in page, action
    assert sql(settings, "select status, text from broadcast") == [
        ("pending_approval", "Tin của xã A")]


async def test_the_queue_lists_only_what_i_may_approve(client, settings):
    await officer(client, settings, A, "editor", "Soạn A")
    mine = await compose(client, "Tin của xã A")
    await post(client, f"/admin/broadcasts/{mine}/submit")
    await officer(client, settings, B, "editor", "Soạn B")
    theirs = await compose(client, "Tin của phường B")
    await post(client, f"/admin/broadcasts/{theirs}/submit")
    await officer(client, settings, A, "approver", "Duyệt A")
    own = await compose(client, "Tin người duyệt A tự soạn")
    await post(client, f"/admin/broadcasts/{own}/submit")
    _, queue = await get(client, "/admin/broadcasts?view=waiting")
    assert f'href="/admin/broadcasts/{mine}"' in queue
    assert f'href="/admin/broadcasts/{theirs}"' not in queue and "Tin của phường B" not in queue
    assert f'href="/admin/broadcasts/{own}"' not in queue          # a second officer approves
    _, listing = await get(client, "/admin/broadcasts")
    assert "Chờ tôi duyệt: 1" in listing
    await officer(client, settings, "tinh", "approver", "Duyệt tỉnh")
    _, queue = await get(client, "/admin/broadcasts?view=waiting")
    assert all(f'href="/admin/broadcasts/{i}"' in queue for i in (mine, theirs, own))
    assert "Phường Buôn Ma Thuột" in queue and "xa-24133" not in queue
    await officer(client, settings, A, "editor", "Soạn A2")
    _, queue = await get(client, "/admin/broadcasts?view=waiting")
    assert "vai trò của bạn không duyệt được" in queue and "/admin/broadcasts/" not in \
        queue.split("<main>")[1].split("Quay lại")[0]


@pytest.mark.sqlite_only   # page wording and rules: the database adds nothing
async def test_nobody_reached_is_a_warning_that_says_what_to_do(client, settings):
    await officer(client, settings, A, "editor", "Chị Soạn")     # no officer has Telegram
    broadcast_id = await compose(client, "Tin thử")
    status, _, location = await post(client, f"/admin/broadcasts/{broadcast_id}/test")
    _, page = await get(client, location)
    assert 'class="ok"' not in page
    warning = re.search(r'<p class="notice" role="alert" id="warning">([^<]+)', page)[1]
    assert "Chưa ai nhận được tin thử" in warning and "/dangky" in warning
    assert "tới 0 cán bộ" not in page
    _, _, location = await post(client, f"/admin/broadcasts/{broadcast_id}/submit")
    _, page = await get(client, location)
    warning = re.search(r'id="warning">([^<]+)', page)[1]
    assert "chưa ai duyệt được" in warning and "mời một người duyệt" in warning
    assert "đã báo cho 0" not in page and 'class="ok"' not in page
    # With an approver who has no chat: told to open the queue.
    await make_officer(settings, A, "approver", "Anh Duyệt")
    await sql_write(settings, "update broadcast set status = 'draft' where id = ?", broadcast_id)
    _, _, location = await post(client, f"/admin/broadcasts/{broadcast_id}/submit")
    _, page = await get(client, location)
    warning = re.search(r'id="warning">([^<]+)', page)[1]
    assert "1 người duyệt đều chưa liên kết Telegram" in warning and "Chờ tôi duyệt" in warning


@pytest.mark.sqlite_only   # page wording and rules: the database adds nothing
async def test_a_commune_officer_is_told_what_they_reach_not_the_whole_province(client,
                                                                                 settings):
    await officer(client, settings, A, "editor", "Chị Soạn")
    _, page = await get(client, "/admin/broadcasts")
    assert "toàn tỉnh" not in page
    assert "người dân đã đăng ký ở Xã Hòa Phú" in page
    assert "Tiếng Ê Đê" in page and ">rad<" not in page and "> rad" not in page
    await officer(client, settings, "tinh", "editor", "Sở")
    _, page = await get(client, "/admin/broadcasts")
    assert "không chọn = toàn tỉnh" in page


async def test_progress_states_times_and_names_read_in_vietnamese(client, settings):
    await officer(client, settings, A, "editor", "Chị Soạn")
    broadcast_id = await compose(client, "Tin đang gửi", languages="rad")
    _, before = await get(client, f"/admin/broadcasts/{broadcast_id}")
    assert "nếu gửi bây giờ" in before and "Thông báo của UBND xã Hòa Phú:" in before
    # It went out: 60 sent in the last half minute, 240 still waiting, a few of each end.
    # (Its messages first: the app's broadcast runner must not see it sending without them.)
    states = ["sent"] * 60 + ["pending"] * 240 + ["blocked"] * 3 + ["failed"] * 2 + \
        ["cancelled", "retry"]
    await plant_outbox(settings, broadcast_id, states)
    await sql_write(
        settings, "update broadcast set status = 'sending', created_at = '2026-11-20 03:00:00', "
        "approved_at = '2026-11-20 03:05:00', started_at = '2026-11-20 03:06:00' where id = ?",
        broadcast_id)
    status, page = await get(client, f"/admin/broadcasts/{broadcast_id}")
    assert status == 200
    for label in ("đã gửi", "bị chặn", "lỗi", "đã hủy", "đang chờ", "thử lại", "đang gửi"):
        assert f'<th scope="row">{label}</th>' in page, label
    assert "còn khoảng 2 phút" in page and "120 tin mỗi phút" in page
    assert "10:00 20/11/2026" in page and "10:05 20/11/2026" in page   # UTC+7
    assert "UTC" not in page and "nếu gửi bây giờ" not in page
    assert "Xã Hòa Phú" in page and "xa-24175" not in page and "24175" not in page
    assert "Tiếng Ê Đê" in page and ">rad<" not in page
    progress = await (await client.get(f"/admin/broadcasts/{broadcast_id}/progress")).json()
    assert "còn khoảng 2 phút" in progress["pace"] and progress["status_label"] == "đang gửi"
    _, listing = await get(client, "/admin/broadcasts")
    assert "10:00 20/11/2026" in listing and "UTC" not in listing


async def test_retract_without_confirmation_changes_nothing(client, settings):
    can_delete(client.server.app)           # as with Telegram: sent messages can be deleted
    await officer(client, settings, A, "editor", "Chị Soạn")
    broadcast_id = await compose(client, "Tin sai cần thu hồi")
    await plant_outbox(settings, broadcast_id, ["sent"] * 3, message_id="77")
    await sql_write(settings, "update broadcast set status = 'done' where id = ?", broadcast_id)
    _, page = await get(client, f"/admin/broadcasts/{broadcast_id}")
    assert 'value="retract"' in page and "/retract\"" not in page     # the button only asks
    status, page, _ = await post(client, f"/admin/broadcasts/{broadcast_id}/retract")
    assert status == 200 and "Thu hồi thông báo số" in page and "Tin sai cần thu hồi" in page
    assert "3 tin" in page                      # what would happen, before anything does
    assert sql(settings, "select count(*) from outbox where retracted_at is not null") == [(0,)]
    assert sql(settings, "select count(*) from audit_log where action = 'broadcast.retract'"
               ) == [(0,)]


async def test_odd_input_gets_an_answer_never_a_500(client, settings):
    await officer(client, settings, A, "approver", "Anh Duyệt")
    broadcast_id = await compose(client, "Dòng một\r\nDòng hai\x00\x07 hết")
    ((text,),) = sql(settings, "select text from broadcast where id = ?", broadcast_id)
    assert text == "Dòng một\nDòng hai hết"           # a browser's \r\n; no NUL or bell
    odd = ["", "\x00", "9" * 40, "-1", "<script>", "xa-24133", "２０", " " * 10_000]
    _, page = await get(client, "/admin/broadcasts")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)[1]
    for value in odd:
        for action in ("edit", "reject", "delete", "retract", "variant", "xyz"):
            response = await client.post(f"/admin/broadcasts/{broadcast_id}/{action}", data={
                "csrf": csrf, "kind": value, "text": value, "reason": value, "confirm": value,
                "active_days": value, "send_at": value, "communes": value, "lang": value,
                "languages": value, "channels": value, "topic": value}, allow_redirects=False)
            page = await response.text()
            assert response.status < 500, (action, value, page[:300])
            assert "<script>" not in page
        for query in (f"?edit={value}", f"?confirm={value}", f"?done={value}&n={value}",
                      f"?done=retract&m={value}"):
            status, _ = await get(client, f"/admin/broadcasts/{broadcast_id}{query}")
            assert status < 500, query
        status, _ = await get(client, f"/admin/broadcasts?view={value}&deleted={value}")
        assert status < 500, value
    status, _ = await get(client, f"/admin/broadcasts/{'9' * 30}")
    assert status == 404
