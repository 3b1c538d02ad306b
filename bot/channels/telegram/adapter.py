"""Telegram adapter: python-telegram-bot as client and type library (no framework parts)."""
from __future__ import annotations

import hmac
import logging
import os
import re
import warnings
from pathlib import Path

# Opt in to PTB's future behaviour: retry_after and similar values are timedeltas.
os.environ.setdefault("PTB_TIMEDELTA", "1")

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
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


def _message_inbound(message: Message) -> Inbound | None:
    if message.text is not None:
        text = message.text.strip()
        if text.startswith("/") and len(text) > 1:
            head, _, args = text[1:].partition(" ")
            command = head.split("@", 1)[0].lower()
            return Inbound(InboundKind.COMMAND, text=command, args=args.strip()[:200])
        return Inbound(InboundKind.TEXT, text=text)
    if message.caption and message.caption.strip():
        # A photo of the phone with a question under it: answer the question.
        return Inbound(InboundKind.TEXT, text=message.caption.strip())
    for kind in _UNSUPPORTED:
        if getattr(message, kind, None):
            return Inbound(InboundKind.UNSUPPORTED, text=kind)
    return None   # service messages (pinned, joined, ...) need no answer


_TELEGRAM_ID = re.compile(r"-?[0-9]{1,32}")   # what sendMessage takes as chat_id


class TelegramChannel:
    """Parses updates, checks webhook secrets, and sends replies through a telegram.Bot."""

    name = NAME

    def __init__(self, bot: Bot | None, webhook_secret: str = "",
                 media_root: Path | None = None) -> None:
        self.bot = bot
        self.webhook_secret = webhook_secret
        self.media_root = media_root

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
            # PTB builds objects without checking every field: a user without a first
            # name, a non-text "text", a chat without a type ... is a malformed update.
            raise ParseError(f"not a Telegram update ({exc.__class__.__name__})") from None
        # Telegram ids have at most 16 digits; a 300-digit one overflowed the contact's
        # address column on PostgreSQL, so handling failed (with a traceback) three times.
        if any(not _TELEGRAM_ID.fullmatch(e.user_key) or not _TELEGRAM_ID.fullmatch(e.address)
               for e in envelopes):   # e.g. "0x10": accepted by PTB, refused by every send
            raise ParseError("chat or user id out of range")
        return envelopes

    def _parse(self, payload: bytes) -> list[Envelope]:
        try:
            data = read_json(payload)
            update = Update.de_json(data, None)
        except Exception as exc:   # PTB raises assorted errors on malformed nested objects
            raise ParseError(f"not a Telegram update ({exc.__class__.__name__})") from None
        if update.callback_query is not None:
            query = update.callback_query
            chat = query.message.chat.id if query.message is not None else query.from_user.id
            if query.message is not None and query.message.chat.type != "private":
                return []
            return [Envelope(str(query.from_user.id), str(chat),
                             Inbound(InboundKind.CHOICE, choice=(query.data or "")[:64]),
                             ack_id=str(query.id))]
        if update.my_chat_member is not None:
            member = update.my_chat_member
            if member.chat.type == "private" and member.new_chat_member.status == "kicked":
                return [Envelope(str(member.from_user.id), str(member.chat.id), None,
                                 stopped=True)]
            return []
        message = update.message or update.edited_message
        if message is None or message.chat.type != "private" or message.from_user is None:
            return []   # groups, channels and unknown kinds: Loa answers private chats only
        inbound = _message_inbound(message)
        if inbound is None:
            return []
        return [Envelope(str(message.from_user.id), str(message.chat.id), inbound,
                         name=(message.from_user.full_name or "")[:120])]

    async def send(self, address: str, reply: Reply, ack_id: str | None = None) -> SendResult:
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
                                               "reply_markup": markup})
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
