"""GET /healthz and /metrics: what monitoring reads (README "Operations").

/healthz is 200 when the database answers, every worker of this process is alive and nothing
waits too long; otherwise 503 with `problems` saying what (bot/ops/metrics.py). The detail goes
only to monitoring (bot/web/security.py: may_see_detail); anyone else (a load balancer, a
curious visitor) learns only the status and the code: no counts, worker names or leader.
"""
from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from bot.delivery.outbox import ReplySender
from bot.delivery.runtime import Runtime
from bot.ops.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from bot.ops.metrics import METRICS, lag_problems, read_lag
from bot.store import queries
from bot.web.security import may_see_detail

log = logging.getLogger(__name__)

HEALTH_TIMEOUT_S = 5.0
WORKER_PATHS = ("/healthz", "/metrics")


@dataclass(frozen=True)
class Health:
    runtime: Runtime
    senders: Mapping[str, ReplySender]      # this process's (none in a web-only process)
    intake_channels: tuple[str, ...]        # whose updates wait in the inbox for a worker
    telegram: Callable[[], str]             # "off", "connecting" or "ready"


HEALTH = web.AppKey("health", Health)


async def healthz(request: web.Request) -> web.Response:
    response = await _health(request)
    if may_see_detail(request):
        return response
    status = json.loads(response.text or "{}").get("status", "error")
    return web.json_response({"status": status}, status=response.status)


async def _health(request: web.Request) -> web.Response:
    health = request.app[HEALTH]
    db, cluster = health.runtime.db, health.runtime.cluster
    observed = request.app[METRICS]
    observed.attach(health.senders)
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT_S), db.connect() as conn:
            queues = await queries.count_by_status(conn)
            lag = await read_lag(conn, health.intake_channels, health.senders)
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        log.warning("healthz: database unreachable (%s)", exc.__class__.__name__)
        return web.json_response({"status": "error", "database": "unreachable"}, status=503)
    problems = observed.workers.problems() + lag_problems(lag)
    return web.json_response(
        {"status": "degraded" if problems else "ok", "database": "ok",
         "telegram": health.telegram(), "queues": queues, "workers": observed.workers.states(),
         "lag_s": lag, "problems": problems, "role": health.runtime.settings.role,
         "instance": cluster.instance_id, "leader": cluster.is_leader},
        status=503 if problems else 200)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format; the list of metrics is in the README."""
    health = request.app[HEALTH]
    if not may_see_detail(request):
        raise web.HTTPForbidden(text="403: metrics are for monitoring (BOT_METRICS_ALLOW)")
    body = await request.app[METRICS].render(health.runtime.db, health.intake_channels,
                                             health.senders)
    return web.Response(body=body, headers={"Content-Type": METRICS_CONTENT_TYPE})


async def observe(app: web.Application) -> AsyncIterator[None]:
    """A cleanup_ctx: the senders' outcomes feed the metrics; closed at the end."""
    app[METRICS].attach(app[HEALTH].senders)
    yield
    await app[METRICS].close()


@web.middleware
async def workers_only_middleware(request: web.Request, handler):  # type: ignore[no-untyped-def]
    """`run --workers-only`: only health and metrics answer; the rest is another process's."""
    if request.path not in WORKER_PATHS:
        raise web.HTTPNotFound(text="404: this Loa process runs workers only")
    return await handler(request)


def setup(app: web.Application, health: Health) -> None:
    app[HEALTH] = health
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.cleanup_ctx.append(observe)
