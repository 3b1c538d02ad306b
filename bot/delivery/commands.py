"""The one router for chat commands and buttons that features answer before the citizen
conversation (officer commands, /ghinhan, announcement buttons, poll answers, erasure).

Each chat feature declares the commands it answers (with a one-line help) and the button
prefixes it owns; the router sends each inbound to its owner with the contact's language, and
builds the officers' /canbo list and the citizens' extra /help lines from what is declared, so
a new command cannot be missing from the help. Free text goes to every chat feature in turn
(an open dialog, "xóa dữ liệu"); whatever none answers goes to the conversation.

Which contacts have an open dialog is asked once per batch of events (`Router.prepare`, one
query per feature that keeps dialogs), not once per message: most free text is a citizen's
question, which no feature takes.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.i18n import Translator
from bot.core.messages import InboundKind, Reply
from bot.delivery.channel import Envelope
from bot.store.queries import CONTACT


@dataclass(frozen=True)
class Command:
    """A chat command: typed as /name (or an alias); `help` is a msgid, one line."""

    name: str
    help: str
    officers: bool = True            # listed in /canbo; False: a citizen command, in /help
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Chat:
    """One inbound as a chat feature sees it, inside the batch's transaction."""

    conn: AsyncConnection
    channel: str
    env: Envelope
    pseudonym: str
    lang: str                        # the contact's language ("vi" until they chose one)
    now: dt.datetime
    router: Router                   # for the generated help lists
    # Free text: whether this feature has an open dialog with the contact, as asked at the
    # start of the batch (Router.prepare); None: not known, the feature looks it up.
    expected: bool | None = None


class ChatFeature(Protocol):
    """What a feature answers in the chat. `handle` returns the replies when it answered (no
    communication run is logged for them) or None to let the conversation answer."""

    @property
    def commands(self) -> Sequence[Command]: ...

    @property
    def prefixes(self) -> Sequence[str]: ...       # button choices it owns, e.g. "og:"

    async def handle(self, chat: Chat) -> list[Reply] | None: ...

    def open_dialog(self, contact: Any) -> Any | None:
        """A SQL condition over a row of the `contact` table: this contact has an open dialog
        whose free text the feature takes; None when it keeps no dialogs. Read with the
        contacts of a batch, in the same query (Router.dialog_columns, Router.expecting)."""
        ...


@dataclass
class Expecting:
    """What each feature expects from a batch's contacts (Router.prepare). A contact whose
    message a feature answered, or that sent a command or pressed a button, may have opened
    or closed a dialog in this transaction: from then on its features look it up again."""

    open: dict[int, set[tuple[str, str]]] = field(default_factory=dict)   # by feature index
    changed: set[tuple[str, str]] = field(default_factory=set)

    def of(self, index: int, contact: tuple[str, str]) -> bool | None:
        if contact in self.changed or index not in self.open:
            return None
        return contact in self.open[index]


class Router:
    def __init__(self, features: Sequence[ChatFeature], translator: Translator) -> None:
        self.features = tuple(features)
        self.t = translator
        self._commands: dict[str, ChatFeature] = {}
        self._prefixes: list[tuple[str, ChatFeature]] = []
        for feature in self.features:
            for command in feature.commands:
                for name in (command.name, *command.aliases):
                    if name in self._commands:
                        raise ValueError(f"chat command /{name} is declared twice")
                    self._commands[name] = feature
            for prefix in feature.prefixes:
                if any(prefix.startswith(p) or p.startswith(prefix) for p, _ in self._prefixes):
                    raise ValueError(f"button prefix {prefix!r} overlaps another")
                self._prefixes.append((prefix, feature))
        # Columns to read with a batch's contacts: per feature with dialogs, whether the
        # contact has one open (`expecting` reads them: no query of its own per batch); and
        # what names them, a statement cache key.
        dialogs = [(i, f, f.open_dialog(CONTACT)) for i, f in enumerate(self.features)]
        self.dialog_columns = [condition.label(f"dialog_{i}")
                               for i, _, condition in dialogs if condition is not None]
        self.dialogs_key = tuple((i, type(f).__qualname__)
                                 for i, f, condition in dialogs if condition is not None)

    def commands(self, officers: bool) -> list[Command]:
        return [c for f in self.features for c in f.commands if c.officers == officers]

    def help_lines(self, lang: str, officers: bool) -> str:
        """"/ghinhan — …" lines of the declared commands, in the contact's language."""
        return "\n".join(f"/{c.name} — {self.t.gettext(lang, c.help)}"
                         for c in self.commands(officers))

    def expecting(self, rows: Sequence[Any]) -> Expecting:
        """Which contacts have an open dialog, from contact rows read with `dialog_columns`
        (a contact not yet stored has none)."""
        expecting = Expecting()
        for index, _ in self.dialogs_key:
            name = f"dialog_{index}"
            expecting.open[index] = {(r.channel, r.pseudonym) for r in rows
                                     if getattr(r, name)}
        return expecting

    async def handle(self, conn: AsyncConnection, channel: str, env: Envelope, pseudonym: str,
                     lang: str, now: dt.datetime,
                     expecting: Expecting | None = None) -> list[Reply] | None:
        inbound = env.inbound
        if inbound is None:
            return None
        chat = Chat(conn, channel, env, pseudonym, lang, now, self)
        contact = (channel, pseudonym)
        if inbound.kind is not InboundKind.TEXT and expecting is not None:
            expecting.changed.add(contact)
        if inbound.kind is InboundKind.COMMAND:
            owner = self._commands.get(inbound.text)
            return await owner.handle(chat) if owner is not None else None
        if inbound.kind is InboundKind.CHOICE:
            for prefix, feature in self._prefixes:
                if inbound.choice.startswith(prefix):
                    return await feature.handle(chat)
            return None
        for index, feature in enumerate(self.features):   # free text: an open dialog, "xóa
            # dữ liệu" ...
            known = None if expecting is None else expecting.of(index, contact)
            replies = await feature.handle(chat if known is None
                                           else replace(chat, expected=known))
            if replies is not None:
                if expecting is not None:
                    expecting.changed.add(contact)
                return replies
        return None
