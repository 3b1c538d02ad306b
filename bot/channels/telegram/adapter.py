"""Telegram adapter: python-telegram-bot as the client (no framework parts). Updates are read
straight from their JSON and replies sent as the Bot API's JSON: PTB's objects cost more than
the rest of Loa's work on an update (issue 16)."""
from __future__ import annotations

import hmac
import logging
import os
import re
import warnings
from pathlib import Path
from typing import Any

# Opt in to PTB's future behaviour: retry_after and similar values are timedeltas.
os.environ.setdefault("PTB_TIMEDELTA", "1")

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from bot.channels.telegram.http import AiohttpRequest
from bot.core.messages import Inbound, InboundKind, Reply
from bot.core.text import clip
from bot.delivery.channel import (
    Blocked,
    Envelope,
    Failed,
    ParseError,
    RetryLater,
    SendResult,
    Sent,
    read_json,
)

log = logging.getLogger(__name__)
# httpx logs every request URL at INFO, and Bot API URLs contain the token: never let it through.
logging.getLogger("httpx").setLevel(logging.WARNING)
logging.getLogger("httpcore").setLevel(logging.WARNING)

NAME = "telegram"
MAX_TEXT = 4096
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "my_chat_member"]
_UNSUPPORTED = ("sticker", "photo", "voice", "audio", "video", "video_note", "animation",
                "document", "location", "venue", "contact", "poll", "dice", "game", "story")


def make_bot(token: str, base_url: str, concurrency: int = 8) -> Bot:
    """A Bot with bounded timeouts; long polling gets its own connection."""
    request = AiohttpRequest(connection_pool_size=concurrency + 4)
    updates = AiohttpRequest(connection_pool_size=1, read_timeout=40.0)
    return Bot(token, base_url=base_url, request=request, get_updates_request=updates)


