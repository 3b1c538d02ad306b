"""Pseudonymous contact ids: HMAC-SHA256 of the channel user id with the server secret."""
from __future__ import annotations

import hashlib
import hmac


def pseudonymize(secret: str, channel: str, user_key: str) -> str:
    digest = hmac.new(secret.encode(), f"{channel}:{user_key}".encode(), hashlib.sha256)
    return digest.hexdigest()[:32]
