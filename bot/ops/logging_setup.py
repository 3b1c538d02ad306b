"""Process logging: plain text or one JSON object per line (BOT_LOG_FORMAT), and a filter that
redacts bot tokens and the configured secrets from every record before any handler sees it.

Code never logs citizens' words or tokens (ids only); the filter is the safety net for what
third-party libraries put in messages and tracebacks (a Bot API URL carries the token).
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Iterable

from bot.settings import Settings

REDACTED = "[redacted]"
# A Telegram (or Zalo Bot Platform) token: digits, a colon, 30+ URL-safe characters.
TOKEN = re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{30,}")
MIN_SECRET = 8   # shorter configured values would redact ordinary words
# Attributes every LogRecord has; anything else was passed with extra={...}.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def secrets_of(settings: Settings) -> list[str]:
    """The configured values that must never reach a log."""
    values = [settings.telegram_token, settings.telegram_webhook_secret, settings.secret_key,
              settings.zalo_bot_token, settings.zalo_webhook_secret, settings.zalo_oa_secret_key,
              settings.zalo_app_secret_key, settings.zalo_oa_access_token,
              settings.zalo_oa_refresh_token, settings.metrics_token]
    return [v for v in values if v]


class RedactingFilter(logging.Filter):
    """Replaces tokens and secrets in the message, its arguments, extra fields and traceback.
    Installed on handlers, so it also covers records propagated from library loggers."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        words = sorted({s for s in secrets if len(s) >= MIN_SECRET}, key=len, reverse=True)
        self._secrets = re.compile("|".join(re.escape(w) for w in words)) if words else None

    def redact(self, text: str) -> str:
        text = TOKEN.sub(REDACTED, text)
        return self._secrets.sub(REDACTED, text) if self._secrets is not None else text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:                       # a bad format string: keep what we can
            message = str(record.msg)
        record.msg, record.args = self.redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, self.redact(value))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, the extra
    fields, and the traceback as `exc` when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC)
            .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in out and not key.startswith("_"):
                out[key] = value if isinstance(value, str | int | float | bool | None) \
                    else str(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exc"] = record.exc_text
        if record.stack_info:
            out["stack"] = record.stack_info
        return json.dumps(out, ensure_ascii=False)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
QUIET_AT_DEBUG = ("telegram", "aiosqlite", "asyncio", "hpack")


def make_handler(settings: Settings, stream: object = None) -> logging.Handler:
    """A stream handler (stderr by default) with the configured format and the filter."""
    handler = logging.StreamHandler(stream)  # type: ignore[arg-type]
    handler.setFormatter(JsonFormatter() if settings.log_format == "json"
                         else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(RedactingFilter(secrets_of(settings)))
    return handler


def setup_logging(settings: Settings) -> None:
    """Configure the root logger for `python -m bot run` (replacing earlier handlers)."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(make_handler(settings))
    root.setLevel(settings.log_level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)   # paths may hold tokens
    for name in ("httpx", "httpcore"):      # every request URL; Bot API URLs hold the token
        logging.getLogger(name).setLevel(logging.WARNING)
    if root.getEffectiveLevel() <= logging.DEBUG:
        # At DEBUG python-telegram-bot logs request and update bodies, aiosqlite every SQL
        # statement with its parameters: citizens' words. Loa's own DEBUG logs carry ids.
        for name in QUIET_AT_DEBUG:
            logging.getLogger(name).setLevel(logging.INFO)
