"""Announcement delivery against a local fake Bot API that enforces Telegram's flood limits.

Loa (a real `python -m bot run` process, fresh SQLite) sends one announcement to N opted-in
contacts; then python-telegram-bot's own AIORateLimiter sends the same list. For each it prints
the achieved rate ÷ configured rate, flood-limit violations (429s provoked, and sends made
before a retry_after expired), recipients lost, and duplicates. With `--paid R`, Loa then sends
the list again as Telegram's paid broadcasts (BOT_TELEGRAM_PAID_RATE=R; the fake lets paid
messages through up to 1000 a second). Finally Loa's peak resident memory while queuing and
starting an announcement to 100,000 recipients.

    .venv/bin/python bench/broadcast.py [--recipients 3000] [--rate 25] [--paid 300]
        [--memory 100000]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from support.fakebotapi import FakeBotApi  # noqa: E402

TOKEN = "31337:BENCH-broadcast"
TEXT = "Thông báo: điểm đổi máy 4G miễn phí tại UBND xã vào thứ Bảy."


def seed(db_path: Path, n: int, first: int = 1_000_000) -> list[int]:
    now = "2026-11-26 00:00:00.000000"
    chats = list(range(first, first + n))
    with sqlite3.connect(db_path) as db:
        db.executemany(
            "insert into contact (channel, pseudonym, address, lang, state, status, "
            "created_at, last_seen_at, subscribed) values "
            "('telegram', ?, ?, 'vi', '{}', 'active', ?, ?, 1)",
            ((f"b{c}", str(c), now, now) for c in chats))
    return chats


def loa_env(api: FakeBotApi, data_dir: str, rate: int) -> dict[str, str]:
    env = {**os.environ, "BOT_DATA_DIR": data_dir, "BOT_TELEGRAM_TOKEN": TOKEN,
           "BOT_TELEGRAM_API_URL": api.base_url, "BOT_TELEGRAM_RATE": str(rate),
           "BOT_QUIET_HOURS": "off", "BOT_PORT": "0", "BOT_LOG_LEVEL": "WARNING"}
    env.pop("BOT_DATABASE_URL", None)
    return env


def sends(api: FakeBotApi) -> list:
    # (an announcement goes out with the sending unit's name above and how to stop below)
    return [c for c in api.calls if c.method == "sendMessage" and c.ok
            and TEXT in (c.params.get("text") or "")]


def report(name: str, api: FakeBotApi, chats: list[int], rate: int) -> None:
    done = sends(api)
    if len(done) < 2:
        print(f"{name:<22} nothing sent")
        return
    span = done[-1].at - done[0].at
    achieved = (len(done) - 1) / span if span > 0 else float("inf")
    counts: dict[int, int] = {}
    for call in done:
        counts[call.params["chat_id"]] = counts.get(call.params["chat_id"], 0) + 1
    lost = len(set(chats) - set(counts))
    duplicates = sum(n - 1 for n in counts.values())
    print(f"{name:<22}{achieved:>9.1f}/s{achieved / rate:>8.2f}{api.flood_answers:>7}"
          f"{api.early_sends:>7}{lost:>6}{duplicates:>6}")


async def run_loa(api: FakeBotApi, n: int, rate: int, paid: int = 0) -> list[int]:
    with tempfile.TemporaryDirectory() as data_dir:
        env = loa_env(api, data_dir, rate)
        if paid:
            env["BOT_TELEGRAM_PAID_RATE"] = str(paid)
        subprocess.run([sys.executable, "-m", "bot", "migrate"], cwd=ROOT, env=env, check=True,
                       capture_output=True)
        chats = seed(Path(data_dir) / "loa.db", n)
        proc = subprocess.Popen([sys.executable, "-m", "bot", "run"], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            subprocess.run([sys.executable, "-m", "bot", "broadcast", "send", "--text", TEXT],
                           cwd=ROOT, env=env, check=True, capture_output=True)
            deadline = time.monotonic() + n / (paid or rate) * 2 + 60
            while len(sends(api)) < n and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    return chats


async def run_ptb(api: FakeBotApi, chats: list[int], rate: int) -> None:

    from telegram.error import RetryAfter, TelegramError
    from telegram.ext import AIORateLimiter, ExtBot
    limiter = AIORateLimiter(overall_max_rate=rate, overall_time_period=1, max_retries=5)
    async with ExtBot(TOKEN, base_url=api.base_url, rate_limiter=limiter) as bot:
        async def one(chat: int) -> None:
            try:
                await bot.send_message(chat, TEXT)
            except (RetryAfter, TelegramError):
                pass
        await asyncio.gather(*(one(c) for c in chats))


async def memory(n: int, rate: int) -> float:
    async with FakeBotApi(token=TOKEN, record=False) as api:
        with tempfile.TemporaryDirectory() as data_dir:
            env = loa_env(api, data_dir, rate)
            subprocess.run([sys.executable, "-m", "bot", "migrate"], cwd=ROOT, env=env,
                           check=True, capture_output=True)
            seed(Path(data_dir) / "loa.db", n)
            proc = subprocess.Popen([sys.executable, "-m", "bot", "run"], cwd=ROOT, env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            peak = 0.0
            try:
                ps = psutil.Process(proc.pid)
                # idle: once started (its resident memory steady for 2 s), nothing to do yet
                idle, steady_since = 0.0, time.monotonic()
                while time.monotonic() - steady_since < 2:
                    await asyncio.sleep(0.2)
                    rss = ps.memory_info().rss / 2**20
                    if abs(rss - idle) > 0.5:
                        idle, steady_since = rss, time.monotonic()
                queue = subprocess.Popen([sys.executable, "-m", "bot", "broadcast", "send",
                                          "--text", TEXT], cwd=ROOT, env=env,
                                         stdout=subprocess.DEVNULL)
                end = time.monotonic() + 20
                while time.monotonic() < end:
                    peak = max(peak, ps.memory_info().rss / 2**20)
                    await asyncio.sleep(0.1)
                queue.wait(timeout=120)
                sent = api.call_counts.get("sendMessage", 0)
            finally:
                proc.terminate()
                proc.wait(timeout=20)
    print(f"memory: idle after start {idle:.0f} MB resident; {n} recipients queued, {sent} "
          f"sent in 20 s; Loa peak RSS {peak:.0f} MB")
    return peak


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipients", type=int, default=3000)
    parser.add_argument("--rate", type=int, default=25)
    parser.add_argument("--paid", type=int, default=0, help="also send as paid broadcasts "
                        "at this rate (BOT_TELEGRAM_PAID_RATE)")
    parser.add_argument("--memory", type=int, default=100_000)
    args = parser.parse_args()
    print(f"{args.recipients} recipients; configured {args.rate}/s; fake enforces 30/s overall "
          "and 1/s per chat")
    print(f"{'sender':<22}{'achieved':>11}{'ratio':>8}{'429s':>7}{'early':>7}{'lost':>6}"
          f"{'dups':>6}")
    async with FakeBotApi(token=TOKEN) as api:
        api.limit(global_per_s=30, per_chat_per_s=1, retry_after=1)
        chats = await run_loa(api, args.recipients, args.rate)
        report("loa", api, chats, args.rate)
    async with FakeBotApi(token=TOKEN) as api:
        api.limit(global_per_s=30, per_chat_per_s=1, retry_after=1)
        await run_ptb(api, chats, args.rate)
        report("ptb AIORateLimiter", api, chats, args.rate)
    if args.paid:
        async with FakeBotApi(token=TOKEN) as api:
            api.limit(global_per_s=30, per_chat_per_s=1, retry_after=1)
            chats = await run_loa(api, args.recipients, args.rate, paid=args.paid)
            paid = sum(1 for c in sends(api) if c.params.get("allow_paid_broadcast") is True)
            report(f"loa paid ({paid} paid)", api, chats, args.paid)
    if args.memory:
        await memory(args.memory, args.rate)


if __name__ == "__main__":
    asyncio.run(main())
