"""Configuration from BOT_* environment variables (documented in the README)."""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TELEGRAM_API = "https://api.telegram.org/bot"
DEFAULT_ZALO_API = "https://bot-api.zaloplatforms.com"
DEFAULT_ZALO_OA_API = "https://openapi.zalo.me"
DEFAULT_ZALO_OAUTH = "https://oauth.zaloapp.com"


class SettingsError(ValueError):
    """A BOT_* variable has a value Loa cannot use; the message names it."""


def _quiet_hours(raw: str) -> str:
    text = raw.strip()
    if not text or text.lower() in ("off", "none"):
        return ""
    import datetime as dt
    try:
        start, end = (dt.time.fromisoformat(p.strip()) for p in text.split("-", 1))
    except ValueError:
        raise SettingsError(f"BOT_QUIET_HOURS={raw!r} must look like 21:00-07:00 "
                            "(or 'off')") from None
    return f"{start:%H:%M}-{end:%H:%M}"


def _days(env: dict[str, str], name: str, default: tuple[int, ...]) -> tuple[int, ...]:
    """Days of the month, e.g. "10,14"; empty or "off" for none."""
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    if raw.strip().lower() in ("off", "none"):
        return ()
    try:
        days = tuple(sorted({int(p) for p in raw.split(",") if p.strip()}))
    except ValueError:
        raise SettingsError(f"{name}={raw!r} must be days of the month like 10,14") from None
    if not all(1 <= d <= 28 for d in days):
        raise SettingsError(f"{name}={raw!r}: each day must be between 1 and 28")
    return days


# Languages Loa knows (../shared/languages.md): Vietnamese, Ê Đê, J'rai, M'nông (two
# varieties, one configured), and Chăm H'roi and Ba Na of the merged province (off by default).
KNOWN_LANGUAGES = ("vi", "rad", "jra", "cmo", "mng", "hro", "bdq")
MNONG_TAGS = ("cmo", "mng")


def _languages(languages: tuple[str, ...], mnong_tag: str) -> str:
    """Check BOT_LANGUAGES and BOT_MNONG_TAG together; returns the M'nông tag."""
    if mnong_tag not in MNONG_TAGS:
        raise SettingsError(f"BOT_MNONG_TAG={mnong_tag!r} must be cmo (Central Mnong, Bunong) "
                            "or mng (Eastern Mnong)")
    for lang in languages:
        if lang not in KNOWN_LANGUAGES:
            raise SettingsError(f"BOT_LANGUAGES: unknown language {lang!r}; use tags from "
                                f"{', '.join(KNOWN_LANGUAGES)} (M'nông is cmo or mng)")
        if lang in MNONG_TAGS and lang != mnong_tag:
            raise SettingsError(f"BOT_LANGUAGES lists {lang!r} but BOT_MNONG_TAG is "
                                f"{mnong_tag!r}; set BOT_MNONG_TAG={lang}")
    return mnong_tag


ROLES = ("all", "web", "workers")


def _addresses(env: dict[str, str], name: str) -> tuple[str, ...]:
    import ipaddress
    out = []
    for part in env.get(name, "").split(","):
        if part.strip():
            try:
                out.append(str(ipaddress.ip_address(part.strip())))
            except ValueError:
                raise SettingsError(f"{name}: {part.strip()!r} is not an IP address") from None
    return tuple(out)


def _eval_sets(env: dict[str, str]) -> tuple[Path, ...]:
    """BOT_EVAL_SETS: comma-separated JSON Lines files; each must exist (a learned sample is
    refused when the sets cannot be read, so a typo would block every sample)."""
    raw = env.get("BOT_EVAL_SETS", "")
    if not raw.strip():
        return Settings.eval_sets
    paths = tuple(Path(p.strip()) for p in raw.split(",") if p.strip())
    for path in paths:
        if not path.is_file():
            raise SettingsError(f"BOT_EVAL_SETS: {str(path)!r} is not a file (labelled "
                                "questions, one JSON object a line)")
    return paths


def _role(raw: str) -> str:
    role = raw.strip().lower() or "all"
    if role not in ROLES:
        raise SettingsError(f"BOT_ROLE={raw!r} must be all, web or workers")
    return role


def _log_format(raw: str) -> str:
    value = raw.strip().lower() or "text"
    if value not in ("text", "json"):
        raise SettingsError(f"BOT_LOG_FORMAT={raw!r} must be text or json")
    return value


