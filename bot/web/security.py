"""Web hardening shared by every route: security headers on every answer (CSP and no caching on
admin pages, no framing except the chat page the portal embeds, no server version), whether
the browser reached Loa over HTTPS (for the Secure cookie flag), and who may read the
operational detail of /healthz and /metrics (BOT_METRICS_ALLOW, BOT_METRICS_TOKEN)."""
from __future__ import annotations

import hmac
import ipaddress

from aiohttp import web

from bot.settings import Settings
from bot.web.keys import RUNTIME

# Admin pages load scripts and styles only from /static (no inline script: an injected
# <script> does not run); inline style attributes stay allowed, they cannot run code.
ADMIN_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
             "img-src 'self' data:; media-src 'self'; object-src 'none'; base-uri 'none'; "
             "form-action 'self'; frame-ancestors 'none'")
# The chat page and its loader are embedded by the provincial portal (README "Web chat").
EMBEDDABLE = frozenset({"/", "/embed.js"})
SERVER = "Loa"


def _no_store(path: str) -> bool:
    return path == "/admin" or path.startswith(("/admin/", "/api/")) or path in (
        "/healthz", "/metrics")


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: runs for every answer, errors and static files included."""
    headers = response.headers
    headers["Server"] = SERVER        # aiohttp would send "Python/3.x aiohttp/3.x"
    headers["X-Content-Type-Options"] = "nosniff"
    headers.setdefault("Referrer-Policy", "same-origin")
    path = request.path
    if path not in EMBEDDABLE:
        headers["X-Frame-Options"] = "DENY"
    if path == "/admin" or path.startswith("/admin/"):
        headers["Content-Security-Policy"] = ADMIN_CSP
    if _no_store(path):
        headers["Cache-Control"] = "no-store"


def setup_security(app: web.Application) -> None:
    app.on_response_prepare.append(_security_headers)


# -- where the browser is ----------------------------------------------------------------------

def _settings(request: web.Request) -> Settings:
    return request.app[RUNTIME].settings


def client_address(request: web.Request) -> str:
    """The browser's address: the TCP peer, or behind a trusted load balancer
    (BOT_TRUSTED_PROXIES) the last address in X-Forwarded-For that is not a trusted proxy."""
    peer = request.remote or "unknown"
    trusted = set(_settings(request).trusted_proxies)
    if peer not in trusted:
        return peer
    hops = [h.strip() for h in ",".join(request.headers.getall("X-Forwarded-For", []))
            .split(",") if h.strip()]
    for hop in reversed(hops):
        if hop not in trusted:
            return hop[:64]
    return peer


def is_https(request: web.Request) -> bool:
    """The browser talks HTTPS to Loa: BOT_PUBLIC_URL says so, the connection is TLS, or a
    trusted proxy (BOT_TRUSTED_PROXIES) says `X-Forwarded-Proto: https`."""
    settings = _settings(request)
    if settings.public_url.startswith("https://") or request.secure:
        return True
    if (request.remote or "") in set(settings.trusted_proxies):
        proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
        return proto == "https"
    return False


# -- operational detail: /healthz and /metrics -------------------------------------------------

def may_see_detail(request: web.Request) -> bool:
    """Monitoring may read counts, workers and the leader: an address in BOT_METRICS_ALLOW
    (after BOT_TRUSTED_PROXIES) or `Authorization: Bearer <BOT_METRICS_TOKEN>`."""
    settings = _settings(request)
    token = settings.metrics_token
    given = request.headers.get("Authorization", "")
    if token and given.startswith("Bearer ") and hmac.compare_digest(
            given[len("Bearer "):].strip().encode(), token.encode()):
        return True
    try:
        address = ipaddress.ip_address(client_address(request).split("%")[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in ipaddress.ip_network(net) for net in settings.metrics_allow)
