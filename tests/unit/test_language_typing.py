"""The language screen and the languages as people type them, the same on every channel:
the commands /help lists ("/lang", "/lang rad"), the button's own label ("🌐 Ngôn ngữ",
"ngon ngu") and a language's name ("tiếng ê đê", "J'rai", "tiếng Việt"). A language not yet
offered gets the honest line once, then Vietnamese; none of it is kept as an unanswered
question (issue 17, review findings F2 and F3)."""
from __future__ import annotations

import json

import pytest
from support.fakebotapi import text_update
from support.translations import build, copy_tree, make_ready
from support.waiting import conversation

from bot.channels.telegram.adapter import TelegramChannel
from bot.channels.web.adapter import WebChannel, validate
from bot.channels.zalo.common import text_inbound
from bot.core.messages import ConversationState, Inbound, RunKind

LANGUAGES = ("vi", "rad", "jra")
SESSION = "language-typing-0123456789"
ERRORS = {"bad": "bad", "too_long": "long", "empty": "empty"}


@pytest.fixture(scope="module")
def translating(tmp_path_factory):
    """Ê Đê and J'rai configured, neither translated yet (as shipped)."""
    return build(*copy_tree(tmp_path_factory.mktemp("translating")), LANGUAGES)[0]


@pytest.fixture(scope="module")
def ede_ready(tmp_path_factory):
    """Ê Đê's core topics approved: it is offered; J'rai still being translated."""
    content, locales = copy_tree(tmp_path_factory.mktemp("ready"))
    make_ready(content, "rad")
    return build(content, locales, LANGUAGES)[0]


# Each channel turns what was typed into what the conversation gets, as its adapter does.
def on_web(conversation, text: str) -> Inbound:
    message = validate(json.dumps({"session": SESSION, "id": "m0000001", "text": text}).encode(),
                       ERRORS, conversation.command_names)
    (envelope,) = WebChannel().parse(message.payload.encode())
    return envelope.inbound


def on_telegram(conversation, text: str) -> Inbound:
    (envelope,) = TelegramChannel(None).parse(
        json.dumps(text_update(3012, text, update_id=1)).encode())
    return envelope.inbound


def on_zalo(conversation, text: str) -> Inbound:
    return text_inbound(text)


CHANNELS = {"web": on_web, "telegram": on_telegram, "zalo": on_zalo}


def step(conversation, channel: str, typed: str, state: ConversationState | None = None):
    inbound = CHANNELS[channel](conversation, typed)
    # the web chat cannot deliver announcements (bot/channels/web/adapter.py)
    return conversation.step(state or ConversationState(), inbound,
                             announcements=channel != "web")


def body(turn) -> str:
    return "\n".join(r.text for r in turn.replies)


def choices(turn) -> list[str]:
    return [b.choice for r in turn.replies for row in r.buttons for b in row]


def understood(turn) -> None:
    """Neither "Loa did not understand" nor "I only know about 2G", and nothing for the
    review log (handling keeps only unmatched or unsure questions)."""
    assert "Loa chưa hiểu" not in body(turn) and "Loa chỉ trả lời" not in body(turn), body(turn)
    assert all(e.kind is RunKind.MENU for e in turn.events), turn.events


SCREEN = ["🌐 Ngôn ngữ", "ngôn ngữ", "Ngôn Ngữ", "ngon ngu", "NGON NGU", "đổi ngôn ngữ",
          "chọn ngôn ngữ", "language", "Language", "/lang", "/LANG", "17. 🌐 Ngôn ngữ", "17",
          "/lang tiếng klingon"]
EDE = ["tiếng ê đê", "Tiếng Ê Đê", "tieng ede", "tieng e de", "Ê Đê", "ê đê", "Êđê", "ede",
       "EDE", "/lang rad", "/lang ê đê", "/lang Tiếng Ê Đê", "đổi sang tiếng Ê Đê",
       "chọn tiếng ê đê", "dùng tiếng Ê Đê"]
