"""Zalo Official Account (Open API v3) adapter: signed webhook events, replies via message/cs.

A webhook is genuine when `X-ZEvent-Signature: mac=<sha256(app_id + raw body + timestamp +
OA secret key)>` matches (compared in constant time on the raw bytes) and its `timestamp` is
recent. Replies need an access token (refreshed once on -216) and a free reply in the user's
window (8 within 48 hours of their last message); both are supplied from outside this module.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from bot.channels.zalo.common import (
    HttpAnswer,
    JsonHttp,
    Pacer,
    ReplyRenderer,
    TransportError,
    text_inbound,
)
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

NAME = "zalo_oa"
DEFAULT_API = "https://openapi.zalo.me"
DEFAULT_OAUTH = "https://oauth.zaloapp.com"
SIGNATURE_HEADER = "X-ZEvent-Signature"
SEND_PATH = "/v3.0/oa/message/cs"
TOKEN_PATH = "/v4/oa/access_token"
INVALID_TOKEN = -216
FUTURE_SKEW_S = 60.0

# What each user event means to the core; the event name is the Inbound's text.
_UNSUPPORTED = {"user_send_audio": "voice", "user_send_location": "location",
                "user_send_sticker": "sticker", "user_send_file": "document",
                "user_send_gif": "animation", "user_send_video": "video",
                "user_send_link": "link", "user_send_business_card": "contact"}
USER_MESSAGE_EVENTS = frozenset({"user_send_text", "user_send_image", *_UNSUPPORTED})


@dataclass(frozen=True, slots=True)
class OAEvent:
    """What the webhook needs before storing an event: its dedup key and its sender."""

    external_id: str
    event_name: str
    user_id: str | None
    at: dt.datetime                  # when Zalo says it happened
    opens_window: bool               # a user message opens the free-reply window


class TokenUnavailable(Exception):
    """No usable OA access token could be obtained (never carries the token itself)."""


class TokenSource(Protocol):
    async def current(self) -> str: ...

    async def refresh(self, stale: str | None) -> str: ...


@dataclass(frozen=True, slots=True)
class Quota:
    granted: bool
    reason: str = ""


class QuotaGate(Protocol):
    async def reserve(self, user_id: str, count: int) -> Quota: ...

    async def release(self, user_id: str, count: int) -> None: ...

    async def record_paid(self, user_id: str, count: int) -> None: ...


def _json(body: bytes) -> dict[str, object]:
    try:
        data = read_json(body)
    except ValueError:
        raise ParseError("body is not JSON") from None
    if not isinstance(data, dict):
        raise ParseError("event is not a JSON object")
    return data


def _timestamp_ms(data: dict[str, object]) -> tuple[str, int]:
    raw = data.get("timestamp")
    text = str(raw) if isinstance(raw, str | int) and not isinstance(raw, bool) else ""
    # ASCII digits only: "²" passes str.isdigit() but int() refuses it (that was a 500).
    if not (text.isascii() and text.isdigit()) or len(text) > 16:
        raise ParseError("event has no numeric timestamp")
    return text, int(text)


def _user_id(data: dict[str, object]) -> str | None:
    for key in ("sender", "follower", "user"):
        who = data.get(key)
        if isinstance(who, dict) and isinstance(who.get("id"), str | int) \
                and not isinstance(who.get("id"), bool) and 0 < len(str(who["id"])) <= 128:
            return str(who["id"])
    return None


def read_event(body: bytes) -> OAEvent:
    """The dedup key, sender and time of a (verified) event; raises ParseError."""
    data = _json(body)
    event = data.get("event_name")
    if not isinstance(event, str) or not event:
        raise ParseError("event has no event_name")
    _, ms = _timestamp_ms(data)
    at = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    message = data.get("message")
    msg_id = message.get("msg_id") if isinstance(message, dict) else None
    if isinstance(msg_id, str | int) and not isinstance(msg_id, bool) \
            and 0 < len(str(msg_id)) <= 64:
        external = f"m:{msg_id}"
    else:   # follow/unfollow: same body and time means the same event
        external = "h:" + hashlib.sha256(body).hexdigest()[:60]
    user = _user_id(data)
    return OAEvent(external, event, user, at, event in USER_MESSAGE_EVENTS and user is not None)


def _inbound(event: str, message: dict[str, object]) -> Inbound:
    text = message.get("text")
    text = text.strip() if isinstance(text, str) else ""
    if event == "user_send_text":
        return text_inbound(text) if text else Inbound(InboundKind.UNSUPPORTED, text="empty")
    if event == "user_send_image":
        # A photo of the phone with a question under it: answer the question.
        return text_inbound(text) if text else Inbound(InboundKind.UNSUPPORTED, text="photo")
    return Inbound(InboundKind.UNSUPPORTED, text=_UNSUPPORTED.get(event, "unsupported"))


class ZaloOAChannel:
    """Verifies and parses OA events; sends replies within the free-reply quota."""

    name = NAME

    def __init__(self, app_id: str, oa_secret_key: str, api_url: str, http: JsonHttp,
                 tokens: TokenSource | None, quota: QuotaGate | None, renderer: ReplyRenderer,
                 pacer: Pacer, *, allow_paid: bool = False, max_age_s: float = 300.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.app_id = app_id
        self.oa_secret_key = oa_secret_key
        self.send_url = api_url.rstrip("/") + SEND_PATH
        self.http = http
        self.tokens = tokens
        self.quota = quota
        self.renderer = renderer
        self.pacer = pacer
        self.allow_paid = allow_paid
        self.max_age_s = max_age_s
        self.clock = clock

    # -- inbound ---------------------------------------------------------------------------
    def signature(self, body: bytes, timestamp: str) -> str:
        material = self.app_id.encode() + body + timestamp.encode() + self.oa_secret_key.encode()
        return hashlib.sha256(material).hexdigest()

    def verify(self, headers: dict[str, str], body: bytes) -> bool:
        """Signature over the raw bytes, then freshness. The JSON is read only for its
        timestamp, which is part of what is signed."""
        if not self.app_id or not self.oa_secret_key:
            return False
        given = next((v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER.lower()),
                     "").strip()
        if given.lower().startswith("mac="):
            given = given[4:]
        try:
            stamp, ms = _timestamp_ms(_json(body))
        except ParseError:
            return False
        if not hmac.compare_digest(given.lower().encode(),
                                   self.signature(body, stamp).encode()):
            return False
        age = self.clock() - ms / 1000
        return -FUTURE_SKEW_S <= age <= self.max_age_s

    def parse(self, payload: bytes) -> list[Envelope]:
        data = _json(payload)
        event = data.get("event_name")
        if not isinstance(event, str):
            raise ParseError("event has no event_name")
        user = _user_id(data)
        if event == "unfollow":
            return [Envelope(user, user, None, stopped=True)] if user else []
        if event == "follow":   # no reply (it would not be free), but the contact exists
            return [Envelope(user, user, None)] if user else []
        if event not in USER_MESSAGE_EVENTS:
            return []           # the OA's own messages, reactions, unknown events
        if user is None:
            raise ParseError("user event without a sender id")
        message = data.get("message")
        return [Envelope(user, user, _inbound(event, message if isinstance(message, dict)
                                              else {}))]

    # -- outbound --------------------------------------------------------------------------
    async def send(self, address: str, reply: Reply, ack_id: str | None = None, *,
                   bulk: bool = False) -> SendResult:
        if self.tokens is None or self.quota is None:
            return Failed("zalo OA sending is not configured")
        chunks = self.renderer.render(reply)
        if not chunks:
            return Sent(None)
        quota = await self.quota.reserve(address, len(chunks))
        paid = False
        if not quota.granted:
            if not self.allow_paid:
                return Failed(f"zalo quota: {quota.reason}; not sent (paid messages are off)")
            paid = True
            log.info("zalo_oa: sending %d paid message(s) outside the free window",
                     len(chunks))
        sent = ambiguous = 0
        result: SendResult = Sent(None)
        for chunk in chunks:
            await self.pacer.wait()
            outcome = await self._send_text(address, chunk)
            if isinstance(outcome, Sent):
                sent += 1
                result = outcome
                continue
            if isinstance(outcome, RetryLater) and outcome.reason.startswith("network"):
                ambiguous = 1         # it may have arrived: keep it counted
            result = outcome
            break
        unused = len(chunks) - sent - ambiguous
        if paid:
            await self.quota.record_paid(address, sent + ambiguous)
        elif unused:
            await self.quota.release(address, unused)
        if not isinstance(result, Sent) and sent:
            log.warning("zalo_oa: %d of %d chunks sent before a failure", sent, len(chunks))
        return result

    async def _send_text(self, user_id: str, text: str) -> SendResult:
        assert self.tokens is not None
        body = {"recipient": {"user_id": user_id}, "message": {"text": text}}
        try:
            token = await self.tokens.current()
            answer = await self.http.post(self.send_url, json_body=body,
                                          headers={"access_token": token})
            if _error(answer) == INVALID_TOKEN:
                token = await self.tokens.refresh(token)
                answer = await self.http.post(self.send_url, json_body=body,
                                              headers={"access_token": token})
        except TokenUnavailable as exc:
            return RetryLater(60.0, f"no access token: {exc}", whole_channel=True)
        except TransportError as exc:
            return RetryLater(5.0, f"network: {exc}")
        return _outcome(answer)


def _error(answer: HttpAnswer) -> int | None:
    data = answer.data
    if isinstance(data, dict) and isinstance(data.get("error"), int):
        return int(data["error"])
    return None


def _outcome(answer: HttpAnswer) -> SendResult:
    """Map OA answers to send outcomes; only this adapter knows Zalo's error codes."""
    code = _error(answer)
    data = answer.data if isinstance(answer.data, dict) else {}
    message = str(data.get("message") or "")[:100]
    if code == 0:
        inner = data.get("data")
        message_id = inner.get("message_id") if isinstance(inner, dict) else None
        return Sent(str(message_id) if message_id is not None else None)
    if code is None:
        if answer.status >= 500 or answer.status == 429:
            return RetryLater(5.0, f"server error {answer.status}")
        return Failed(f"unexpected answer (HTTP {answer.status})")
    if code == INVALID_TOKEN:
        return Failed("access token rejected right after a refresh")
    if code == -32:
        return RetryLater(60.0, "rate limited", whole_channel=True)
    if code == -213:
        return Blocked("user does not follow the OA")
    if code == -230:
        return Failed("user has not interacted with the OA in the last 7 days")
    return Failed(f"zalo error {code}: {message}")
