"""/ghinhan and /baocao in Telegram, through real python-telegram-bot against the local fake
Bot API: the guided dialog with buttons and typed answers, clear messages for wrong input
(and the same question again), the report summary with its XLSX file, submission by button,
and the lock afterwards. Plus the dialog as a pure function."""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import openpyxl
from support.env import sql_connect
from support.fakebotapi import command_update, text_update
from support.outreach import database, tr
from support.outreach_chat import OfficerChat, buttons, register

from bot.core.messages import Inbound, InboundKind
from bot.features.officers import service as officers
from bot.features.outreach import service as outreach
from bot.features.outreach.chat import DialogContext, dialog_step
from bot.features.outreach.reports import forms

TODAY = dt.date(2026, 11, 20)
CTX = DialogContext(TODAY, frozenset({"2026-10"}), "24175", tr)


def text(value: str) -> Inbound:
    return Inbound(InboundKind.TEXT, text=value)


def press(value: str) -> Inbound:
    return Inbound(InboundKind.CHOICE, choice=f"og:{value}")


def test_the_dialog_asks_again_after_wrong_input_and_keeps_earlier_answers():
    state = {"step": "day"}
    replies, state, entry = dialog_step(state, text("20/12/2026"), CTX)
    assert state == {"step": "day"} and entry is None
    assert replies[0].text == "Ngày 20/12/2026 chưa tới. Chỉ ghi nhận hoạt động đã thực hiện."
    assert replies[1].text.startswith("Bước 1/9 – Ngày thực hiện?")
    replies, state, _ = dialog_step(state, text("5/10"), CTX)        # October is submitted
    assert "Báo cáo tháng 10/2026 đã nộp" in replies[0].text and state["step"] == "day"
    _, state, _ = dialog_step(state, press("day:2026-11-19"), CTX)
    replies, state, _ = dialog_step(state, text("loa"), CTX)
    assert replies[0].text == "Hãy bấm một hình thức bên dưới (hoặc gõ số thứ tự)."
    _, state, _ = dialog_step(state, text("11"), CTX)                # by number: "other"
    assert state["step"] == "form_other"
    _, state, _ = dialog_step(state, text("Xe loa lưu động"), CTX)
    _, state, _ = dialog_step(state, text("Xe loa của xã"), CTX)
    for wrong, message in (("0", "Số lượt thực hiện phải từ 1 trở lên."),
                           ("hai", "Hãy nhập số lượt bằng số nguyên, ví dụ 3.")):
        replies, state, _ = dialog_step(state, text(wrong), CTX)
        assert replies[0].text == message and state["step"] == "runs"
    _, state, _ = dialog_step(state, press("runs:2"), CTX)
    replies, state, _ = dialog_step(state, text("-5"), CTX)
    assert "từ 0 trở lên" in replies[0].text
    _, state, _ = dialog_step(state, text("1.500"), CTX)
    replies, state, _ = dialog_step(state, Inbound(InboundKind.UNSUPPORTED, text="photo"), CTX)
    assert "trang quản trị (/quantri)" in replies[0].text and state["step"] == "communes"
    _, state, _ = dialog_step(state, press("communes:24175"), CTX)
    replies, state, _ = dialog_step(state, text("vi, jra"), CTX)
    assert replies[0].text.startswith("Bước 8/9 – Đối tượng được tiếp cận?")
    replies, state, _ = dialog_step(state, text("tre em"), CTX)        # not a group
    assert replies[0].text.startswith("Không rõ đối tượng: tre em. Hãy chọn trong: 1. Người "
                                      "cao tuổi; 2. Đồng bào dân tộc thiểu số")
    assert state["step"] == "groups"
    _, state, _ = dialog_step(state, text("dtts, 5"), CTX)           # a word and a number
    replies, state, _ = dialog_step(state, press("note:skip"), CTX)
    assert replies[0].text.startswith("Ngày: 19/11/2026\nHình thức: Khác: Xe loa lưu động")
    assert "Số người tiếp cận: 1500" in replies[0].text
    assert "Ngôn ngữ: Tiếng Việt, Tiếng J'rai" in replies[0].text
    assert "Đối tượng: Đồng bào dân tộc thiểu số, Xã biên giới" in replies[0].text
    replies, state, entry = dialog_step(state, press("save"), CTX)
    assert state is None and entry == outreach.EntryInput(
        dt.date(2026, 11, 19), "other", "Xe loa của xã", 2, 1500, ("24175",), ("vi", "jra"),
        None, form_other="Xe loa lưu động", groups=("minorities", "border"))
    replies, state, _ = dialog_step({"step": "runs", "day": "2026-11-19"}, press("cancel"), CTX)
    assert state is None and replies[0].text == "Đã hủy, chưa ghi nhận gì."










