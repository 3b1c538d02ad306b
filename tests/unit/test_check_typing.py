"""The phone check as people type it: starting it in their own words, answering yes / no /
don't know in everyday spellings, and asking something else half-way (issue 17)."""
from __future__ import annotations

import pytest
from support.waiting import conversation

from bot.core.messages import ConversationState, Inbound, InboundKind, RunKind


def _text(value: str) -> Inbound:
    return Inbound(InboundKind.TEXT, text=value)


def _in_check() -> ConversationState:
    conv = conversation()
    return conv.step(ConversationState(), Inbound(InboundKind.CHOICE, choice="check")).state


def _body(turn) -> str:
    return "\n".join(r.text for r in turn.replies)


def _choices(turn) -> list[str]:
    return [b.choice for r in turn.replies for row in r.buttons for b in row]


YES = ["có", "Có", "co", "CÓ!!", "có ạ", "dạ có", "Dạ có ạ", "vâng", "vâng ạ", "ừ", "ừm",
       "uh", "ok", "oke", "yes", "đúng rồi", "có chứ", "có nhé", "dạ", "có vào được",
       "Có vào được zalo", "đc", "được", "uhm có", "Có 😀"]
NO = ["không", "Không", "khong", "ko", "k", "kg", "hông", "hong", "hok", "khum", "hk",
      "không ạ", "dạ không", "da ko", "không có", "ko có", "k có", "không có ạ", "chưa",
      "chưa có", "không vào được", "ko vào được mạng", "không được", "no", "KHÔNG!"]
DONT_KNOW = ["không biết", "ko biết", "ko biet", "k biết", "hông biết", "kb", "ko bít",
             "không rõ", "ko rõ", "chịu", "không chắc", "chưa biết", "dạ không biết ạ",
             "cháu không rõ", "không biết nữa", "không biết nữa Loa ơi", "biết đâu",
             "không nhớ"]


@pytest.mark.parametrize("typed, meant", [*((t, "yes") for t in YES),
                                          *((t, "no") for t in NO),
                                          *((t, "unknown") for t in DONT_KNOW)])
def test_each_spelling_answers_the_question(typed, meant):
    conv = conversation()
    turn = conv.step(_in_check(), _text(typed))
    assert turn.state.answers[:1] == (meant,), _body(turn)
    assert "Loa chưa hiểu" not in _body(turn)
    # the check went on: the next question, or a verdict when this answer settles it
    assert "Câu 2/3" in _body(turn) or turn.events[0].kind is RunKind.VERDICT


def test_the_table_is_large_enough():
    assert len(YES) + len(NO) + len(DONT_KNOW) >= 40


def test_a_whole_check_typed_the_way_people_write():
    conv = conversation()
    state = _in_check()
    for typed in ("dạ có", "có ạ", "hông biết"):
        turn = conv.step(state, _text(typed))
        state = turn.state
    assert turn.events[0].kind is RunKind.VERDICT
    assert turn.events[0].topic == "check.check_carrier"
    state = _in_check()
    for typed in ("ko", "k"):
        turn = conv.step(state, _text(typed))
        state = turn.state
    assert turn.events[0].topic == "check.affected"


@pytest.mark.parametrize("typed", [
    "Kiểm tra máy của tôi", "kiem tra may cua toi", "kiem tra may", "Kiểm tra máy",
    "4. Kiểm tra máy của tôi", "ktra dt", "kiểm tra điện thoại giúp bà", "check điện thoại",
    "Máy của tôi có bị ảnh hưởng không?", "kiểm tra máy cho mẹ tôi",
])
def test_the_check_starts_from_how_people_ask_for_it(typed):
    conv = conversation()
    turn = conv.step(ConversationState(), _text(typed))
    assert turn.state.flow == "check", _body(turn)
    assert "Câu 1/3" in _body(turn)
    assert "Bạn muốn hỏi về" not in _body(turn)


def test_a_topic_button_label_typed_opens_that_topic():
    conv = conversation()
    label = conv.contents["vi"].topics["timeline"].menu_label
    turn = conv.step(ConversationState(), _text(label.upper()))
    assert turn.events[0].kind is RunKind.ANSWER and turn.events[0].topic == "timeline"


def test_a_question_asked_mid_check_is_answered_and_the_check_can_go_on():
    conv = conversation()
    state = conv.step(_in_check(), _text("có")).state          # question 1 answered
    asked = conv.step(state, _text("đổi máy có mất số không"))
    assert asked.events[0].kind is RunKind.ANSWER
    assert asked.events[0].topic == "keep_number"
    assert "check:resume" in _choices(asked)
    resumed = conv.step(asked.state, Inbound(InboundKind.CHOICE, choice="check:resume"))
    assert "Câu 2/3" in _body(resumed)
    # typing the answer straight away works as well
    answered = conv.step(asked.state, _text("không"))
    assert answered.state.answers == ("yes", "no") or answered.events[0].kind is RunKind.VERDICT


def test_what_is_neither_an_answer_nor_a_question_asks_again_and_says_how():
    conv = conversation()
    turn = conv.step(_in_check(), _text("để bà xem đã"))
    assert turn.state.flow == "check" and turn.state.step == 0
    assert "Câu 1/3" in _body(turn) and "có, không, hoặc không biết" in _body(turn)
    assert "check:internet:yes" in _choices(turn)


def test_a_question_about_the_phone_is_not_taken_for_an_answer():
    conv = conversation()
    for question in ("máy có 4g không", "có mất số không"):
        turn = conv.step(_in_check(), _text(question))
        assert turn.state.answers == (), question
