"""Dialog tables: what a citizen types or presses, and what Loa must answer."""
from __future__ import annotations

import pytest
from support.waiting import conversation

from bot.core.messages import ConversationState, Inbound, InboundKind, RunKind


def cmd(name: str) -> Inbound:
    return Inbound(InboundKind.COMMAND, text=name)


def text(value: str) -> Inbound:
    return Inbound(InboundKind.TEXT, text=value)


def press(choice: str) -> Inbound:
    return Inbound(InboundKind.CHOICE, choice=choice)


def run(*inbounds: Inbound, state: ConversationState | None = None):
    conv = conversation()
    state = state or ConversationState()
    turns = []
    for inbound in inbounds:
        turn = conv.step(state, inbound)
        state = turn.state
        turns.append(turn)
    return turns


def choices(turn) -> list[str]:
    return [b.choice for reply in turn.replies for row in reply.buttons for b in row]


def body(turn) -> str:
    return "\n".join(r.text for r in turn.replies)


def test_start_greets_and_shows_numbered_menu_with_buttons():
    (turn,) = run(cmd("start"))
    out = body(turn)
    assert "Xin chào" in out
    assert "topic:timeline" in choices(turn) and "check" in choices(turn)
    # the menu once: numbered buttons (the numbers people can type), not also listed as text
    labels = [b.label for r in turn.replies for row in r.buttons for b in row]
    assert "2. Lịch tắt sóng 2G" in labels and "4. Kiểm tra máy của tôi" in labels
    assert any(label.startswith("11. ") for label in labels)
    assert not any(label in out for label in labels)
    assert "gõ câu hỏi" in out.lower()


def test_start_offers_language_picker_when_several_languages_are_configured():
    conv = conversation(("vi", "rad"))
    # rad has no autonym confirmed yet, so only Vietnamese is offered and no picker is forced
    turn = conv.step(ConversationState(), cmd("start"))
    assert "topic:timeline" in choices(turn)
    lang_turn = conv.step(turn.state, cmd("lang"))
    assert choices(lang_turn) == ["lang:vi"]
    chosen = conv.step(lang_turn.state, press("lang:vi"))
    assert chosen.state.lang == "vi"
    assert "topic:timeline" in choices(chosen)


@pytest.mark.parametrize("typed, topic", [
    ("2", "timeline"), ("3", "affected"), ("5", "switch"), ("16", "contact"),
    (" 6 ", "keep_number"),
])
def test_typed_menu_numbers_open_the_topic(typed, topic):
    (turn,) = run(text(typed))
    assert turn.events[0].kind is RunKind.ANSWER and turn.events[0].topic == topic
    as_of = conversation().contents["vi"].topics[topic].as_of
    assert f"Cập nhật ngày {as_of:%d/%m/%Y}" in body(turn)


@pytest.mark.parametrize("typed", ["0", "menu", "MENU", "Quay lại", "quay lai"])
def test_menu_words_go_back_to_menu(typed):
    first, turn = run(text("1"), text(typed))
    assert turn.events[0].kind is RunKind.MENU
    assert "topic:timeline" in choices(turn)


def test_menu_command_and_help_command():
    menu, help_turn = run(cmd("menu"), cmd("help"))
    assert "topic:timeline" in choices(menu)
    assert "/lang" in body(help_turn) and "1800 8098" in body(help_turn)


def test_number_out_of_range_explains_the_range():
    (turn,) = run(text("42"))
    assert "42" in body(turn) and "1 đến 16" in body(turn)


def test_answer_ends_with_menu_and_related_buttons():
    (turn,) = run(press("topic:timeline"))
    ids = choices(turn)
    assert ids[-1] == "menu"
    assert "topic:affected" in ids
    assert body(turn).startswith("Khi nào tắt sóng 2G?")


def test_parent_topic_offers_its_subtopics_and_subtopic_links_back():
    (parent,) = run(press("topic:switch"))
    assert "topic:switch.volte" in choices(parent)
    (child,) = run(press("topic:switch.volte"))
    assert "topic:switch" in choices(child)


def test_affected_answer_offers_the_phone_check():
    (turn,) = run(press("topic:affected"))
    assert "check" in choices(turn)


@pytest.mark.parametrize("question, topic", [
    ("khi nao tat song 2g", "timeline"),
    ("Khi nào tắt sóng 2G vậy ạ?", "timeline"),
    ("KHI NAO TAT SONG 2G", "timeline"),
])
def test_free_text_with_or_without_tone_marks_is_answered(question, topic):
    (turn,) = run(text(question))
    assert turn.events[0].topic == topic
    assert "Cập nhật ngày" in body(turn)


@pytest.mark.parametrize("question", ["thời tiết hôm nay thế nào", "bóng đá tối nay", "asdfgh",
                                      "tiền điện tháng này"])
def test_unrelated_text_gets_unsure_menu_and_hotline(question):
    (turn,) = run(text(question))
    assert turn.events[0].kind is RunKind.UNMATCHED
    out = body(turn)
    assert "chưa hiểu" in out and "1800 8098" in out
    assert "topic:timeline" in choices(turn)


def test_greeting_and_thanks():
    hello, thanks = run(text("xin chào"), text("cảm ơn Loa nhiều"))
    assert "Xin chào" in body(hello) and "topic:timeline" in choices(hello)
    assert "Không có gì" in body(thanks)


