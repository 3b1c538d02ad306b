"""The CLI as an operator meets it: a scripted announcement reaches every configured channel,
and an error is one clear line, never a traceback."""
from __future__ import annotations

import os
import subprocess
import sys

from support.env import ROOT, database_env, sql_connect

from bot.cli import main
from bot.store.models import utcnow


def _contact(db, channel: str, pseudonym: str, address: str) -> None:  # type: ignore[no-untyped-def]
    now = utcnow().isoformat(sep=" ")
    db.execute("insert into contact (channel, pseudonym, address, lang, state, status, "
               "commune_code, created_at, last_seen_at, subscribed) values "
               "(?, ?, ?, 'vi', '{}', 'active', '24175', ?, ?, ?)",
               (channel, pseudonym, address, now, now, True))


def test_broadcast_send_reaches_zalo_subscribers_too(settings, monkeypatch, capsys):
    for name, value in {**database_env(settings), "BOT_SECRET_KEY": "cli-seams-secret",
                        "BOT_TELEGRAM_TOKEN": "123:CLI", "BOT_ZALO_BOT_TOKEN": "zalo-cli-token",
                        "BOT_QUIET_HOURS": "off"}.items():
        monkeypatch.setenv(name, value)
    with sql_connect(settings) as db:
        _contact(db, "telegram", "p-tg", "1001")
        _contact(db, "zalo_bot", "p-zb", "z-1002")
    assert main(["broadcast", "send", "--text", "Sóng 2G đã dừng: hỏi Loa cách lên 4G."]) == 0
    with sql_connect(settings) as db:
        queued = dict(db.execute("select channel, count(*) from outbox where broadcast_id is "
                                 "not null group by channel").fetchall())
    assert queued == {"telegram": 1, "zalo_bot": 1}


def test_a_database_that_cannot_be_reached_is_one_line_not_a_traceback(tmp_path):
    env = {**os.environ, "BOT_DATA_DIR": str(tmp_path),
           "BOT_DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1:9/nowhere",
           "BOT_SECRET_KEY": "cli-seams-secret", "BOT_TELEGRAM_TOKEN": "123:CLI"}
    done = subprocess.run([sys.executable, "-m", "bot", "broadcast", "list"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith("error: broadcast failed: cannot connect")
    assert "BOT_DATABASE_URL" in lines[0]
