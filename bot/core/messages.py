"""Channel-neutral message types that cross the boundary between channels and the core."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class InboundKind(StrEnum):
    TEXT = "text"          # free text typed by the citizen
    CHOICE = "choice"      # a button press; `choice` holds the button id, e.g. "topic:timeline"
    COMMAND = "command"    # /start, /menu, /help, /lang; text holds the command name
    UNSUPPORTED = "unsupported"  # sticker, photo, voice, location ...: text is the kind


@dataclass(frozen=True, slots=True)
class Inbound:
    """One thing a citizen did, already parsed by a channel adapter."""

    kind: InboundKind
    text: str = ""
    choice: str = ""
    args: str = ""         # what follows a command, e.g. the code in "/dangky ABC123"


@dataclass(frozen=True, slots=True)
class Button:
    """A button: a label shown to the user and a stable id the core understands."""

    label: str
    choice: str


@dataclass(frozen=True, slots=True)
class Reply:
    """One message to send back. Buttons are rows of buttons."""

    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    audio: str | None = None  # path of an approved voice clip, relative to content/
    document: str | None = None  # absolute path of a file sent after the text (reports)


class RunKind(StrEnum):
    """What a handled inbound was, for the communication-run log."""

    ANSWER = "answer"        # a topic answer was given
    MENU = "menu"            # menu / greeting / help / language screens
    CHECK = "check"          # a step of the "is my phone affected?" check
    VERDICT = "verdict"      # the check ended with a verdict
    UNMATCHED = "unmatched"  # free text Loa could not match
    OTHER = "other"          # unsupported input, small talk


@dataclass(frozen=True, slots=True)
class Event:
    """Something worth recording about a turn (becomes a communication-run row)."""

    kind: RunKind
    topic: str | None = None
    score: float | None = None
    served_language: str | None = None   # language the reply was given in (None: as chosen)


@dataclass(frozen=True, slots=True)
class ConversationState:
    """Per-contact conversation state; persisted by the store as JSON."""

    lang: str | None = None           # chosen language tag; None until chosen
    flow: str | None = None           # "check" while the phone check runs
    step: int = 0                     # index of the current question in the flow
    answers: tuple[str, ...] = ()     # answers given so far in the flow
    subscribed: bool = False          # opted in to announcements
    commune: str | None = None        # commune code the announcements are for

    def to_json(self) -> dict[str, object]:
        return {"lang": self.lang, "flow": self.flow, "step": self.step,
                "answers": list(self.answers), "subscribed": self.subscribed,
                "commune": self.commune}

    @classmethod
    def from_json(cls, data: object) -> ConversationState:
        if not isinstance(data, dict):
            return cls()
        lang = data.get("lang")
        flow = data.get("flow")
        step = data.get("step")
        answers = data.get("answers")
        commune = data.get("commune")
        return cls(
            subscribed=data.get("subscribed") is True,
            commune=commune if isinstance(commune, str) else None,
            lang=lang if isinstance(lang, str) else None,
            flow=flow if isinstance(flow, str) else None,
            step=step if isinstance(step, int) else 0,
            answers=tuple(a for a in answers if isinstance(a, str))
            if isinstance(answers, list) else (),
        )


@dataclass(frozen=True, slots=True)
class Turn:
    """The result of one conversation step."""

    replies: tuple[Reply, ...]
    state: ConversationState
    events: tuple[Event, ...] = field(default_factory=tuple)
