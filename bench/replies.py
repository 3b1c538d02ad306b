"""Replies per second through Loa's whole pipeline vs bare PTB and aiogram echo bots.

The three bots run as their own processes against one local fake Bot API
(tests/support/fakebotapi.py) served by this process on 127.0.0.1. Loa answers questions, stores
inbox/outbox rows and logs communication runs in a fresh SQLite file; the echo bots only echo:
"echo" is bench/echo_bot.py (PTB, updates one at a time, its default) and "aiogram" is
bench/echo_aiogram.py (aiogram 3, a task per update, its default). Prints, for each round, each
bot's throughput (replies/s for a burst), the ratios Loa / echo and Loa / aiogram and each bot's
CPU ms per update; then, for each bot, reply latency p50/p99 at a steady 100 messages/s and
resident memory; then the medians of the per-round ratios and of the CPU per update. The burst
runs in `--rounds` rounds (default 3), the bots interleaved in an order that rotates each round
(echo, aiogram, Loa; then Loa, echo, aiogram; then aiogram, Loa, echo; ...), each in a fresh
process and data folder, so a machine that slows down for a while weighs on all of them; CPU per
update is each bot process's own CPU time (user + system) during its burst, divided by the
messages. The steady part runs once per bot, in the last round.

    make bench            # makes .venv-bench (aiogram, bench/requirements-aiogram.txt), then:
    .venv/bin/python bench/replies.py [--burst 2000] [--rate 100] [--seconds 10] [--rounds 3]
        [--profile loa.txt]   # py-spy samples Loa during the burst; prints the top functions

`--seconds 0` skips the steady part.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from support.fakebotapi import FakeBotApi, text_update  # noqa: E402

TOKEN = "424242:BENCH-token"
BOTS = ("echo", "aiogram", "loa")
# aiogram has its own venv (its pydantic pin differs from Loa's): `make bench` makes it.
AIOGRAM_PYTHON = ROOT / ".venv-bench" / "bin" / "python"
QUESTIONS = ["khi nao tat song 2g", "1", "doi may co mat so khong", "may cuc gach con dung dc ko",
             "mua may 4g bao nhieu tien", "3", "tong dai viettel", "co duoc tang dien thoai ko",
             "thoi tiet hom nay", "menu"]


def start_bot(kind: str, api: FakeBotApi, data_dir: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "BOT_TELEGRAM_TOKEN": TOKEN, "BOT_TELEGRAM_API_URL": api.base_url,
           "BOT_DATA_DIR": data_dir, "BOT_PORT": "0", "BOT_LOG_LEVEL": "WARNING"}
    env.pop("BOT_DATABASE_URL", None)
    env.pop("BOT_TELEGRAM_WEBHOOK_URL", None)
    cmd = {"loa": [sys.executable, "-m", "bot", "run"],
           "echo": [sys.executable, str(ROOT / "bench" / "echo_bot.py")],
           "aiogram": [str(AIOGRAM_PYTHON), str(ROOT / "bench" / "echo_aiogram.py")]}[kind]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


async def wait_polling(api: FakeBotApi, before: int) -> None:
    deadline = time.monotonic() + 60
    while api.call_counts.get("getUpdates", 0) <= before:
        if time.monotonic() > deadline:
            raise RuntimeError("bot did not start polling")
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)


def replies_since(api: FakeBotApi, start_index: int) -> list:
    return [c for c in api.calls[start_index:] if c.method == "sendMessage" and c.ok]


async def burst(api: FakeBotApi, count: int, chat_base: int) -> float:
    start_index = len(api.calls)
    t0 = time.monotonic()
    for i in range(count):
        api.push_update(text_update(chat_base + i % 500, QUESTIONS[i % len(QUESTIONS)]))
    while len(replies_since(api, start_index)) < count:
        if time.monotonic() - t0 > 300:
            raise RuntimeError("burst did not finish in 300 s")
        await asyncio.sleep(0.01)
    last = replies_since(api, start_index)[count - 1].at
    return count / (last - t0)


async def steady(api: FakeBotApi, rate: float, seconds: float, chat_base: int,
                 proc: psutil.Process) -> tuple[float, float, float]:
    """Latency from push to reply for unique chats at a fixed rate; also peak RSS (MB)."""
    start_index = len(api.calls)
    pushed: dict[int, float] = {}
    total = int(rate * seconds)
    peak = 0.0
    t0 = time.monotonic()
    for i in range(total):
        target = t0 + i / rate
        delay = target - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        chat = chat_base + i
        pushed[chat] = time.monotonic()
        api.push_update(text_update(chat, QUESTIONS[i % len(QUESTIONS)]))
        if i % 50 == 0:
            peak = max(peak, proc.memory_info().rss / 2**20)
    deadline = time.monotonic() + 60
    while len(replies_since(api, start_index)) < total and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    latencies = sorted((c.at - pushed[c.params["chat_id"]]) * 1000
                       for c in replies_since(api, start_index)
                       if c.params.get("chat_id") in pushed)
    firsts: dict[int, float] = {}
    for c in replies_since(api, start_index):
        firsts.setdefault(c.params["chat_id"], (c.at - pushed[c.params["chat_id"]]) * 1000)
    latencies = sorted(firsts.values())
    if len(latencies) < total:
        raise RuntimeError(f"only {len(latencies)} of {total} messages answered")
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return p50, p99, max(peak, proc.memory_info().rss / 2**20)


async def measure(kind: str, api: FakeBotApi, args: argparse.Namespace,
                  last: bool) -> dict[str, float]:
    api.reset()
    with tempfile.TemporaryDirectory() as data_dir:
        before = api.call_counts.get("getUpdates", 0)
        proc = start_bot(kind, api, data_dir)
        try:
            await wait_polling(api, before)
            ps = psutil.Process(proc.pid)
            await burst(api, 50, 10_000)                      # warm-up
            spy = subprocess.Popen(   # py-spy (a dev dependency) samples the burst
                [str(Path(sys.executable).parent / "py-spy"), "record", "--nonblocking", "-r",
                 "250", "-f", "raw", "-o", args.profile, "-p", str(proc.pid)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) \
                if args.profile and kind == "loa" and last else None
            cpu = ps.cpu_times()
            rate = await burst(api, args.burst, 20_000)
            after = ps.cpu_times()
            cpu_ms = 1000 * ((after.user - cpu.user) + (after.system - cpu.system)) / args.burst
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(timeout=30)
            p50, p99, rss = (await steady(api, args.rate, args.seconds, 1_000_000, ps)
                             if args.seconds > 0 and last
                             else (0.0, 0.0, ps.memory_info().rss / 2**20))
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
    return {"rate": rate, "cpu": cpu_ms, "p50": p50, "p99": p99, "rss": rss}


def print_profile(path: str, top: int = 25) -> None:
    """py-spy's raw samples (one line per stack: frames;...;frames count): the share of
    samples in which each function is running itself, and in which it is on the stack."""
    own: dict[str, int] = {}
    inside: dict[str, int] = {}
    total = 0
    for line in Path(path).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        own[frames[-1]] = own.get(frames[-1], 0) + n
        for frame in set(frames):
            inside[frame] = inside.get(frame, 0) + n
    print(f"\nLoa during the burst: {total} samples; self % / total % of samples")
    for frame, n in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        print(f"{100 * n / total:6.1f} {100 * inside[frame] / total:6.1f}  {frame[:120]}")
    print("\nBy time on the stack:")
    for frame, n in sorted(inside.items(), key=lambda kv: -kv[1])[:top * 2]:
        print(f"{100 * n / total:6.1f}  {frame[:130]}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--burst", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", help="sample Loa with py-spy during the burst into this "
                        "file (raw format) and print the top of it")
    args = parser.parse_args()
    if not AIOGRAM_PYTHON.exists():
        sys.exit(f"{AIOGRAM_PYTHON} is missing: `make bench` makes the aiogram baseline's venv")
    rounds: list[dict[str, dict[str, float]]] = []
    async with FakeBotApi(token=TOKEN) as api:
        for index in range(args.rounds):
            shift = index % len(BOTS)
            order = BOTS[len(BOTS) - shift:] + BOTS[:len(BOTS) - shift]
            last = index == args.rounds - 1
            rounds.append({kind: await measure(kind, api, args, last) for kind in order})
    print(f"burst of {args.burst} messages, {args.rounds} interleaved rounds; "
          f"steady {args.rate:.0f} msg/s for {args.seconds:.0f} s in the last round")
    print(f"{'round':<7}{'echo/s':>8}{'aiogram/s':>11}{'loa/s':>8}{'loa/echo':>10}"
          f"{'loa/aiogram':>13}   CPU ms per update: echo, aiogram, loa")
    for index, r in enumerate(rounds, 1):
        print(f"{index:<7}{r['echo']['rate']:>8.0f}{r['aiogram']['rate']:>11.0f}"
              f"{r['loa']['rate']:>8.0f}{r['loa']['rate'] / r['echo']['rate']:>10.2f}"
              f"{r['loa']['rate'] / r['aiogram']['rate']:>13.2f}   "
              + ", ".join(f"{r[kind]['cpu']:.2f}" for kind in BOTS))
    last = rounds[-1]
    print(f"{'bot':<9}{'p50 ms':>9}{'p99 ms':>9}{'RSS MB':>9}   (last round)")
    for kind in BOTS:
        r = last[kind]
        print(f"{kind:<9}{r['p50']:>9.1f}{r['p99']:>9.1f}{r['rss']:>9.0f}")
    to_echo = statistics.median(r["loa"]["rate"] / r["echo"]["rate"] for r in rounds)
    to_aiogram = statistics.median(r["loa"]["rate"] / r["aiogram"]["rate"] for r in rounds)
    print(f"ratio (median of rounds): loa/echo {to_echo:.2f}x, loa/aiogram {to_aiogram:.2f}x; "
          "CPU per update (median): "
          + ", ".join(f"{kind} {statistics.median(r[kind]['cpu'] for r in rounds):.2f} ms"
                      for kind in BOTS))
    if args.profile:
        print_profile(args.profile)


if __name__ == "__main__":
    asyncio.run(main())
