"""What a Zalo user sees: numbered lists instead of buttons (each line honest: typing it does
what the button does), 2,000-character chunks on grapheme boundaries, voice links, pacing."""
from __future__ import annotations

import asyncio
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.waiting import conversation

from bot.channels.zalo.common import (
    MAX_TEXT,
    Pacer,
    ReplyRenderer,
    build_shortcuts,
    chunk_text,
    graphemes,
    text_inbound,
    utf16_len,
)
from bot.core.i18n import GettextTranslator
from bot.core.messages import ConversationState, Inbound, InboundKind, Reply, Turn

ROOT = Path(__file__).resolve().parents[2]
CONV = conversation()
TRANSLATOR = GettextTranslator(ROOT / "locales")
SHORTCUTS = build_shortcuts(CONV)
RENDERER = ReplyRenderer(SHORTCUTS, lambda m: TRANSLATOR.gettext("vi", m),
                         "https://loa.example.gov.vn/media")


# -- graphemes -----------------------------------------------------------------------------

@pytest.mark.parametrize("text, clusters", [
    ("e\u0302\u0306", 1),                     # ê̆: no precomposed form, two marks
    ("ư\u0306a", 2),
    ("👍🏽", 1),                               # skin tone
    ("👨\u200d👩\u200d👧\u200d👦", 1),          # ZWJ family
    ("🇻🇳🇻🇳", 2),                             # two flags
    ("1\ufe0f\u20e3", 1),                      # keycap
    ("a\r\nb", 3),
    ("한국", 2),
    ("\u1100\u1161\u11a8", 1),                 # Hangul jamo L V T
    ("🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f", 1),   # tag sequence
])
def test_grapheme_clusters(text, clusters):
    found = graphemes(text)
    assert "".join(found) == text and len(found) == clusters


def test_chunks_of_a_short_text_and_of_nothing():
    assert chunk_text("  xin chào  ") == ["xin chào"]
    assert chunk_text("   ") == []


def test_long_text_is_cut_at_paragraphs_within_the_limit():
    para = "Máy 4G có VoLTE không bị ảnh hưởng khi tắt sóng 2G. " * 12
    text = "\n\n".join([para.strip()] * 8)
    chunks = chunk_text(text)
    assert len(chunks) > 1 and all(utf16_len(c) <= MAX_TEXT for c in chunks)
    assert all(c == para.strip() or "\n\n" in c or c.endswith(".") for c in chunks)
    assert "".join(chunks).replace("\n", "").replace(" ", "") == \
        text.replace("\n", "").replace(" ", "")


_CLUSTER = st.sampled_from(["a", "ê̆", "ơ̆", "Ƀ", "đ", "👍🏽", "👨\u200d👩\u200d👧", "🇻🇳", " ", "\n",
                            "\n\n", "1\ufe0f\u20e3", "x" * 7, "e\u0301\u0323"])


@settings(max_examples=150, deadline=None)
@given(st.lists(_CLUSTER, min_size=0, max_size=700), st.integers(min_value=12, max_value=200))
def test_chunks_never_split_a_grapheme_nor_exceed_the_limit(parts, limit):
    text = "".join(parts)
    chunks = chunk_text(text, limit)
    assert all(0 < utf16_len(c) <= limit for c in chunks)
    whole = graphemes(text)
    for chunk in chunks:             # every chunk is a run of whole clusters of the text
        inner = graphemes(chunk)
        assert all(c in whole for c in inner)
        assert not unicodedata.combining(chunk[0]) and chunk[0] != "\u200d"
    assert "".join(chunks).replace(" ", "").replace("\n", "") == \
        text.replace(" ", "").replace("\n", "")


# -- buttons as typed lines ----------------------------------------------------------------

def _key(turn: Turn) -> tuple[object, ...]:
    return (turn.replies, turn.state, [(e.kind, e.topic) for e in turn.events])


