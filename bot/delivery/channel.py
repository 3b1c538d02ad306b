"""The Channel protocol shared by all adapters, and the outcome of one send."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from bot.core.messages import Button, Inbound, Reply


def read_json(raw: bytes | str) -> Any:
    """JSON that came from outside Loa (a webhook, a web chat request, an API's answer).

    orjson refuses nesting deeper than 1,024 levels whatever the interpreter's recursion
    limit: the standard json module follows sys.getrecursionlimit(), which a library may
    raise, and then 5,000 levels of [[[…]]] went through as a valid update. It also refuses
    NaN, Infinity and lone surrogates. Anything that is not JSON raises ValueError."""
    return orjson.loads(raw)


@dataclass(frozen=True, slots=True)
class Sent:
    message_id: str | None = None


@dataclass(frozen=True, slots=True)
class RetryLater:
    after_s: float
    reason: str = ""
    whole_channel: bool = False   # a flood limit pauses every send on this channel


@dataclass(frozen=True, slots=True)
class Blocked:
    reason: str = "blocked"


@dataclass(frozen=True, slots=True)
class Failed:
    reason: str


SendResult = Sent | RetryLater | Blocked | Failed


@dataclass(frozen=True, slots=True)
class Envelope:
    """One parsed platform event: who sent it, where to answer, and what they did."""

    user_key: str                     # platform user id, pseudonymised before storage
    address: str                      # where replies go (chat id, web session)
    inbound: Inbound | None           # None: nothing to answer (e.g. the user blocked us)
    stopped: bool = False             # the user blocked or left the bot
    ack_id: str | None = None         # e.g. Telegram callback query id to answer
    name: str = ""                    # display name; kept only when an officer registers


class ParseError(ValueError):
    """A payload that is not a valid event of this channel."""


class Channel(Protocol):
    name: str

    def verify(self, headers: dict[str, str], body: bytes) -> bool: ...

    def parse(self, payload: bytes) -> list[Envelope]: ...

    async def send(self, address: str, reply: Reply, ack_id: str | None = None, *,
                   bulk: bool = False) -> SendResult: ...
    # bulk: an announcement (the bulk lane), not a reply; a platform may send those otherwise
    # (Telegram's paid broadcasts)


def reply_to_json(reply: Reply, ack_id: str | None = None) -> str:
    """A reply as the outbox keeps it (orjson: UTF-8 as is, as json.dumps(ensure_ascii=False)
    wrote it, in a fifth of the time)."""
    return orjson.dumps({
        "text": reply.text,
        "buttons": [[{"label": b.label, "choice": b.choice} for b in row]
                    for row in reply.buttons],
        "audio": reply.audio,
        "ack_id": ack_id,
        **({"document": reply.document} if reply.document else {}),
    }).decode()


def reply_from_json(raw: str) -> tuple[Reply, str | None]:
    data = orjson.loads(raw)
    buttons = tuple(tuple(Button(b["label"], b["choice"]) for b in row)
                    for row in data.get("buttons", []))
    return Reply(data["text"], buttons, data.get("audio"),
                 data.get("document")), data.get("ack_id")
