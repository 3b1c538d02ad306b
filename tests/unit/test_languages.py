"""What a citizen of a minority language gets: approved, current translations or the
Vietnamese with a one-line note; never a draft or a stale text. Dialog tables over a private
copy of the shipped content and catalogs (tests/support/translations.py)."""
from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
from support.translations import (
    TEST_DESK,
    TEST_REVIEWER,
    approved,
    build,
    copy_tree,
    make_ready,
    vi_sources,
    write_string,
    write_topic,
)

from bot.core.conversation import format_date
from bot.core.i18n import AUTONYMS, UNCONFIRMED_AUTONYMS
from bot.core.messages import ConversationState, Inbound, InboundKind, RunKind
from bot.core.text import clean_input, fold
from bot.features.translations.rules import Provenance, Status
from bot.settings import Settings, SettingsError


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    return copy_tree(tmp_path)


NOTE = "chưa có bản tiếng Ê Đê, Loa trả lời bằng tiếng Việt"
RAD = ConversationState(lang="rad")


def press(choice: str) -> Inbound:
    return Inbound(InboundKind.CHOICE, choice=choice)


def typed(text: str) -> Inbound:
    return Inbound(InboundKind.TEXT, text=text)


def choices(turn) -> list[str]:
    return [b.choice for r in turn.replies for row in r.buttons for b in row]


def text(turn) -> str:
    return "\n".join(r.text for r in turn.replies)


def labels(turn) -> list[str]:
    return [b.label for r in turn.replies for row in r.buttons for b in row]


# -- the picker ------------------------------------------------------------------------------

def test_picker_offers_only_languages_with_approved_core_topics_and_names_the_others(tree):
    content, locales = tree
    conversation, _, _ = build(content, locales, ("vi", "rad", "jra", "cmo"))
    # Vietnamese first: nobody must pass through a picker before being helped
    start = conversation.step(ConversationState(), Inbound(InboundKind.COMMAND, text="start"))
    assert "topic:timeline" in choices(start) and "langs" in choices(start)
    picker = conversation.step(start.state, press("langs"))
    assert choices(picker) == ["lang:vi"]
    assert "Tiếng Ê Đê: đang dịch, tạm dùng tiếng Việt" in text(picker)
    assert text(picker).endswith("Chọn ngôn ngữ:")            # next to its buttons
    make_ready(content)
    conversation, _, _ = build(content, locales, ("vi", "rad", "jra", "cmo"))
    picker = conversation.step(ConversationState(), press("langs"))
    found = {b.choice: b.label for r in picker.replies for row in r.buttons for b in row}
    assert found == {"lang:vi": "Tiếng Việt", "lang:rad": AUTONYMS["rad"]}
    assert "Tiếng Ê Đê" not in text(picker)
    assert "Tiếng J'rai: đang dịch, tạm dùng tiếng Việt" in text(picker)
    assert "Tiếng M'nông (Bunong): đang dịch" in text(picker)
    # No minority name has been confirmed by a speaker yet: all are marked.
    assert UNCONFIRMED_AUTONYMS == set(AUTONYMS) - {"vi"}
    assert all(unicodedata.is_normalized("NFC", name) for name in AUTONYMS.values())


def test_a_language_still_being_translated_is_said_once_then_vietnamese_without_apologies(tree):
    conversation, _, _ = build(*tree)
    chosen = conversation.step(ConversationState(), press("lang:rad"))   # e.g. "/lang rad"
    assert "Tiếng Ê Đê: đang dịch, tạm dùng tiếng Việt" in text(chosen)
    assert chosen.state.lang == "vi"
    answer = conversation.step(chosen.state, press("topic:timeline"))
    assert NOTE not in text(answer) and "Khi nào tắt sóng 2G?" in text(answer)
    # someone who chose it before it was withdrawn is answered in Vietnamese, no apology
    old = conversation.step(RAD, press("topic:timeline"))
    assert NOTE not in text(old) and old.events[0].served_language == "vi"


