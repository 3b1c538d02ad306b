"""Local fakes of the two Zalo APIs for Loa's tests and benchmarks (aiohttp, 127.0.0.1 only).

FakeZaloBot — the Zalo Bot Platform: ``POST /bot<token>/<method>`` with JSON; answers
``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code": N, "description": ...}``.
getUpdates returns ONE update object, or error 408 when none came within ``timeout`` seconds;
setWebhook wants an https URL (http://127.0.0.1 is allowed for tests) and a secret_token of
8–256 characters, after which updates are POSTed to the webhook with the
``X-Bot-Api-Secret-Token`` header (wrapped in ``{ok, result}`` when ``wrap_webhook``) and
getUpdates is refused. sendMessage checks text is 1–2,000 characters (counted in UTF-16 units,
the strictest reading); sendPhoto, sendSticker and sendChatAction (``typing``) are there too.

FakeZaloOA — the Official Account Open API: ``POST /v3.0/oa/message/cs`` with an
``access_token`` header (a wrong or replaced token gets ``error -216``) and
``POST /v4/oa/access_token`` (header ``secret_key``; form app_id, grant_type=refresh_token,
refresh_token). A refresh token works once; each refresh issues a new pair and invalidates the
old access token; ``expires_in`` is a string, as Zalo sends it. :func:`signed` builds webhook
requests signed like Zalo's (``mac = sha256(app_id + body + timestamp + OA secret key)``).

Failure injection: ``fail_next`` on both, ``block`` (Bot: 403; OA: -213), ``refresh_delay``.
Every request is recorded in ``calls`` (method or path, params, token used, time).
"""
from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

DATA_DIR = Path(__file__).resolve().parents[1] / "data" / "zalo"
BOT_SECRET_HEADER = "X-Bot-Api-Secret-Token"
OA_SIGNATURE_HEADER = "X-ZEvent-Signature"
JSONDict = dict[str, Any]


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass
class Call:
    method: str
    params: JSONDict
    ok: bool = True
    result: Any = None
    token: str | None = None
    at: float = field(default_factory=time.monotonic)


class _Server:
    """Start/stop an aiohttp app on 127.0.0.1."""

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self._runner: web.AppRunner | None = None
        self.calls: list[Call] = []

    def app(self) -> web.Application:
        raise NotImplementedError

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self):  # type: ignore[no-untyped-def]
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def calls_of(self, method: str, **match: Any) -> list[Call]:
        return [c for c in self.calls if c.method == method
                and all(str(c.params.get(k)) == str(v) for k, v in match.items())]

    async def wait_for_calls(self, method: str, count: int, timeout: float = 5.0,
                             **match: Any) -> list[Call]:
        deadline = time.monotonic() + timeout
        while True:
            found = self.calls_of(method, **match)
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(found)} of {count} {method} calls after {timeout} s")
            await asyncio.sleep(0.01)


# -- Bot Platform ----------------------------------------------------------------------------

