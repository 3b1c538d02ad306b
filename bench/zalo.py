"""Achieved vs configured send rate of Loa's Zalo channels (the pacing of BOT_ZALO_RATE).

Runs Loa (whole pipeline: intake, inbox, conversation, outbox, sender, fresh SQLite file) in
this process against the local fakes of tests/support/fakezalo.py: the Bot Platform by long polling,
and an Official Account by signed webhooks. Each burst is one message from each of N users,
pushed at once; the rate is measured from the sends the fake receives.

    .venv/bin/python bench/zalo.py [--rate 10] [--seconds 10] [--api bot|oa|both]
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from support.fakezalo import FakeZaloBot, FakeZaloOA, bot_update, oa_event, signed  # noqa: E402

from bot.app import build_app  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.store.db import upgrade_database  # noqa: E402

APP_ID, OA_SECRET, APP_SECRET = "3608465249409039670", "bench-oa-secret", "bench-app-secret"
QUESTIONS = ["1", "khi nao tat song 2g", "3", "doi may co mat so khong", "menu"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def start_loa(settings: Settings) -> web.AppRunner:
    runner = web.AppRunner(build_app(settings), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", settings.port).start()
    return runner


def achieved(times: list[float]) -> float:
    times = sorted(times)
    return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0


async def wait_count(get, count: int, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while len(get()) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(get())} of {count} sends in {timeout:.0f} s")
        await asyncio.sleep(0.02)


async def bench_bot(base: Settings, rate: int, count: int) -> float:
    async with FakeZaloBot() as api:
        settings = replace(base, zalo_bot_token=api.token, zalo_api_url=api.base_url,
                           zalo_rate=rate, port=free_port())
        runner = await start_loa(settings)
        try:
            await api.wait_for_calls("deleteWebhook", 1, timeout=30)
            for i in range(count):
                api.push_update(bot_update(f"bench-{i}", QUESTIONS[i % len(QUESTIONS)]))
            sends = lambda: [c for c in api.calls if c.method == "sendMessage" and c.ok]  # noqa: E731
            await wait_count(sends, count, count / rate * 3 + 30)
            return achieved([c.at for c in sends()])
        finally:
            await runner.cleanup()


async def bench_oa(base: Settings, rate: int, count: int) -> float:
    async with FakeZaloOA(app_id=APP_ID, app_secret=APP_SECRET) as oa:
        settings = replace(base, zalo_oa_app_id=APP_ID, zalo_oa_secret_key=OA_SECRET,
                           zalo_app_secret_key=APP_SECRET, zalo_oa_access_token=oa.access_token,
                           zalo_oa_refresh_token=oa.refresh_token, zalo_oa_api_url=oa.url,
                           zalo_oauth_url=oa.url, zalo_rate=rate, port=free_port())
        runner = await start_loa(settings)
        try:
            url = f"http://127.0.0.1:{settings.port}/zalo/oa/webhook"
            async with aiohttp.ClientSession() as http:
                async def deliver(i: int) -> None:
                    event = oa_event("user_send_text", f"{9000000000 + i}",
                                     QUESTIONS[i % len(QUESTIONS)], app_id=APP_ID)
                    body, headers = signed(event, APP_ID, OA_SECRET)
                    async with http.post(url, data=body, headers=headers) as response:
                        assert response.status == 200, response.status
                await asyncio.gather(*(deliver(i) for i in range(count)))
            await wait_count(oa.sends, count, count / rate * 3 + 30)
            return achieved([c.at for c in oa.sends()])
        finally:
            await runner.cleanup()


async def main(args: argparse.Namespace) -> None:
    count = max(2, int(args.rate * args.seconds))
    print(f"configured BOT_ZALO_RATE={args.rate}/s, {count} replies per API "
          f"(one message from each of {count} users at once)")
    for api in ("bot", "oa") if args.api == "both" else (args.api,):
        with tempfile.TemporaryDirectory() as data_dir:
            base = Settings(data_dir=Path(data_dir), secret_key="bench-secret",
                            database_url=f"sqlite+aiosqlite:///{data_dir}/loa.db",
                            log_level="WARNING").resolved()
            await asyncio.to_thread(upgrade_database, base.database_url)
            bench = bench_bot if api == "bot" else bench_oa
            rate = await bench(base, args.rate, count)
            name = "zalo_bot (polling)" if api == "bot" else "zalo_oa (webhook)"
            print(f"{name:20s} achieved {rate:7.2f} sends/s   configured {args.rate}/s   "
                  f"ratio {rate / args.rate:.3f}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--api", choices=["bot", "oa", "both"], default="both")
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(main(parser.parse_args()))