def test_languages_off_by_default_and_configurable():
    assert Settings.from_env({"BOT_SECRET_KEY": "x"}).languages == ("vi",)
    on = Settings.from_env({"BOT_SECRET_KEY": "x", "BOT_LANGUAGES": "rad,jra,cmo,hro,bdq"})
    assert on.languages == ("vi", "rad", "jra", "cmo", "hro", "bdq") and on.mnong_tag == "cmo"
    eastern = Settings.from_env({"BOT_SECRET_KEY": "x", "BOT_LANGUAGES": "vi,mng",
                                 "BOT_MNONG_TAG": "mng"})
    assert eastern.languages == ("vi", "mng") and eastern.mnong_tag == "mng"


@pytest.mark.parametrize(("env", "message"), [
    ({"BOT_LANGUAGES": "vi,mnong"}, "unknown language 'mnong'"),
    ({"BOT_MNONG_TAG": "mnong"}, "BOT_MNONG_TAG='mnong' must be cmo"),
    ({"BOT_LANGUAGES": "vi,mng"}, "BOT_LANGUAGES lists 'mng' but BOT_MNONG_TAG is 'cmo'"),
])
def test_mnong_is_a_configured_tag_never_invented(env, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({"BOT_SECRET_KEY": "x", **env})


# -- fallback, drafts, staleness ---------------------------------------------------------------

def test_missing_translation_falls_back_to_vietnamese_with_note_and_button(tree):
    content, locales = tree
    make_ready(content)
    conversation, _, _ = build(content, locales)
    cost = conversation.contents["vi"].topics["cost"].title
    turn = conversation.step(ConversationState(), press("lang:rad"))
    assert turn.state.lang == "rad"
    assert turn.replies[0].text.startswith("Nội dung này " + NOTE)   # part of the menu is not
    assert "2. RAD-TEST timeline menu_label" in labels(turn)
    assert choices(turn)[-1] == "lang:vi"                     # Vietnamese always a button
    assert [(e.kind, e.served_language) for e in turn.events] == [(RunKind.MENU, "vi")]
    answer = conversation.step(turn.state, press("topic:cost"))
    assert NOTE in answer.replies[0].text and cost in text(answer)
    assert answer.events[0].served_language == "vi" and "lang:vi" in choices(answer)
    back = conversation.step(answer.state, press("lang:vi"))
    assert back.state.lang == "vi" and NOTE not in text(back)


def test_approved_current_translation_is_served_without_note(tree):
    content, locales = tree
    make_ready(content)
    fields = write_topic(content, "rad", "timeline", None)
    write_string(locales, "rad", "Updated {date}", "RAD-TEST updated {date}")
    conversation, _, _ = build(content, locales)
    turn = conversation.step(RAD, press("topic:timeline"))
    assert fields["body"] in text(turn) and fields["title"] in text(turn)
    assert NOTE not in text(turn) and "Khi nào tắt sóng 2G?" not in text(turn)
    # Dates and numbers use the Vietnamese format in every language.
    day = format_date(conversation.contents["vi"].topics["timeline"].as_of)
    assert f"RAD-TEST updated {day}" in text(turn) and day.count("/") == 2
    assert turn.events[0].served_language == "rad"
    assert choices(turn)[-1] == "lang:vi"
    # Another topic has no translation: Vietnamese, with the note.
    other = conversation.step(RAD, press("topic:scams"))
    assert NOTE in text(other) and other.events[0].served_language == "vi"


@pytest.mark.parametrize("case", ["draft", "reviewed", "no_reviewer", "stale", "no_review_date"])
def test_drafts_unreviewed_and_stale_texts_are_never_shown(tree, case):
    content, locales = tree
    make_ready(content)      # "cost" is not a core topic: rad is offered, cost is tested
    source = vi_sources(content)["cost"]
    prov = {"draft": Provenance(Status.DRAFT, "machine", "Loa developers (test data)",
                                source_hash=approved(source).source_hash),
            "reviewed": Provenance(Status.REVIEWED, "human", "x", reviewer=TEST_REVIEWER,
                                   organisation=TEST_DESK, reviewed="2026-11-20",
                                   source_hash=approved(source).source_hash),
            "no_reviewer": approved(source, reviewer=""),
            "stale": approved({**source, "body": "an older Vietnamese text"}),
            "no_review_date": approved(source, reviewed="")}[case]
    fields = write_topic(content, "rad", "cost", prov)
    write_string(locales, "rad", "Updated {date}", "RAD-TEST updated {date}",
                 Provenance(Status.DRAFT, "machine", "test"))
    conversation, translator, _ = build(content, locales)
    turn = conversation.step(RAD, press("topic:cost"))
    assert fields["body"] not in text(turn) and "RAD-TEST" not in text(turn)
    assert conversation.contents["vi"].topics["cost"].title in text(turn) and NOTE in text(turn)
    assert translator.gettext("rad", "Updated {date}", date="x") == "Cập nhật ngày x"


def test_stale_interface_string_falls_back_to_vietnamese(tree):
    content, locales = tree
    write_string(locales, "rad", "☰ Main menu", "RAD-TEST menu",
                 approved({"text": "an older Vietnamese text"}))
    write_string(locales, "rad", "Check again", "RAD-TEST check again")
    _, translator, _ = build(content, locales)
    assert translator.gettext("rad", "☰ Main menu") == translator.gettext("vi", "☰ Main menu")
    assert translator.gettext("rad", "Check again") == "RAD-TEST check again"


def test_menu_is_served_in_the_language_only_when_all_of_it_is_approved(tree):
    content, locales = tree
    conversation, _, service = build(content, locales)
    for topic in conversation.contents["vi"].menu:
        write_topic(content, "rad", topic, None)
    write_string(locales, "rad", "Type your question, with or without tone marks, or choose a "
                 "number:", "RAD-TEST number")
    conversation, _, _ = build(content, locales)
    turn = conversation.step(RAD, Inbound(InboundKind.COMMAND, text="menu"))
    assert turn.events[0].served_language == "rad" and NOTE not in text(turn)
    assert "RAD-TEST number" in text(turn)
    assert labels(turn)[:2] == ["1. RAD-TEST after_shutdown.phone_stopped menu_label",
                                "2. RAD-TEST timeline menu_label"]
    # Untranslated interface lines stay Vietnamese around the translated menu.
    assert "☰ Menu chính" in labels(conversation.step(RAD, typed("cảm ơn")))
    (content / "rad" / "cost.md").unlink()     # not a core topic: still offered, partly
    conversation, _, _ = build(content, locales)
    partial = conversation.step(RAD, Inbound(InboundKind.COMMAND, text="menu"))
    assert partial.events[0].served_language == "vi" and NOTE in text(partial)


# -- free text and numbers ---------------------------------------------------------------------

def test_free_text_in_a_minority_language_gets_the_menu_and_hotline(tree):
    content, locales = tree
    make_ready(content)
    conversation, _, _ = build(content, locales)
    # Letters of the Ê Đê / M'nông alphabets, not a real sentence (no one here speaks them).
    turn = conversation.step(RAD, typed("ƀă ĕ čŭ ñu hlăk ƀuôn"))
    assert "1800 8098" in text(turn) and "2. RAD-TEST timeline menu_label" in labels(turn)
    assert "topic:timeline" in choices(turn) and choices(turn)[-1] == "lang:vi"
    assert turn.events[0].kind is RunKind.UNMATCHED
    assert "Did you mean" not in text(turn)


def test_numbers_always_work_and_vietnamese_questions_are_still_understood(tree):
    conversation, _, _ = build(*tree)
    by_number = conversation.step(RAD, typed("2"))
    assert "Khi nào tắt sóng 2G?" in text(by_number) and by_number.events[0].topic == "timeline"
    asked = conversation.step(RAD, typed("khi nao tat song 2g"))
    assert asked.events[0].kind is RunKind.ANSWER and asked.events[0].topic == "timeline"


# -- input hygiene -----------------------------------------------------------------------------

def test_input_is_nfc_with_b_hook_unified_and_folding_drops_marks():
    decomposed = unicodedata.normalize("NFD", "Ƀuôn Ma Thuột")
    assert clean_input(decomposed) == "Ƀuôn Ma Thuột"
    assert clean_input("Ɓuôn ɓuôn") == "Ƀuôn ƀuôn"
    assert fold("Ƀuôn Đôn ƀă") == "buon don ba"
    # ê̆ has no precomposed form: still two code points after NFC, one grapheme.
    assert len(clean_input("e\u0302\u0306")) == 2


# -- clips -------------------------------------------------------------------------------------

def test_clip_of_the_language_is_served_even_when_text_falls_back(tree):
    from support.clips import shipped_clip
    content, locales = tree
    make_ready(content)
    path = shipped_clip(content, "rad", "cost")
    conversation, _, _ = build(content, locales)
    turn = conversation.step(RAD, press("topic:cost"))
    assert NOTE in text(turn) and turn.replies[0].audio == path
    vi_turn = conversation.step(ConversationState(lang="vi"), press("topic:cost"))
    assert vi_turn.replies[0].audio is None


def test_stale_or_unapproved_clip_is_not_served(tree):
    from support.clips import shipped_clip
    content, locales = tree
    shipped_clip(content, "rad", "timeline", source_hash="0123456789abcdef")
    shipped_clip(content, "rad", "cost", status="draft")
    conversation, _, _ = build(content, locales)
    assert conversation.step(RAD, press("topic:timeline")).replies[0].audio is None
    assert conversation.step(RAD, press("topic:cost")).replies[0].audio is None


@pytest.mark.parametrize("inbound", [
    Inbound(InboundKind.COMMAND, text="help"), Inbound(InboundKind.COMMAND, text="lang"),
    Inbound(InboundKind.UNSUPPORTED, text="sticker"), press("check"), typed("xin chào"),
    typed("99"), press("topic:switch.volte"),
])
def test_every_screen_keeps_vietnamese_as_a_button_and_says_so_in_one_line(tree, inbound):
    content, locales = tree
    make_ready(content)
    conversation, _, _ = build(content, locales)
    turn = conversation.step(RAD, inbound)
    assert "lang:vi" in [b.choice for row in turn.replies[-1].buttons for b in row]
    note_lines = [line for r in turn.replies for line in r.text.splitlines() if NOTE in line]
    assert len(note_lines) == 1


def test_the_note_is_not_repeated_on_every_question_of_the_phone_check(tree):
    content, locales = tree
    make_ready(content)
    conversation, _, _ = build(content, locales)
    first = conversation.step(RAD, press("check"))
    second = conversation.step(first.state, typed("1"))
    assert NOTE in text(first) and NOTE not in text(second)
    assert "lang:vi" in choices(second)


def test_a_stop_line_that_loses_the_word_dung_is_not_served(tree):
    """The announcement's last line tells citizens to type DỪNG: a translation without that
    exact word would tell them to type something that stops nothing (issue 17)."""
    content, locales = tree
    msgid = "Type DỪNG to stop receiving these."
    write_string(locales, "rad", msgid, "RAD-TEST type STOP")
    _, translator, _ = build(content, locales)
    assert translator.gettext("rad", msgid) == translator.gettext("vi", msgid)
    write_string(locales, "rad", msgid, "RAD-TEST type DỪNG")
    _, translator, _ = build(content, locales)
    assert translator.gettext("rad", msgid) == "RAD-TEST type DỪNG"