def entries(settings) -> list[tuple]:  # type: ignore[no-untyped-def, type-arg]
    with sql_connect(settings) as db:
        return db.execute("select day, form, medium, runs, reached, communes, languages, note, "
                          "source, target_groups from outreach_entry where deleted_at is null"
                          ).fetchall()


async def test_log_outreach_by_chat_in_a_few_taps(telegram):
    api, settings = telegram
    officer = await register(api, settings, 4101, "xa-24175", "editor")
    today = outreach.today_vn()
    yesterday = today - dt.timedelta(days=1)
    intro, ask = await officer.send("/ghinhan", 2)
    assert "9 câu hỏi ngắn" in intro["text"] and ask["text"].startswith("Bước 1/9")
    assert (f"Hôm qua {yesterday:%d/%m}", f"og:day:{yesterday.isoformat()}") in buttons(ask)
    error, again = await officer.send(f"{today.day}/{today.month}/{today.year + 1}", 2)
    assert "chưa tới" in error["text"] and again["text"] == ask["text"]
    (ask,) = await officer.press(f"og:day:{yesterday.isoformat()}")
    assert [label for label, _ in buttons(ask)][:3] == ["Phát thanh", "Truyền hình", "Báo in"]
    assert len(buttons(ask)) == 12                              # 11 forms and "Hủy"
    (ask,) = await officer.press("og:form:loudspeaker")
    assert ("Hệ thống loa truyền thanh xã", "og:medium:0") in buttons(ask)
    (ask,) = await officer.press("og:medium:0")
    assert ask["text"].startswith("Bước 4/9 – Số lượt thực hiện?")
    error, again = await officer.send("-3", 2)
    assert error["text"] == "Số lượt thực hiện phải từ 1 trở lên." and again["text"] == ask["text"]
    (ask,) = await officer.send("4")
    (ask,) = await officer.press("og:reached:unknown")
    assert ("Xã Hòa Phú", "og:communes:24175") in buttons(ask)
    error, _ = await officer.send("Atlantis", 2)
    assert "Không tìm thấy xã, phường: Atlantis." in error["text"]
    # A commune logs only its own outreach (issue 17): another commune is refused, clearly.
    error, again = await officer.send("hoa phu, Ea Súp", 2)
    assert error["text"] == ("Đơn vị của bạn chỉ ghi nhận hoạt động cho Xã Hòa Phú, không ghi "
                             "cho Xã Ea Súp được. Hoạt động ở xã, phường khác do chính xã, "
                             "phường đó ghi nhận.")
    assert again["text"] == "Bước 6/9 – Xã, phường nào? Bấm một nút bên dưới."
    (ask,) = await officer.send("hoa phu")
    assert ask["text"].startswith("Bước 7/9 – Ngôn ngữ sử dụng?")
    (ask,) = await officer.press("og:languages:rad")
    assert "Đã chọn: Tiếng Ê Đê" in ask["text"]
    assert ("✓ Tiếng Ê Đê", "og:languages:rad") in buttons(ask)
    (ask,) = await officer.press("og:languages:vi")
    (ask,) = await officer.press("og:languages:done")
    # Who was reached: several groups, each a button that ticks and unticks.
    assert ask["text"].startswith("Bước 8/9 – Đối tượng được tiếp cận?")
    assert ("Người cao tuổi", "og:groups:elderly") in buttons(ask)
    (ask,) = await officer.press("og:groups:general")
    (ask,) = await officer.press("og:groups:elderly")
    assert "Đã chọn: Người cao tuổi, Chung" in ask["text"]
    assert ("✓ Người cao tuổi", "og:groups:elderly") in buttons(ask)
    (ask,) = await officer.press("og:groups:minorities")
    (ask,) = await officer.press("og:groups:minorities")           # changed their mind
    (ask,) = await officer.press("og:groups:done")
    assert ask["text"].startswith("Bước 9/9 – Ghi chú?")
    (confirm,) = await officer.send("Phát 2 buổi sáng và chiều")
    assert "Phương tiện: Hệ thống loa truyền thanh xã" in confirm["text"]
    assert "Xã, phường: Xã Hòa Phú\n" in confirm["text"]
    assert "Đối tượng: Người cao tuổi, Chung" in confirm["text"]
    assert [label for label, _ in buttons(confirm)] == ["Lưu", "Làm lại", "Hủy"]
    (done,) = await officer.press("og:save")
    assert done["text"].startswith("Đã ghi nhận (mục #1).")
    assert entries(settings) == [(yesterday.isoformat(), "loudspeaker",
                                  "Hệ thống loa truyền thanh xã", 4, None, "24175",
                                  "rad,vi", "Phát 2 buổi sáng và chiều", "chat",
                                  "elderly,general")]
    (stale,) = await officer.press("og:save")               # the button pressed twice
    assert stale["text"] == "Câu hỏi này đã đóng. Gõ /ghinhan để ghi nhận hoạt động."
    assert len(entries(settings)) == 1
    await officer.send("/ghinhan", 2)
    (cancelled,) = await officer.send("/huy")
    assert cancelled["text"] == "Đã hủy, chưa ghi nhận gì."
    (menu,) = await officer.send("khi nao tat song 2g")      # back to the citizen conversation
    assert "Cập nhật ngày" in menu["text"]


