"""No stack trace or token ever reaches a client: an unexpected error is logged (with the
route, never the body) and answered 500 with a plain message; API callers get JSON."""
from __future__ import annotations

import functools
import json
import logging

from aiohttp import web

log = logging.getLogger(__name__)

BUSY = web.AppKey("busy_message", str)


@web.middleware
async def errors_middleware(request: web.Request, handler):  # type: ignore[no-untyped-def]
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        if request.path.startswith("/api/"):
            return web.json_response({"error": request.app[BUSY]}, status=500,
                                     dumps=functools.partial(json.dumps, ensure_ascii=False))
        return web.Response(status=500, text="500: internal error")


def setup_errors(app: web.Application, busy: str) -> None:
    app[BUSY] = busy
    app.middlewares.append(errors_middleware)