class FakeZaloBot(_Server):
    def __init__(self, token: str = "1234567890:zalo-test-token", port: int = 0, *,
                 wrap_webhook: bool = False, record: bool = True) -> None:
        super().__init__(port)
        self.token = token
        self.wrap_webhook = wrap_webhook
        self.record = record
        self.webhook_url = ""
        self.webhook_secret = ""
        self.updates: deque[JSONDict] = deque()
        self._arrived = asyncio.Event()
        self._failures: deque[tuple[int, str]] = deque()
        self.blocked: set[str] = set()
        self.webhook_deliveries: list[int] = []   # HTTP status of each webhook POST
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self.sent_count = 0
        self._closing = False

    @property
    def base_url(self) -> str:
        return self.url

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        return app

    async def stop(self) -> None:
        self._closing = True
        self._arrived.set()                  # release long polls at once
        for task in list(self._tasks):
            task.cancel()
        await super().stop()

    # control
    def fail_next(self, count: int = 1, error_code: int = 500,
                  description: str = "Internal error") -> None:
        self._failures.extend([(error_code, description)] * count)

    def block(self, chat_id: str) -> None:
        self.blocked.add(str(chat_id))

    def push_update(self, update: JSONDict) -> None:
        """Deliver to the webhook when one is set, else queue for getUpdates."""
        if self.webhook_url:
            task = asyncio.get_running_loop().create_task(self._deliver(update))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            self.updates.append(update)
            self._arrived.set()

    async def _deliver(self, update: JSONDict, tries: int = 5) -> None:
        body = {"ok": True, "result": update} if self.wrap_webhook else update
        async with aiohttp.ClientSession() as http:
            for attempt in range(tries):
                try:
                    async with http.post(self.webhook_url, json=body,
                                         headers={BOT_SECRET_HEADER: self.webhook_secret}) as r:
                        self.webhook_deliveries.append(r.status)
                        if r.status == 200:
                            return
                except aiohttp.ClientError:
                    self.webhook_deliveries.append(0)
                await asyncio.sleep(0.2 * (attempt + 1))

    def sent_texts(self, chat_id: str) -> list[str]:
        return [c.params["text"] for c in self.calls_of("sendMessage", chat_id=chat_id) if c.ok]

    # API
    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.match_info["token"] != self.token:
            return self._error(method, {}, 401, "Unauthorized")
        try:
            params = await request.json() if request.can_read_body else {}
        except ValueError:
            return self._error(method, {}, 400, "Bad Request: body is not JSON")
        if not isinstance(params, dict):
            params = {}
        params.update(request.query)
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return self._error(method, params, 404, "Not Found: method not found")
        if method.startswith("send") and method != "sendChatAction" and self._failures:
            code, description = self._failures.popleft()
            return self._error(method, params, code, description)
        try:
            result = await handler(params)
        except _ApiError as exc:
            return self._error(method, params, exc.code, exc.description)
        self._record(Call(method, params, True, result))
        return web.json_response({"ok": True, "result": result})

    def _record(self, call: Call) -> None:
        if self.record or call.method != "sendMessage":
            self.calls.append(call)

    def _error(self, method: str, params: JSONDict, code: int, description: str) -> web.Response:
        self._record(Call(method, params, False))
        return web.json_response({"ok": False, "error_code": code, "description": description},
                                 status=code if code >= 400 and code != 408 else 200)

    async def _m_getMe(self, params: JSONDict) -> JSONDict:
        return {"id": self.token.split(":", 1)[0], "account_name": "bot.LoaTest",
                "account_type": "BASIC", "can_join_groups": False}

    async def _m_getUpdates(self, params: JSONDict) -> JSONDict:
        if self.webhook_url:
            raise _ApiError(409, "Conflict: webhook is active; delete it to use getUpdates")
        try:
            timeout = min(float(params.get("timeout", 0) or 0), 60.0)
        except (TypeError, ValueError):
            raise _ApiError(400, "Bad Request: timeout must be a number") from None
        deadline = time.monotonic() + timeout
        while not self.updates:
            self._arrived.clear()
            left = deadline - time.monotonic()
            if left <= 0 or self._closing:
                raise _ApiError(408, "Request timeout")
            try:
                async with asyncio.timeout(left):
                    await self._arrived.wait()
            except TimeoutError:
                pass
        return self.updates.popleft()

    async def _m_setWebhook(self, params: JSONDict) -> JSONDict:
        url, secret = str(params.get("url") or ""), str(params.get("secret_token") or "")
        if not (url.startswith("https://") or url.startswith("http://127.0.0.1")):
            raise _ApiError(400, "Bad Request: url must be HTTPS")
        if not 8 <= len(secret) <= 256:
            raise _ApiError(400, "Bad Request: secret_token must be 8-256 characters")
        self.webhook_url, self.webhook_secret = url, secret
        return {"url": url, "updated_at": int(time.time() * 1000)}

    async def _m_deleteWebhook(self, params: JSONDict) -> JSONDict:
        self.webhook_url = self.webhook_secret = ""
        return {"url": "", "updated_at": int(time.time() * 1000)}

    async def _m_getWebhookInfo(self, params: JSONDict) -> JSONDict:
        return {"url": self.webhook_url, "updated_at": int(time.time() * 1000)}

    def _chat(self, params: JSONDict) -> str:
        chat = str(params.get("chat_id") or "")
        if not chat:
            raise _ApiError(400, "Bad Request: chat_id is required")
        if chat in self.blocked:
            raise _ApiError(403, "Forbidden: the user blocked the bot")
        return chat

    def _sent(self) -> JSONDict:
        self.sent_count += 1
        return {"message_id": secrets.token_hex(10), "date": int(time.time() * 1000)}

    async def _m_sendMessage(self, params: JSONDict) -> JSONDict:
        self._chat(params)
        text = params.get("text")
        if not isinstance(text, str) or not 1 <= _utf16_len(text) <= 2000:
            raise _ApiError(400, "Bad Request: text must be 1-2000 characters")
        return self._sent()

    async def _m_sendPhoto(self, params: JSONDict) -> JSONDict:
        self._chat(params)
        if not str(params.get("photo") or "").startswith(("http://", "https://")):
            raise _ApiError(400, "Bad Request: photo must be a URL")
        return self._sent()

    async def _m_sendSticker(self, params: JSONDict) -> JSONDict:
        self._chat(params)
        if not params.get("sticker"):
            raise _ApiError(400, "Bad Request: sticker is required")
        return self._sent()

    async def _m_sendChatAction(self, params: JSONDict) -> bool:
        self._chat(params)
        if params.get("action") != "typing":
            raise _ApiError(400, "Bad Request: action must be typing")
        return True


