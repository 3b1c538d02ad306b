"""The citizen conversation as a pure function: (state, inbound) -> Turn(replies, state, events)."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace
from typing import NamedTuple

from bot.core.answers import yes_no
from bot.core.classifier import Classifier
from bot.core.content import CHECK_ID, ContentSet, Topic
from bot.core.evaluation import Decision
from bot.core.i18n import AUTONYMS, LANGUAGE_NAMES, SOURCE_LANG, Translator
from bot.core.matching import Matcher, MatchKind, decision
from bot.core.messages import (
    Button,
    ConversationState,
    Event,
    Inbound,
    InboundKind,
    Reply,
    RunKind,
    Turn,
)
from bot.core.smalltalk import SmallTalk, smalltalk_kind
from bot.core.subscription import FLOW as SUBSCRIBE_FLOW
from bot.core.subscription import START_WORDS, STOP_WORDS, Subscriptions
from bot.core.text import clean_input, fold, normalize_query

MAX_TEXT = 2000          # longer messages are read only up to here
# "4 kiem tra may cua toi": a button's label typed with its menu number
_NUMBER_PREFIX = re.compile(r"^\d{1,2} ")
_MENU_WORDS = {"menu", "0", "quay lai", "tro ve", "menu chinh", "tro lai", "back", "huy"}
_HELP_WORDS = {"help", "giup", "tro giup", "huong dan", "giup do"}
# A language is offered with buttons once these are approved translations (see `ready`).
CORE_TOPICS = ("after_shutdown.phone_stopped", "timeline", "affected", "switch",
               "keep_number", "contact")
# "kiểm tra máy", "ktra dt", "check điện thoại": the phone check, however it is typed
_CHECK_VERBS = {"kiem tra", "ktra", "kt", "check", "test", "xem thu", "thu"}
_PHONE_WORDS = {"may", "dien thoai", "dt", "dthoai", "dien thoi", "dte", "may dien thoai"}
_GREETINGS = {"xin chao", "chao", "hello", "hi", "alo", "chao ban", "chao loa", "chao em",
              "chao anh", "chao chi", "bat dau", "start", "loa oi", "hey"}
# The conversation's own chat commands; a channel may deliver them typed as text ("/lang rad").
COMMANDS = ("start", "menu", "help", "lang", "stop")
# Typed ways to ask for the language screen, folded, besides the button's own label.
_LANGUAGE_SCREEN = ("ngon ngu", "doi ngon ngu", "chon ngon ngu", "thay doi ngon ngu",
                    "ngon ngu khac", "language", "languages")
# Languages' names as people type them (folded: "tiếng ê đê", "J'rai", "Gia Rai"), besides
# the autonyms and the names of bot/core/i18n.py; compared without spaces ("e de" = "ede").
_LANGUAGE_WORDS: dict[str, tuple[str, ...]] = {
    "vi": ("viet", "viet nam"), "rad": ("e de", "rhade"), "jra": ("j rai", "gia rai"),
    "cmo": ("m nong", "bu nong"), "mng": ("m nong dong",), "hro": ("h roi", "cham h roi"),
    "bdq": ("ba na",)}
# Words before a language's name that do not change it: "đổi sang tiếng Ê Đê" is "Ê Đê".
_LANGUAGE_LEAD = re.compile(r"^(?:(?:doi sang|chuyen sang|chon|dung|noi|tieng) )+")
# Buttons that would promise announcements, left out where none can be delivered (the web).
_SUBSCRIBE_BUTTONS = frozenset({"sub", "sub:none"})

def format_date(day: dt.date) -> str:
    return f"{day.day:02d}/{day.month:02d}/{day.year}"


def _squash(folded: str) -> str:
    """A folded language name without spaces: "e de", "ede" and "Êđê" are one name."""
    return folded.replace(" ", "")


class _Labels(NamedTuple):
    """A content set's typed labels, folded once (Conversation._labels)."""

    content: ContentSet
    topics: dict[str, str]         # folded menu label -> topic id
    check: frozenset[str]          # the phone check's folded label and title
    languages: dict[str, str]      # squashed language word -> "langs" or "lang:<code>"


