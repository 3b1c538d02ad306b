"""Free text as citizens type it: the right topic, "which one?" when two are close, a polite
"I only know about 2G" for other subjects; and the labelled evaluation set and its targets."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.waiting import conversation

from bot.core.evaluation import evaluate, load_labelled
from bot.core.matching import Example, MatchKind
from bot.core.messages import ConversationState, Inbound, InboundKind, RunKind
from bot.core.text import fold, is_syllable, keyboard_variants, normalize_query

EVAL = Path(__file__).resolve().parents[1] / "data" / "questions.jsonl"


def say(text: str, state: ConversationState | None = None):
    return conversation().step(state or ConversationState(), Inbound(InboundKind.TEXT, text=text))


def choices(turn) -> list[str]:
    return [b.choice for reply in turn.replies for row in reply.buttons for b in row]


def body(turn) -> str:
    return "\n".join(r.text for r in turn.replies)


# -- typing styles ------------------------------------------------------------------------------

@pytest.mark.parametrize("typed, topic", [
    # with and without tone marks, upper case, punctuation
    ("Khi nào thì tắt sóng 2G vậy ạ???", "timeline"),
    ("KHI NAO TAT SONG 2G", "timeline"),
    # typos
    ("khi nao tat sog 2g", "timeline"),
    ("cho xin số tổng đài viettell", "contact"),
    ("may cua toi co bi anh huog khong", "affected"),
    # chat abbreviations
    ("dt cua me mik co bi anh huong k", "affected"),
    ("sdt tong dai vina", "contact"),
    ("volte la j", "switch.volte"),
    ("dt 4g re nhat het bn", "cost"),
    ("đc tặng đt ko ạ", "support"),
    ("chuyen sang 4g ntn", "switch"),
    ("doi dt co giu sdt cu dc hok", "keep_number"),
    # Telex typed without an input method
    ("khi naof tawts soongs 2g", "timeline"),
    # Central and Southern words
    ("khi mô tắt sóng 2g rứa", "timeline"),
    ("răng lại bắt bỏ 2g", "reason"),
    ("đổi máy có mất số hông dzậy", "keep_number"),
    # brands, models, "cục gạch", carriers
    ("nokia 1280 còn xài được không", "affected"),
    ("cục gạch của ông tui còn dùng được hông", "affected"),
    ("mobifone tắt 2g chưa", "timeline"),
    ("số tổng đài vinaphone", "contact"),
    # a long, rambling message from a relative
    ("Dạ cháu chào Loa, bà nội cháu năm nay 80 tuổi ở buôn, bà vẫn xài cái điện thoại "
     "cục gạch mua từ lâu lắm rồi, hôm trước cán bộ thôn đọc loa nói là tắt sóng 2G, cháu ở "
     "xa không về được nên muốn hỏi máy của bà có bị ảnh hưởng không ạ", "affected"),
])
def test_questions_typed_any_way_get_the_right_answer(typed, topic):
    turn = say(typed)
    assert turn.events[0].kind is RunKind.ANSWER and turn.events[0].topic == topic, body(turn)
    title = conversation().contents["vi"].topics[topic].title
    assert body(turn).startswith(title) and "Cập nhật ngày" in body(turn)


@pytest.mark.parametrize("typed", [
    "thời tiết Buôn Ma Thuột ngày mai thế nào", "tiền điện tháng này sao cao vậy",
    "tối nay đội tuyển Việt Nam đá với ai", "làm sổ đỏ cho đất rẫy ở đâu",
    "cúp điện đến bao giờ mới có lại",
])
def test_other_subjects_get_a_polite_only_2g_reply_with_menu_and_hotline(typed):
    turn = say(typed)
    assert turn.events[0].kind is RunKind.UNMATCHED and turn.events[0].topic is None
    out = body(turn)
    assert "Loa chỉ trả lời về việc tắt sóng 2G" in out and "1800 8098" in out
    assert "topic:timeline" in choices(turn) and "Cập nhật ngày" not in out


def test_nonsense_gets_unsure_with_menu_and_hotline():
    turn = say("asdfgh qwerty")
    assert turn.events[0].kind is RunKind.UNMATCHED
    assert "chưa hiểu rõ" in body(turn) and "1800 8098" in body(turn)
    assert "topic:timeline" in choices(turn)


@pytest.mark.parametrize("typed", ["chào Loa", "alo", "Xin chào ad ạ", "hello", "chao ban nhe"])
def test_greetings_get_a_greeting_and_the_menu(typed):
    turn = say(typed)
    assert "Xin chào" in body(turn) and "topic:timeline" in choices(turn)
    assert turn.events[0].kind is RunKind.OTHER


@pytest.mark.parametrize("typed", ["cảm ơn nhiều nha", "ok cam on ad", "thank you", "tks Loa"])
def test_thanks_get_you_are_welcome(typed):
    turn = say(typed)
    assert "Không có gì" in body(turn) and choices(turn) == ["menu"]


def test_a_greeting_followed_by_a_question_answers_the_question():
    turn = say("chào bạn, cho mình hỏi khi nào tắt sóng 2g")
    assert turn.events[0].topic == "timeline"


def test_a_phone_question_loa_is_unsure_of_gets_three_topic_buttons_not_only_2g():
    turn = say("đèn điện thoại cứ nhấp nháy")
    offered = [c for c in choices(turn) if c.startswith("topic:")]
    assert len(offered) == 3 and choices(turn)[-1] == "menu"
    assert "Bạn muốn hỏi về" in body(turn) and "1800 8098" in body(turn)
    assert "chỉ trả lời về việc tắt sóng 2G" not in body(turn)
    assert turn.events[0].kind is RunKind.UNMATCHED       # still counted in the reports
    topic = offered[1].split(":", 1)[1]
    pressed = conversation().step(turn.state, Inbound(InboundKind.CHOICE, choice=offered[1]))
    assert pressed.events[0].kind is RunKind.ANSWER and pressed.events[0].topic == topic


@pytest.mark.parametrize("typed", ["máy", "sim", "nhà mạng", "điện thoại", "sóng", "mobi"])
def test_a_bare_phone_word_is_never_declined_as_off_topic(typed):
    turn = say(typed)
    assert "chỉ trả lời về việc tắt sóng 2G" not in body(turn), typed
    assert turn.events[0].kind is RunKind.ANSWER or len(
        [c for c in choices(turn) if c.startswith("topic:")]) >= 3


def test_match_carries_score_and_runner_up():
    match = conversation().matcher.match("khi nao tat song 2g")
    assert match.kind is MatchKind.ANSWER and match.topic == "timeline"
    assert 0.5 < match.score <= 1.0 and match.runner_up and match.runner_up != "timeline"
    assert 0 <= match.runner_up_score < match.score


def test_taught_examples_change_answers_without_touching_the_content():
    base = conversation().matcher
    question = "đèn điện thoại cứ nhấp nháy"
    assert base.match(question).kind is not MatchKind.ANSWER
    taught = base.rebuilt([Example("after_shutdown", question),
                           Example(None, "mua 4g cho xe ô tô ở đâu")])
    assert taught.match(question).topic == "after_shutdown"
    assert taught.match("đèn điện thoại cứ nhấp nháy hoài").topic == "after_shutdown"  # near
    assert taught.match("mua 4g cho xe ô tô ở đâu").kind is MatchKind.OUT_OF_SCOPE
    assert taught.match("khi nao tat song 2g").topic == "timeline"
    assert base.match(question).kind is not MatchKind.ANSWER      # the old one is untouched


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_text_gets_a_verdict_never_an_error(text):
    match = conversation().matcher.match(text)
    assert 0.0 <= match.score <= 1.0
    if match.kind in (MatchKind.ANSWER, MatchKind.CLARIFY):
        assert match.topic in conversation().contents["vi"].topics
    else:
        assert match.topic is None


# -- normalisation ------------------------------------------------------------------------------

def test_folding_and_abbreviations():
    assert fold("Điện THOẠI, đời cũ!") == "dien thoai doi cu"
    assert normalize_query("đt ko dc j") == ["dien", "thoai", "khong", "duoc", "gi"]
    assert normalize_query("sim4g 4 G") == ["sim", "4g", "4g"]
    assert normalize_query("máy 4g giá bn") == ["may", "4g", "gia", "bao", "nhieu"]
    assert normalize_query("bn ơi cho hỏi") == ["ban", "oi", "cho", "hoi"]
    assert normalize_query("tổng đài số mấy") == ["tong", "dai", "so"]    # "mấy" is not "máy"
    assert normalize_query("vo lte") == ["volte"]


def test_keyboard_leftovers_and_real_words():
    assert "tat" in keyboard_variants("tawts") and "dien" in keyboard_variants("ddieenj")
    assert keyboard_variants("truoc") == []            # a real word is left alone
    assert is_syllable("nghieng") and is_syllable("tat") and not is_syllable("huog")


# -- the labelled evaluation set ----------------------------------------------------------------

def test_evaluation_set_is_large_varied_and_covers_every_topic():
    items = load_labelled(EVAL)
    topics = set(conversation().contents["vi"].topics)
    assert len(items) >= 200
    assert sum(1 for i in items if i.topic is None) >= 0.15 * len(items)
    # Written before scams, at_sea, helping_family, other_devices and phone_stopped existed.
    assert len({i.topic for i in items if i.topic}) >= 15
    assert all(i.topic is None or i.topic in topics for i in items)
    assert len({fold(i.text) for i in items}) == len(items)       # no duplicates


def test_no_evaluation_question_is_a_sample_keyword_title_or_training_question():
    content = conversation().contents["vi"]
    taught = {fold(text) for topic in content.topics.values()
              for text in (topic.title, *topic.samples, *topic.keywords)}
    taught |= {fold(text) for text, _ in content.training}
    items = load_labelled(EVAL)
    assert [i.text for i in items if fold(i.text) in taught] == []
    # Only a spelling apart ("vo lte" = "volte"): the normaliser's work, kept to a handful.
    normalised = {" ".join(normalize_query(t)) for t in taught}
    assert sum(" ".join(normalize_query(i.text)) in normalised for i in items) <= 3


def test_loa_keeps_its_level_on_the_older_set():
    """The older set is where the thresholds were set (the blind set is in test_blind.py):
    a change that makes Loa worse here is caught before it reaches citizens."""
    result = evaluate(conversation().understand, load_labelled(EVAL))
    report = result.to_text(show_misses=True)
    figures = result.figures
    assert figures["direct_right"] >= 0.85, report
    assert figures["right_or_offered"] >= 0.95, report
    assert figures["wrong_direct"] <= 0.04, report
    assert figures["oos_precision"] >= 0.95, report
    assert result.declined_naming_phones == 0, report


def test_evaluation_lines_are_json_with_text_and_topic():
    for number, line in enumerate(EVAL.read_text(encoding="utf-8").splitlines(), start=1):
        data = json.loads(line)
        assert set(data) <= {"text", "topic", "set"}, number
