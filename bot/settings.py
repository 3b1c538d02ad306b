"""Configuration from BOT_* environment variables (documented in the README)."""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TELEGRAM_API = "https://api.telegram.org/bot"


class SettingsError(ValueError):
    """A BOT_* variable has a value Loa cannot use; the message names it."""


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
    languages: tuple[str, ...] = ("vi",)
    unit: str = "Sở Khoa học và Công nghệ tỉnh Đắk Lắk"
    telegram_token: str = field(default="", repr=False)
    telegram_api_url: str = DEFAULT_TELEGRAM_API
    telegram_webhook_url: str = ""
    telegram_webhook_secret: str = field(default="", repr=False)
    send_concurrency: int = 8
    log_level: str = "INFO"
    public_url: str = ""          # how officers' browsers reach Loa (login links)

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
            languages=languages,
            unit=env.get("BOT_UNIT", "").strip() or cls.unit,
            telegram_token=env.get("BOT_TELEGRAM_TOKEN", "").strip(),
            telegram_api_url=env.get("BOT_TELEGRAM_API_URL", "").strip() or DEFAULT_TELEGRAM_API,
            telegram_webhook_url=webhook,
            telegram_webhook_secret=env.get("BOT_TELEGRAM_WEBHOOK_SECRET", "").strip(),
            send_concurrency=_int(env, "BOT_SEND_CONCURRENCY", 8, 1, 64),
            log_level=env.get("BOT_LOG_LEVEL", "INFO").upper(),
            public_url=env.get("BOT_PUBLIC_URL", "").strip().rstrip("/"),
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
        return out


def _load_or_create_secret(path: Path) -> str:
    """A random key kept in the data folder so pseudonyms stay stable across restarts."""
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(key)
    return key
