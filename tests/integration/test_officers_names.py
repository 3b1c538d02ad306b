"""Officers' real names (review of issue 17, F15): /dangky takes the full name, /ten changes it,
the officer or their unit's administrator changes it on the admin pages, and where two
officers still share a name ("Ama", the Telegram first name of both), the announcement pages
tell them apart by role and registration date."""
from __future__ import annotations

import datetime as dt

from support.broadcast_pages import A, B, compose, get, log_in, post, sql
from support.officers import make_officer
from support.outreach import database
from support.outreach_chat import OfficerChat

from bot.features.officers import service as officers

VN = dt.timezone(dt.timedelta(hours=7))


async def invite(settings, role: str, unit: str = A) -> str:
    async with database(settings.database_url) as db, db.begin() as conn:
        await officers.sync_units(conn, settings.unit)
        return await officers.create_invite(conn, unit, role, "test")


def name_of(settings, address: str) -> str:
    ((name,),) = sql(settings, "select name from officer where address = ?", address)
    return name


async def test_dangky_takes_the_full_name_and_ten_changes_it(telegram):
    api, settings = telegram
    editor, approver, citizen = (OfficerChat(api, chat) for chat in (9101, 9102, 9103))
    # Without a name: registered under the chat's first name ("Ama"), and asked for the full
    # name in the same answer.
    (reply,) = await editor.send(f"/dangky {await invite(settings, 'editor')}")
    assert "Đăng ký xong" in reply["text"]
    assert "Các cán bộ khác đang thấy tên bạn là “Ama”" in reply["text"]
    assert "/ten Nguyễn Văn A" in reply["text"] and name_of(settings, "9101") == "Ama"
    # With a name: that name, and no question.
    code = await invite(settings, "approver")
    (refused,) = await approver.send(f"/dangky {code} 1")        # not a name: code kept
    assert "Loa chưa nhận được “1” làm tên của bạn" in refused["text"]
    assert f"/dangky {code} Nguyễn Văn A" in refused["text"]
    (reply,) = await approver.send(f"/dangky {code}   Y  Khuê   Niê ")
    assert "Đăng ký xong" in reply["text"] and "/ten" not in reply["text"]
    assert name_of(settings, "9102") == "Y Khuê Niê"

    (said,) = await editor.send("/ten")
    assert "“Ama”" in said["text"] and "/ten Nguyễn Văn A" in said["text"]
    (refused,) = await editor.send("/ten 🙂")
    assert "Loa chưa nhận được" in refused["text"] and name_of(settings, "9101") == "Ama"
    (done,) = await editor.send("/ten  Hoàng   Thị Mai")
    assert done["text"] == "Xong: từ nay các cán bộ khác thấy tên bạn là “Hoàng Thị Mai”."
    assert name_of(settings, "9101") == "Hoàng Thị Mai"
    assert sql(settings, "select before, after from audit_log where action = 'officer.rename'"
               ) == [('{"name": "Ama"}', '{"name": "Hoàng Thị Mai"}')]
    (listing,) = await editor.send("/canbo")
    assert "/ten — đổi tên mà các cán bộ khác nhìn thấy: /ten Họ và tên" in listing["text"]
    assert "/dangky — đăng ký làm cán bộ bằng mã mời và họ tên: /dangky MÃ Họ và tên" in \
        listing["text"]
    (answer,) = await citizen.send("/ten Ai Đó")                 # a citizen: not a command
    assert "Xong" not in answer["text"]
    assert sql(settings, "select count(*) from officer where name = 'Ai Đó'") == [(0,)]


async def test_two_officers_called_ama_are_told_apart_until_renamed(client, settings):
    editor, _ = await make_officer(settings, A, "editor", "Ama")
    approver, _ = await make_officer(settings, A, "approver", "Ama")
    admin, _ = await make_officer(settings, A, "admin", "Chủ tịch xã")
    today = dt.datetime.now(VN).strftime("%d/%m/%Y")
    as_editor = f"Ama (soạn tin, đăng ký {today})"
    as_approver = f"Ama (duyệt tin, đăng ký {today})"

    await log_in(client, settings, editor)
    sent_back = await compose(client, "Họp thôn lúc 14 giờ")
    await post(client, f"/admin/broadcasts/{sent_back}/submit")
    approved = await compose(client, "Đổi máy 4G tại nhà văn hóa")
    await post(client, f"/admin/broadcasts/{approved}/submit")
    await log_in(client, settings, approver)
    _, queue = await get(client, "/admin/broadcasts?view=waiting")
    assert as_editor in queue
    await post(client, f"/admin/broadcasts/{sent_back}/reject", {"reason": "Ghi rõ giờ."})
    await post(client, f"/admin/broadcasts/{approved}/approve")

    await log_in(client, settings, editor)
    _, page = await get(client, f"/admin/broadcasts/{sent_back}")
    assert f"Người soạn: {as_editor}" in page and f"Bị {as_approver} trả lại lúc" in page
    _, page = await get(client, f"/admin/broadcasts/{approved}")
    assert f"({as_approver})" in page
    _, listing = await get(client, "/admin/broadcasts")
    assert f"bị trả lại bởi {as_approver}" in listing

    # The unit's administrator gives the approver a real name on the officers' list.
    await log_in(client, settings, admin)
    _, overview = await get(client, "/admin")
    assert f'href="/admin/officers/{approver}/name"' in overview
    status, page = await get(client, f"/admin/officers/{approver}/name")
    assert status == 200 and "Tên cán bộ" in page and 'value="Ama"' in page
    status, page, _ = await post(client, f"/admin/officers/{approver}/name", {"name": " "})
    assert status == 400 and "Hãy ghi họ tên đầy đủ" in page
    status, _, location = await post(client, f"/admin/officers/{approver}/name",
                                     {"name": "Lê Văn Duyệt"})
    assert status == 303
    _, page = await get(client, location)
    assert "Đã lưu." in page and 'value="Lê Văn Duyệt"' in page
    await log_in(client, settings, editor)
    _, page = await get(client, f"/admin/broadcasts/{sent_back}")
    assert "Người soạn: Ama" in page and "Bị Lê Văn Duyệt trả lại lúc" in page
    assert "đăng ký" not in page


async def test_an_officer_names_themselves_and_nobody_else(client, settings):
    editor, _ = await make_officer(settings, A, "editor", "Ama")
    colleague, _ = await make_officer(settings, A, "approver", "Ama")
    other_admin, _ = await make_officer(settings, B, "admin", "Quản trị phường")
    await log_in(client, settings, editor)
    _, page = await get(client, "/admin/password")
    assert f'href="/admin/officers/{editor}/name"' in page
    status, page = await get(client, f"/admin/officers/{editor}/name")
    assert status == 200 and "Tên của bạn" in page and "/ten" in page
    status, _, _ = await post(client, f"/admin/officers/{editor}/name",
                              {"name": "Nguyễn Thị Soạn"})
    assert status == 303 and sql(settings, "select name from officer where id = ?",
                                 editor) == [("Nguyễn Thị Soạn",)]
    assert (await get(client, f"/admin/officers/{colleague}/name"))[0] == 404
    status, _, _ = await post(client, f"/admin/officers/{colleague}/name", {"name": "Đổi trộm"})
    assert status == 404
    await log_in(client, settings, other_admin)       # another unit's administrator
    status, _, _ = await post(client, f"/admin/officers/{colleague}/name", {"name": "Đổi trộm"})
    assert status == 404 and sql(settings, "select count(*) from officer where name = ?",
                                 "Đổi trộm") == [(0,)]