JRAI = ["J'rai", "j'rai", "J’rai", "jrai", "tiếng J'rai", "tieng jrai", "Gia Rai", "tiếng Gia Rai",
        "/lang jra"]
VIETNAMESE = ["tiếng Việt", "Tiếng Việt", "tieng viet", "TIẾNG VIỆT", "/lang vi",
              "đổi sang tiếng việt"]


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("typed", SCREEN)
def test_the_language_button_typed_or_the_command_opens_the_language_screen(
        translating, channel, typed):
    if typed == "17":    # the language button's number: after the 16 topics of the menu
        assert len(translating.contents["vi"].menu) == 16
    turn = step(translating, channel, typed)
    understood(turn)
    assert body(turn).endswith("Chọn ngôn ngữ:"), body(turn)
    assert "Tiếng Ê Đê: đang dịch, tạm dùng tiếng Việt" in body(turn)
    assert "lang:vi" in choices(turn)


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("typed, language", [*((t, "Tiếng Ê Đê") for t in EDE),
                                             *((t, "Tiếng J'rai") for t in JRAI)])
def test_a_language_not_yet_offered_gets_the_honest_line_then_vietnamese(
        translating, channel, typed, language):
    turn = step(translating, channel, typed)
    understood(turn)
    assert f"{language}: đang dịch, tạm dùng tiếng Việt" in body(turn), body(turn)
    assert turn.state.lang == "vi" and "topic:timeline" in choices(turn)   # the menu
    answer = step(translating, channel, "khi nào tắt sóng 2g", turn.state)
    assert "đang dịch" not in body(answer) and "Khi nào tắt sóng 2G" in body(answer)


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("typed", EDE)
def test_an_offered_language_typed_by_name_is_chosen(ede_ready, channel, typed):
    turn = step(ede_ready, channel, typed)
    understood(turn)
    assert turn.state.lang == "rad" and "đang dịch" not in body(turn)
    assert "RAD-TEST" in "\n".join(b.label for r in turn.replies for row in r.buttons
                                    for b in row)   # the menu in Ê Đê (test translations)
    back = step(ede_ready, channel, "tiếng việt", turn.state)
    assert back.state.lang == "vi"


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("typed", VIETNAMESE)
def test_vietnamese_typed_by_name_is_chosen(translating, channel, typed):
    turn = step(translating, channel, typed, ConversationState(lang="rad"))
    understood(turn)
    assert turn.state.lang == "vi" and "topic:timeline" in choices(turn)


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("typed", ["/help", "/menu", "/start"])
def test_every_command_help_lists_works_typed_on_every_channel(translating, channel, typed):
    turn = step(translating, channel, typed)
    understood(turn)
    if typed == "/help":
        assert "/lang" in body(turn)
    else:
        assert "topic:timeline" in choices(turn)


def test_the_table_is_large_enough():
    assert len(SCREEN) + len(EDE) + len(JRAI) + len(VIETNAMESE) >= 40


@pytest.mark.parametrize("typed", ["làng", "tiếng", "tiếng ồn", "lang thang", "Việt Nam tắt 2G "
                                   "khi nào", "ede có mất số không"])
def test_ordinary_words_are_not_taken_for_a_language(translating, typed):
    turn = translating.step(ConversationState(), text_inbound(typed))
    assert "Chọn ngôn ngữ:" not in body(turn) and "đang dịch" not in body(turn), typed


def test_with_vietnamese_only_the_menu_has_no_language_number(translating):
    only_vi = conversation()
    menu = only_vi.step(ConversationState(), text_inbound("/start"))
    assert "langs" not in choices(menu)
    turn = only_vi.step(ConversationState(), text_inbound("17"))
    assert "Không có mục số 17. Bạn chọn từ 1 đến 16." in body(turn)
    with_languages = translating.step(ConversationState(), text_inbound("/start"))
    labels = [b.label for r in with_languages.replies for row in r.buttons for b in row]
    assert labels[-1] == "17. 🌐 Ngôn ngữ"
