"""The web chat: the page the portal embeds, its script and the JSON API it talks to.

Web chat messages are answered in the request itself: stored in the inbox like every channel's
(so a retry is answered again without counting twice), handled at once, and the replies
returned in the response (then marked sent).
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from bot.channels.web import limits as webchat_limits
from bot.channels.web.adapter import NAME as WEB
from bot.channels.web.adapter import BadRequest, validate
from bot.core.i18n import Translator
from bot.delivery.channel import reply_from_json
from bot.delivery.runtime import Runtime
from bot.ops.metrics import METRICS
from bot.store import queries
from bot.store.models import OutboxStatus, utcnow
from bot.store.pseudonym import pseudonymize
from bot.web.admin import add_static
from bot.web.security import client_address

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"   # the chat page, its script and style


@dataclass(frozen=True)
class WebChat:
    runtime: Runtime
    handle: Callable[[int], Awaitable[None]]   # handles one stored message now
    limits: webchat_limits.Limits


WEBCHAT = web.AppKey("webchat", WebChat)
_dumps = functools.partial(json.dumps, ensure_ascii=False)


def _json(data: object, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=_dumps)


def errors(translator: Translator) -> dict[str, str]:
    """What the web chat shows when it cannot answer (also the API's 500 message)."""
    t = translator.gettext
    return {
        "bad": t("vi", "Your message could not be read. Please reload the page and try again."),
        "too_long": t("vi", "Your message is too long. Please write at most 2000 characters."),
        "empty": t("vi", "Please type a question or a number."),
        "rate": t("vi", "Too many messages from your connection. Please wait a while and ask "
                  "again, or call your carrier's free hotline."),
        "busy": t("vi", "Loa is busy. Please try again in a moment."),
    }


async def index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "index.html")


async def embed_js(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "embed.js")


async def chat(request: web.Request) -> web.Response:
    chat_ = request.app[WEBCHAT]
    services = chat_.runtime
    errors_ = errors(services.translator)
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return _json({"error": errors_["too_long"]}, status=413)
    try:
        message = validate(body, errors_, services.conversation.command_names)
    except BadRequest as exc:
        return _json({"error": exc.message}, status=exc.status)
    started = time.monotonic()
    external_id = hashlib.sha256(f"{message.session}:{message.message_id}".encode()).hexdigest()
    settings = services.settings
    pseudonym = pseudonymize(settings.secret_key, WEB, message.session)
    client = webchat_limits.client_key(settings.secret_key, client_address(request))
    try:
        async with services.db.begin() as conn:
            inbox_id = await queries.find_inbox_id(conn, WEB, external_id[:40])
            # A retry of a message already stored is answered again without counting; anything
            # new counts against the session's and the address's limits (in the database, so
            # they hold across processes) and, over them, stores nothing at all.
            if inbox_id is None and not await webchat_limits.admit(
                    conn, chat_.limits, pseudonym,
                    webchat_limits.session_key(settings.secret_key, message.session), client,
                    utcnow()):
                refused = True
            else:
                refused = False
                if inbox_id is None:
                    inbox_id = await queries.insert_inbox(conn, WEB, external_id[:40],
                                                          message.payload)
                if inbox_id is None:   # stored meanwhile by a concurrent retry
                    inbox_id = await queries.find_inbox_id(conn, WEB, external_id[:40])
        if refused:
            return _json({"error": errors_["rate"]}, status=429)
        if inbox_id is None:
            raise SQLAlchemyError("inbox row vanished")
        await chat_.handle(inbox_id)
        async with services.db.begin() as conn:
            rows = await queries.outbox_for_inbox(conn, inbox_id)
            fresh = [r.id for r in rows if r.status != OutboxStatus.SENT]   # not a retry's
            await queries.mark_sent(conn, fresh)
            out = []
            for row in rows:
                reply, _ = reply_from_json(row.payload)
                out.append({"text": reply.text,
                            "buttons": [[{"label": b.label, "choice": b.choice} for b in r]
                                        for r in reply.buttons],
                            "audio": f"/media/{reply.audio}" if reply.audio else None})
    except SQLAlchemyError:
        log.exception("web chat: database error")
        return _json({"error": errors_["busy"]}, status=503)
    request.app[METRICS].observe_web_replies(WEB, len(fresh), time.monotonic() - started)
    return _json({"messages": out})



def setup(app: web.Application, chat_: WebChat) -> None:
    app[WEBCHAT] = chat_
    add_static(app, STATIC)                 # /static/chat.js, chat.css (bot/web/admin.py)
    app.router.add_get("/", index)
    app.router.add_get("/embed.js", embed_js)
    app.router.add_post("/api/chat", chat)
