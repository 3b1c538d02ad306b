"""What an announcement's page says it is, after the review of issue 17 (F12–F14, F17): a
retracted one says so (how many deleted, when, Vietnam time) and offers no second "Thu hồi…";
a pending one is withdrawn only after a confirmation that names what happens; the estimate of
the sending time is true for a few messages; the edit form of a sent-back one shows the
approver's reason; lists name announcements in words."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace
from types import SimpleNamespace

import pytest
from aiohttp.test_utils import TestClient, TestServer
from support.broadcast_pages import (
    A,
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
from support.outreach import TRANSLATOR

from bot.app import build_app
from bot.features.broadcasts import labels
from bot.features.broadcasts.pages import telegram_pace


@pytest.fixture
async def client(settings):
    app = build_app(replace(settings, quiet_hours=""))
    async with TestClient(TestServer(app)) as c:
        yield c


def title_state(page: str) -> str:
    return re.search(r'<span id="status">([^<]*)</span>', page)[1]


async def confirm_token(client, path: str) -> str:
    _, page = await get(client, path)
    return re.search(r'name="confirm" value="([^"]+)"', page)[1]


async def test_a_retracted_announcement_says_so_and_offers_no_second_retraction(client,
                                                                                settings):
    deleting = can_delete(client.server.app)
    await officer(client, settings, A, "editor", "Chị Soạn")
    broadcast_id = await compose(client, "Tin sai cần thu hồi")
    await plant_outbox(settings, broadcast_id, ["sent"] * 3, message_id="77")
    await sql_write(settings, "update broadcast set status = 'done' where id = ?", broadcast_id)
    _, page = await get(client, f"/admin/broadcasts/{broadcast_id}")
    assert title_state(page) == "đã gửi xong" and 'value="retract"' in page
    token = await confirm_token(client, f"/admin/broadcasts/{broadcast_id}?confirm=retract")
    status, _, location = await post(client, f"/admin/broadcasts/{broadcast_id}/retract",
                                     {"confirm": token})
    assert status == 302 and len(deleting.deleted) == 3

    ((at,),) = sql(settings, "select at from audit_log where action = 'broadcast.retract'")
    when = labels.vn_time(at if isinstance(at, dt.datetime) else dt.datetime.fromisoformat(at))
    expected = f"đã thu hồi: đã xóa 3 tin lúc {when}"
    assert re.fullmatch(r"\d\d:\d\d \d\d/\d\d/\d{4}", when)         # Vietnam time, no UTC
    _, page = await get(client, location)
    assert title_state(page) == expected
    assert 'value="retract"' not in page and "Thu hồi các tin" not in page   # no dead end
    retracted = re.search(r'<li id="retracted">(.*?)</li>', page)[1]
    assert when in retracted and "Chị Soạn" in retracted and "đã xóa 3 tin" in retracted
    _, listing = await get(client, "/admin/broadcasts")
    assert expected in listing and "đã gửi xong" not in listing
    progress = await (await client.get(f"/admin/broadcasts/{broadcast_id}/progress")).json()
    assert progress["status_label"] == expected
    # Asking again (an old tab) says plainly that nothing is left, and offers no button.
    _, page = await get(client, f"/admin/broadcasts/{broadcast_id}?confirm=retract")
    assert "Không còn gì để thu hồi" in page and 'id="confirm-form"' not in page


async def test_a_retraction_that_could_not_delete_everything_says_how_many_stay(client,
                                                                                settings):
    can_delete(client.server.app)
    await officer(client, settings, A, "approver", "Anh Duyệt")
    broadcast_id = await compose(client, "Tin gửi qua hai kênh")
    await plant_outbox(settings, broadcast_id, ["sent"] * 3, message_id="78")
    await sql_write(settings, "update broadcast set status = 'stopped' where id = ?", broadcast_id)
    await sql_write(settings, "update outbox set channel = 'zalo_bot' where id = "
                    "(select min(id) from outbox where broadcast_id = ?)", broadcast_id)
    token = await confirm_token(client, f"/admin/broadcasts/{broadcast_id}?confirm=retract")
    await post(client, f"/admin/broadcasts/{broadcast_id}/retract", {"confirm": token})
    _, page = await get(client, f"/admin/broadcasts/{broadcast_id}")
    assert re.fullmatch(r"đã thu hồi: đã xóa 2 tin lúc \d\d:\d\d \d\d/\d\d/\d{4}, 1 tin không "
                        r"xóa được", title_state(page))
    assert "1 tin không xóa được (đã gửi quá 48 giờ, hoặc gửi qua Zalo)" in page
    assert 'value="retract"' not in page        # the Zalo one cannot be deleted by anyone


async def test_a_pending_announcement_is_withdrawn_only_after_confirming(client, settings):
    author = await officer(client, settings, A, "editor", "Chị Soạn")
    broadcast_id = await compose(client, "Tin chờ duyệt")
    await post(client, f"/admin/broadcasts/{broadcast_id}/submit")
    _, page = await get(client, f"/admin/broadcasts/{broadcast_id}")
    assert status_of(settings, broadcast_id) == "pending_approval"
    assert "Dừng gửi" not in page and f'/admin/broadcasts/{broadcast_id}/stop"' not in page
    assert re.search(r'name="confirm" value="withdraw"><button type="submit" class="danger">'
                     r"Rút lại, không gửi nữa…</button>", page)
    # The old one-click "stop" of a pending one now only asks, naming what happens.
    status, page, _ = await post(client, f"/admin/broadcasts/{broadcast_id}/stop")
    assert status == 200 and "Rút lại thông báo số" in page and "Tin chờ duyệt" in page
    assert "không gửi cho ai" in page and status_of(settings, broadcast_id) == "pending_approval"
    status, page, _ = await post(client, f"/admin/broadcasts/{broadcast_id}/withdraw",
                                 {"confirm": "forged"})
    assert status == 409 and "đã cũ" in page
    # Another editor of the unit (neither its author nor an approver) may not.
    await officer(client, settings, A, "editor", "Anh Khác")
    _, page = await get(client, f"/admin/broadcasts/{broadcast_id}")
    assert 'value="withdraw"' not in page
    status, _, _ = await post(client, f"/admin/broadcasts/{broadcast_id}/withdraw")
    assert status == 409 and status_of(settings, broadcast_id) == "pending_approval"

    await log_in(client, settings, author)
    token = await confirm_token(client, f"/admin/broadcasts/{broadcast_id}?confirm=withdraw")
    status, _, location = await post(client, f"/admin/broadcasts/{broadcast_id}/withdraw",
                                     {"confirm": token})
    assert status == 302 and location.endswith("done=withdraw")
    assert status_of(settings, broadcast_id) == "stopped"
    status, page, _ = await post(client, f"/admin/broadcasts/{broadcast_id}/withdraw",
                                 {"confirm": token})                  # the double click
    assert status == 409
    _, page = await get(client, location)
    assert "Đã rút lại: thông báo sẽ không gửi cho ai." in page
    assert title_state(page) == "đã rút lại, không gửi cho ai"
    assert "Rút lại lúc" in page and "Kết thúc" not in page
    assert 'value="withdraw"' not in page and 'value="retract"' not in page
    assert sql(settings, "select count(*) from audit_log where action = 'broadcast.stop'") == [
        (1,)]


async def test_the_edit_form_of_a_sent_back_announcement_shows_the_reason(client, settings):
    author = await officer(client, settings, A, "editor", "Chị Soạn")
    broadcast_id = await compose(client, "Họp thôn lúc 14 giờ")
    await post(client, f"/admin/broadcasts/{broadcast_id}/submit")
    await officer(client, settings, A, "approver", "Anh Duyệt")
    reason = "Ghi rõ giờ (14 giờ) và mang theo CCCD."
    await post(client, f"/admin/broadcasts/{broadcast_id}/reject", {"reason": reason})
    await log_in(client, settings, author)

    def note(page: str) -> str:
        block = re.search(r'<div class="notice" id="sent-back">(.*?)</div>', page, re.S)[1]
        return " ".join(re.sub(r"<[^>]+>", " ", block).split())

    _, form = await get(client, f"/admin/broadcasts/{broadcast_id}?edit=1")
    said = note(form)
    assert "Anh Duyệt" in said and f"Lý do: {reason}" in said
    assert re.search(r"\d\d:\d\d \d\d/\d\d/\d{4}", said)
    assert form.index('id="sent-back"') < form.index('name="text"')   # above the text
    # Saved once (a draft again), the reason still stands until it is submitted again.
    await post(client, f"/admin/broadcasts/{broadcast_id}/edit",
               {"kind": "message", "text": "Họp thôn lúc 14 giờ, mang theo CCCD"})
    _, form = await get(client, f"/admin/broadcasts/{broadcast_id}?edit=1")
    assert reason in note(form)
    _, page = await get(client, f"/admin/broadcasts/{broadcast_id}")
    assert reason in note(page)
    await post(client, f"/admin/broadcasts/{broadcast_id}/submit")
    _, form = await get(client, f"/admin/broadcasts/{broadcast_id}?edit=1")
    assert 'id="sent-back"' not in form and reason not in form


async def test_lists_name_announcements_in_words_and_the_form_speaks_plainly(client, settings):
    await officer(client, settings, A, "editor", "Chị Soạn")
    broadcast_id = await compose(client, "Tin số một")
    await post(client, f"/admin/broadcasts/{broadcast_id}/submit")
    _, listing = await get(client, "/admin/broadcasts")
    assert f'">Thông báo số {broadcast_id}</a>' in listing and f">#{broadcast_id}<" not in listing
    assert "vẫn nhận tin của Loa" in listing and "chặn bot" not in listing
    await officer(client, settings, A, "approver", "Anh Duyệt")
    _, queue = await get(client, "/admin/broadcasts?view=waiting")
    assert f'">Thông báo số {broadcast_id}</a>' in queue and f">#{broadcast_id}<" not in queue
    assert '<th scope="col">#</th>' not in queue + listing


@pytest.mark.parametrize(("recipients", "rate", "said"), [
    (3, 100, "chưa đến 1 phút"), (40, 300, "chưa đến 1 phút"), (1_499, 25, "chưa đến 1 phút"),
    (1_500, 25, "khoảng 1 phút"), (40_000, 25, "khoảng 27 phút"),
    (90_000, 25, "khoảng 1 giờ"), (100_000, 25, "khoảng 1 giờ 7 phút")])
def test_the_sending_time_estimate_is_true_for_few_and_many(recipients, rate, said):
    """What the preview says before approval (the page itself: tests/e2e/test_broadcast.py,
    "mất chưa đến 1 phút" for 30 recipients): never "khoảng 1 phút" for 3 messages."""
    settings = SimpleNamespace(telegram_token="1:x", telegram_paid_rate=0, telegram_rate=rate)
    pace = telegram_pace(settings, recipients, TRANSLATOR)
    assert pace is not None and pace["time"] == said and pace["n"] == recipients
