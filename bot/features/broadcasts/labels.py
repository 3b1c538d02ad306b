"""What the announcement pages and the officers' chat say in Vietnamese instead of codes: states,
language, channel and commune names, Vietnam time (UTC+7), durations and the sending pace."""
from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from bot.core.i18n import LANGUAGE_NAMES, Translator
from bot.delivery.outbox import parse_quiet_hours, quiet_until
from bot.features.broadcasts.models import BroadcastStatus
from bot.features.officers import service as officers
from bot.store.models import OutboxStatus, utcnow

VN = dt.timezone(dt.timedelta(hours=7))
# The recipients' states in the order the progress shows them.
OUTBOX_STATES = (OutboxStatus.SENT, OutboxStatus.BLOCKED, OutboxStatus.FAILED,
                 OutboxStatus.CANCELLED, OutboxStatus.PENDING, OutboxStatus.RETRY,
                 OutboxStatus.SENDING)
CHANNEL_NAMES = {"telegram": "Telegram", "zalo_bot": "Zalo", "zalo_oa": "Zalo OA",
                 "web": "Web"}                                   # brand names: not translated


def aware(moment: dt.datetime) -> dt.datetime:
    """A stored time as UTC (SQLite gives it back naive)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def as_vn(moment: dt.datetime | None) -> dt.datetime | None:
    """A stored time in Vietnam time."""
    return None if moment is None else aware(moment).astimezone(VN)


def vn_time(moment: dt.datetime | None) -> str:
    """'14:05 20/11/2026' in Vietnam time; '' for no time."""
    local = as_vn(moment)
    return local.strftime("%H:%M %d/%m/%Y") if local else ""


def state_label(t: Translator, state: str) -> str:
    """A recipient's state (an outbox row's), as the progress shows it."""
    return {OutboxStatus.SENT: t.gettext("vi", "delivered"),
            OutboxStatus.BLOCKED: t.gettext("vi", "blocked"),
            OutboxStatus.FAILED: t.gettext("vi", "error"),
            OutboxStatus.CANCELLED: t.gettext("vi", "cancelled"),
            OutboxStatus.PENDING: t.gettext("vi", "waiting"),
            OutboxStatus.RETRY: t.gettext("vi", "retrying"),
            OutboxStatus.SENDING: t.gettext("vi", "being sent")}.get(state, state)


def language_name(t: Translator, lang: str) -> str:
    return t.gettext("vi", LANGUAGE_NAMES[lang]) if lang in LANGUAGE_NAMES else lang


def channel_name(channel: str) -> str:
    return CHANNEL_NAMES.get(channel, channel)


@functools.lru_cache(maxsize=1)
def _commune_names() -> dict[str, str]:
    return {c["code"]: c["name"] for c in officers.communes()}


def commune_name(code: str) -> str:
    return _commune_names().get(code, code)


def duration(t: Translator, seconds: float) -> str:
    """'khoảng 12 phút', 'khoảng 2 giờ 5 phút', 'chưa đến 1 phút'."""
    if seconds < 60:
        return t.gettext("vi", "less than a minute")
    minutes = max(1, round(seconds / 60))
    if minutes < 60:
        return t.gettext("vi", "about {n} min", n=minutes)
    hours, minutes = divmod(minutes, 60)
    if not minutes:
        return t.gettext("vi", "about {h} h", h=hours)
    return t.gettext("vi", "about {h} h {m} min", h=hours, m=minutes)


def _quiet(quiet_hours: str) -> tuple[dt.time, dt.time] | None:
    try:
        return parse_quiet_hours(quiet_hours)
    except ValueError:
        return None


def start_time(row: Any, quiet_hours: str = "") -> dt.datetime:
    """When an approved announcement starts going out: its send time (or now), moved past
    quiet hours."""
    now = utcnow()
    start = max(now, aware(row.send_at)) if row.send_at else now
    return quiet_until(start, _quiet(quiet_hours)) or start


def pace(t: Translator, row: Any, progress: Any, quiet_hours: str = "") -> str:
    """How sending goes, in words: how many a minute and how long is left, or why nothing
    moves, or when it finished."""
    if row.status == BroadcastStatus.DONE:
        return t.gettext("vi", "Finished at {time}.", time=vn_time(row.finished_at))
    if row.status == BroadcastStatus.STOPPED:
        return t.gettext("vi", "Stopped at {time}.", time=vn_time(row.finished_at))
    if row.status == BroadcastStatus.APPROVED:
        return t.gettext("vi", "Approved: sending starts at {time}.",
                 time=vn_time(start_time(row, quiet_hours)))
    now = utcnow()
    held = quiet_until(now, _quiet(quiet_hours))
    if row.status != BroadcastStatus.SENDING:
        return ""
    if not progress.remaining:
        return t.gettext("vi", "Everyone has been sent to; closing.")
    if held is not None:
        return t.gettext("vi", "Quiet hours ({hours}): sending goes on at {time}, by itself.",
                 hours=quiet_hours, time=vn_time(held))
    if not progress.rate_per_s or progress.eta_s is None:
        return t.gettext("vi", "Nothing went out in the last 30 seconds (Telegram may have "
                         "asked to wait); sending goes on by itself.")
    finish = vn_time(now + dt.timedelta(seconds=progress.eta_s))
    return t.gettext("vi", "About {per_minute} messages a minute; {left} left (done about {time}).",
             per_minute=max(1, round(progress.rate_per_s * 60)),
             left=duration(t, progress.eta_s), time=finish[:5])
