"""What both Zalo adapters share: replies rendered as text (buttons become lines the user can
type), 2,000-character chunks cut on grapheme boundaries, typed commands, send pacing, HTTP.

Zalo shows no buttons, so every button must become something typing reproduces exactly:
the core reads a typed number as a main-menu number (or, during the phone check, as an option),
so only buttons with that meaning are shown as numbers; others show a command or a phrase the
core is verified (at start-up) to answer with the same topic.
"""
from __future__ import annotations

import asyncio
import json
import re
import time
import unicodedata
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import aiohttp

from bot.core.content import CHECK_ID, ContentSet
from bot.core.conversation import Conversation
from bot.core.messages import Button, ConversationState, Inbound, InboundKind, Reply, Turn
from bot.core.text import fold
from bot.delivery.channel import ParseError, read_json

MAX_TEXT = 2000                      # Zalo's limit for one text message (both APIs)
_NUMBERED = re.compile(r"^(\d+)\.\s")
_LANG_CODE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


# -- graphemes and chunks ------------------------------------------------------------------

def _is_extend(ch: str) -> bool:
    """Characters that never start a grapheme: marks, ZWJ, skin tones, tags, selectors."""
    cp = ord(ch)
    return (unicodedata.category(ch) in ("Mn", "Me", "Mc") or cp == 0x200D
            or 0x1F3FB <= cp <= 0x1F3FF or 0xE0020 <= cp <= 0xE007F
            or 0xFE00 <= cp <= 0xFE0F or 0xE0100 <= cp <= 0xE01EF)


def _is_control(ch: str) -> bool:
    return ch in "\r\n" or unicodedata.category(ch) in ("Cc", "Zl", "Zp")