@pytest.mark.parametrize("kind", ["sticker", "photo", "voice", "location", "contact"])
def test_non_text_gets_a_polite_reply_and_the_menu(kind):
    (turn,) = run(Inbound(InboundKind.UNSUPPORTED, text=kind))
    assert "chỉ đọc được tin nhắn chữ" in body(turn)
    assert "topic:timeline" in choices(turn)


def test_ten_thousand_characters_and_emoji_do_not_break_the_turn():
    long_turn, emoji_turn = run(text("tắt sóng 2g " * 900), text("👍🏽🙏 khi nào tắt 2G 😀"))
    assert long_turn.replies and emoji_turn.events[0].topic == "timeline"


def test_unknown_button_id_returns_to_menu():
    (turn,) = run(press("topic:does-not-exist"))
    assert turn.events[0].kind is RunKind.MENU


# --- the "is my phone affected?" check -------------------------------------------------------

def _check(*answers: str):
    steps = [press("check")] + [text(a) for a in answers]
    return run(*steps)


def test_check_asks_numbered_questions_with_buttons():
    (turn,) = _check()
    assert "Câu 1/3" in body(turn)
    assert "check:internet:yes" in choices(turn)
    assert turn.state.flow == "check"


@pytest.mark.parametrize("answers, verdict", [
    (("2", "2"), "affected"),                     # no internet, no 4G: a 2G-only phone
    (("Có", "Không"), "affected"),                # typed labels work too
    (("1", "1", "1"), "probably_fine"),           # 4G with VoLTE
    (("1", "1", "2"), "no_volte"),                # 4G without VoLTE: its own verdict
    (("3", "3", "3"), "check_carrier"),           # does not know
    (("2", "3"), "affected"),                     # no internet and unsure about 4G
])
def test_check_verdicts(answers, verdict):
    turns = _check(*answers)
    last = turns[-1]
    assert last.events[0].kind is RunKind.VERDICT
    assert last.events[0].topic == f"check.{verdict}"
    assert last.state.flow is None
    assert "Cập nhật ngày" in body(last)
    assert "check" in choices(last)   # "check again"


def test_check_verdict_texts_differ_and_name_hotline_or_shop():
    affected = body(_check("2", "2")[-1])
    fine = body(_check("1", "1", "1")[-1])
    unsure = body(_check("3", "3", "3")[-1])
    assert affected != fine != unsure
    assert "4G" in affected and "1800 8098" in unsure
    assert "cửa hàng" in fine
    no_volte = body(_check("1", "1", "2")[-1])       # has 4G, no VoLTE: a clear verdict
    assert no_volte not in (affected, fine, unsure)
    assert "có 4G nhưng không có VoLTE" in no_volte and "không gọi được" in no_volte
    assert "cửa hàng" in no_volte and "giữ nguyên số" in no_volte


def test_check_buttons_work_and_stale_buttons_repeat_the_question():
    conv = conversation()
    t1 = conv.step(ConversationState(), press("check"))
    t2 = conv.step(t1.state, press("check:internet:yes"))
    assert "Câu 2/3" in body(t2)
    again = conv.step(t2.state, press("check:internet:no"))   # a button from question 1
    assert "Câu 2/3" in body(again) and again.state.step == 1


def test_leaving_the_check_with_a_question_or_menu():
    conv = conversation()
    t1 = conv.step(ConversationState(), press("check"))
    asked = conv.step(t1.state, text("khi nào tắt sóng 2g"))
    # answered, and the check waits one tap away (tests/unit/test_check_typing.py)
    assert asked.events[0].topic == "timeline" and "check:resume" in choices(asked)
    left = conv.step(asked.state, press("topic:timeline"))   # moving on leaves the check
    assert left.state.flow is None
    t1 = conv.step(ConversationState(), press("check"))
    menu = conv.step(t1.state, text("0"))
    assert menu.state.flow is None and menu.events[0].kind is RunKind.MENU


# --- opting in to announcements --------------------------------------------------------------

def test_opt_in_by_button_or_typed_words_then_commune_by_name():
    by_button = run(press("sub"))[0]
    by_words = run(text("Nhận thông báo"))[0]
    assert by_button.replies == by_words.replies and by_words.state.flow == "subscribe"
    _, chosen = run(text("nhan thong bao"), text("cu mgar"))
    assert chosen.state.subscribed and "Cư M'gar" in body(chosen)
    _, several = run(text("nhan thong bao"), text("hoa"))
    assert len([c for c in choices(several) if c.startswith("sub:commune:")]) > 1
    _, unknown = run(text("nhan thong bao"), text("Hà Nội"))
    assert "không tìm thấy" in body(unknown) and not unknown.state.subscribed
    _, general = run(text("nhan thong bao"), text("Không chọn xã (nhận tin chung)"))
    assert general.state.subscribed and general.state.commune is None


def test_opt_out_with_stop_or_dung():
    for words in (cmd("stop"), text("dừng"), text("DUNG")):
        _, _, stopped = run(text("nhan thong bao"), text("ea kar"), words)
        assert not stopped.state.subscribed
        assert "không nhận thông báo nữa" in body(stopped)


def test_answers_offer_announcements_until_subscribed():
    (before,) = run(text("1"))
    assert "sub" in choices(before)
    _, _, after = run(text("nhan thong bao"), text("ea kar"), text("1"))
    assert "sub" not in choices(after)
