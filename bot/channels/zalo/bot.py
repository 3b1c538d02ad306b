"""Zalo Bot Platform adapter: `POST {base}/bot<token>/<method>`, webhook secret, events, sends.

Updates are `{event_name, message}`, sometimes wrapped in `{ok, result}`; getUpdates returns one
update (or error 408 when there is none). Only private chats are answered.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging

from bot.channels.zalo.common import JsonHttp, Pacer, ReplyRenderer, TransportError, text_inbound
from bot.core.messages import Inbound, InboundKind, Reply
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

NAME = "zalo_bot"
DEFAULT_API = "https://bot-api.zaloplatforms.com"
SECRET_HEADER = "X-Bot-Api-Secret-Token"
NO_UPDATE = 408                     # getUpdates: the long poll ended without an update
_EVENTS = {"message.text.received", "message.image.received", "message.sticker.received",
           "message.unsupported.received"}


class ZaloBotError(Exception):
    """An answer with ok=false."""

    def __init__(self, code: int, description: str, retry_after: float | None = None) -> None:
        super().__init__(f"error {code}")
        self.code = code
        self.description = description
        self.retry_after = retry_after


class ZaloBotApi:
    """The few Bot Platform methods Loa calls; raises ZaloBotError or TransportError."""

    def __init__(self, token: str, base_url: str, http: JsonHttp) -> None:
        self._url = f"{base_url.rstrip('/')}/bot{token}/"
        self.http = http

    async def call(self, method: str, params: dict[str, object] | None = None,
                   timeout: float | None = None) -> object:
        answer = await self.http.post(self._url + method, json_body=params or {}, timeout=timeout)
        data = answer.data
        if isinstance(data, dict) and data.get("ok") is True:
            return data.get("result")
        if isinstance(data, dict):
            code = data.get("error_code")
            parameters = data.get("parameters")
            after = parameters.get("retry_after") if isinstance(parameters, dict) else None
            raise ZaloBotError(code if isinstance(code, int) else answer.status,
                               str(data.get("description") or "")[:200],
                               float(after) if isinstance(after, int | float) else None)
        if answer.status >= 500:
            raise TransportError(f"HTTP {answer.status}")
        raise ZaloBotError(answer.status, "unexpected answer")


def unwrap(data: object) -> dict[str, object]:
    """The update itself, whether or not it came wrapped in {ok, result}."""
    if isinstance(data, dict) and "event_name" not in data and isinstance(data.get("result"),
                                                                          dict):
        data = data["result"]
    if not isinstance(data, dict):
        raise ParseError("update is not a JSON object")
    return data


def _load(payload: bytes) -> dict[str, object]:
    try:
        return unwrap(read_json(payload))
    except ValueError:
        raise ParseError("body is not JSON") from None


def update_id(payload: bytes) -> str:
    """The dedup key of a raw update: its message id, else a digest of the update."""
    update = _load(payload)
    message = update.get("message")
    message_id = message.get("message_id") if isinstance(message, dict) else None
    if isinstance(message_id, str | int) and not isinstance(message_id, bool) \
            and 0 < len(str(message_id)) <= 64:
        return f"m:{message_id}"
    canonical = json.dumps(update, sort_keys=True, ensure_ascii=False).encode()
    return "h:" + hashlib.sha256(canonical).hexdigest()[:60]


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _inbound(event: str, message: dict[str, object]) -> Inbound | None:
    if event == "message.text.received":
        text = _text(message.get("text"))
        return text_inbound(text) if text is not None else None
    if event == "message.image.received":
        caption = _text(message.get("caption")) or _text(message.get("text"))
        # A photo of the phone with a question under it: answer the question.
        return text_inbound(caption) if caption else Inbound(InboundKind.UNSUPPORTED,
                                                              text="photo")
    if event == "message.sticker.received":
        return Inbound(InboundKind.UNSUPPORTED, text="sticker")
    return Inbound(InboundKind.UNSUPPORTED, text="unsupported")


class ZaloBotChannel:
    """Parses Bot Platform updates, checks the webhook secret, sends numbered-text replies."""

    name = NAME

    def __init__(self, api: ZaloBotApi | None, webhook_secret: str, renderer: ReplyRenderer,
                 pacer: Pacer) -> None:
        self.api = api
        self.webhook_secret = webhook_secret
        self.renderer = renderer
        self.pacer = pacer

    def verify(self, headers: dict[str, str], body: bytes) -> bool:
        given = next((v for k, v in headers.items() if k.lower() == SECRET_HEADER.lower()), "")
        return bool(self.webhook_secret) and hmac.compare_digest(
            given.encode(), self.webhook_secret.encode())

    def parse(self, payload: bytes) -> list[Envelope]:
        update = _load(payload)
        event = update.get("event_name")
        message = update.get("message")
        if not isinstance(event, str) or event not in _EVENTS:   # a list is unhashable
            return []                 # unknown events need no answer
        if not isinstance(message, dict):
            raise ParseError("event without a message object")
        sender, chat = message.get("from"), message.get("chat")
        if not isinstance(sender, dict) or not isinstance(chat, dict):
            raise ParseError("message without from or chat")
        user_id, chat_id = sender.get("id"), chat.get("id")
        if not isinstance(user_id, str | int) or not isinstance(chat_id, str | int) \
                or isinstance(user_id, bool) or isinstance(chat_id, bool) \
                or not str(user_id) or not str(chat_id) or len(str(chat_id)) > 128:
            raise ParseError("message without sender or chat id")
        chat_type = str(chat.get("chat_type") or "PRIVATE").upper()
        if chat_type != "PRIVATE" or sender.get("is_bot") is True:
            return []                 # groups: Loa answers private chats only
        inbound = _inbound(event, message)
        if inbound is None:
            return []
        name = sender.get("display_name") or sender.get("name")
        return [Envelope(str(user_id), str(chat_id), inbound,
                         name=name[:120] if isinstance(name, str) else "")]

    async def send(self, address: str, reply: Reply, ack_id: str | None = None, *,
                   bulk: bool = False) -> SendResult:
        if self.api is None:
            return Failed("zalo bot is not configured")
        message_id: str | None = None
        for index, chunk in enumerate(self.renderer.render(reply)):
            await self.pacer.wait()
            try:
                result = await self.api.call("sendMessage", {"chat_id": address, "text": chunk})
            except ZaloBotError as exc:
                return _outcome(exc)
            except TransportError as exc:
                if index:
                    log.warning("zalo_bot: chunk %d of a reply failed; the reply is retried "
                                "whole", index + 1)
                return RetryLater(5.0, f"network: {exc}")
            if isinstance(result, dict) and result.get("message_id") is not None:
                message_id = str(result["message_id"])
        return Sent(message_id)


def _outcome(exc: ZaloBotError) -> SendResult:
    """Map Bot Platform errors to send outcomes; only this adapter knows them."""
    if exc.code == 429:
        return RetryLater(exc.retry_after or 1.0, "rate limited", whole_channel=True)
    if exc.code == 401:
        return Failed("zalo bot token rejected")
    if exc.code == 403:
        return Blocked(f"forbidden: {exc.description[:80]}")
    if exc.code >= 500:
        return RetryLater(5.0, f"server error {exc.code}")
    return Failed(f"zalo error {exc.code}: {exc.description[:120]}")
