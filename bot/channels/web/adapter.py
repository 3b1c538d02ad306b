"""The web chat adapter: events arrive as validated JSON; replies go back in the HTTP answer."""
from __future__ import annotations

import json
import re
from collections.abc import Collection
from dataclasses import dataclass

from bot.core.messages import Inbound, InboundKind, Reply
from bot.delivery.channel import Envelope, Failed, ParseError, SendResult, read_json

NAME = "web"
MAX_TEXT = 2000
MAX_ARGS = 200           # what follows a typed command, as Telegram's and Zalo's adapters keep
_ID = re.compile(r"^[A-Za-z0-9_-]+$")
_COMMANDS = {"start", "menu", "help", "lang"}


class BadRequest(ValueError):
    """The browser sent something unusable; `message` is shown to the user (Vietnamese)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class WebMessage:
    session: str
    message_id: str
    payload: str   # normalised JSON stored in the inbox


def storable(text: str) -> bool:
    """False for what no database column takes: a lone surrogate (valid JSON as "\\ud800",
    not encodable as UTF-8; it was a 500) or NUL (refused by PostgreSQL text)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def typed_command(text: str, commands: Collection[str]) -> tuple[str, str] | None:
    """("lang", "rad") for "/lang rad" typed in the chat, when `lang` is one of `commands`
    (those /help lists): they work typed on the web as on Telegram and Zalo."""
    text = text.strip()
    if not text.startswith("/") or len(text) < 2 or text[1].isspace():
        return None
    head, _, args = text[1:].partition(" ")
    name = head.lower()
    return (name, args.strip()[:MAX_ARGS]) if name in commands else None


def validate(body: bytes, messages: dict[str, str],
             commands: Collection[str] = ()) -> WebMessage:
    """Check a POST /api/chat body; raises BadRequest with a user-facing message. Typed text
    that is one of `commands` ("/lang rad") is stored as that command."""
    try:
        data = read_json(body)
    except ValueError:
        raise BadRequest(400, messages["bad"]) from None
    if not isinstance(data, dict):
        raise BadRequest(400, messages["bad"])
    session, message_id = data.get("session"), data.get("id")
    if not (isinstance(session, str) and 22 <= len(session) <= 64 and _ID.match(session)):
        raise BadRequest(400, messages["bad"])
    if not (isinstance(message_id, str) and 8 <= len(message_id) <= 64 and _ID.match(message_id)):
        raise BadRequest(400, messages["bad"])
    text, choice, command = data.get("text"), data.get("choice"), data.get("command")
    if any(isinstance(v, str) and not storable(v) for v in (text, choice)):
        raise BadRequest(400, messages["bad"])
    if isinstance(text, str):
        if len(text) > MAX_TEXT:
            raise BadRequest(413, messages["too_long"])
        if not text.strip():
            raise BadRequest(400, messages["empty"])
        command_typed = typed_command(text, commands)
        if command_typed is None:
            body_out = {"text": text}
        else:
            name, args = command_typed
            body_out = {"command": name, **({"args": args} if args else {})}
    elif isinstance(choice, str) and 0 < len(choice) <= 64:
        body_out = {"choice": choice}
    elif isinstance(command, str) and command in _COMMANDS:
        body_out = {"command": command}
    else:
        raise BadRequest(400, messages["bad"])
    payload = json.dumps({"session": session, **body_out}, ensure_ascii=False)
    return WebMessage(session, message_id, payload)


class WebChannel:
    name = NAME
    # Announcements are not delivered to web chat sessions: the chat neither offers nor takes
    # subscriptions here (bot/core/conversation.py, `announcements`).
    announcements = False

    def verify(self, headers: dict[str, str], body: bytes) -> bool:
        return True   # anonymous by design; abuse is limited by rate and size limits

    def parse(self, payload: bytes) -> list[Envelope]:
        try:
            data = read_json(payload)
            session = data["session"]
        except (ValueError, KeyError, TypeError):
            raise ParseError("not a web chat event") from None
        if "text" in data:
            inbound = Inbound(InboundKind.TEXT, text=str(data["text"]))
        elif "choice" in data:
            inbound = Inbound(InboundKind.CHOICE, choice=str(data["choice"]))
        else:
            inbound = Inbound(InboundKind.COMMAND, text=str(data.get("command", "start")),
                              args=str(data.get("args", ""))[:MAX_ARGS])
        return [Envelope(session, session, inbound)]

    async def send(self, address: str, reply: Reply, ack_id: str | None = None, *,
                   bulk: bool = False) -> SendResult:
        return Failed("web replies are delivered in the HTTP answer")