def update_id(payload: bytes) -> str:
    """The dedup key of a raw update; raises ParseError when it has none."""
    try:
        data = read_json(payload)
    except ValueError:
        raise ParseError("body is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int) \
            or isinstance(data.get("update_id"), bool) or not 0 <= data["update_id"] < 2**63:
        # a 300-digit id overflowed the dedup key column on PostgreSQL (503 and a traceback)
        raise ParseError("update has no integer update_id")
    return str(data["update_id"])


def _obj(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ParseError(f"not a Telegram update ({what})")
    return value


def _opt_obj(data: dict[str, Any], key: str) -> dict[str, Any] | None:
    value = data.get(key)
    return None if value is None else _obj(value, key)


def _id(value: object, what: str) -> str:
    """A chat or user id as Loa keeps it (checked against _TELEGRAM_ID after parsing)."""
    if isinstance(value, float):   # orjson reads an integer beyond 64 bits as a float
        raise ParseError("chat or user id out of range")
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ParseError(f"not a Telegram update ({what} id)")
    return str(value)


def _str(value: object, what: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ParseError(f"not a Telegram update ({what})")
    return value


def _chat(data: dict[str, Any]) -> tuple[str, object]:
    chat = _obj(data.get("chat"), "chat")
    return _id(chat.get("id"), "chat"), chat.get("type")


def _message_inbound(message: dict[str, Any]) -> Inbound | None:
    text = _str(message.get("text"), "text")
    if text is not None:
        text = text.strip()
        if text.startswith("/") and len(text) > 1:
            head, _, args = text[1:].partition(" ")
            command = head.split("@", 1)[0].lower()
            return Inbound(InboundKind.COMMAND, text=command, args=args.strip()[:200])
        return Inbound(InboundKind.TEXT, text=text)
    caption = _str(message.get("caption"), "caption")
    if caption and caption.strip():
        # A photo of the phone with a question under it: answer the question.
        return Inbound(InboundKind.TEXT, text=caption.strip())
    for kind in _UNSUPPORTED:
        if message.get(kind):
            return Inbound(InboundKind.UNSUPPORTED, text=kind)
    return None   # service messages (pinned, joined, ...) need no answer


def _full_name(user: dict[str, Any]) -> str:
    names = (user.get("first_name"), user.get("last_name"))
    return " ".join(n for n in names if isinstance(n, str) and n)[:120]


_TELEGRAM_ID = re.compile(r"-?[0-9]{1,32}")   # what sendMessage takes as chat_id


class TelegramChannel:
    """Parses updates, checks webhook secrets, and sends replies through a telegram.Bot."""

    name = NAME

    def __init__(self, bot: Bot | None, webhook_secret: str = "",
                 media_root: Path | None = None, paid_broadcast: bool = False) -> None:
        self.bot = bot
        self.webhook_secret = webhook_secret
        self.media_root = media_root
        # Announcements as Telegram's paid broadcasts (BOT_TELEGRAM_PAID_RATE): allowed past
        # the free 30 a second, for 0.1 Telegram Stars each from the bot's balance.
        self.paid_broadcast = paid_broadcast

    def verify(self, headers: dict[str, str], body: bytes) -> bool:
        given = headers.get(SECRET_HEADER, "")
        return bool(self.webhook_secret) and hmac.compare_digest(
            given.encode(), self.webhook_secret.encode())

    def parse(self, payload: bytes) -> list[Envelope]:
        try:
            envelopes = self._parse(payload)
        except ParseError:
            raise
        except (AttributeError, TypeError, ValueError, KeyError) as exc:
            # Whatever the field checks above missed is a malformed update too, never a crash.
            raise ParseError(f"not a Telegram update ({exc.__class__.__name__})") from None
        # Telegram ids have at most 16 digits; a 300-digit one overflowed the contact's
        # address column on PostgreSQL, so handling failed (with a traceback) three times.
        if any(not _TELEGRAM_ID.fullmatch(e.user_key) or not _TELEGRAM_ID.fullmatch(e.address)
               for e in envelopes):   # e.g. "0x10": a string id, refused by every send
            raise ParseError("chat or user id out of range")
        return envelopes

    def _parse(self, payload: bytes) -> list[Envelope]:
        """The few fields Loa uses, read from the JSON as the Bot API documents them
        (https://core.telegram.org/bots/api#update), each checked for its type: building
        python-telegram-bot's Update objects cost more than the rest of handling an update."""
        try:
            data = read_json(payload)
        except ValueError:
            raise ParseError("not a Telegram update (not JSON)") from None
        update = _obj(data, "update")
        if isinstance(update.get("update_id"), bool) or not isinstance(update.get("update_id"),
                                                                       int):
            raise ParseError("not a Telegram update (update_id)")
        query = _opt_obj(update, "callback_query")
        if query is not None:
            user = _id(_obj(query.get("from"), "from").get("id"), "user")
            query_id = _str(query.get("id"), "callback id")
            if not query_id:
                raise ParseError("not a Telegram update (callback id)")
            message = _opt_obj(query, "message")
            chat, kind = _chat(message) if message is not None else (user, "private")
            if kind != "private":
                return []
            choice = _str(query.get("data"), "callback data") or ""
            return [Envelope(user, chat, Inbound(InboundKind.CHOICE, choice=choice[:64]),
                             ack_id=query_id)]
        member = _opt_obj(update, "my_chat_member")
        if member is not None:
            chat, kind = _chat(member)
            user = _id(_obj(member.get("from"), "from").get("id"), "user")
            status = _obj(member.get("new_chat_member"), "new_chat_member").get("status")
            if kind == "private" and status == "kicked":
                return [Envelope(user, chat, None, stopped=True)]
            return []
        message = _opt_obj(update, "message") or _opt_obj(update, "edited_message")
        if message is None:
            return []   # kinds Loa does not answer (channel posts, future ones)
        chat, kind = _chat(message)
        sender = _opt_obj(message, "from")
        if kind != "private" or sender is None:
            return []   # groups, channels and unknown kinds: Loa answers private chats only
        inbound = _message_inbound(message)
        if inbound is None:
            return []
        return [Envelope(_id(sender.get("id"), "user"), chat, inbound,
                         name=_full_name(sender))]

    async def send(self, address: str, reply: Reply, ack_id: str | None = None, *,
                   bulk: bool = False) -> SendResult:
        if self.bot is None:
            return Failed("telegram is not configured")
        if ack_id:
            try:
                await self.bot.answer_callback_query(ack_id)
            except TelegramError:
                pass   # an expired query must not stop the answer itself
        # The keyboard as the Bot API's JSON: PTB's InlineKeyboardMarkup objects cost more
        # to build and serialize than the rest of the send (it is what PTB would send).
        markup = {"inline_keyboard": [[{"text": b.label, "callback_data": b.choice}
                                       for b in row] for row in reply.buttons]} \
            if reply.buttons else None
        try:
            with warnings.catch_warnings():
                # PTB prefers send_message(); the raw call skips building a Message object
                # from the answer, which Loa never reads and which costs more than the send.
                warnings.simplefilter("ignore")
                message = await self.bot.do_api_request(
                    "sendMessage", api_kwargs={"chat_id": int(address),
                                               "text": clip(reply.text, MAX_TEXT),
                                               "reply_markup": markup,
                                               "allow_paid_broadcast": True
                                               if bulk and self.paid_broadcast else None})
        except TelegramError as exc:
            return _outcome(exc)
        if reply.audio and self.media_root is not None:
            await self._send_voice(address, reply.audio)
        if reply.document:
            await self._send_document(address, reply.document)
        message_id = message.get("message_id") if isinstance(message, dict) else None
        return Sent(str(message_id) if message_id is not None else None)

    async def edit(self, address: str, message_id: str, reply: Reply) -> SendResult:
        """Replace a message's text and buttons (used for the live progress message)."""
        if self.bot is None:
            return Failed("telegram is not configured")
        markup = InlineKeyboardMarkup(
            [[InlineKeyboardButton(b.label, callback_data=b.choice) for b in row]
             for row in reply.buttons]) if reply.buttons else None
        try:
            await self.bot.edit_message_text(clip(reply.text, MAX_TEXT), chat_id=int(address),
                                             message_id=int(message_id), reply_markup=markup)
        except BadRequest as exc:
            if "not modified" in exc.message.lower():
                return Sent(message_id)
            return _outcome(exc)
        except TelegramError as exc:
            return _outcome(exc)
        return Sent(message_id)

    async def delete(self, address: str, message_id: str) -> SendResult:
        """Delete a sent message; Telegram allows it for about 48 hours."""
        if self.bot is None:
            return Failed("telegram is not configured")
        try:
            await self.bot.delete_message(int(address), int(message_id))
        except TelegramError as exc:
            return _outcome(exc)
        return Sent(message_id)

    async def _send_document(self, address: str, path: str) -> None:
        """A file (an officer's report) follows its text; a failure must not resend the text."""
        assert self.bot is not None
        try:
            with open(path, "rb") as fh:
                await self.bot.send_document(int(address), document=fh,
                                             filename=Path(path).name)
        except (TelegramError, OSError) as exc:
            log.warning("document %s not sent: %s", Path(path).name, exc.__class__.__name__)

    async def _send_voice(self, address: str, clip_path: str) -> None:
        """The voice clip follows its text; a failure here must not resend the text."""
        assert self.bot is not None and self.media_root is not None
        try:
            with (self.media_root / clip_path).open("rb") as fh:
                await self.bot.send_voice(int(address), voice=fh)
        except (TelegramError, OSError) as exc:
            log.warning("voice clip %s not sent: %s", clip_path, exc.__class__.__name__)


def _outcome(exc: TelegramError) -> SendResult:
    """Map Bot API errors to send outcomes; only this adapter knows Telegram's errors."""
    if isinstance(exc, RetryAfter):
        after = exc.retry_after
        seconds = after.total_seconds() if hasattr(after, "total_seconds") else float(after)
        return RetryLater(seconds, "flood control", whole_channel=True)
    if isinstance(exc, Forbidden):
        return Blocked("forbidden")
    if isinstance(exc, InvalidToken):
        return Failed("invalid token")
    if isinstance(exc, BadRequest):
        return Failed(f"bad request: {exc.message[:120]}")
    if isinstance(exc, TimedOut | NetworkError):
        return RetryLater(5.0, exc.__class__.__name__)
    return Failed(exc.__class__.__name__)
