"""Opting in to announcements: choosing a commune by name (accent-insensitive) and opting out."""
from __future__ import annotations

from dataclasses import replace

from rapidfuzz import fuzz, process

from bot.core.i18n import Translator
from bot.core.messages import Button, ConversationState, Event, Reply, RunKind, Turn
from bot.core.text import fold

FLOW = "subscribe"
# Typed ways to opt in, so text-only channels (Zalo) can do what the button does.
START_WORDS = {"nhan thong bao", "dang ky nhan thong bao", "dang ky nhan tin", "dang ky tin",
               "nhan tin thong bao"}
GENERAL_WORDS = {"khong chon xa", "khong chon", "tin chung", "nhan tin chung"}
STOP_WORDS = {"dung", "stop", "huy dang ky", "dung nhan tin", "dung nhan thong bao",
              "huy nhan tin", "unsubscribe", "thoi nhan tin"}
MAX_CHOICES = 6


def squash(name: str) -> str:
    """Fold marks and drop spaces/apostrophes: "Cư M'gar", "cu mgar", "CuMgar" all match."""
    return fold(name).replace(" ", "")


def _short(name: str) -> str:
    """The name without "Xã"/"Phường", which people usually leave out."""
    for prefix in ("Xã ", "Phường "):
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


class Subscriptions:
    """The opt-in dialogue; communes are (code, official name) pairs from the reference data."""

    def __init__(self, communes: tuple[tuple[str, str], ...], translator: Translator) -> None:
        self.communes = communes
        self.names = {code: name for code, name in communes}
        self.t = translator
        self._index = {code: squash(_short(name)) for code, name in communes}

    def search(self, text: str) -> list[str]:
        """Commune codes matching what the citizen typed, best first."""
        query = squash(text)
        for prefix in ("xa", "phuong"):
            if query.startswith(prefix) and len(query) > len(prefix) + 2:
                query = query[len(prefix):]
        if len(query) < 2:
            return []
        exact = [code for code, name in self._index.items() if name == query]
        if exact:
            return exact
        contains = [code for code, name in self._index.items() if query in name]
        if contains:
            return contains[:MAX_CHOICES]
        found = process.extract(query, self._index, scorer=fuzz.ratio, limit=MAX_CHOICES,
                                score_cutoff=75)
        return [key for _, _, key in found]

    def offer_button(self, lang: str, state: ConversationState) -> Button | None:
        if state.subscribed:
            return None
        return Button(self.t.gettext(lang, "🔔 Get announcements"), "sub")

    def start(self, state: ConversationState, lang: str) -> Turn:
        text = self.t.gettext(
            lang, "Loa will send you important news about the 2G shutdown. Which commune or "
            "ward do you live in (or care about)? Type its name, for example: Hòa Phú.")
        reply = Reply(text, ((Button(self.t.gettext(lang, "Any commune (general news)"),
                                     "sub:none"),), (self._menu(lang),)))
        return Turn((reply,), replace(state, flow=FLOW, step=0, answers=()),
                    (Event(RunKind.MENU),))

    def _menu(self, lang: str) -> Button:
        return Button(self.t.gettext(lang, "☰ Main menu"), "menu")

    def choose(self, state: ConversationState, lang: str, code: str | None) -> Turn:
        new_state = replace(state, flow=None, step=0, answers=(), subscribed=True,
                            commune=code if code in self.names else None)
        where = self.names.get(code or "", "")
        text = (self.t.gettext(lang, "Done. You will get announcements for {place}.",
                               place=where) if where else
                self.t.gettext(lang, "Done. You will get general announcements."))
        text += "\n" + self.t.gettext(lang, "To stop them, type /stop or \"dừng\".")
        return Turn((Reply(text, ((self._menu(lang),),)),), new_state, (Event(RunKind.MENU),))

    def typed(self, state: ConversationState, lang: str, text: str) -> Turn:
        folded = fold(text)
        general = fold(self.t.gettext(lang, "Any commune (general news)"))
        if folded in GENERAL_WORDS or folded == general:
            return self.choose(state, lang, None)
        codes = self.search(text)
        if len(codes) == 1:
            return self.choose(state, lang, codes[0])
        rows = tuple((Button(self.names[c], f"sub:commune:{c}"),) for c in codes)
        if codes:
            message = self.t.gettext(lang, "Which one do you mean?")
        else:
            message = self.t.gettext(lang, "I could not find that commune or ward. Please type "
                                     "its name again, for example: Ea Kar.")
        rows += ((Button(self.t.gettext(lang, "Any commune (general news)"), "sub:none"),),
                 (self._menu(lang),))
        return Turn((Reply(message, rows),), state, (Event(RunKind.MENU),))

    def stop(self, state: ConversationState, lang: str) -> Turn:
        was = state.subscribed
        new_state = replace(state, flow=None, step=0, answers=(), subscribed=False)
        text = (self.t.gettext(lang, "You will not get announcements any more. You can still "
                               "ask me anything.") if was else
                self.t.gettext(lang, "You are not receiving announcements."))
        rows = ((Button(self.t.gettext(lang, "🔔 Get announcements"), "sub"),),
                (self._menu(lang),))
        return Turn((Reply(text, rows),), new_state, (Event(RunKind.MENU),))

    def choice(self, state: ConversationState, lang: str, choice: str) -> Turn | None:
        if choice == "sub":
            return self.start(state, lang)
        if choice == "unsub":
            return self.stop(state, lang)
        if choice == "sub:none":
            return self.choose(state, lang, None)
        if choice.startswith("sub:commune:"):
            code = choice.removeprefix("sub:commune:")
            if code in self.names:
                return self.choose(state, lang, code)
        return None
