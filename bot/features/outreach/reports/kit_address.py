"""Whether BOT_PUBLIC_URL can be printed as the kit's QR code: a leaflet lives on a wall for
months, so a code pointing at localhost or an office network would fail every citizen who
scans it, and nobody would notice until the paper was out."""
from __future__ import annotations

import ipaddress
from enum import StrEnum
from urllib.parse import urlsplit

# Names that only resolve inside a machine or a local network (RFC 6761, 6762, 8375 and the
# usual office conventions).
LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".lan", ".home.arpa", ".intranet",
                  ".corp", ".localdomain")


class AddressProblem(StrEnum):
    EMPTY = "empty"          # BOT_PUBLIC_URL not set
    NOT_HTTPS = "not_https"  # http:// or another scheme
    LOCAL = "local"          # this machine or a private network
    INVALID = "invalid"      # not a web address a phone can open


def _local_host(host: str) -> bool:
    if host == "localhost" or host.endswith(LOCAL_SUFFIXES):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "." not in host        # a one-word name resolves only on a local network
    return not address.is_global      # loopback, private, link-local, shared, reserved


def address_problem(url: str) -> AddressProblem | None:
    """Why `url` cannot be printed as the QR code's address; None when it can."""
    url = url.strip()
    if not url:
        return AddressProblem.EMPTY
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".").lower()
        parts.port                    # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        return AddressProblem.INVALID
    if parts.scheme.lower() != "https":
        return AddressProblem.NOT_HTTPS
    if not host or parts.username or parts.password or any(c.isspace() for c in url):
        return AddressProblem.INVALID   # credentials never go on paper
    return AddressProblem.LOCAL if _local_host(host) else None


def chat_address(public_url: str) -> str:
    """The web chat's address (the site's root page), as the QR code and the text print it."""
    return public_url.strip().rstrip("/") + "/"
