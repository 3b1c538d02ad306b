"""The command line as a developer or content editor uses it."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from support.cli import run_cli
from support.env import free_port

ROOT = Path(__file__).resolve().parents[2]


def _environ(tmp_path: Path, env: dict | None) -> dict[str, str]:
    environ = {**os.environ, "BOT_DATA_DIR": str(tmp_path), **(env or {})}
    environ.pop("BOT_TELEGRAM_TOKEN", None)
    return environ


def bot(*args: str, tmp_path: Path, stdin: str | None = None, env: dict | None = None):
    """The command in this process (bot.cli.main): what it prints and returns."""
    return run_cli(*args, env=_environ(tmp_path, env), stdin=stdin)


def bot_process(*args: str, tmp_path: Path, env: dict | None = None):
    """The command as a process of its own, for what only a process shows (file modes)."""
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True,
                          text=True, cwd=ROOT, env=_environ(tmp_path, env), timeout=60)


def test_ask_json_prints_topic_score_answer(tmp_path):
    result = bot("ask", "khi nao tat song 2g", "--json", tmp_path=tmp_path)
    assert result.returncode == 0
    data = json.loads(result.stdout)
    assert data["topic"] == "timeline" and data["score"] > 0.5
    assert "Cập nhật ngày" in data["answer"]


def test_ask_stdin_one_json_per_line_with_none_for_out_of_scope(tmp_path):
    result = bot("ask", "-", "--json", tmp_path=tmp_path,
                 stdin="doi may co mat so khong\n\nthời tiết hôm nay thế nào\n")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [d["topic"] for d in lines] == ["keep_number", None]
    assert "1800 8098" in lines[1]["answer"]


def test_shell_chats_through_the_same_core(tmp_path):
    result = bot("shell", tmp_path=tmp_path, stdin="1\nb1\n0\n")
    assert result.returncode == 0
    assert "Xin chào" in result.stdout
    assert result.stdout.count("Cập nhật ngày") >= 2     # typed 1, then pressed a button


def test_report_counts_runs_by_medium_topic_and_language(tmp_path, database_url):
    # Use the web chat through the real server process, then report from the same database.
    port = free_port()
    db_env = {"BOT_DATABASE_URL": database_url}
    env = {**os.environ, "BOT_DATA_DIR": str(tmp_path), "BOT_PORT": str(port), **db_env}
    env.pop("BOT_TELEGRAM_TOKEN", None)
    server = subprocess.Popen([sys.executable, "-m", "bot", "run"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                    assert json.load(r)["status"] == "ok"
                break
            except OSError:
                assert time.time() < deadline and server.poll() is None, "server did not start"
                time.sleep(0.2)
        for i, text in enumerate(["2", "khi nao tat song 2g", "6"]):
            body = json.dumps({"session": "report-session-0123456789", "id": f"report{i:04d}",
                               "text": text}).encode()
            request = urllib.request.Request(f"http://127.0.0.1:{port}/api/chat", data=body,
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=5) as r:
                assert r.status == 200
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=15)
    if database_url.startswith("sqlite"):
        assert (tmp_path / "loa.db").exists()
    month = time.strftime("%Y-%m", time.gmtime(time.time() + 7 * 3600))
    data = json.loads(bot("report", "--month", month, "--format", "json",
                          tmp_path=tmp_path, env=db_env).stdout)
    assert data["total"] == 3 and data["by_medium"] == {"web": 3}
    assert data["by_topic"] == {"timeline": 2, "keep_number": 1}
    assert data["by_form"] == {"chatbot_qa": 3} and data["by_language"] == {"vi": 3}
    csv_out = bot("report", "--month", month, "--format", "csv", tmp_path=tmp_path,
                  env=db_env).stdout
    # the official table: the total row (level "Tổng cộng") has 3 runs and 1 person reached
    # (one web chat session), 3 chatbot interactions, and the 3 runs count for "Chung"
    (total,) = [line for line in csv_out.splitlines() if ",Tổng cộng,3," in line]
    assert total == f"{month[5:]}/{month[:4]},,Tổng cộng,,,3,,1,,Tổng cộng,3,0,0,0,0,0,3,0"


@pytest.mark.parametrize("month, message", [
    ("2026-13", "not a valid month"), ("11/2026", "YYYY-MM"), ("2099-01", "in the future"),
])
def test_report_rejects_bad_months_clearly(tmp_path, month, message):
    result = bot("report", "--month", month, tmp_path=tmp_path)
    assert result.returncode == 2 and message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("env, message", [
    ({"BOT_PORT": "eighty"}, "BOT_PORT='eighty' is not a whole number"),
    ({"BOT_PORT": "70000"}, "BOT_PORT=70000 must be between"),
    ({"BOT_TELEGRAM_TOKEN": "1:x", "BOT_TELEGRAM_WEBHOOK_URL": "http://example.org/hook"},
     "must be an https:// address"),
])
def test_bad_configuration_is_reported_by_name(tmp_path, env, message):
    result = bot("ask", "1", tmp_path=tmp_path, env=env)
    assert result.returncode == 2 and message in result.stderr


def test_secret_key_is_created_once_and_kept(tmp_path, database_url):
    db_env = {"BOT_DATABASE_URL": database_url}   # a process: the file's mode is the point
    assert bot_process("migrate", tmp_path=tmp_path, env=db_env).returncode == 0
    key = (tmp_path / "secret.key").read_text()
    assert bot_process("migrate", tmp_path=tmp_path, env=db_env).returncode == 0
    assert (tmp_path / "secret.key").read_text() == key and len(key) == 64
    assert oct((tmp_path / "secret.key").stat().st_mode)[-3:] == "600"


@pytest.mark.sqlite_only          # `bot backup`/`restore` copy the SQLite file (pg_dump otherwise)
def test_backup_while_running_and_restore(tmp_path):
    bot("migrate", tmp_path=tmp_path)
    db = tmp_path / "loa.db"
    import sqlite3
    with sqlite3.connect(db) as conn:
        conn.execute("insert into run (at, unit, form, medium, kind, language, reached) values "
                     "('2026-11-01 00:00:00', 'Test unit', 'chatbot_qa', 'web', 'answer', 'vi', 1)")
    target = tmp_path / "backup.db"
    made = bot("backup", str(target), tmp_path=tmp_path)
    assert made.returncode == 0 and target.exists()
    again = bot("backup", str(target), tmp_path=tmp_path)
    assert again.returncode == 2 and "exists" in again.stderr      # never overwrites
    with sqlite3.connect(db) as conn:
        conn.execute("delete from run")
    restored = bot("restore", str(target), tmp_path=tmp_path)
    assert restored.returncode == 0
    with sqlite3.connect(db) as conn:
        assert conn.execute("select unit from run").fetchall() == [("Test unit",)]
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database")
    refused = bot("restore", str(junk), tmp_path=tmp_path)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