async def test_report_by_chat_sends_the_xlsx_then_submits_and_locks(telegram):
    api, settings = telegram
    officer = await register(api, settings, 4102, "xa-24175", "editor")
    viewer = await register(api, settings, 4103, "xa-24175", "viewer")
    last = forms.shift_month(forms.month_of(outreach.today_vn()), -1)
    day = dt.date.fromisoformat(f"{last}-05")
    async with database(settings.database_url) as db:
        async with db.connect() as conn:
            row = await officers.officer_for(conn, "telegram", await _pseudonym(settings, 4102))
        actor = outreach.Actor(row.id, row.unit_id, row.role)
        async with db.begin() as conn:
            await outreach.create_entry(conn, actor, outreach.EntryInput(
                day, "meeting", "Họp thôn", 3, 210, ("24175",)), tr)
    (summary,) = await officer.send("/baocao")
    label = forms.month_label(last)
    assert summary["text"].splitlines()[:3] == [
        f"Báo cáo tuyên truyền tháng {label} – Xã Hòa Phú",
        "1. Hội nghị / họp dân: 3 lượt, 210 người",
        "Tổng cộng: 3 lượt, 210 người được tiếp cận"]
    assert buttons(summary) == [(f"Nộp báo cáo tháng {label}", f"og:submit:{last}")]
    (document,) = await api.wait_for_calls("sendDocument", 1, chat_id=4102)
    name = f"bao-cao-truyen-thong-2g-{last}-xa-hoa-phu.xlsx"        # the name, not the code
    assert document.params["document"].filename == name and document.params["document"].size
    sheet = openpyxl.load_workbook(Path(settings.data_dir) / "reports" / "xa-24175" / name)[
        "Tổng hợp"]
    assert [c.value for c in sheet[4]][:5] == [1, "Hội nghị / họp dân", 3, "Họp thôn", 210]

    (refused,) = await viewer.send("/ghinhan")
    assert refused["text"] == "Vai trò của bạn chỉ được xem báo cáo, không được ghi nhận hoạt động."
    (viewer_summary,) = await viewer.send("/baocao")
    assert buttons(viewer_summary) == []                     # a viewer cannot submit

    (confirm,) = await officer.press(f"og:submit:{last}")
    assert buttons(confirm) == [("Đồng ý nộp", f"og:submitok:{last}"), ("Hủy", "og:cancel")]
    (done,) = await officer.press(f"og:submitok:{last}")
    assert done["text"].startswith(f"Đã nộp báo cáo tháng {label}.")
    (again,) = await officer.press(f"og:submitok:{last}")
    assert again["text"] == f"Báo cáo tháng {label} đã được nộp."
    (summary,) = await officer.send(f"/baocao {last}")
    assert "Trạng thái: Đã nộp" in summary["text"] or "Trạng thái: Nộp muộn" in summary["text"]
    assert buttons(summary) == []
    await officer.send("/ghinhan", 2)
    error, _ = await officer.send(day.strftime("%d/%m/%Y"), 2)
    assert error["text"] == (f"Báo cáo tháng {label} đã nộp; muốn sửa, hãy điều chỉnh trên "
                             "trang quản trị và ghi lý do (/quantri).")
    (bad_month,) = await officer.send("/baocao 11-2026")
    assert bad_month["text"] == "Hãy viết tháng theo mẫu: /baocao 2026-11"
    province = await register(api, settings, 4104, "tinh", "admin")
    (summary,) = await province.send(f"/baocao {last}")
    lines = summary["text"].splitlines()
    assert lines[0] == (f"Báo cáo tuyên truyền tháng {label} – Sở Khoa học và Công nghệ tỉnh "
                        "Đắk Lắk")
    assert re.match(r"Đơn vị: [01] đã nộp, [01] nộp muộn, 0 chưa nộp, 10[23] quá hạn chưa nộp",
                    lines[1]) or re.match(r"Đơn vị: [01] đã nộp, [01] nộp muộn, 10[23] chưa nộp",
                                          lines[1])
    assert "1. Hội nghị / họp dân: 3 lượt, 210 người" in lines
    (document,) = await api.wait_for_calls("sendDocument", 1, chat_id=4104)
    assert document.params["document"].filename == \
        f"bao-cao-truyen-thong-2g-{last}-tinh-dak-lak.xlsx"