def _int(env: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a whole number") from None
    if not low <= value <= high:
        raise SettingsError(f"{name}={value} must be between {low} and {high}")
    return value


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = ROOT / "data"
    database_url: str = ""
    secret_key: str = field(default="", repr=False)
    content_dir: Path = ROOT / "content"
    locales_dir: Path = ROOT / "locales"
    cache_dir: Path = ROOT / ".cache"     # the trained topic classifier (bot/classifier_cache)
    languages: tuple[str, ...] = ("vi",)
    mnong_tag: str = "cmo"        # M'nông variety: cmo (Central/Bunong) or mng (Eastern)
    unit: str = "Sở Khoa học và Công nghệ tỉnh Đắk Lắk"
    telegram_token: str = field(default="", repr=False)
    telegram_api_url: str = DEFAULT_TELEGRAM_API
    telegram_webhook_url: str = ""
    telegram_webhook_secret: str = field(default="", repr=False)
    send_concurrency: int = 8
    log_level: str = "INFO"
    public_url: str = ""          # how officers' browsers reach Loa (login links)
    telegram_rate: int = 25       # announcements: messages per second, whole bot
    # Telegram's paid broadcasts (sendMessage allow_paid_broadcast: up to 1000 messages/s for
    # 0.1 Telegram Stars each, from the bot's balance): 0 = off; else announcements' rate
    telegram_paid_rate: int = 0
    role: str = "all"             # all | web | workers (several processes, one database)
    trusted_proxies: tuple[str, ...] = ()   # load balancers whose X-Forwarded-For is believed
    quiet_hours: str = "21:00-07:00"   # announcements wait outside these (Vietnam time)
    question_retention_days: int = 90  # unanswered questions kept for review this long
    # Labelled question sets a learned sample must not change the replies to (features/questions)
    eval_sets: tuple[Path, ...] = (ROOT / "tests" / "data" / "questions.jsonl",)
    retention_days: int = 90           # free text (inbox, outbox) kept this long (bot/retention)
    # Web chat limits (bot/channels/web/limits.py), counted in the database for all processes.
    webchat_session_per_minute: int = 30    # messages of one chat session
    webchat_address_per_minute: int = 60    # messages from one client address (IPv6: its /64)
    webchat_address_per_day: int = 600      # ... within 24 hours from its first
    webchat_new_sessions_per_hour: int = 30   # new chat sessions one address may open
    webchat_new_sessions_per_day: int = 100
    webchat_retention_days: int = 30        # idle web chat contacts are dropped after this
    log_format: str = "text"           # text or json (one object per line; bot/logging_setup)
    report_reminder_days: tuple[int, ...] = (10, 14)   # monthly report reminders (day of month)
    report_deadline_day: int = 15      # reports are due before this day of the next month
    # Zalo (bot/channels/zalo): the Bot Platform and/or an Official Account; README "Zalo".
    zalo_bot_token: str = field(default="", repr=False)
    zalo_api_url: str = DEFAULT_ZALO_API
    zalo_webhook_url: str = ""
    zalo_webhook_secret: str = field(default="", repr=False)
    zalo_oa_app_id: str = ""
    zalo_oa_secret_key: str = field(default="", repr=False)     # signs OA webhook events
    zalo_app_secret_key: str = field(default="", repr=False)    # app secret: token refresh
    zalo_oa_access_token: str = field(default="", repr=False)
    zalo_oa_refresh_token: str = field(default="", repr=False)
    zalo_oa_api_url: str = DEFAULT_ZALO_OA_API
    zalo_oauth_url: str = DEFAULT_ZALO_OAUTH
    zalo_oa_allow_paid: bool = False
    zalo_oa_max_age: int = 300
    zalo_rate: int = 10
    zalo_media_url: str = ""
    # Who reads /healthz detail and /metrics (bot/web/security.py): addresses/CIDRs, a token.
    metrics_allow: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
    metrics_token: str = field(default="", repr=False)

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "loa.db"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        data_dir = Path(env.get("BOT_DATA_DIR") or ROOT / "data")
        languages = tuple(x.strip() for x in env.get("BOT_LANGUAGES", "vi").split(",")
                          if x.strip())
        if "vi" not in languages:
            languages = ("vi", *languages)
        mnong_tag = _languages(languages, env.get("BOT_MNONG_TAG", "").strip() or "cmo")
        webhook = env.get("BOT_TELEGRAM_WEBHOOK_URL", "").strip()
        if webhook and not webhook.startswith("https://") and not webhook.startswith("http://127."):
            raise SettingsError("BOT_TELEGRAM_WEBHOOK_URL must be an https:// address")
        settings = cls(
            host=env.get("BOT_HOST", "127.0.0.1"),
            port=_int(env, "BOT_PORT", 8080, 0, 65535),
            data_dir=data_dir,
            database_url=env.get("BOT_DATABASE_URL", "").strip(),
            secret_key=env.get("BOT_SECRET_KEY", "").strip(),
            content_dir=Path(env.get("BOT_CONTENT_DIR") or ROOT / "content"),
            locales_dir=Path(env.get("BOT_LOCALES_DIR") or ROOT / "locales"),
            cache_dir=Path(env.get("BOT_CACHE_DIR") or ROOT / ".cache"),
            languages=languages,
            mnong_tag=mnong_tag,
            unit=env.get("BOT_UNIT", "").strip() or cls.unit,
            telegram_token=env.get("BOT_TELEGRAM_TOKEN", "").strip(),
            telegram_api_url=env.get("BOT_TELEGRAM_API_URL", "").strip() or DEFAULT_TELEGRAM_API,
            telegram_webhook_url=webhook,
            telegram_webhook_secret=env.get("BOT_TELEGRAM_WEBHOOK_SECRET", "").strip(),
            send_concurrency=_int(env, "BOT_SEND_CONCURRENCY", 8, 1, 64),
            log_level=env.get("BOT_LOG_LEVEL", "INFO").upper(),
            public_url=env.get("BOT_PUBLIC_URL", "").strip().rstrip("/"),
            telegram_rate=_int(env, "BOT_TELEGRAM_RATE", 25, 1,
                               30 if "api.telegram.org" in (env.get("BOT_TELEGRAM_API_URL")
                                                            or DEFAULT_TELEGRAM_API) else 1000),
            telegram_paid_rate=_int(env, "BOT_TELEGRAM_PAID_RATE", 0, 0, 1000),
            role=_role(env.get("BOT_ROLE", "")),
            trusted_proxies=_addresses(env, "BOT_TRUSTED_PROXIES"),
            quiet_hours=_quiet_hours(env.get("BOT_QUIET_HOURS", "21:00-07:00")),
            question_retention_days=_int(env, "BOT_QUESTION_RETENTION_DAYS", 90, 1, 3650),
            eval_sets=_eval_sets(env),
            retention_days=_int(env, "BOT_RETENTION_DAYS", 90, 1, 3650),
            webchat_session_per_minute=_int(env, "BOT_WEBCHAT_SESSION_PER_MINUTE", 30, 1, 1000),
            webchat_address_per_minute=_int(env, "BOT_WEBCHAT_ADDRESS_PER_MINUTE", 60, 1,
                                            100_000),
            webchat_address_per_day=_int(env, "BOT_WEBCHAT_ADDRESS_PER_DAY", 600, 1, 10_000_000),
            webchat_new_sessions_per_hour=_int(env, "BOT_WEBCHAT_NEW_SESSIONS_PER_HOUR", 30, 1,
                                               100_000),
            webchat_new_sessions_per_day=_int(env, "BOT_WEBCHAT_NEW_SESSIONS_PER_DAY", 100, 1,
                                              1_000_000),
            webchat_retention_days=_int(env, "BOT_WEBCHAT_RETENTION_DAYS", 30, 1, 3650),
            log_format=_log_format(env.get("BOT_LOG_FORMAT", "")),
            report_reminder_days=_days(env, "BOT_REPORT_REMINDER_DAYS", (10, 14)),
            report_deadline_day=_int(env, "BOT_REPORT_DEADLINE_DAY", 15, 2, 28),
            **_metrics_settings(env),
            **_zalo_settings(env),
        )
        return settings.resolved()

    def resolved(self) -> Settings:
        """Fill in the database URL and a persistent secret key when not configured."""
        out = self
        if not out.public_url:
            out = replace(out, public_url=f"http://{out.host}:{out.port}")
        if not out.database_url:
            out = replace(out, database_url=f"sqlite+aiosqlite:///{out.sqlite_path}")
        if not out.secret_key:
            out = replace(out, secret_key=_load_or_create_secret(out.data_dir / "secret.key"))
        if out.telegram_token and not out.telegram_webhook_secret:
            # Telegram allows A-Z a-z 0-9 _ - in the secret token, up to 256 characters.
            import hashlib
            import hmac
            derived = hmac.new(out.secret_key.encode(), b"telegram-webhook",
                               hashlib.sha256).hexdigest()
            out = replace(out, telegram_webhook_secret=derived)
        if out.zalo_bot_token and not out.zalo_webhook_secret:
            import hashlib
            import hmac
            derived = hmac.new(out.secret_key.encode(), b"zalo-webhook",
                               hashlib.sha256).hexdigest()
            out = replace(out, zalo_webhook_secret=derived)
        return out


def _metrics_settings(env: dict[str, str]) -> dict[str, object]:
    """BOT_METRICS_ALLOW (default: loopback only) and BOT_METRICS_TOKEN."""
    import ipaddress
    raw = env.get("BOT_METRICS_ALLOW", "")
    allow: tuple[str, ...] = Settings.metrics_allow
    if raw.strip():
        try:
            allow = tuple(str(ipaddress.ip_network(p.strip(), strict=False))
                          for p in raw.split(",") if p.strip())
        except ValueError:
            raise SettingsError(f"BOT_METRICS_ALLOW={raw!r} must be IP addresses or networks "
                                "separated by commas, like 127.0.0.1/8,10.0.0.5") from None
    token = env.get("BOT_METRICS_TOKEN", "").strip()
    if token and len(token) < 16:
        raise SettingsError("BOT_METRICS_TOKEN must have at least 16 characters")
    return {"metrics_allow": allow, "metrics_token": token}


def _zalo_settings(env: dict[str, str]) -> dict[str, object]:
    """The BOT_ZALO_* variables, checked; the names are in every error message."""
    def get(name: str) -> str:
        return env.get(name, "").strip()

    out: dict[str, object] = {
        "zalo_bot_token": get("BOT_ZALO_BOT_TOKEN"),
        "zalo_api_url": get("BOT_ZALO_API_URL").rstrip("/") or DEFAULT_ZALO_API,
        "zalo_webhook_url": get("BOT_ZALO_WEBHOOK_URL"),
        "zalo_webhook_secret": get("BOT_ZALO_WEBHOOK_SECRET"),
        "zalo_oa_app_id": get("BOT_ZALO_OA_APP_ID"),
        "zalo_oa_secret_key": get("BOT_ZALO_OA_SECRET_KEY"),
        "zalo_app_secret_key": get("BOT_ZALO_APP_SECRET_KEY"),
        "zalo_oa_access_token": get("BOT_ZALO_OA_ACCESS_TOKEN"),
        "zalo_oa_refresh_token": get("BOT_ZALO_OA_REFRESH_TOKEN"),
        "zalo_oa_api_url": get("BOT_ZALO_OA_API_URL").rstrip("/") or DEFAULT_ZALO_OA_API,
        "zalo_oauth_url": get("BOT_ZALO_OAUTH_URL").rstrip("/") or DEFAULT_ZALO_OAUTH,
        "zalo_oa_max_age": _int(env, "BOT_ZALO_OA_MAX_AGE", 300, 10, 86400),
        "zalo_rate": _int(env, "BOT_ZALO_RATE", 10, 1, 1000),
        "zalo_media_url": get("BOT_ZALO_MEDIA_URL").rstrip("/"),
    }
    paid = get("BOT_ZALO_OA_ALLOW_PAID").lower()
    if paid not in ("", "0", "1", "true", "false", "yes", "no", "on", "off"):
        raise SettingsError(f"BOT_ZALO_OA_ALLOW_PAID={paid!r} must be true or false")
    out["zalo_oa_allow_paid"] = paid in ("1", "true", "yes", "on")
    webhook = str(out["zalo_webhook_url"])
    if webhook and not webhook.startswith("https://") and not webhook.startswith("http://127."):
        raise SettingsError("BOT_ZALO_WEBHOOK_URL must be an https:// address")
    secret = str(out["zalo_webhook_secret"])
    if secret and not 8 <= len(secret) <= 256:
        raise SettingsError("BOT_ZALO_WEBHOOK_SECRET must have 8 to 256 characters")
    if out["zalo_oa_app_id"] and not out["zalo_oa_secret_key"]:
        raise SettingsError("BOT_ZALO_OA_SECRET_KEY is needed with BOT_ZALO_OA_APP_ID "
                            "(it verifies the OA's webhook events)")
    if out["zalo_oa_refresh_token"] and not out["zalo_app_secret_key"]:
        raise SettingsError("BOT_ZALO_APP_SECRET_KEY is needed with BOT_ZALO_OA_REFRESH_TOKEN "
                            "(it authorises the token refresh)")
    return out


def _load_or_create_secret(path: Path) -> str:
    """A random key kept in the data folder so pseudonyms stay stable across restarts."""
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)   # Loa's user only
    key = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(key)
    return key