def _walk() -> list[tuple[ConversationState, Reply]]:
    """Replies a citizen meets: menu, every answer, each check step and verdict, unsure."""
    seen: list[tuple[ConversationState, Reply]] = []
    fresh = ConversationState()
    frontier = [CONV.step(fresh, Inbound(InboundKind.COMMAND, text="start")),
                CONV.step(fresh, Inbound(InboundKind.TEXT, text="thời tiết hôm nay")),
                CONV.step(fresh, Inbound(InboundKind.TEXT, text="cam on"))]
    pressed: set[tuple[str, str]] = set()
    for _ in range(6):
        following = []
        for turn in frontier:
            for reply in turn.replies:
                seen.append((turn.state, reply))
                for button in (b for row in reply.buttons for b in row):
                    if (button.choice, repr(turn.state)) not in pressed:
                        pressed.add((button.choice, repr(turn.state)))
                        following.append(CONV.step(turn.state, Inbound(InboundKind.CHOICE,
                                                                       choice=button.choice)))
        frontier = following
    return seen


WALK = _walk()


def test_every_line_shown_instead_of_a_button_does_what_the_button_does():
    checked = 0
    for state, reply in WALK:
        shown = {line.strip() for line in reply.text.splitlines()}
        for button in (b for row in reply.buttons for b in row):
            line = RENDERER.button_line(button, shown)
            typed = RENDERER.typed_for(button.choice)
            if line is None and typed is None:
                continue                      # not shown at all: no false promise
            assert typed is not None
            if line is not None:
                assert typed in line
            pressing = CONV.step(state, Inbound(InboundKind.CHOICE, choice=button.choice))
            typing = CONV.step(state, text_inbound(typed))
            assert _key(typing) == _key(pressing), (button, typed)
            checked += 1
    assert checked > 100


def test_menu_topics_and_check_options_all_have_a_typed_form():
    must = {b.choice for _, r in WALK for row in r.buttons for b in row
            if b.choice.startswith(("topic:", "check", "menu"))}
    assert must <= set(SHORTCUTS)


def test_menu_is_numbered_once_and_answers_end_with_typed_lines():
    menu = CONV.step(ConversationState(), Inbound(InboundKind.COMMAND, text="start")).replies[0]
    (text,) = RENDERER.render(menu)
    assert text.count("2. Lịch tắt sóng 2G") == 1 and "☰" not in text
    answer = CONV.step(ConversationState(), Inbound(InboundKind.TEXT, text="2")).replies[0]
    (text,) = RENDERER.render(answer)
    assert text.rstrip().endswith("0. ☰ Menu chính")
    assert "Cập nhật ngày" in text


def test_voice_clip_becomes_a_link_only_when_a_public_url_is_known():
    reply = Reply("Lịch tắt sóng", audio="media/vi/timeline.ogg")
    (with_link,) = RENDERER.render(reply)
    assert with_link.endswith("🔊 Nghe: https://loa.example.gov.vn/media/media/vi/timeline.ogg")
    (without,) = ReplyRenderer(SHORTCUTS, lambda m: m).render(reply)
    assert without == "Lịch tắt sóng"


def test_long_reply_renders_to_several_messages():
    reply = Reply("Dòng dài về tắt sóng 2G. " * 300)
    chunks = RENDERER.render(reply)
    assert len(chunks) >= 4 and all(utf16_len(c) <= MAX_TEXT for c in chunks)


# -- pacing --------------------------------------------------------------------------------

def test_pacer_spaces_slots_by_the_rate_on_a_virtual_clock():
    now = [100.0]
    pacer = Pacer(5, clock=lambda: now[0])
    slots = [pacer.reserve() for _ in range(10)]
    assert slots == pytest.approx([100.0 + i * 0.2 for i in range(10)])
    now[0] = 200.0                       # idle time is not banked as a burst
    assert pacer.reserve() == 200.0 and pacer.reserve() == pytest.approx(200.2)