async def test_citizens_typing_officer_commands_get_the_conversation(telegram):
    api, _ = telegram
    citizen = OfficerChat(api, 4199)
    (reply,) = await citizen.send("/baocao")
    assert "Báo cáo tuyên truyền" not in reply["text"]
    (reply,) = await citizen.press("og:save")
    assert "Câu hỏi này đã đóng" not in reply["text"]


async def _pseudonym(settings, chat: int) -> str:  # type: ignore[no-untyped-def]
    from bot.store.pseudonym import pseudonymize
    return pseudonymize(settings.secret_key, "telegram", str(chat))


async def test_a_dialog_opened_and_answered_in_one_batch_takes_the_answer(telegram):
    # Which contacts have an open dialog is asked once per batch of updates; a /ghinhan and
    # the answer that follows it in the same getUpdates answer must still meet in the dialog,
    # and a question typed right after /huy must reach the citizen conversation.
    api, settings = telegram
    officer = await register(api, settings, 4103, "xa-24175", "editor")
    yesterday = outreach.today_vn() - dt.timedelta(days=1)
    api.push_update(command_update(4103, "/ghinhan"))
    api.push_update(text_update(4103, f"{yesterday.day}/{yesterday.month}/{yesterday.year}"))
    intro, ask, answer = await officer.next(3)
    assert "9 câu hỏi ngắn" in intro["text"] and ask["text"].startswith("Bước 1/9")
    assert answer["text"].startswith("Bước 2/9")
    api.push_update(command_update(4103, "/huy"))
    api.push_update(text_update(4103, "khi nao tat song 2g"))
    cancelled, menu = await officer.next(2)
    assert cancelled["text"] == "Đã hủy, chưa ghi nhận gì."
    assert "Cập nhật ngày" in menu["text"]