def _is_ri(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF      # regional indicators: flags come in pairs


def _hangul(ch: str) -> str:
    cp = ord(ch)
    if 0x1100 <= cp <= 0x115F or 0xA960 <= cp <= 0xA97C:
        return "L"
    if 0x1160 <= cp <= 0x11A7 or 0xD7B0 <= cp <= 0xD7C6:
        return "V"
    if 0x11A8 <= cp <= 0x11FF or 0xD7CB <= cp <= 0xD7FB:
        return "T"
    if 0xAC00 <= cp <= 0xD7A3:
        return "LV" if (cp - 0xAC00) % 28 == 0 else "LVT"
    return ""


_HANGUL_NEXT = {"L": {"L", "V", "LV", "LVT"}, "LV": {"V", "T"}, "V": {"V", "T"},
                "LVT": {"T"}, "T": {"T"}}


def graphemes(text: str) -> list[str]:
    """Extended grapheme clusters (UAX #29, without Prepend and Indic conjunct rules):
    enough that a cut never separates ê from its breve, an emoji from its skin tone or a
    ZWJ family, or the two halves of a flag."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch, j = text[i], i + 1
        if ch == "\r" and j < n and text[j] == "\n":
            j += 1
        elif not _is_control(ch):
            if _is_ri(ch) and j < n and _is_ri(text[j]):
                j += 1
            kind = _hangul(ch)
            while kind and j < n and _hangul(text[j]) in _HANGUL_NEXT[kind]:
                kind = _hangul(text[j])
                j += 1
            while j < n:
                if _is_extend(text[j]):
                    j += 1
                elif text[j - 1] == "\u200d" and not _is_control(text[j]):
                    j += 1            # the next emoji of a ZWJ sequence
                else:
                    break
        out.append(text[i:j])
        i = j
    return out


def utf16_len(text: str) -> int:
    """Length as JavaScript counts it; never less than len(), so a safe measure for limits."""
    return len(text.encode("utf-16-le")) // 2


def chunk_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Split into pieces of at most `limit` UTF-16 units, at a paragraph, line or space when
    one is in the second half of the piece, and always on a grapheme boundary."""
    text = text.strip()
    if utf16_len(text) <= limit:
        return [text] if text else []
    clusters = graphemes(text)
    sizes = [utf16_len(c) for c in clusters]
    chunks: list[str] = []
    start = 0
    while start < len(clusters):
        size, end = 0, start
        while end < len(clusters) and size + sizes[end] <= limit:
            size += sizes[end]
            end += 1
        if end == start:              # one pathological cluster longer than the limit
            piece = clusters[start]
            chunks.extend(piece[k:k + limit // 2] for k in range(0, len(piece), limit // 2))
            start += 1
            continue
        cut = end if end == len(clusters) else _best_cut(clusters, start, end)
        piece = "".join(clusters[start:cut]).strip()
        if piece:
            chunks.append(piece)
        start = cut
        while start < len(clusters) and clusters[start].isspace():
            start += 1
    return chunks


def _best_cut(clusters: list[str], start: int, end: int) -> int:
    """Index to cut before: after a blank line, else a line end, else a space."""
    floor = start + (end - start) // 2
    for wanted in ("\n\n", "\n", " "):
        for k in range(end - 1, floor, -1):
            if wanted == "\n\n":
                if clusters[k] == "\n" and clusters[k - 1] == "\n":
                    return k + 1
            elif clusters[k] == wanted or (wanted == " " and clusters[k].isspace()):
                return k + 1
    return end


# -- buttons as typed lines ----------------------------------------------------------------

def build_shortcuts(conversation: Conversation, lang: str = "vi",
                    depth: int = 5) -> dict[str, str]:
    """What to type for each button id so the core does exactly what pressing it does.

    The conversation is explored from /start by pressing buttons (a few steps deep); for each
    button id, candidates (the menu number, a command, the label, parts of it, a sample
    question) are tried in every state the button was seen in, and the first one giving the
    same turn as the press everywhere is kept. Button ids without such a candidate are left
    out: the renderer then shows no line rather than a false one.
    """
    content = conversation.contents.get(lang) or conversation.contents["vi"]
    fixed: dict[str, list[str]] = {"menu": ["0", "/menu"], "help": ["/help"],
                                   "langs": [str(len(content.menu) + 1), "/lang"]}
    for number, item in enumerate(content.menu, start=1):
        fixed[CHECK_ID if item == CHECK_ID else f"topic:{item}"] = [str(number)]
    seen = _explore(conversation, lang, depth)
    typed: dict[str, str] = {}
    for choice, where in seen.items():
        candidates = [*fixed.get(choice, []), *_candidates(choice, where[0][1], content)]
        states = [state for state, _ in where[:8]]
        for text in dict.fromkeys(candidates):
            if all(_same(conversation.step(state, text_inbound(text)),
                         conversation.step(state, Inbound(InboundKind.CHOICE, choice=choice)))
                   for state in states):
                typed[choice] = text
                break
    return typed


def _explore(conversation: Conversation, lang: str,
             depth: int) -> dict[str, list[tuple[ConversationState, str]]]:
    """Button ids offered in the first few steps, with the states and labels they came in."""
    fresh = ConversationState(lang=lang)
    turns = [conversation.step(fresh, Inbound(InboundKind.COMMAND, text="start")),
             conversation.step(fresh, Inbound(InboundKind.COMMAND, text="help")),
             conversation.step(fresh, Inbound(InboundKind.TEXT, text="thời tiết hôm nay"))]
    seen: dict[str, list[tuple[ConversationState, str]]] = {}
    pressed: set[tuple[str, str]] = set()
    for _ in range(depth):
        following = []
        for turn in turns:
            for reply in turn.replies:
                for button in (b for row in reply.buttons for b in row):
                    seen.setdefault(button.choice, []).append((turn.state, button.label))
                    key = (button.choice, repr(turn.state))
                    if key not in pressed:
                        pressed.add(key)
                        following.append(conversation.step(
                            turn.state, Inbound(InboundKind.CHOICE, choice=button.choice)))
        turns = following
    return seen


def _candidates(choice: str, label: str, content: ContentSet) -> list[str]:
    out = []
    numbered = _NUMBERED.match(label)
    if numbered:
        out.append(numbered.group(1))
        label = label[numbered.end():]
    kind, _, code = choice.partition(":")
    if kind == "lang" and _LANG_CODE.match(code):
        out.append(f"/lang {code}")
    words = label.split()
    bare = " ".join(w for w in words if any(ch.isalnum() for ch in w))
    plain = [w.strip("()[],.:;!?\"'“”") for w in bare.split()]   # words without brackets
    if kind != "topic" and len(plain) > 3:
        # A long option ("Không chọn xã (nhận tin chung)"): a short phrase of it that does
        # the same ("tin chung") is easier to type than the whole label. Topics keep theirs.
        out += sorted((" ".join(plain[a:b]) for a in range(len(plain))
                       for b in range(a + 2, len(plain) + 1) if b - a < len(plain)), key=len)
    out += [label, bare]
    out += sorted((" ".join(words[a:b]) for a in range(len(words))
                   for b in range(a + 2, len(words))), key=len)
    topic = content.topics.get(code) if kind == "topic" else None
    if topic is not None:
        label_words = set(fold(label).split())
        out += [topic.title, *sorted(topic.samples, key=lambda s: (
            -len(label_words & set(fold(s).split())), len(s)))]
    return [c for c in out if c.strip()]


def _same(a: Turn, b: Turn) -> bool:
    return a.replies == b.replies and a.state == b.state and \
        [(e.kind, e.topic) for e in a.events] == [(e.kind, e.topic) for e in b.events]


class ReplyRenderer:
    """Turns a Reply into the text messages Zalo shows."""

    def __init__(self, shortcuts: Mapping[str, str], gettext: Callable[[str], str],
                 media_url: str = "") -> None:
        self.shortcuts = shortcuts
        self.t = gettext
        self.media_url = media_url.rstrip("/")

    def typed_for(self, choice: str, label: str = "") -> str | None:
        if choice in self.shortcuts:
            return self.shortcuts[choice]
        kind, _, code = choice.partition(":")
        if kind == "lang" and _LANG_CODE.match(code):
            return f"/lang {code}"
        if choice == "langs":
            # The language button appears once minority languages are installed, after the
            # shortcuts were checked; the core reads its menu number (the number after the
            # topics, "17. 🌐 Ngôn ngữ") and /lang as the button.
            numbered = _NUMBERED.match(label)
            return numbered.group(1) if numbered else "/lang"
        return None

    def button_line(self, button: Button, shown: set[str]) -> str | None:
        numbered = _NUMBERED.match(button.label)
        if numbered and button.label.strip() in shown:
            return None               # menu items and check options are already in the text
        typed = self.typed_for(button.choice, button.label)
        if typed is None:
            return None               # nothing typed can do it: better no line than a false one
        if typed.isdigit():
            label = button.label[numbered.end():] if numbered else button.label
            return f"{typed}. {label}"
        if typed == button.label:
            return self.t('• Type "{text}"').format(text=typed)
        return self.t('• {label}: type "{text}"').format(label=button.label, text=typed)

    def render(self, reply: Reply) -> list[str]:
        shown = {line.strip() for line in reply.text.splitlines()}
        lines = [line for row in reply.buttons for b in row
                 if (line := self.button_line(b, shown)) is not None]
        text = reply.text
        if lines:
            text += "\n\n" + "\n".join(lines)
        if reply.audio and self.media_url:
            link = f"{self.media_url}/{reply.audio.lstrip('/')}"
            text += "\n\n" + self.t("🔊 Listen: {url}").format(url=link)
        return chunk_text(text)


def check_unicode(body: bytes) -> None:
    """Refuse a body whose JSON strings hold what cannot be stored: a lone surrogate (legal
    JSON as "\\ud800", but not encodable as UTF-8) or NUL (refused by PostgreSQL text)."""
    try:
        data = read_json(body)
        canonical = json.dumps(data, ensure_ascii=False)
        canonical.encode("utf-8")
    except (ValueError, UnicodeError):
        raise ParseError("body is not valid UTF-8 JSON") from None
    if "\\u0000" in canonical:
        raise ParseError("body holds a NUL character")


def text_inbound(text: str) -> Inbound:
    """A typed message; `/lang rad` stands for the language button Zalo cannot show."""
    text = text.strip()
    if text.startswith("/") and len(text) > 1 and not text[1].isspace():
        head, _, args = text[1:].partition(" ")
        command, args = head.lower()[:32], args.strip()
        if command == "lang" and _LANG_CODE.match(args):
            return Inbound(InboundKind.CHOICE, choice=f"lang:{args}")
        return Inbound(InboundKind.COMMAND, text=command, args=args[:200])
    return Inbound(InboundKind.TEXT, text=text)


# -- pacing and HTTP -----------------------------------------------------------------------

class Pacer:
    """Spaces sends at most `rate` per second: each caller reserves the next free slot."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.interval = 1.0 / rate
        self.clock = clock
        self.sleep = sleep
        self._next = 0.0

    def reserve(self) -> float:
        """The time of the caller's slot (no awaiting in between keeps this race-free)."""
        slot = max(self.clock(), self._next)
        self._next = slot + self.interval
        return slot

    async def wait(self) -> None:
        delay = self.reserve() - self.clock()
        if delay > 0:
            await self.sleep(delay)


class TransportError(Exception):
    """The request did not get a usable answer (network, timeout, not JSON)."""


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    status: int
    data: object


class JsonHttp:
    """One aiohttp session (created on first use, inside the loop) with timeouts on every call.
    Never logs URLs: the Bot Platform puts its token in the path."""

    def __init__(self, timeout: float = 15.0, pool: int = 16) -> None:
        self.timeout = timeout
        self.pool = pool
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.pool),
                headers={"User-Agent": "Loa (Dak Lak 2G outreach bot)"})
        return self._session

    async def post(self, url: str, *, json_body: object = None,
                   form: Mapping[str, str] | None = None, headers: Mapping[str, str] | None = None,
                   timeout: float | None = None) -> HttpAnswer:
        total = aiohttp.ClientTimeout(total=timeout or self.timeout)
        data: bytes | aiohttp.FormData | None = None
        if json_body is not None:
            data = json.dumps(json_body, ensure_ascii=False).encode()
            headers = {"Content-Type": "application/json", **(headers or {})}
        elif form is not None:
            data = aiohttp.FormData(dict(form))
        try:
            async with self._client().post(url, data=data, headers=headers,
                                           timeout=total) as resp:
                raw = await resp.read()
                status = resp.status
        except TimeoutError:
            raise TransportError("timeout") from None
        except aiohttp.ClientError as exc:
            raise TransportError(exc.__class__.__name__) from None
        try:
            return HttpAnswer(status, read_json(raw) if raw else None)
        except (ValueError, UnicodeDecodeError):
            if status >= 500:
                return HttpAnswer(status, None)
            raise TransportError(f"HTTP {status}, body is not JSON") from None

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None