class _ApiError(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


_message_ids = itertools.count(1)


def bot_update(chat_id: str, text: str | None = None, *, event: str = "message.text.received",
               chat_type: str = "PRIVATE", user_id: str | None = None,
               message_id: str | None = None, **extra: Any) -> JSONDict:
    """An update shaped like the Bot Platform's."""
    message: JSONDict = {
        "from": {"id": user_id or chat_id, "display_name": "Ama H'Nhi", "is_bot": False},
        "chat": {"id": chat_id, "chat_type": chat_type},
        "message_id": message_id or f"{next(_message_ids):020x}",
        "date": int(time.time() * 1000),
    }
    if text is not None:
        message["text"] = text
    message.update(extra)
    return {"event_name": event, "message": message}


# -- Official Account -------------------------------------------------------------------------

class FakeZaloOA(_Server):
    def __init__(self, app_id: str = "3608465249409039670", app_secret: str = "app-secret-x1",
                 refresh_token: str = "refresh-0", access_token: str = "access-0",
                 port: int = 0) -> None:
        super().__init__(port)
        self.app_id = app_id
        self.app_secret = app_secret
        self.refresh_token = refresh_token
        self.access_token = access_token
        self.expires_in = "90000"
        self.refresh_delay = 0.0
        self.refreshes = 0
        self.blocked: set[str] = set()
        self._failures: deque[tuple[int, str]] = deque()
        self._generation = itertools.count(1)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v3.0/oa/message/cs", self._send)
        app.router.add_post("/v4/oa/access_token", self._token)
        return app

    def invalidate_access_token(self) -> None:
        """As if Zalo revoked the token early: the next send gets -216."""
        self.access_token = "revoked-" + secrets.token_hex(4)

    def fail_next(self, count: int = 1, error: int = -32, message: str = "Rate limit") -> None:
        self._failures.extend([(error, message)] * count)

    def sends(self, user_id: str | None = None) -> list[Call]:
        return [c for c in self.calls if c.method == "cs" and c.ok
                and (user_id is None or c.params["user_id"] == user_id)]

    def texts(self, user_id: str) -> list[str]:
        return [c.params["text"] for c in self.sends(user_id)]

    async def _send(self, request: web.Request) -> web.Response:
        token = request.headers.get("access_token", "")
        try:
            body = await request.json()
            user_id = str(body["recipient"]["user_id"])
            text = body["message"]["text"]
        except (ValueError, KeyError, TypeError):
            return self._oa_error("cs", {}, token, -201, "Parameters are invalid")
        params = {"user_id": user_id, "text": text}
        if token != self.access_token:
            return self._oa_error("cs", params, token, -216, "Access token is invalid")
        if self._failures:
            return self._oa_error("cs", params, token, *self._failures.popleft())
        if user_id in self.blocked:
            return self._oa_error("cs", params, token, -213, "User has not followed OA")
        if not isinstance(text, str) or not 1 <= _utf16_len(text) <= 2000:
            return self._oa_error("cs", params, token, -201, "Text length is invalid")
        data = {"message_id": secrets.token_hex(16), "user_id": user_id}
        self.calls.append(Call("cs", params, True, data, token))
        return web.json_response({"error": 0, "message": "Success", "data": data})

    def _oa_error(self, method: str, params: JSONDict, token: str, error: int,
                  message: str) -> web.Response:
        self.calls.append(Call(method, params, False, None, token))
        return web.json_response({"error": error, "message": message})

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        params = {k: str(v) for k, v in form.items()}
        self.calls.append(Call("access_token", {"app_id": params.get("app_id"),
                                                "grant_type": params.get("grant_type")}))
        if self.refresh_delay:
            await asyncio.sleep(self.refresh_delay)
        if request.headers.get("secret_key") != self.app_secret \
                or params.get("app_id") != self.app_id:
            return web.json_response({"error": -14002, "error_name": "Invalid app secret"})
        if params.get("grant_type") != "refresh_token" \
                or params.get("refresh_token") != self.refresh_token:
            return web.json_response({"error": -14014, "error_name": "Invalid refresh token",
                                      "error_description": "refresh token is invalid"})
        generation = next(self._generation)
        self.refreshes += 1
        self.access_token = f"access-{generation}-{secrets.token_hex(4)}"
        self.refresh_token = f"refresh-{generation}-{secrets.token_hex(4)}"
        return web.json_response({"access_token": self.access_token,
                                  "refresh_token": self.refresh_token,
                                  "expires_in": self.expires_in})


def signature(app_id: str, body: bytes, timestamp: str, oa_secret_key: str) -> str:
    return hashlib.sha256(app_id.encode() + body + timestamp.encode()
                          + oa_secret_key.encode()).hexdigest()


def oa_event(event_name: str, user_id: str, text: str | None = None, *,
             msg_id: str | None = None, timestamp_ms: int | None = None,
             app_id: str = "3608465249409039670", **extra: Any) -> JSONDict:
    """An OA webhook event shaped like Zalo's (user_send_* with sender/recipient/message)."""
    event: JSONDict = {"app_id": app_id, "user_id_by_app": "55217727971758" + user_id[-4:],
                       "event_name": event_name,
                       "timestamp": str(timestamp_ms or int(time.time() * 1000))}
    if event_name in ("follow", "unfollow"):
        event.update(oa_id="3886132808788086450", follower={"id": user_id}, source="oa_profile")
    else:
        message: JSONDict = {"msg_id": msg_id or secrets.token_hex(16)}
        if text is not None:
            message["text"] = text
        event.update(sender={"id": user_id}, recipient={"id": "3886132808788086450"},
                     message=message)
    event.update(extra)
    return event


def signed(event: JSONDict, app_id: str, oa_secret_key: str) -> tuple[bytes, dict[str, str]]:
    """The body and headers Zalo would POST for `event`."""
    body = json.dumps(event, ensure_ascii=False).encode()
    mac = signature(app_id, body, str(event["timestamp"]), oa_secret_key)
    return body, {OA_SIGNATURE_HEADER: f"mac={mac}", "Content-Type": "application/json"}


def payload(name: str) -> JSONDict:
    """A fresh copy of the captured-shape fixture tests/data/zalo/<name>.json."""
    data: JSONDict = json.loads((DATA_DIR / f"{name}.json").read_text(encoding="utf-8"))
    return data
