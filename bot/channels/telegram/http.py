"""An aiohttp transport for python-telegram-bot's Bot (PTB's own is httpx).

PTB supports custom transports through `telegram.request.BaseRequest`; aiohttp is already
Loa's HTTP stack and costs far less CPU per request, which matters when replies are bursty.
"""
from __future__ import annotations

import asyncio
import json
import logging

import aiohttp
import orjson
from telegram.error import NetworkError, TelegramError, TimedOut
from telegram.request import BaseRequest, RequestData

log = logging.getLogger(__name__)


def _seconds(value: object, default: float | None) -> float | None:
    if isinstance(value, int | float):
        return float(value)
    return default


class AiohttpRequest(BaseRequest):
    """One aiohttp ClientSession with a bounded connection pool and timeouts on every call."""

    def __init__(self, connection_pool_size: int = 8, read_timeout: float | None = 15.0,
                 write_timeout: float | None = 15.0, connect_timeout: float | None = 10.0,
                 pool_timeout: float | None = 10.0) -> None:
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._session: aiohttp.ClientSession | None = None

    @staticmethod
    def parse_json_payload(payload: bytes) -> dict:   # type: ignore[type-arg]
        """The Bot API's answer, parsed by orjson (PTB's default is the json module). What
        orjson refuses (a number beyond a double, say, in one update of a getUpdates answer)
        the json module reads as before, so one odd update cannot stall the poller; the
        handler then rejects that update alone."""
        try:
            return orjson.loads(payload)   # type: ignore[no-any-return]
        except ValueError:
            pass
        try:
            return json.loads(payload.decode("utf-8", "replace"))   # type: ignore[no-any-return]
        except ValueError as exc:   # never log the body: it may carry citizens' words
            log.warning("the Bot API answered with invalid JSON (%d bytes)", len(payload))
            raise TelegramError("Invalid server response") from exc

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._pool_size, enable_cleanup_closed=True)
            self._session = aiohttp.ClientSession(connector=connector,
                                                  headers={"User-Agent": self.USER_AGENT})

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         read_timeout: object = BaseRequest.DEFAULT_NONE,
                         write_timeout: object = BaseRequest.DEFAULT_NONE,
                         connect_timeout: object = BaseRequest.DEFAULT_NONE,
                         pool_timeout: object = BaseRequest.DEFAULT_NONE) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            await self.initialize()
        assert self._session is not None
        read = _seconds(read_timeout, self._read_timeout)
        connect = _seconds(connect_timeout, self._connect_timeout)
        pool = _seconds(pool_timeout, self._pool_timeout)
        total = None if read is None else read + (connect or 0) + (pool or 0) + \
            (_seconds(write_timeout, self._write_timeout) or 0)
        timeout = aiohttp.ClientTimeout(total=total, sock_connect=connect, sock_read=read)
        data: aiohttp.FormData | aiohttp.BytesPayload | None = None
        if request_data is not None:
            files = request_data.multipart_data
            if files:
                form = aiohttp.FormData()
                for name, value in request_data.json_parameters.items():
                    form.add_field(name, value)
                for name, (filename, content, mime) in files.items():
                    form.add_field(name, content, filename=filename, content_type=mime)
                data = form
            else:   # the Bot API accepts JSON bodies, which are cheaper to build than forms;
                # one orjson pass over the values (PTB's json_payload encodes each nested
                # value to a string with json.dumps, then the whole again)
                # A ready payload: aiohttp skips looking up which payload class fits bytes
                data = aiohttp.BytesPayload(orjson.dumps(request_data.parameters),
                                            content_type="application/json")
        try:
            async with self._session.request(method, url, data=data,
                                             timeout=timeout) as resp:
                return resp.status, await resp.read()
        except TimeoutError as exc:
            raise TimedOut() from exc
        except asyncio.CancelledError:
            raise
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{exc.__class__.__name__}") from exc