class Conversation:
    """Holds the content, matcher and strings; `step` is the whole dialogue logic."""

    def __init__(self, contents: dict[str, ContentSet], translator: Translator,
                 languages: tuple[str, ...] = (SOURCE_LANG,),
                 communes: tuple[tuple[str, str], ...] = (),
                 classifier: Classifier | None = None,
                 commands: tuple[tuple[str, str], ...] = (),
                 core_topics: tuple[str, ...] | None = None) -> None:
        """`commands`: the citizens' chat commands the features add, as (name, help msgid),
        listed by /help after the conversation's own (bot/delivery/commands.py).
        `core_topics`: what a language needs approved to be offered (`ready`); default
        CORE_TOPICS, none for a reviewer's preview of drafts."""
        if SOURCE_LANG not in contents:
            raise ValueError("Vietnamese content is required")
        self.contents = contents
        self._folded_labels: dict[int, _Labels] = {}
        self.t = translator
        self._configured = languages
        self.languages = self._offered()
        self.matcher = Matcher(contents[SOURCE_LANG], classifier=classifier)
        self.subscriptions = Subscriptions(communes, translator)
        self.commands = commands
        self.core_topics = CORE_TOPICS if core_topics is None else core_topics

    @property
    def command_names(self) -> frozenset[str]:
        """The chat commands /help lists (the conversation's and the features' citizen
        commands): what a channel that gets commands as typed text (the web chat) must pass
        on as commands, so that they work there as on Telegram."""
        return frozenset((*COMMANDS, *(name for name, _ in self.commands)))

    # -- helpers -----------------------------------------------------------------------------
    def _content(self, lang: str) -> ContentSet:
        return self.contents.get(lang) or self.contents[SOURCE_LANG]

    def _menu_button(self, lang: str) -> Button:
        return Button(self.t.gettext(lang, "☰ Main menu"), "menu")

    def menu(self, lang: str, intro: str = "") -> Reply:
        """The menu once: its items are buttons numbered as they are typed ("4. Kiểm tra máy
        của tôi"), not also listed in the text. A channel without buttons shows them as
        numbered lines (bot/channels/zalo/common.py)."""
        content = self._content(lang)
        lines = [intro] if intro else []
        lines.append(self.t.gettext(lang, "Type your question, with or without tone marks, or "
                                    "choose a number:"))
        rows = []
        for number, item in enumerate(content.menu, start=1):
            label = f"{number}. {content.menu_label(item)}"
            rows.append((Button(label, CHECK_ID if item == CHECK_ID else f"topic:{item}"),))
        if len(self.languages) > 1:   # numbered after the topics: typing it works too (Zalo)
            label = self.t.gettext(lang, "🌐 Language")
            rows.append((Button(f"{len(content.menu) + 1}. {label}", "langs"),))
        return Reply("\n".join(lines), tuple(rows))

    def language_picker(self, lang: str, intro: str = "") -> Reply:
        """Buttons for the languages Loa can answer in; one honest line for each language
        still being translated. "Choose your language:" stays the last line, next to its
        buttons."""
        ready = self.ready
        lines = [intro] if intro else []
        for code in self.languages:
            if code not in ready:
                name = self.t.gettext(SOURCE_LANG, LANGUAGE_NAMES.get(code, code))
                lines.append(self.t.gettext(SOURCE_LANG, "{language}: being translated, "
                                            "Vietnamese for now", language=name))
        lines.append(self.t.gettext(lang, "Choose your language:"))
        rows = tuple((Button(AUTONYMS[code], f"lang:{code}"),) for code in ready)
        return Reply("\n".join(lines), rows)

    def help(self, lang: str) -> Reply:
        content = self._content(lang)
        text = self.t.gettext(
            lang, "I answer questions about the end of 2G mobile service. Type a number from "
            "the menu, press a button, or write your question in your own words, with or "
            "without tone marks. Type 0 or \"menu\" to go back to the menu. Commands: /menu, "
            "/lang (language), /help.") + "".join(
                f"\n/{name} — {self.t.gettext(lang, msgid)}" for name, msgid in self.commands) \
            + "\n\n" + content.help_line
        return Reply(text, ((self._menu_button(lang),),))

    def answer(self, lang: str, topic: Topic, state: ConversationState | None = None) -> Reply:
        content = self._content(lang)
        updated = self.t.gettext(lang, "Updated {date}", date=format_date(topic.as_of))
        text = f"{topic.title}\n\n{topic.body}\n\n{updated}"
        rows: list[tuple[Button, ...]] = []
        linked = [c for c in content.topics if content.topics[c].parent == topic.id]
        linked += [r for r in topic.related if r not in linked]
        if topic.parent and topic.parent not in linked:
            linked.append(topic.parent)
        if topic.id == "affected" and CHECK_ID not in linked:
            linked.insert(0, CHECK_ID)
        offer = self.subscriptions.offer_button(lang, state or ConversationState())
        for item in linked:
            if item == CHECK_ID:
                rows.append((Button(content.check.menu_label, CHECK_ID),))
            elif item in content.topics:
                rows.append((Button(content.topics[item].menu_label, f"topic:{item}"),))
        if offer is not None:
            rows.append((offer,))
        rows.append((self._menu_button(lang),))
        audio = topic.audio if topic.audio else None
        return Reply(text, tuple(rows), audio=audio)

    # -- the phone check ---------------------------------------------------------------------
    def _check_question(self, lang: str, index: int, intro: str = "") -> Reply:
        check = self._content(lang).check
        question = check.questions[index]
        head = self.t.gettext(lang, "Question {n} of {total}:", n=index + 1,
                              total=len(check.questions))
        lines = [intro] if intro else []
        lines.append(f"{head} {question.text}")
        rows = []   # the options as buttons only (numbered lines where there are no buttons)
        for number, option in enumerate(question.options, start=1):
            rows.append(Button(f"{number}. {option.label}", f"check:{question.id}:{option.id}"))
        return Reply("\n".join(lines), (tuple(rows), (self._menu_button(lang),)))

    def _verdict(self, answers: dict[str, str]) -> str:
        """No 4G means affected; a phone without internet that may lack 4G likely is too;
        4G without VoLTE has its own verdict (it may no longer call since 2G ended)."""
        lte, internet, volte = answers.get("lte"), answers.get("internet"), answers.get("volte")
        if lte == "no" or (internet == "no" and lte == "unknown"):
            return "affected"
        if lte == "yes" and volte == "yes":
            return "probably_fine"
        if lte == "yes" and volte == "no":
            return "no_volte"
        return "check_carrier"   # an answer was "I don't know": the shop or hotline can tell

    def _check_step(self, state: ConversationState, lang: str, option: str) -> Turn:
        check = self._content(lang).check
        answers = (*state.answers, option)
        given = {q.id: a for q, a in zip(check.questions, answers, strict=False)}
        finished = len(answers) >= len(check.questions) or given.get("lte") == "no" \
            or (given.get("internet") == "no" and given.get("lte") == "unknown")
        if not finished:
            new_state = replace(state, step=len(answers), answers=answers)
            return Turn((self._check_question(lang, len(answers)),), new_state,
                        (Event(RunKind.CHECK, CHECK_ID),))
        verdict = self._verdict(given)
        text = check.verdicts.get(verdict) or check.verdicts["check_carrier"]
        updated = self.t.gettext(lang, "Updated {date}", date=format_date(check.as_of))
        rows = [(Button(self.t.gettext(lang, "Check again"), CHECK_ID),)]
        content = self._content(lang)
        for item in ("switch", "contact") if verdict != "probably_fine" else ("contact",):
            if item in content.topics:
                rows.append((Button(content.topics[item].menu_label, f"topic:{item}"),))
        rows.append((self._menu_button(lang),))
        reply = Reply(f"{check.title}\n\n{text}\n\n{updated}", tuple(rows))
        return Turn((reply,), replace(state, flow=None, step=0, answers=()),
                    (Event(RunKind.VERDICT, f"{CHECK_ID}.{verdict}"),))

    def _check_option_from_text(self, lang: str, state: ConversationState,
                                folded: str) -> str | None:
        """The option a typed answer picks: its number, its label in the citizen's language or
        in Vietnamese, or yes / no / don't know as people type them ("ko", "dạ có", "hông
        biết": bot/core/answers.py)."""
        questions = self._content(lang).check.questions
        if state.step >= len(questions):
            return None
        options = questions[state.step].options
        if folded.isdigit() and 1 <= int(folded) <= len(options):
            return options[int(folded) - 1].id
        labels = [(option.id, option.label) for option in options]
        if lang != SOURCE_LANG and state.step < len(self.contents[SOURCE_LANG].check.questions):
            labels += [(o.id, o.label)
                       for o in self.contents[SOURCE_LANG].check.questions[state.step].options]
        for option_id, label in labels:
            if folded == fold(label):
                return option_id
        said = yes_no(folded)
        return said if said in {option.id for option in options} else None

    def _wants_check(self, lang: str, folded: str) -> bool:
        """Typed words that ask for the phone check: its button's label or title (in the
        citizen's language or Vietnamese, with or without its menu number), or "kiểm tra" with
        "máy" or "điện thoại" in a short message ("kiem tra may", "ktra dt giúp bà")."""
        folded = _NUMBER_PREFIX.sub("", folded)
        for content in (self._content(lang), self.contents[SOURCE_LANG]):
            if folded in self._labels(content).check:
                return True
        words = folded.split()
        if len(words) > 8:
            return False
        pairs = {" ".join(words[i:i + n]) for n in (1, 2, 3) for i in range(len(words))}
        return bool(pairs & _CHECK_VERBS) and bool(pairs & _PHONE_WORDS)

    def _typed_topic(self, lang: str, folded: str) -> str | None:
        """A topic whose button label was typed as it reads ("Đổi máy có mất số không")."""
        folded = _NUMBER_PREFIX.sub("", folded)
        for content in (self._content(lang), self.contents[SOURCE_LANG]):
            found = self._labels(content).topics.get(folded)
            if found is not None:
                return found
        return None

    def _typed_language(self, lang: str, folded: str) -> str | None:
        """The language button's label typed as it reads ("🌐 Ngôn ngữ", "ngon ngu", "đổi
        ngôn ngữ"): "langs"; a language's name ("tiếng ê đê", "Ê Đê", "J'rai", "tiếng Việt"):
        "lang:<code>", which picks it when offered and otherwise says it is being translated.
        """
        folded = _NUMBER_PREFIX.sub("", folded)
        if not folded or len(folded) > 40:
            return None
        keys = (_squash(folded), _squash(_LANGUAGE_LEAD.sub("", folded)))
        for content in (self._content(lang), self.contents[SOURCE_LANG]):
            words = self._labels(content).languages
            found = next((words[key] for key in keys if key in words), None)
            if found is not None:
                return self._configured_mnong(found)
        return None

    def _named_language(self, lang: str, args: str) -> str:
        """The choice "/lang <args>" stands for: a language by its code ("/lang rad") or its
        name ("/lang ê đê"); the language list when neither."""
        code = args.strip().lower()
        if code in LANGUAGE_NAMES:
            return f"lang:{code}"
        return self._typed_language(lang, fold(args)) or "langs"

    def _configured_mnong(self, choice: str) -> str:
        """ "M'nông" is the M'nông the station broadcasts (BOT_MNONG_TAG): cmo or mng."""
        if choice == "lang:cmo" and "cmo" not in self.languages and "mng" in self.languages:
            return "lang:mng"
        return choice

    def _labels(self, content: ContentSet) -> _Labels:
        """A content set's button labels folded once (not on every message): topic ids by
        folded menu label (the first topic of a label wins, as in menu order), the phone
        check's folded label and title, and the language button's label and the languages'
        names. Kept per content set object: a reloaded or newly approved set (with its
        language's approved strings) is a new object and gets its own."""
        kept = self._folded_labels.get(id(content))
        if kept is None or kept.content is not content:
            topics: dict[str, str] = {}
            for topic_id, topic in content.topics.items():
                topics.setdefault(fold(topic.menu_label), topic_id)
            check = frozenset((fold(content.check.menu_label), fold(content.check.title)))
            if len(self._folded_labels) > 64:   # sets replaced by reloads: forget them
                self._folded_labels.clear()
            kept = self._folded_labels[id(content)] = _Labels(
                content, topics, check, self._language_words(content.lang))
        return kept

    def _language_words(self, lang: str) -> dict[str, str]:
        """Squashed typed forms of the language button and of every language's name."""
        screen = (self.t.gettext(lang, "🌐 Language"), "🌐 Language", *_LANGUAGE_SCREEN)
        words = {_squash(fold(label)): "langs" for label in screen}
        for code, name in LANGUAGE_NAMES.items():
            names = (AUTONYMS[code], name, self.t.gettext(SOURCE_LANG, name),
                     *_LANGUAGE_WORDS.get(code, ()))
            for typed in names:
                folded = fold(typed)
                for key in (_squash(folded), _squash(_LANGUAGE_LEAD.sub("", folded))):
                    if key:
                        words.setdefault(key, f"lang:{code}")
        return words

    def _answer_mid_check(self, state: ConversationState, lang: str, topic: Topic,
                          score: float | None) -> Turn:
        """A topic answered during the check: the check stays where it was, one tap away."""
        reply = self.answer(lang, topic, state)
        resume = Button(self.t.gettext(lang, "↩ Continue the phone check"), f"{CHECK_ID}:resume")
        reply = replace(reply, buttons=((resume,), *reply.buttons))
        return Turn((reply,), state, (Event(RunKind.ANSWER, topic.id, score),))

    def _mid_check(self, state: ConversationState, lang: str, text: str) -> Turn:
        """Typed during the check but not an answer: a question Loa can answer is answered
        (and the check can go on from the same question); anything else asks the current
        question again, saying how to answer it."""
        content = self._content(lang)
        match = self.matcher.match(text)
        topic = content.topics.get(match.topic or "") if match.kind is MatchKind.ANSWER \
            else None
        if topic is not None:
            return self._answer_mid_check(state, lang, topic, match.score)
        note = self.t.gettext(lang, "Loa did not understand that answer. Press a button, or "
                              "type yes, no or don't know.")
        return Turn((self._check_question(lang, state.step, note),), state,
                    (Event(RunKind.CHECK, CHECK_ID),))

    # -- languages: what is served, the Vietnamese fallback note and button (issue 4) --------
    def _offered(self) -> tuple[str, ...]:
        """Configured languages with a name and an installed language set (Vietnamese first)."""
        offered = tuple(lang for lang in self._configured if lang == SOURCE_LANG
                        or (lang in AUTONYMS and lang in self.contents))
        return offered if SOURCE_LANG in offered else (SOURCE_LANG, *offered)

    def install_language(self, lang: str, content: ContentSet) -> None:
        """Serve `lang` from `content`: approved, current translations over Vietnamese."""
        self.contents[lang] = content
        self.languages = self._offered()

    @property
    def ready(self) -> tuple[str, ...]:
        """Offered languages a citizen can really be answered in: Vietnamese, and those whose
        core topics (CORE_TOPICS) are approved translations.
        The others are named in the picker as being translated, and served in Vietnamese."""
        return tuple(lang for lang in self.languages if lang == SOURCE_LANG
                     or all(item in self.contents[lang].translated for item in self.core_topics))

    def served_language(self, lang: str, event: Event) -> str:
        """The language a turn's reply was really given in: `lang` only when its main text
        (the topic, the phone check, or every item of the menu) is an approved translation."""
        content = self.contents.get(lang)
        if lang == SOURCE_LANG or content is None:
            return SOURCE_LANG
        if event.kind is RunKind.ANSWER:
            ok = event.topic in content.translated
        elif event.kind in (RunKind.CHECK, RunKind.VERDICT):
            ok = CHECK_ID in content.translated
        else:
            ok = all(item in content.translated for item in content.menu)
        return lang if ok else SOURCE_LANG

    def step(self, state: ConversationState, inbound: Inbound, *,
             announcements: bool = True) -> Turn:
        """One turn; in a minority language, what fell back to Vietnamese says so in one line
        of Vietnamese, and every screen keeps a button back to Vietnamese. `announcements`:
        whether the channel can deliver announcements; where it cannot (the web chat), Loa
        neither offers them nor takes a subscription it could not honour."""
        if not announcements:
            return self._without_announcements(state, inbound)
        turn = self._step(state, inbound)
        lang = turn.state.lang if turn.state.lang in self.ready else SOURCE_LANG
        events = tuple(replace(e, served_language=self.served_language(lang, e))
                       for e in turn.events)
        replies = turn.replies
        if lang == SOURCE_LANG or not replies:
            return Turn(replies, turn.state, events)
        if any(e.served_language == SOURCE_LANG
               and not (e.kind is RunKind.CHECK and turn.state.step > 0) for e in events):
            name = self.t.gettext(SOURCE_LANG, LANGUAGE_NAMES.get(lang, lang))
            note = self.t.gettext(SOURCE_LANG, "This is not available in {language} yet; Loa "
                                  "answers in Vietnamese.", language=name[:1].lower() + name[1:])
            replies = (replace(replies[0], text=f"{note}\n\n{replies[0].text}"), *replies[1:])
        last = replies[-1]
        if not any(b.choice == f"lang:{SOURCE_LANG}" for row in last.buttons for b in row):
            back = (Button(AUTONYMS[SOURCE_LANG], f"lang:{SOURCE_LANG}"),)
            replies = (*replies[:-1], replace(last, buttons=(*last.buttons, back)))
        return Turn(replies, turn.state, events)

    def _without_announcements(self, state: ConversationState, inbound: Inbound) -> Turn:
        """The turn as usual, minus every promise of announcements: no "🔔" or "general news"
        button, no subscription; asking for them says plainly that this channel gets none and
        where news is told instead. A commune chosen from an older button is noted (it is where
        the citizen lives), without subscribing."""
        turn = self.step(state, inbound)
        lang = turn.state.lang if turn.state.lang in self.ready else SOURCE_LANG
        t = self.t.gettext
        honest = t(lang, "Loa does not send announcements through this web page. News about "
                   "the end of 2G is read on the loudspeakers of your commune or ward; to know "
                   "more, ask the People's Committee of your commune or ward. You can ask Loa "
                   "here any time.")
        replies = tuple(replace(r, buttons=tuple(
            row for row in (tuple(b for b in row if b.choice not in _SUBSCRIBE_BUTTONS)
                            for row in r.buttons)
            if row)) for r in turn.replies)
        new_state = turn.state
        if turn.state.flow == SUBSCRIBE_FLOW and state.flow != SUBSCRIBE_FLOW:   # asked
            replies = (Reply(honest, ((self._menu_button(lang),),)),)
            new_state = replace(turn.state, flow=None)
        elif turn.state.subscribed and not state.subscribed:     # a commune was chosen
            place = self.subscriptions.names.get(turn.state.commune or "", "")
            noted = t(lang, "Noted: {place}.", place=place) if place else ""
            replies = (replace(replies[0], text=f"{noted}\n{honest}".strip()), *replies[1:])
            new_state = replace(turn.state, subscribed=False)
        return replace(turn, replies=replies, state=new_state)

    # -- the step ----------------------------------------------------------------------------
    def _step(self, state: ConversationState, inbound: Inbound) -> Turn:
        lang = state.lang if state.lang in self.ready else SOURCE_LANG
        t = self.t.gettext
        if inbound.kind is InboundKind.COMMAND:
            command = inbound.text.lower()
            if command == "start":
                greeting = t(lang, "Hello! I am Loa, the helper of Đắk Lắk province about the "
                             "end of 2G mobile service.")
                cleared = replace(state, flow=None, step=0, answers=())
                # Vietnamese first, the language button one tap away: nobody has to pass
                # through a picker before being helped.
                return Turn((self.menu(lang, greeting),), cleared, (Event(RunKind.MENU),))
            if command == "lang":
                if inbound.args.strip():   # "/lang rad", "/lang ê đê": that language
                    return self._choice(state, lang, self._named_language(lang, inbound.args))
                return Turn((self.language_picker(lang),), state, (Event(RunKind.MENU),))
            if command == "help":
                return Turn((self.help(lang),), state, (Event(RunKind.MENU),))
            if command == "stop":
                return self.subscriptions.stop(state, lang)
            return self._to_menu(state, lang)
        if inbound.kind is InboundKind.CHOICE:
            return self._choice(state, lang, inbound.choice)
        if inbound.kind is InboundKind.UNSUPPORTED:
            text = t(lang, "Sorry, I can only read text. Type a number from the menu or a short "
                     "question.")
            return Turn((self.menu(lang, text),), state, (Event(RunKind.OTHER),))
        return self._text(state, lang, clean_input(inbound.text)[:MAX_TEXT])

    def _to_menu(self, state: ConversationState, lang: str) -> Turn:
        return Turn((self.menu(lang),), replace(state, flow=None, step=0, answers=()),
                    (Event(RunKind.MENU),))

    def _choice(self, state: ConversationState, lang: str, choice: str) -> Turn:
        content = self._content(lang)
        subscribed = self.subscriptions.choice(state, lang, choice)
        if subscribed is not None:
            return subscribed
        kind, _, rest = choice.partition(":")
        if kind == "topic" and rest in content.topics:
            cleared = replace(state, flow=None, step=0, answers=())
            return Turn((self.answer(lang, content.topics[rest], state),), cleared,
                        (Event(RunKind.ANSWER, rest, 1.0),))
        if kind == "lang" and rest in self.ready:
            new_state = replace(state, lang=rest)
            return Turn((self.menu(rest),), new_state, (Event(RunKind.MENU),))
        if kind == "lang" and (rest in self.languages or rest in LANGUAGE_NAMES):
            # still being translated (or not yet offered here): said once, then Vietnamese
            name = self.t.gettext(SOURCE_LANG, LANGUAGE_NAMES.get(rest, rest))
            note = self.t.gettext(SOURCE_LANG, "{language}: being translated, Vietnamese for "
                                  "now", language=name)
            return Turn((self.menu(SOURCE_LANG, note),), replace(state, lang=SOURCE_LANG),
                        (Event(RunKind.MENU),))
        if kind in ("langs", "lang"):   # or a language Loa does not know: the list
            return Turn((self.language_picker(lang),), state, (Event(RunKind.MENU),))
        if kind == "help":
            return Turn((self.help(lang),), state, (Event(RunKind.MENU),))
        if kind == CHECK_ID and not rest:
            new_state = replace(state, flow=CHECK_ID, step=0, answers=())
            return Turn((self._check_question(lang, 0, content.check.intro),), new_state,
                        (Event(RunKind.CHECK, CHECK_ID),))
        if kind == CHECK_ID and rest == "resume":   # after a question answered mid-check
            if state.flow == CHECK_ID and state.step < len(content.check.questions):
                return Turn((self._check_question(lang, state.step),), state,
                            (Event(RunKind.CHECK, CHECK_ID),))
            return self._choice(state, lang, CHECK_ID)
        if kind == CHECK_ID and state.flow == CHECK_ID:
            question_id, _, option = rest.partition(":")
            questions = content.check.questions
            if state.step < len(questions) and questions[state.step].id == question_id \
                    and option in {o.id for o in questions[state.step].options}:
                return self._check_step(state, lang, option)
            # A button from an earlier question: repeat the current one.
            return Turn((self._check_question(lang, state.step),), state,
                        (Event(RunKind.CHECK, CHECK_ID),))
        return self._to_menu(state, lang)

    def _text(self, state: ConversationState, lang: str, text: str) -> Turn:
        stripped = text.strip()
        if stripped.startswith("/") and len(stripped) > 1:   # a command passed as text
            head, _, args = stripped[1:].partition(" ")
            if head.lower() in COMMANDS:
                command = Inbound(InboundKind.COMMAND, text=head.lower(), args=args.strip())
                return self._step(state, command)
        folded = fold(text)
        content = self._content(lang)
        if folded in START_WORDS and state.flow != SUBSCRIBE_FLOW:
            return self.subscriptions.start(state, lang)
        if folded in STOP_WORDS:
            return self.subscriptions.stop(state, lang)
        if state.flow == SUBSCRIBE_FLOW and folded not in _MENU_WORDS:
            return self.subscriptions.typed(state, lang, text)
        if state.flow == CHECK_ID:
            option = self._check_option_from_text(lang, state, folded)
            if option is not None:
                return self._check_step(state, lang, option)
        if folded in _MENU_WORDS:
            return self._to_menu(state, lang)
        if folded in _HELP_WORDS:
            return Turn((self.help(lang),), state, (Event(RunKind.MENU),))
        language = self._typed_language(lang, folded)
        if language is not None:
            return self._choice(state, lang, language)
        if self._wants_check(lang, folded):
            return self._choice(state, lang, CHECK_ID)
        checking = state.flow == CHECK_ID and state.step < len(content.check.questions)
        typed = self._typed_topic(lang, folded)
        if typed is not None:
            if checking:
                return self._answer_mid_check(state, lang, content.topics[typed], 1.0)
            return self._choice(state, lang, f"topic:{typed}")
        if checking and not folded.isdigit():
            return self._mid_check(state, lang, text)
        if folded.isdigit():
            number = int(folded)
            if 1 <= number <= len(content.menu):
                item = content.menu[number - 1]
                return self._choice(state, lang, CHECK_ID if item == CHECK_ID else f"topic:{item}")
            last = len(content.menu) + (1 if len(self.languages) > 1 else 0)
            if number == last > len(content.menu):   # the language button's number
                return self._choice(state, lang, "langs")
            intro = self.t.gettext(lang, "There is no item {number}. Please choose from 1 to "
                                   "{last}.", number=folded[:6], last=last)
            return Turn((self.menu(lang, intro),), state, (Event(RunKind.MENU),))
        return self._free_text(state, lang, text, folded)

    # -- free text: small talk, then the matcher ----------------------------------------------
    def _free_text(self, state: ConversationState, lang: str, text: str, folded: str) -> Turn:
        content = self._content(lang)
        cleared = replace(state, flow=None, step=0, answers=())
        small = smalltalk_kind(normalize_query(text))
        if folded in _GREETINGS or small is SmallTalk.GREETING:
            hello = self.t.gettext(lang, "Hello! I am Loa, the helper of Đắk Lắk province about "
                                   "the end of 2G mobile service.")
            return Turn((self.menu(lang, hello),), cleared, (Event(RunKind.OTHER),))
        if small is SmallTalk.THANKS:
            reply = Reply(self.t.gettext(lang, "You are welcome! Ask me again any time."),
                          ((self._menu_button(lang),),))
            return Turn((reply,), cleared, (Event(RunKind.OTHER),))
        match = self.matcher.match(text)
        topics = content.topics
        if lang != SOURCE_LANG and not (match.kind is MatchKind.ANSWER and match.topic in topics):
            # Free text is understood in Vietnamese only: the numbered menu and the hotline.
            return Turn((self.menu(lang, content.help_line),), cleared,
                        (Event(RunKind.UNMATCHED, None, match.score),))
        if match.kind is MatchKind.ANSWER and match.topic in topics:
            return Turn((self.answer(lang, topics[match.topic], state),), cleared,
                        (Event(RunKind.ANSWER, match.topic, match.score),))
        # Not answered: counted as an unmatched run; handling keeps the question for review.
        unmatched = (Event(RunKind.UNMATCHED, None, match.score),)
        options = [item for item in match.options if item in topics]
        if match.kind in (MatchKind.CLARIFY, MatchKind.UNSURE) and options:
            # The most likely topics as buttons (numbered lines on Zalo), never "I only know
            # about 2G" for a question that may well be about it.
            which = self.t.gettext(lang, "Do you want to ask about…?")
            if match.kind is MatchKind.UNSURE:
                unsure = self.t.gettext(lang, "Sorry, I am not sure what you are asking.")
                which = f"{unsure} {which}"
            rows = tuple((Button(topics[item].menu_label, f"topic:{item}"),) for item in options)
            text = which if match.kind is MatchKind.CLARIFY else f"{which}\n{content.help_line}"
            return Turn((Reply(text, (*rows, (self._menu_button(lang),))),), cleared, unmatched)
        if match.kind is MatchKind.OUT_OF_SCOPE:
            other = self.t.gettext(lang, "Sorry, I only know about the end of 2G mobile service "
                                   "and switching to 4G, so I cannot answer this question.")
            return Turn((self.menu(lang, f"{other}\n{content.help_line}"),), cleared, unmatched)
        unsure = self.t.gettext(lang, "Sorry, I am not sure what you are asking.")
        hint = self.t.gettext(lang, "Try a short question, for example: when is 2G switched off?")
        return Turn((self.menu(lang, f"{unsure} {hint}\n{content.help_line}"),), cleared,
                    unmatched)

    def understand(self, text: str) -> Decision:
        """What Loa does with a free-text question, in Vietnamese (`ask --json`, `eval`)."""
        text = clean_input(text)[:MAX_TEXT]
        folded = fold(text)
        small = smalltalk_kind(normalize_query(text))
        if folded in _GREETINGS or small is not None:
            return Decision("smalltalk", None)
        return decision(self.matcher.match(text))