async def test_pacer_wait_sleeps_until_each_slot():
    woke: list[float] = []

    async def sleep(seconds: float) -> None:     # concurrent sleepers all start at t=0
        woke.append(seconds)
        await asyncio.sleep(0)

    pacer = Pacer(4, clock=lambda: 0.0, sleep=sleep)
    await asyncio.gather(*(pacer.wait() for _ in range(5)))
    assert sorted(woke) == pytest.approx([0.25, 0.5, 0.75, 1.0])   # the first goes at once


def test_topics_offered_when_loa_is_unsure_become_numbered_lines():
    turn = CONV.step(ConversationState(), Inbound(InboundKind.TEXT,
                                                  text="đèn điện thoại cứ nhấp nháy"))
    offered = [b for row in turn.replies[0].buttons for b in row if b.choice.startswith("topic:")]
    assert len(offered) == 3
    (text,) = RENDERER.render(turn.replies[0])
    menu = CONV.contents["vi"].menu
    for button in offered:
        number = menu.index(button.choice.split(":", 1)[1]) + 1
        assert f"{number}. {button.label}" in text
        typed = CONV.step(turn.state, Inbound(InboundKind.TEXT, text=str(number)))
        assert typed.events[0].topic == button.choice.split(":", 1)[1]


# -- the language line and long options (review finding F18) -----------------------------

def test_the_menu_has_a_numbered_language_line_when_languages_are_configured(tmp_path):
    """Languages are installed after the Zalo shortcuts are checked at start-up (the
    translations feature starts later): the menu still shows "17. 🌐 Ngôn ngữ", and typing
    17 does what the button does."""
    from support.translations import copy_tree

    from bot.core.content import load_content
    from bot.core.conversation import Conversation
    from bot.features.translations.service import Translations
    content, locales = copy_tree(tmp_path)
    translator = GettextTranslator(locales, ("vi", "rad", "jra"))
    vi = load_content(content, "vi")
    conv = Conversation({"vi": vi}, translator, ("vi", "rad", "jra"))
    renderer = ReplyRenderer(build_shortcuts(conv), lambda m: translator.gettext("vi", m))
    Translations(content, locales, ["rad", "jra"], vi).install(conv, translator)
    start = conv.step(ConversationState(), Inbound(InboundKind.COMMAND, text="start"))
    (text,) = renderer.render(start.replies[0])
    number = len(vi.menu) + 1
    assert f"\n{number}. 🌐 Ngôn ngữ" in text and text.count("Ngôn ngữ") == 1
    pressed = conv.step(start.state, Inbound(InboundKind.CHOICE, choice="langs"))
    typed = conv.step(start.state, text_inbound(str(number)))
    assert _key(typed) == _key(pressed) and "Chọn ngôn ngữ:" in pressed.replies[0].text
    for button in (b for row in pressed.replies[0].buttons for b in row):   # the languages
        line = renderer.button_line(button, set())
        assert line is not None, button
        command = renderer.typed_for(button.choice, button.label)
        assert _key(conv.step(start.state, text_inbound(command))) == \
            _key(conv.step(start.state, Inbound(InboundKind.CHOICE, choice=button.choice)))


def test_no_commune_is_chosen_by_a_short_word_not_the_whole_label():
    asked = CONV.step(ConversationState(), Inbound(InboundKind.TEXT, text="nhận thông báo"))
    (text,) = RENDERER.render(asked.replies[0])
    assert '• Không chọn xã (nhận tin chung): gõ "tin chung"' in text, text
    pressed = CONV.step(asked.state, Inbound(InboundKind.CHOICE, choice="sub:none"))
    typed = CONV.step(asked.state, text_inbound("tin chung"))
    assert _key(typed) == _key(pressed) and pressed.state.subscribed
    missed = CONV.step(asked.state, text_inbound("xyzw"))         # "which commune?" again
    (again,) = RENDERER.render(missed.replies[0])
    assert 'gõ "tin chung"' in again
