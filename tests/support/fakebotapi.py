"""A local fake of the Telegram Bot API for Loa's tests and benchmarks.

The server speaks the same HTTP protocol as ``https://api.telegram.org``: requests go to
``/bot<token>/<method>`` (GET or POST; query string, JSON, form-urlencoded or multipart bodies)
and every answer is ``{"ok": true, "result": ...}`` or
``{"ok": false, "error_code": N, "description": "..."}``. It binds to 127.0.0.1 only and never
touches the internet.

Typical use with python-telegram-bot (PTB appends the token to ``base_url``)::

    async with FakeBotApi(token="123:ABC") as api:
        async with telegram.Bot(api.token, base_url=api.base_url) as bot:
            api.push_update(text_update(42, "xin chào"))
            updates = await bot.get_updates(timeout=1)
            await bot.send_message(42, "Chào bạn!")
        [call] = await api.wait_for_calls("sendMessage", 1, chat_id=42)

What is modelled (see each handler for details):

* getMe, getUpdates (long polling, offset confirmation, ``allowed_updates`` filtering with
  Telegram's default of leaving out chat_member / message_reaction*, 409 while a webhook is set or
  when a newer getUpdates supersedes a waiting one), setWebhook / deleteWebhook / getWebhookInfo
  (webhook delivery with the secret header, in order, with retries), sendMessage, sendVoice,
  sendAudio, sendPhoto, sendDocument, editMessageText, editMessageReplyMarkup, deleteMessage,
  answerCallbackQuery, sendChatAction, setMyCommands / getMyCommands / deleteMyCommands,
  close / logOut and a few setters that simply return ``true``.
* A few real Telegram validation errors that catch real bugs: text longer than 4096 characters,
  empty text, callback_data longer than 64 bytes, "message is not modified" on a no-op edit,
  answering the same callback query twice, bad chat actions, bad secret tokens, bad commands.
* Failure injection: :meth:`FakeBotApi.block`, :meth:`FakeBotApi.flood`,
  :meth:`FakeBotApi.fail_next` and :attr:`FakeBotApi.delay`.

Known simplifications: parse_mode markup is not parsed (the text is echoed unchanged, and the
4096 limit is only checked for plain text and HTML, with tags stripped); every chat id is valid;
editing or deleting an unknown message succeeds; there is no getFile / file download.

Besides the Bot API, ``/_fake/*`` control endpoints help when the fake runs in another process
(benchmarks, manual tries): ``POST /_fake/updates`` (one update or a list; answers the update ids),
``GET /_fake/sent[?chat_id=N]`` (the messages the bot sent: method, chat, text, button labels),
``GET /_fake/stats`` and ``POST /_fake/reset``.

Run standalone: ``python tests/support/fakebotapi.py --port 8081 --token 123:ABC``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import html
import itertools
import json
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
from aiohttp import web

__all__ = [
    "DATA_DIR",
    "SECRET_HEADER",
    "Call",
    "FakeBotApi",
    "UploadedFile",
    "callback_update",
    "command_update",
    "payload",
    "payload_names",
    "text_update",
]

JSONDict = dict[str, Any]

#: Directory with the captured-style update payloads used by :func:`payload`.
DATA_DIR = Path(__file__).resolve().parents[1] / "data" / "telegram"

#: Header Telegram sends with every webhook request when a secret token was set.
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

# Parameter types, so that form-encoded values (PTB sends strings as-is and JSON-dumps everything
# else) are decoded to what the client meant. Unknown parameters stay strings.
_JSON_PARAMS = frozenset(
    {
        "reply_markup", "entities", "caption_entities", "allowed_updates", "commands", "scope",
        "link_preview_options", "reply_parameters", "media", "results", "options",
        "explanation_entities", "message_ids", "menu_button", "rights", "reaction",
    }
)
_INT_PARAMS = frozenset(
    {
        "chat_id", "message_id", "from_chat_id", "offset", "limit", "timeout", "duration",
        "reply_to_message_id", "message_thread_id", "max_connections", "cache_time", "user_id",
        "until_date", "width", "height", "live_period",
    }
)
_FLOAT_PARAMS = frozenset({"latitude", "longitude", "horizontal_accuracy"})
_BOOL_PARAMS = frozenset(
    {
        "drop_pending_updates", "disable_notification", "protect_content", "show_alert",
        "disable_web_page_preview", "allow_sending_without_reply", "has_spoiler",
        "disable_content_type_detection", "allow_paid_broadcast", "revoke_messages",
        "show_caption_above_media", "is_big",
    }
)

# Methods that post content into a chat. Flood / fail_next / delay apply to these.
# Paid broadcasts (sendMessage allow_paid_broadcast): "up to 1000 messages per second ... for a
# fee of 0.1 Telegram Stars per message" (Bot API, https://core.telegram.org/bots/api#sendmessage)
PAID_PER_S = 1000
SEND_METHODS = frozenset({"sendMessage", "sendVoice", "sendAudio", "sendPhoto", "sendDocument"})

# Update types Telegram leaves out unless they are listed in allowed_updates explicitly.
_NOT_DEFAULT_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

_CHAT_ACTIONS = frozenset(
    {
        "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
        "upload_document", "choose_sticker", "find_location", "record_video_note",
        "upload_video_note",
    }
)
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
_TAG_RE = re.compile(r"<[^>]*>")

_MAX_TEXT = 4096
_MAX_CAPTION = 1024
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a content and reply markup of the current message"
)
_CONFLICT_WEBHOOK = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
_CONFLICT_POLL = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)

# Media kinds: (file_id prefix, default mime type).
_MEDIA = {
    "voice": ("AwACAgUAAxkDAAI", "audio/ogg"),
    "audio": ("CQACAgUAAxkDAAI", "audio/mpeg"),
    "photo": ("AgACAgUAAxkDAAI", "image/jpeg"),
    "document": ("BQACAgUAAxkDAAI", "application/octet-stream"),
}


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """A file part of a multipart request. Only metadata is kept, never the content."""

    field: str
    filename: str | None
    size: int
    content_type: str | None


@dataclass(slots=True)
class Call:
    """One Bot API request as the fake saw it.

    ``params`` are decoded: numbers are ints, flags are bools, JSON parameters such as
    ``reply_markup`` are dicts/lists and uploaded files are :class:`UploadedFile`. ``status`` is the
    HTTP status the fake answered with, ``result`` the ``result`` it returned (None on errors) and
    ``at`` the time when the request arrived (``time.monotonic()``, or the fake's ``clock``).
    Calls are appended to :attr:`FakeBotApi.calls` when the answer is ready, so a long-polling
    getUpdates shows up when it returns.
    """

    method: str
    params: dict[str, Any]
    status: int = 200
    result: Any = None
    at: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == 200


class _ApiError(Exception):
    """Raised by handlers to answer with a Bot API error."""

    def __init__(
        self, status: int, description: str, parameters: JSONDict | None = None
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


@dataclass(slots=True)
class _Described:
    """A successful result that also carries Telegram's top-level ``description``."""

    result: Any
    description: str


def _bad_request(detail: str) -> _ApiError:
    return _ApiError(400, f"Bad Request: {detail}")


def _json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def _response(status: int, body: JSONDict) -> web.Response:
    return web.Response(status=status, body=_json_bytes(body), content_type="application/json")


def _error_body(status: int, description: str, parameters: JSONDict | None = None) -> JSONDict:
    body: JSONDict = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return body


def _coerce(name: str, value: str) -> Any:
    """Decode one string parameter according to its Bot API type."""
    if name in _JSON_PARAMS:
        try:
            return json.loads(value)
        except ValueError:
            return value
    if name in _INT_PARAMS:
        try:
            return int(value)
        except ValueError:
            try:
                return float(value)
            except ValueError:
                return value  # e.g. chat_id="@channelusername"
    if name in _FLOAT_PARAMS:
        try:
            return float(value)
        except ValueError:
            return value
    if name in _BOOL_PARAMS:
        return value.strip().lower() in ("true", "1")
    return value


def _same_chat(a: Any, b: Any) -> bool:
    return a == b or (a is not None and b is not None and str(a) == str(b))


def _update_type(update: JSONDict) -> str:
    for key in update:
        if key != "update_id":
            return key
    return ""


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _visible_len(text: str, parse_mode: Any) -> int | None:
    """Length Telegram would count, or None when we cannot tell (Markdown)."""
    if not parse_mode:
        return len(text)
    if str(parse_mode).lower() == "html":
        return len(html.unescape(_TAG_RE.sub("", text)))
    return None


def _check_reply_markup(markup: Any) -> None:
    if markup is None:
        return
    if not isinstance(markup, dict):
        raise _bad_request("can't parse reply keyboard markup JSON object")
    for row in markup.get("inline_keyboard") or ():
        for button in row:
            data = button.get("callback_data") if isinstance(button, dict) else None
            if data is not None and not 1 <= len(str(data).encode()) <= 64:
                raise _bad_request("BUTTON_DATA_INVALID")


class FakeBotApi:
    """Fake Telegram Bot API server (aiohttp) for one bot token.

    Use as ``async with FakeBotApi() as api:`` or call :meth:`start` / :meth:`stop`.
    All methods must be called from the event loop the server runs on.

    Args:
        token: the only accepted bot token; other tokens get 401 Unauthorized.
        port: TCP port on 127.0.0.1; 0 picks a free one (see :attr:`port`).
        bot_first_name / bot_username: what getMe reports. The bot id is the token's numeric part.
        record: keep every call in :attr:`calls` and sent messages for edits. Turn off in long
            benchmarks to keep memory flat; :attr:`call_counts` is always kept.
        clock: the monotonic time of :attr:`Call.at` and of the flood limits (:meth:`limit`);
            a test on virtual time passes the clock it gives Loa's sender
            (tests/support/clock.py), so the limits are counted on the time Loa paces by.
    """

    def __init__(
        self,
        token: str = "123:ABC",
        *,
        port: int = 0,
        bot_first_name: str = "Loa",
        bot_username: str = "loa_test_bot",
        record: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._token = token
        self.clock = clock
        self._requested_port = port
        self._port: int | None = None
        self.record = record

        bot_id_text = token.split(":", 1)[0]
        self.bot_user: JSONDict = {
            "id": int(bot_id_text) if bot_id_text.isdigit() else 123456789,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
        }

        #: Every call, in the order the answers were produced (only when ``record``).
        self.calls: list[Call] = []
        #: Number of calls per canonical method name (always kept).
        self.call_counts: dict[str, int] = {}
        #: Webhook delivery attempts as (update_id, HTTP status); status 0 = connection error.
        self.webhook_deliveries: list[tuple[int, int]] = []

        #: Seconds of latency added to each send call (see SEND_METHODS).
        self.delay: float = 0.0
        #: Methods that flood / fail_next / delay apply to.
        self.send_methods: set[str] = set(SEND_METHODS)
        #: Webhook retry policy.
        self.webhook_retry_delay: float = 0.05
        self.webhook_max_tries: int = 20
        self.webhook_timeout: float = 10.0

        # Failure injection state.
        self._blocked: set[str] = set()
        self._flood_left = 0
        self._flood_retry_after = 0
        # Telegram-like flood control (see limit()); off until a test turns it on.
        self.global_limit: float | None = None
        self.chat_limit: float | None = None
        self.limit_retry_after = 1
        self._recent: deque[float] = deque()
        self._recent_paid: deque[float] = deque()   # paid broadcasts (allow_paid_broadcast)
        self._recent_by_chat: dict[str, float] = {}
        self._blocked_until = 0.0
        self.flood_answers = 0        # 429s given by the limiter
        self.early_sends = 0          # sends that arrived before a given retry_after expired
        self._fail_left = 0
        self._fail_status = 500
        self._fail_description: str | None = None
        #: Called with (method, params) as each request arrives, before it is answered.
        self.before_call: Callable[[str, JSONDict], None] | None = None
        self._released = asyncio.Event()   # cleared by hold_sends()
        self._released.set()
        self.held = 0                      # send calls held unanswered right now

        # Update queue (unconfirmed updates, oldest first) and long polling.
        self._queue: deque[JSONDict] = deque()
        self._next_update_id = 1000
        self._allowed_updates: list[str] | None = None
        self._poll_generation = 0
        self._poll_waiters: list[asyncio.Future[None]] = []
        self._call_waiters: list[asyncio.Future[None]] = []

        # Webhook.
        self._webhook_url = ""
        self._webhook_secret: str | None = None
        self._webhook_max_connections = 40
        self._webhook_last_error: tuple[int, str] | None = None
        self._webhook_wake: asyncio.Event | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self._delivering = False

        # Chats, messages and files.
        self._chats: dict[str, JSONDict] = {}
        self._last_message_id: dict[str, int] = {}
        self._messages: dict[tuple[str, int], JSONDict] = {}
        self._files: dict[str, JSONDict] = {}
        self._file_counter = itertools.count(1)
        self._callbacks: dict[str, bool] = {}  # callback_query id -> answered
        self._commands: dict[tuple[str, str], list[JSONDict]] = {}

        self._runner: web.ServerRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._closing = False

        handlers: dict[str, Callable[[JSONDict], Awaitable[Any]]] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "sendMessage": self._send_message,
            "sendVoice": self._send_voice,
            "sendAudio": self._send_audio,
            "sendPhoto": self._send_photo,
            "sendDocument": self._send_document,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "sendChatAction": self._send_chat_action,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
        }
        for name in (
            "close", "logOut", "setMyDescription", "setMyShortDescription", "setMyName",
            "setChatMenuButton", "setMessageReaction", "pinChatMessage", "unpinChatMessage",
            "leaveChat",
        ):
            handlers[name] = self._true
        # Telegram method names are case-insensitive.
        self._handlers = {name.lower(): (name, func) for name, func in handlers.items()}

    # ------------------------------------------------------------------ lifecycle

    @property
    def token(self) -> str:
        return self._token

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("FakeBotApi is not started")
        return self._port

    @property
    def url(self) -> str:
        """Server root, e.g. ``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """What to pass as PTB's ``base_url`` (PTB appends the token)."""
        return f"{self.url}/bot"

    async def start(self) -> FakeBotApi:
        server = web.Server(self._handle, access_log=None)
        # Short shutdown timeout: stop() releases long polls itself, nothing should linger.
        self._runner = web.ServerRunner(server, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self._requested_port)
        await site.start()
        self._port = int(self._runner.addresses[0][1])
        self._session = aiohttp.ClientSession()
        self._webhook_wake = asyncio.Event()
        self._webhook_task = asyncio.create_task(self._webhook_loop(), name="fakebotapi-webhook")
        self._closing = False
        return self

    async def stop(self) -> None:
        self._closing = True
        self._released.set()
        self._wake(self._poll_waiters)  # release long polls so the server can shut down quickly
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            await asyncio.gather(self._webhook_task, return_exceptions=True)
            self._webhook_task = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> FakeBotApi:  # noqa: PYI034
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def reset(self) -> None:
        """Forget calls, deliveries, messages, pending updates and injected failures."""
        self.calls.clear()
        self.call_counts.clear()
        self.webhook_deliveries.clear()
        self._queue.clear()
        self._messages.clear()
        self._callbacks.clear()
        self._blocked.clear()
        self._flood_left = self._fail_left = 0
        self.delay = 0.0

    # ------------------------------------------------------------------ failure injection

    def block(self, chat_id: int | str) -> None:
        """Calls targeting this chat answer 403 "Forbidden: bot was blocked by the user"."""
        self._blocked.add(str(chat_id))

    def unblock(self, chat_id: int | str) -> None:
        self._blocked.discard(str(chat_id))

    def flood(self, count: int, retry_after: int) -> None:
        """The next ``count`` send calls answer 429 with ``parameters.retry_after``."""
        self._flood_left = count
        self._flood_retry_after = retry_after

    def hold_sends(self) -> None:
        """Send calls arriving from now on wait unanswered until :meth:`release_sends` (their
        arrival time is the real one): a sender caught in the middle, e.g. to be killed there.
        :attr:`held` counts the calls waiting."""
        self._released.clear()

    def release_sends(self) -> None:
        self._released.set()

    def fail_next(self, count: int, status: int = 500, description: str | None = None) -> None:
        """The next ``count`` send calls answer ``status`` with an error body."""
        self._fail_left = count
        self._fail_status = status
        self._fail_description = description

    # ------------------------------------------------------------------ updates

    def push_update(self, update: JSONDict) -> int:
        """Queue an update for getUpdates or webhook delivery; returns its update_id.

        The dict is copied. A missing update_id, or one not above the last issued id, is replaced
        by the next id (ids start at 1000), so pushing the same payload twice never loses an update.
        """
        update = dict(update)
        update_id = update.get("update_id")
        if not isinstance(update_id, int) or update_id < self._next_update_id:
            update_id = self._next_update_id
            update["update_id"] = update_id
        self._next_update_id = update_id + 1
        self._remember_update(update)
        self._queue.append(update)
        self._wake(self._poll_waiters)
        if self._webhook_url and self._webhook_wake is not None:
            self._webhook_wake.set()
        return update_id

    @property
    def pending_updates(self) -> list[JSONDict]:
        """Updates not yet confirmed (getUpdates) or accepted (webhook)."""
        return list(self._queue)

    async def wait_webhook_idle(self, timeout: float = 5.0) -> None:
        """Wait until no update is waiting for webhook delivery (accepted or given up)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._queue or self._delivering:
            if loop.time() >= deadline:
                raise TimeoutError(
                    f"webhook not idle after {timeout}s: {len(self._queue)} update(s) pending, "
                    f"webhook url={self._webhook_url!r}, "
                    f"last deliveries={self.webhook_deliveries[-5:]}, "
                    f"last error={self._webhook_last_error}"
                )
            await asyncio.sleep(0.005)

    # ------------------------------------------------------------------ inspection

    def sent_messages(self, chat_id: int | str | None = None) -> list[JSONDict]:
        """Params of successful send calls (sendMessage, sendVoice, sendAudio, ...), in order."""
        return [
            c.params
            for c in self.calls
            if c.method in SEND_METHODS
            and c.status == 200
            and (chat_id is None or _same_chat(c.params.get("chat_id"), chat_id))
        ]

    async def wait_for_calls(
        self,
        method: str,
        count: int = 1,
        chat_id: int | str | None = None,
        timeout: float = 5.0,
    ) -> list[Call]:
        """Wait until ``count`` calls of ``method`` (any status; optionally to one chat) were
        answered and return the first ``count`` of them, oldest first, so that
        ``first, second = await api.wait_for_calls("sendMessage", 2)`` is deterministic.

        Raises TimeoutError listing what was received.
        """
        if not self.record:
            raise RuntimeError("wait_for_calls needs FakeBotApi(record=True)")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        wanted = method.lower()
        matched: list[Call] = []
        position = 0
        while True:
            calls = self.calls
            if position > len(calls):  # reset() happened
                position, matched = 0, []
            for call in itertools.islice(calls, position, None):
                if call.method.lower() == wanted and (
                    chat_id is None or _same_chat(call.params.get("chat_id"), chat_id)
                ):
                    matched.append(call)
            position = len(calls)
            if len(matched) >= count:
                return matched[:count]
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(self._describe_wait(method, count, chat_id, timeout, matched))
            waiter: asyncio.Future[None] = loop.create_future()
            self._call_waiters.append(waiter)
            try:
                async with asyncio.timeout(remaining):
                    await waiter
            except TimeoutError:
                pass
            finally:
                if waiter in self._call_waiters:
                    self._call_waiters.remove(waiter)

    def _describe_wait(
        self, method: str, count: int, chat_id: Any, timeout: float, matched: list[Call]
    ) -> str:
        target = f" for chat {chat_id}" if chat_id is not None else ""
        lines = [
            f"timed out after {timeout}s waiting for {count} {method} call(s){target}; "
            f"got {len(matched)}. {len(self.calls)} call(s) received"
            + (", the last ones:" if self.calls else ".")
        ]
        for call in self.calls[-20:]:
            shown = {k: v for k, v in call.params.items() if k in ("chat_id", "text", "offset")}
            lines.append(f"  {call.method} {shown} -> {call.status}")
        return "\n".join(lines)

    # ------------------------------------------------------------------ HTTP layer

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        path = request.path
        if path.startswith("/_fake/"):
            return await self._handle_control(request, path[7:])
        if not path.startswith("/bot"):
            return _response(404, _error_body(404, "Not Found"))
        token, sep, method = path[4:].partition("/")
        if not sep or not method or "/" in method:
            return _response(404, _error_body(404, "Not Found"))
        if token != self._token:
            return _response(401, _error_body(401, "Unauthorized"))
        if request.method not in ("GET", "POST"):
            return _response(405, _error_body(405, "Method Not Allowed"))
        arrived = self.clock()

        try:
            params = await self._read_params(request)
        except _ApiError as exc:
            return _response(exc.status, _error_body(exc.status, exc.description))

        entry = self._handlers.get(method.lower())
        if entry is None:
            self._record(Call(method, params, 404, None, arrived))
            return _response(404, _error_body(404, "Not Found"))
        name, handler = entry
        self.call_counts[name] = self.call_counts.get(name, 0) + 1
        if self.before_call is not None:
            self.before_call(name, params)

        try:
            if name in self.send_methods:
                await self._inject_send_failures()
                self._enforce_limits(params.get("chat_id"),
                                     paid=params.get("allow_paid_broadcast") is True)
            if self._blocked and str(params.get("chat_id")) in self._blocked:
                raise _ApiError(403, "Forbidden: bot was blocked by the user")
            result = await handler(params)
        except _ApiError as exc:
            self._record(Call(name, params, exc.status, None, arrived))
            return _response(exc.status, _error_body(exc.status, exc.description, exc.parameters))

        body: JSONDict = {"ok": True}
        if isinstance(result, _Described):
            body["result"] = result.result
            body["description"] = result.description
            result = result.result
        else:
            body["result"] = result
        self._record(Call(name, params, 200, result, arrived))
        return _response(200, body)

    async def _read_params(self, request: web.BaseRequest) -> JSONDict:
        params: JSONDict = dict(request.query) if request.query_string else {}
        ctype = request.content_type
        if ctype == "multipart/form-data":
            await self._read_multipart(request, params)
        elif request.body_exists:
            raw = await request.read()
            if raw:
                if ctype == "application/json":
                    try:
                        data = json.loads(raw)
                    except ValueError:
                        raise _bad_request("can't parse JSON object") from None
                    if not isinstance(data, dict):
                        raise _bad_request("JSON object expected")
                    params.update(data)
                else:  # application/x-www-form-urlencoded (or no content type)
                    params.update(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        for key, value in params.items():
            if isinstance(value, str):
                params[key] = _coerce(key, value)
        return params

    async def _read_multipart(self, request: web.BaseRequest, params: JSONDict) -> None:
        reader = await request.multipart()
        files: dict[str, UploadedFile] = {}
        while True:
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, aiohttp.BodyPartReader) or not part.name:
                continue
            if part.filename is None:
                data = await part.read(decode=True)
                params[part.name] = bytes(data).decode(part.get_charset("utf-8"), "replace")
                continue
            size = 0
            while chunk := await part.read_chunk():
                size += len(chunk)
            files[part.name] = UploadedFile(
                part.name, part.filename, size, part.headers.get("Content-Type")
            )
        for name, uploaded in files.items():
            params[name] = uploaded
        # PTB may reference uploads as "attach://<name>"; point such params at the file.
        for key, value in list(params.items()):
            if isinstance(value, str) and value.startswith("attach://"):
                uploaded_ref = files.get(value[9:])
                if uploaded_ref is not None:
                    params[key] = uploaded_ref
                    params.pop(value[9:], None)

    async def _handle_control(self, request: web.BaseRequest, action: str) -> web.Response:
        """Tiny helper API for driving the fake from another process."""
        if action == "updates" and request.method == "POST":
            try:
                data = json.loads(await request.read())
            except ValueError:
                return _response(400, _error_body(400, "Bad Request: JSON expected"))
            items = data if isinstance(data, list) else [data]
            if not all(isinstance(item, dict) for item in items):
                return _response(400, _error_body(400, "Bad Request: update objects expected"))
            return _response(200, {"ok": True, "result": [self.push_update(u) for u in items]})
        if action == "stats":
            stats = {
                "call_counts": self.call_counts,
                "pending_updates": len(self._queue),
                "webhook_url": self._webhook_url,
                "webhook_deliveries": len(self.webhook_deliveries),
            }
            return _response(200, {"ok": True, "result": stats})
        if action == "sent":   # what the bot sent, for trying Loa by hand (?chat_id=N)
            chat = request.query.get("chat_id")
            sent = [{"method": c.method, "chat_id": c.params.get("chat_id"),
                     "text": c.params.get("text"),
                     "buttons": [[b.get("text") for b in row] for row in
                                 (c.params.get("reply_markup") or {}).get("inline_keyboard", [])
                                 if isinstance(row, list)]
                     if isinstance(c.params.get("reply_markup"), dict) else []}
                    for c in self.calls
                    if c.status == 200 and c.method in SEND_METHODS | {"editMessageText"}
                    and (chat is None or str(c.params.get("chat_id")) == chat)]
            return _response(200, {"ok": True, "result": sent})
        if action == "reset" and request.method == "POST":
            self.reset()
            return _response(200, {"ok": True, "result": True})
        return _response(404, _error_body(404, "Not Found"))

    # ------------------------------------------------------------------ internals

    def _record(self, call: Call) -> None:
        if self.record:
            self.calls.append(call)
            if self._call_waiters:
                self._wake(self._call_waiters)

    @staticmethod
    def _wake(waiters: list[asyncio.Future[None]]) -> None:
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
        waiters.clear()

    async def _inject_send_failures(self) -> None:
        if not self._released.is_set():
            self.held += 1
            try:
                await self._released.wait()
            finally:
                self.held -= 1
        if self.delay > 0:
            await asyncio.sleep(self.delay)
        if self._fail_left > 0:
            self._fail_left -= 1
            status = self._fail_status
            try:
                description = self._fail_description or HTTPStatus(status).phrase
            except ValueError:
                description = self._fail_description or "Error"
            raise _ApiError(status, description)
        if self._flood_left > 0:
            self._flood_left -= 1
            retry_after = self._flood_retry_after
            raise _ApiError(
                429,
                f"Too Many Requests: retry after {retry_after}",
                {"retry_after": retry_after},
            )

    def limit(self, global_per_s: float | None = 30, per_chat_per_s: float | None = 1,
              retry_after: int = 1) -> None:
        """Answer 429 like Telegram when sends exceed `global_per_s` overall or
        `per_chat_per_s` to one chat; count sends made before the retry_after expired."""
        self.global_limit, self.chat_limit = global_per_s, per_chat_per_s
        self.limit_retry_after = retry_after

    def _enforce_limits(self, chat_id: Any, paid: bool = False) -> None:
        """`paid`: a paid broadcast (allow_paid_broadcast), which Telegram lets through up to
        PAID_PER_S a second whatever the free limit; free sends still count the free one."""
        if self.global_limit is None and self.chat_limit is None:
            return
        now = self.clock()
        if now < self._blocked_until:
            self.early_sends += 1
            raise _ApiError(429, f"Too Many Requests: retry after {self.limit_retry_after}",
                            {"retry_after": self.limit_retry_after})
        recent = self._recent_paid if paid else self._recent
        while recent and now - recent[0] >= 1.0:
            recent.popleft()
        chat = str(chat_id)
        limit = PAID_PER_S if paid else self.global_limit
        over_global = limit is not None and len(recent) >= limit
        last = self._recent_by_chat.get(chat)
        over_chat = (self.chat_limit is not None and last is not None
                     and now - last < 1.0 / self.chat_limit)
        if over_global or over_chat:
            self.flood_answers += 1
            self._blocked_until = now + self.limit_retry_after
            raise _ApiError(429, f"Too Many Requests: retry after {self.limit_retry_after}",
                            {"retry_after": self.limit_retry_after})
        recent.append(now)
        self._recent_by_chat[chat] = now

    def _remember_update(self, update: JSONDict) -> None:
        """Learn chats, message ids and callback ids from an injected update."""
        for key in ("message", "edited_message", "channel_post", "edited_channel_post"):
            message = update.get(key)
            if isinstance(message, dict):
                self._remember_message(message)
        callback = update.get("callback_query")
        if isinstance(callback, dict):
            if "id" in callback:
                self._callbacks.setdefault(str(callback["id"]), False)
            if isinstance(callback.get("message"), dict):
                self._remember_message(callback["message"])
        member = update.get("my_chat_member")
        if isinstance(member, dict) and isinstance(member.get("chat"), dict):
            self._chats[str(member["chat"].get("id"))] = member["chat"]

    def _remember_message(self, message: JSONDict) -> None:
        chat = message.get("chat")
        if not isinstance(chat, dict) or "id" not in chat:
            return
        key = str(chat["id"])
        self._chats[key] = chat
        message_id = message.get("message_id")
        if isinstance(message_id, int) and message_id > self._last_message_id.get(key, 0):
            self._last_message_id[key] = message_id

    def _allowed(self, update: JSONDict) -> bool:
        kind = _update_type(update)
        if self._allowed_updates:
            return kind in self._allowed_updates
        return kind not in _NOT_DEFAULT_UPDATES

    def _chat(self, chat_id: Any) -> JSONDict:
        if chat_id is None or chat_id == "":
            raise _bad_request("chat_id is empty")
        key = str(chat_id)
        chat = self._chats.get(key)
        if chat is None:
            if isinstance(chat_id, int) and chat_id > 0:
                chat = {"id": chat_id, "first_name": "User", "type": "private"}
            elif isinstance(chat_id, int) and key.startswith("-100"):
                chat = {"id": chat_id, "title": "Test supergroup", "type": "supergroup"}
            elif isinstance(chat_id, int):
                chat = {"id": chat_id, "title": "Test group", "type": "group"}
            elif key.startswith("@"):
                chat = {
                    "id": -1000000000000 - (sum(key.encode()) % 10**9),
                    "title": key[1:],
                    "username": key[1:],
                    "type": "channel",
                }
            else:
                raise _bad_request("chat not found")
            self._chats[key] = chat
        return chat

    def _new_message(self, params: JSONDict, content: JSONDict) -> JSONDict:
        chat_id = params.get("chat_id")
        chat = self._chat(chat_id)
        key = str(chat_id)
        message_id = self._last_message_id.get(key, 0) + 1
        self._last_message_id[key] = message_id
        message: JSONDict = {"message_id": message_id}
        if chat.get("type") == "channel":
            message["sender_chat"] = chat
        else:
            message["from"] = self.bot_user
        message["chat"] = chat
        message["date"] = int(time.time())
        reply_to = self._reply_to(params)
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        message.update(content)
        markup = params.get("reply_markup")
        # Telegram only echoes inline keyboards in the returned Message.
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        if self.record:
            self._messages[(key, message_id)] = message
        return message

    def _reply_to(self, params: JSONDict) -> JSONDict | None:
        target = params.get("reply_to_message_id")
        reply_parameters = params.get("reply_parameters")
        if isinstance(reply_parameters, dict):
            target = reply_parameters.get("message_id")
        if target is None:
            return None
        return self._messages.get((str(params.get("chat_id")), target))

    def _file(self, kind: str, value: Any, params: JSONDict) -> JSONDict:
        """File object for an upload, a URL or an existing file_id."""
        if value is None or value == "":
            raise _bad_request(f"there is no {kind} in the request")
        if isinstance(value, str) and not value.startswith(("http://", "https://")):
            known = self._files.get(value)
            if known is not None:
                return dict(known)
            size = None  # a file_id we never issued: accept it, like a file uploaded earlier
            filename = None
            file_id = value
        else:
            size = value.size if isinstance(value, UploadedFile) else 10240
            filename = value.filename if isinstance(value, UploadedFile) else value.rsplit("/")[-1]
            file_id = None
        number = next(self._file_counter)
        prefix, mime_type = _MEDIA[kind]
        unique = base64.urlsafe_b64encode(number.to_bytes(6, "big")).decode()
        if file_id is None:
            file_id = f"{prefix}{unique}ZmFrZWJvdGFwaV9maWxlX2lk"
        obj: JSONDict = {}
        if kind in ("voice", "audio"):
            obj["duration"] = int(params.get("duration") or 0)
        if kind == "audio":
            for field in ("title", "performer"):
                if params.get(field):
                    obj[field] = params[field]
        if filename and kind in ("audio", "document"):
            obj["file_name"] = filename
        if kind == "photo":
            obj.update(width=800, height=600)
        else:
            obj["mime_type"] = mime_type
        obj["file_id"] = file_id
        obj["file_unique_id"] = f"AgAD{unique}"
        if size is not None:
            obj["file_size"] = size
        self._files[file_id] = obj
        return dict(obj)

    def _caption(self, params: JSONDict) -> JSONDict:
        caption = params.get("caption")
        if not caption:
            return {}
        caption = str(caption)
        length = _visible_len(caption, params.get("parse_mode"))
        if length is not None and length > _MAX_CAPTION:
            raise _bad_request("message caption is too long")
        content: JSONDict = {"caption": caption}
        if params.get("caption_entities"):
            content["caption_entities"] = params["caption_entities"]
        return content

    def _checked_text(self, params: JSONDict) -> str:
        text = params.get("text")
        text = "" if text is None else str(text)
        length = _visible_len(text, params.get("parse_mode"))
        if not text.strip() or length == 0:
            raise _bad_request("message text is empty")
        if length is not None and length > _MAX_TEXT:
            raise _bad_request("message is too long")
        return text

    def _stored_message(self, params: JSONDict) -> JSONDict:
        """The message an edit refers to (synthesized when the fake does not know it)."""
        chat = self._chat(params.get("chat_id"))
        message_id = params.get("message_id")
        if not isinstance(message_id, int):
            raise _bad_request("message identifier is not specified")
        key = (str(params.get("chat_id")), message_id)
        message = self._messages.get(key)
        if message is None:
            message = {
                "message_id": message_id,
                "from": self.bot_user,
                "chat": chat,
                "date": int(time.time()),
            }
            if self.record:
                self._messages[key] = message
        return message

    # ------------------------------------------------------------------ webhook delivery

    async def _webhook_loop(self) -> None:
        assert self._webhook_wake is not None
        while True:
            await self._webhook_wake.wait()
            self._webhook_wake.clear()
            while self._webhook_url and self._queue and not self._closing:
                update = self._queue[0]
                if self._allowed(update):
                    self._delivering = True
                    try:
                        finished = await self._deliver(update)
                    finally:
                        self._delivering = False
                    if not finished:
                        break  # webhook removed meanwhile; keep the update for getUpdates
                if self._queue and self._queue[0] is update:
                    self._queue.popleft()

    async def _deliver(self, update: JSONDict) -> bool:
        """POST one update until it is accepted or max tries are used up.

        Returns False when the webhook was deleted meanwhile (the update stays queued).
        """
        assert self._session is not None
        body = _json_bytes(update)
        update_id = int(update["update_id"])
        for attempt in range(self.webhook_max_tries):
            url = self._webhook_url
            if not url:
                return False
            headers = {"Content-Type": "application/json"}
            if self._webhook_secret:
                headers[SECRET_HEADER] = self._webhook_secret
            error = ""
            try:
                async with self._session.post(
                    url,
                    data=body,
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=self.webhook_timeout),
                ) as resp:
                    status = resp.status
                    await resp.read()
                    if not 200 <= status < 300:
                        error = f"Wrong response from the webhook: {status} {resp.reason}"
            except Exception as exc:  # connection refused, timeout, bad URL, ...
                status = 0
                error = f"Connection failed: {exc.__class__.__name__}"
            self.webhook_deliveries.append((update_id, status))
            if not error:
                return True
            self._webhook_last_error = (int(time.time()), error)
            if attempt + 1 < self.webhook_max_tries:
                await asyncio.sleep(self.webhook_retry_delay)
        return True  # given up: Telegram drops the update too

    # ------------------------------------------------------------------ Bot API methods

    async def _true(self, params: JSONDict) -> bool:
        return True

    async def _get_me(self, params: JSONDict) -> JSONDict:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_updates(self, params: JSONDict) -> list[JSONDict]:
        if self._webhook_url:
            raise _ApiError(409, _CONFLICT_WEBHOOK)
        offset = params.get("offset")
        limit = params.get("limit")
        limit = 100 if not isinstance(limit, int) else min(max(limit, 1), 100)
        timeout = params.get("timeout")
        timeout = float(timeout) if isinstance(timeout, int | float) and timeout > 0 else 0.0
        if "allowed_updates" in params and isinstance(params["allowed_updates"], list):
            self._allowed_updates = params["allowed_updates"]  # remembered, like Telegram

        # Confirm (forget) updates before offset; a negative offset keeps only the last -offset.
        queue = self._queue
        if isinstance(offset, int) and offset > 0:
            while queue and queue[0]["update_id"] < offset:
                queue.popleft()
        elif isinstance(offset, int) and offset < 0:
            while len(queue) > -offset:
                queue.popleft()

        # A newer getUpdates terminates an older waiting one with 409, like Telegram.
        self._poll_generation += 1
        generation = self._poll_generation
        self._wake(self._poll_waiters)

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if generation != self._poll_generation:
                raise _ApiError(409, _CONFLICT_POLL)
            if self._webhook_url:
                raise _ApiError(409, _CONFLICT_WEBHOOK)
            batch = self._take(limit)
            remaining = deadline - loop.time()
            if batch or remaining <= 0 or self._closing:
                return batch
            waiter: asyncio.Future[None] = loop.create_future()
            self._poll_waiters.append(waiter)
            try:
                async with asyncio.timeout(remaining):
                    await waiter
            except TimeoutError:
                pass
            finally:
                if waiter in self._poll_waiters:
                    self._poll_waiters.remove(waiter)

    def _take(self, limit: int) -> list[JSONDict]:
        batch: list[JSONDict] = []
        dropped = False
        for update in self._queue:
            if not self._allowed(update):
                dropped = True
                continue
            batch.append(update)
            if len(batch) >= limit:
                break
        if dropped:  # Telegram would never have stored updates of types not asked for
            self._queue = deque(u for u in self._queue if self._allowed(u))
        return batch

    async def _set_webhook(self, params: JSONDict) -> _Described:
        url = str(params.get("url") or "")
        if not url:
            return await self._delete_webhook(params)
        if not url.startswith(("http://", "https://")):
            raise _bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and secret != "" and not _SECRET_RE.match(str(secret)):
            raise _bad_request("secret token contains unallowed characters")
        if params.get("drop_pending_updates"):
            self._queue.clear()
        if isinstance(params.get("allowed_updates"), list):
            self._allowed_updates = params["allowed_updates"]
        if isinstance(params.get("max_connections"), int):
            self._webhook_max_connections = params["max_connections"]
        already = url == self._webhook_url and (secret or None) == self._webhook_secret
        self._webhook_url = url
        self._webhook_secret = str(secret) if secret else None
        self._webhook_last_error = None
        self._wake(self._poll_waiters)  # waiting getUpdates now conflict
        if self._webhook_wake is not None:
            self._webhook_wake.set()
        return _Described(True, "Webhook is already set" if already else "Webhook was set")

    async def _delete_webhook(self, params: JSONDict) -> _Described:
        if params.get("drop_pending_updates"):
            self._queue.clear()
        was_set = bool(self._webhook_url)
        self._webhook_url = ""
        self._webhook_secret = None
        return _Described(True, "Webhook was deleted" if was_set else "Webhook is already deleted")

    async def _get_webhook_info(self, params: JSONDict) -> JSONDict:
        info: JSONDict = {
            "url": self._webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._queue),
        }
        if self._webhook_url:
            info["max_connections"] = self._webhook_max_connections
            info["ip_address"] = "127.0.0.1"
            if self._webhook_last_error is not None:
                info["last_error_date"], info["last_error_message"] = self._webhook_last_error
        if self._allowed_updates:
            info["allowed_updates"] = self._allowed_updates
        return info

    async def _send_message(self, params: JSONDict) -> JSONDict:
        self._chat(params.get("chat_id"))
        text = self._checked_text(params)
        _check_reply_markup(params.get("reply_markup"))
        content: JSONDict = {"text": text}
        if params.get("entities"):
            content["entities"] = params["entities"]
        return self._new_message(params, content)

    async def _send_media(self, kind: str, params: JSONDict) -> JSONDict:
        self._chat(params.get("chat_id"))
        _check_reply_markup(params.get("reply_markup"))
        caption = self._caption(params)
        file_obj = self._file(kind, params.get(kind), params)
        if kind == "photo":
            # Telegram answers with several sizes; the last one is the largest.
            small = {**file_obj, "width": 90, "height": 68}
            small["file_id"] = file_obj["file_id"][:-4] + "AAAB"
            small["file_unique_id"] = "AQAD" + file_obj["file_unique_id"][4:]
            small.pop("file_size", None)
            content: JSONDict = {"photo": [small, file_obj]}
        else:
            content = {kind: file_obj}
        content.update(caption)
        return self._new_message(params, content)

    async def _send_voice(self, params: JSONDict) -> JSONDict:
        return await self._send_media("voice", params)

    async def _send_audio(self, params: JSONDict) -> JSONDict:
        return await self._send_media("audio", params)

    async def _send_photo(self, params: JSONDict) -> JSONDict:
        return await self._send_media("photo", params)

    async def _send_document(self, params: JSONDict) -> JSONDict:
        return await self._send_media("document", params)

    async def _edit_message_text(self, params: JSONDict) -> JSONDict | bool:
        text = self._checked_text(params)
        markup = params.get("reply_markup")
        _check_reply_markup(markup)
        if params.get("inline_message_id"):
            return True
        message = self._stored_message(params)
        inline = markup if isinstance(markup, dict) and "inline_keyboard" in markup else None
        if message.get("text") == text and message.get("reply_markup") == inline:
            raise _bad_request(_NOT_MODIFIED)
        message["text"] = text
        message["edit_date"] = int(time.time())
        if params.get("entities"):
            message["entities"] = params["entities"]
        else:
            message.pop("entities", None)
        # Like Telegram: an edit without reply_markup removes the inline keyboard.
        if inline is None:
            message.pop("reply_markup", None)
        else:
            message["reply_markup"] = inline
        return dict(message)

    async def _edit_message_reply_markup(self, params: JSONDict) -> JSONDict | bool:
        markup = params.get("reply_markup")
        _check_reply_markup(markup)
        if params.get("inline_message_id"):
            return True
        known = (str(params.get("chat_id")), params.get("message_id")) in self._messages
        message = self._stored_message(params)
        inline = markup if isinstance(markup, dict) and "inline_keyboard" in markup else None
        if known and message.get("reply_markup") == inline:
            raise _bad_request(_NOT_MODIFIED)
        message["edit_date"] = int(time.time())
        if inline is None:
            message.pop("reply_markup", None)
        else:
            message["reply_markup"] = inline
        return dict(message)

    async def _delete_message(self, params: JSONDict) -> bool:
        self._chat(params.get("chat_id"))
        if not isinstance(params.get("message_id"), int):
            raise _bad_request("message identifier is not specified")
        self._messages.pop((str(params.get("chat_id")), params["message_id"]), None)
        return True

    async def _answer_callback_query(self, params: JSONDict) -> bool:
        query_id = params.get("callback_query_id")
        if not query_id:
            raise _bad_request('parameter "callback_query_id" is required')
        query_id = str(query_id)
        if self._callbacks.get(query_id):
            raise _bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        if query_id in self._callbacks:
            self._callbacks[query_id] = True
        return True

    async def _send_chat_action(self, params: JSONDict) -> bool:
        self._chat(params.get("chat_id"))
        if params.get("action") not in _CHAT_ACTIONS:
            raise _bad_request("wrong parameter action in request")
        return True

    @staticmethod
    def _commands_key(params: JSONDict) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")

    async def _set_my_commands(self, params: JSONDict) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise _bad_request("can't parse commands JSON object")
        for command in commands:
            if not isinstance(command, dict):
                raise _bad_request("can't parse BotCommand JSON object")
            if not _COMMAND_RE.match(str(command.get("command", ""))):
                raise _bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise _bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        self._commands[self._commands_key(params)] = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
        return True

    async def _get_my_commands(self, params: JSONDict) -> list[JSONDict]:
        return list(self._commands.get(self._commands_key(params), []))

    async def _delete_my_commands(self, params: JSONDict) -> bool:
        self._commands.pop(self._commands_key(params), None)
        return True


# ---------------------------------------------------------------------- update builders

_builder_message_ids = itertools.count(1)
_builder_callback_ids = itertools.count(1)
_DEFAULT_GROUP_USER = 5012345678


def _user_dict(
    user_id: int,
    first_name: str,
    username: str | None,
    language_code: str | None,
) -> JSONDict:
    user: JSONDict = {"id": user_id, "is_bot": False, "first_name": first_name}
    if username:
        user["username"] = username
    if language_code:
        user["language_code"] = language_code
    return user


def _chat_dict(chat_id: int, chat_type: str, user: JSONDict, title: str | None) -> JSONDict:
    if chat_type == "private":
        chat: JSONDict = {"id": chat_id, "first_name": user["first_name"]}
        if "username" in user:
            chat["username"] = user["username"]
        chat["type"] = "private"
        return chat
    chat = {"id": chat_id, "title": title or "Loa test group", "type": chat_type}
    if chat_type == "group":
        chat["all_members_are_administrators"] = True
    return chat


def _message_dict(
    chat_id: int,
    *,
    user_id: int | None,
    first_name: str,
    username: str | None,
    message_id: int | None,
    chat_type: str,
    language_code: str | None,
    title: str | None,
) -> JSONDict:
    if user_id is None:
        user_id = chat_id if chat_type == "private" else _DEFAULT_GROUP_USER
    user = _user_dict(user_id, first_name, username, language_code)
    return {
        "message_id": next(_builder_message_ids) if message_id is None else message_id,
        "from": user,
        "chat": _chat_dict(chat_id, chat_type, user, title),
        "date": int(time.time()),
    }


def text_update(
    chat_id: int,
    text: str,
    *,
    user_id: int | None = None,
    first_name: str = "Ama",
    username: str | None = None,
    message_id: int | None = None,
    chat_type: str = "private",
    language_code: str | None = "vi",
    title: str | None = None,
    entities: list[JSONDict] | None = None,
    update_id: int | None = None,
) -> JSONDict:
    """An update with a text message, shaped like Telegram's.

    ``update_id`` is left out unless given (push_update assigns one). For private chats the sender
    id defaults to the chat id; in groups to a fixed user id.
    """
    message = _message_dict(
        chat_id,
        user_id=user_id,
        first_name=first_name,
        username=username,
        message_id=message_id,
        chat_type=chat_type,
        language_code=language_code,
        title=title,
    )
    message["text"] = text
    if entities:
        message["entities"] = entities
    update: JSONDict = {"message": message}
    if update_id is not None:
        update = {"update_id": update_id, **update}
    return update


def command_update(chat_id: int, command: str = "/start", **kwargs: Any) -> JSONDict:
    """A text update whose text starts with a bot command (``/start``, ``/start payload``,
    ``/help@loa_test_bot``), with the ``bot_command`` entity. Accepts text_update's keywords."""
    if not command.startswith("/"):
        raise ValueError(f"a command must start with '/': {command!r}")
    first_word = command.split(maxsplit=1)[0]
    entity = {"offset": 0, "length": _utf16_len(first_word), "type": "bot_command"}
    return text_update(chat_id, command, entities=[entity], **kwargs)


def callback_update(
    chat_id: int,
    data: str,
    *,
    message_id: int = 1,
    user_id: int | None = None,
    first_name: str = "Ama",
    username: str | None = None,
    chat_type: str = "private",
    language_code: str | None = "vi",
    message_text: str = "Bạn muốn hỏi gì?",
    reply_markup: JSONDict | None = None,
    bot_id: int = 123,
    bot_username: str = "loa_test_bot",
    update_id: int | None = None,
) -> JSONDict:
    """An update with a callback_query from pressing an inline button on bot message
    ``message_id`` (whose text is ``message_text``)."""
    if user_id is None:
        user_id = chat_id if chat_type == "private" else _DEFAULT_GROUP_USER
    user = _user_dict(user_id, first_name, username, language_code)
    bot_user = {"id": bot_id, "is_bot": True, "first_name": "Loa", "username": bot_username}
    message: JSONDict = {
        "message_id": message_id,
        "from": bot_user,
        "chat": _chat_dict(chat_id, chat_type, user, None),
        "date": int(time.time()) - 5,
        "text": message_text,
    }
    if reply_markup is None:
        reply_markup = {"inline_keyboard": [[{"text": data, "callback_data": data}]]}
    message["reply_markup"] = reply_markup
    query: JSONDict = {
        "id": str(4382103476623497000 + next(_builder_callback_ids)),
        "from": user,
        "message": message,
        "chat_instance": str(-(6543210987654321000 + abs(chat_id) % 1000)),
        "data": data,
    }
    update: JSONDict = {"callback_query": query}
    if update_id is not None:
        update = {"update_id": update_id, **update}
    return update


def payload_names() -> list[str]:
    """Names accepted by :func:`payload`."""
    return sorted(p.stem for p in DATA_DIR.glob("*.json"))


def payload(name: str) -> JSONDict:
    """A fresh copy of the captured-style update ``tests/data/telegram/<name>.json``."""
    path = DATA_DIR / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"no payload {name!r}; available: {', '.join(payload_names())}")
    data: JSONDict = json.loads(path.read_text(encoding="utf-8"))
    return data


# ---------------------------------------------------------------------- standalone


async def _serve(port: int, token: str) -> None:
    async with FakeBotApi(token=token, port=port) as api:
        print(f"Fake Telegram Bot API listening; base_url={api.base_url}  token={api.token}")
        print(f"Push updates: curl -d @tests/data/telegram/text.json {api.url}/_fake/updates")
        print(f"Read replies: curl {api.url}/_fake/sent")
        print("Ctrl-C to stop.", flush=True)
        await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the fake Telegram Bot API on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default="123:ABC")
    args = parser.parse_args(argv)
    try:
        asyncio.run(_serve(args.port, args.token))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
