"""Shared by several test modules (moved from tests/test_faults.py)."""
from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from support.env import free_port
from support.pgcluster import PgCluster, pg_cluster  # noqa: F401  (the fixture)

SECRET = "fault-webhook-secret-0123"

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class LoaProcess:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def start_loa(data_dir: Path, log: Path, **env: str) -> LoaProcess:
    """`python -m bot run` on a free port, logging to `log`; Telegram in webhook mode when
    BOT_TELEGRAM_TOKEN is given."""
    port = free_port()
    full = {**os.environ, "BOT_DATA_DIR": str(data_dir), "BOT_SECRET_KEY": "fault-secret-key",
            "BOT_PORT": str(port), "BOT_QUIET_HOURS": "off", "BOT_LOG_LEVEL": "INFO",
            "BOT_REPORT_REMINDER_DAYS": "off", **env}
    for name in ("BOT_DATABASE_URL", "BOT_TELEGRAM_TOKEN", "BOT_TELEGRAM_WEBHOOK_URL"):
        if name not in env:
            full.pop(name, None)
    if "BOT_TELEGRAM_TOKEN" in env:
        full.setdefault("BOT_TELEGRAM_WEBHOOK_URL", f"http://127.0.0.1:{port}/telegram/webhook")
        full.setdefault("BOT_TELEGRAM_WEBHOOK_SECRET", SECRET)
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "bot", "run"], cwd=ROOT, env=full,
                                stdout=out, stderr=subprocess.STDOUT)
    return LoaProcess(proc, f"http://127.0.0.1:{port}", log)


async def wait_healthy(http: aiohttp.ClientSession, loa: LoaProcess, timeout: float = 240,
                       telegram: bool = False) -> None:
    """Wait for /healthz 200 (a bound, not a speed check: a start-up that takes 5 s of CPU
    takes a minute or more on a saturated 2-core machine)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert loa.proc.poll() is None, f"Loa exited:\n{loa.log_text()[-3000:]}"
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with http.get(f"{loa.url}/healthz") as response:
                body = await response.json()
                if response.status == 200 and (not telegram or body["telegram"] == "ready"):
                    return
        await asyncio.sleep(0.1)
    raise AssertionError(f"Loa not healthy in {timeout} s:\n{loa.log_text()[-3000:]}")


