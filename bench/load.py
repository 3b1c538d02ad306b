"""Sustained Telegram webhook load on 1, 2 and 4 Loa processes sharing one PostgreSQL database.

Each Loa is a real `python -m bot run` process on its own port, in webhook mode, all on one
fresh PostgreSQL database (created on LOA_TEST_PG_HOST:LOA_TEST_PG_PORT, default
127.0.0.1:5432, and dropped at the end; `--pg private` runs a throw-away cluster of its own
instead, see tests/support/pgcluster.py) and one fake Bot API
(tests/support/fakebotapi.py) in a separate
process. This process is the load generator and the "load balancer": it posts updates
open-loop at a fixed offered rate, round-robin over the Loa processes, each from a new chat.

Measured per run: updates/s accepted (HTTP 200), webhook latency p50/p99 (POST → answer),
reply latency p50/p99 (POST → the fake receives sendMessage for that chat), and the CPU the
Loa processes used. For each process count: runs at fixed rates (`--fixed-rate`, light load
where p99 should stay under 100 ms), then rising rates until one is not sustained (an error, less
than 95 % accepted, webhook p99 over 500 ms, or replies falling behind: reply p99 over
1 s or replies missing; a rate that fails is tried once more before the ramp stops, since
the cores may be shared with other work).

    .venv/bin/python bench/load.py [--quick] [--procs 1,2,4] [--seconds 10]
                                   [--fixed-rate 20,50] [--rates 50,100,150,...] [--pg shared]
                                   [--profile loa.txt]   # py-spy, first Loa, first ramp rate
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
import uuid
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from support.fakebotapi import Call, FakeBotApi, text_update  # noqa: E402

TOKEN = "515151:LOAD-bench"
SECRET = "load-bench-webhook-secret"
QUESTIONS = ["khi nao tat song 2g", "1", "doi may co mat so khong", "may cuc gach con dung dc ko",
             "mua may 4g bao nhieu tien", "3", "tong dai viettel", "co duoc tang dien thoai ko",
             "thoi tiet hom nay", "menu"]
PG_HOST = os.environ.get("LOA_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("LOA_TEST_PG_PORT", "5432"))


# -- the fake Bot API, in its own process ------------------------------------------------------

class RecordingFake(FakeBotApi):
    """Keeps only (chat id, arrival time) of successful sendMessage calls, and serves them at
    GET /_fake/replies?since=N. Arrival times are time.monotonic(): CLOCK_MONOTONIC, the same
    clock in every process on the machine."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(record=False, **kwargs)   # type: ignore[arg-type]
        self.replies: list[tuple[int, float]] = []

    def _record(self, call: Call) -> None:
        if call.method == "sendMessage" and call.status == 200:
            self.replies.append((int(call.params.get("chat_id") or 0), call.at))

    async def _handle_control(self, request, action):  # type: ignore[no-untyped-def]
        if action == "replies":
            since = int(request.query.get("since", "0"))
            from aiohttp import web
            return web.json_response({"ok": True, "result": self.replies[since:]})
        return await super()._handle_control(request, action)


async def serve_fake(port: int) -> None:
    async with RecordingFake(token=TOKEN, port=port):
        print("ready", flush=True)
        await asyncio.Event().wait()


def free_port() -> int:
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the database --------------------------------------------------------------------------------

class Database:
    """A fresh database on the shared server (dropped at the end), or a private cluster."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.name = f"loa_bench_{uuid.uuid4().hex[:12]}"
        self.cluster = None
        self.url = ""

    async def __aenter__(self) -> Database:
        if self.kind == "private":
            from support.pgcluster import PgCluster
            self.cluster = await asyncio.to_thread(PgCluster.create)
            self.url = self.cluster.url()
        else:
            await self._admin(f'CREATE DATABASE "{self.name}"')
            self.url = f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/{self.name}"
        from bot.store.db import upgrade_database
        await asyncio.to_thread(upgrade_database, self.url)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.cluster is not None:
            await asyncio.to_thread(self.cluster.destroy)
        else:
            await self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    @staticmethod
    async def _admin(sql: str) -> None:
        import asyncpg
        conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user="postgres",
                                     database="test")
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    def where(self) -> tuple[str, int, str]:
        """(host, port, database name) of the bench database."""
        return (PG_HOST, PG_PORT, self.name) if self.cluster is None else \
            ("127.0.0.1", self.cluster.port, "postgres")

    async def connections(self) -> int:
        """Connections to this database now (all clients: the Loa processes' pools, LISTEN)."""
        import asyncpg
        host, port, name = self.where()
        conn = await asyncpg.connect(host=host, port=port, user="postgres", database=name)
        try:
            return int(await conn.fetchval(
                "select count(*) from pg_stat_activity where datname = $1", name)) - 1
        finally:
            await conn.close()


# -- Loa processes ---------------------------------------------------------------------------

@dataclass
class Loa:
    proc: subprocess.Popen[bytes]
    url: str
    ps: psutil.Process


def start_loa(database_url: str, api_url: str, data_dir: str, log: Path) -> Loa:
    port = free_port()
    env = {**os.environ, "BOT_DATABASE_URL": database_url, "BOT_DATA_DIR": data_dir,
           "BOT_SECRET_KEY": "load-bench-secret", "BOT_PORT": str(port),
           "BOT_TELEGRAM_TOKEN": TOKEN, "BOT_TELEGRAM_API_URL": api_url,
           "BOT_TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram/webhook",
           "BOT_TELEGRAM_WEBHOOK_SECRET": SECRET, "BOT_LOG_LEVEL": "WARNING",
           "BOT_QUIET_HOURS": "off", "BOT_REPORT_REMINDER_DAYS": "off"}
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "bot", "run"], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    return Loa(proc, f"http://127.0.0.1:{port}", psutil.Process(proc.pid))


async def wait_ready(http: aiohttp.ClientSession, loa: Loa, log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if loa.proc.poll() is not None:
            raise RuntimeError(f"Loa exited:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            async with http.get(f"{loa.url}/healthz") as response:
                if response.status == 200 and (await response.json())["telegram"] == "ready":
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError(f"Loa not ready in 90 s:\n{log.read_text(errors='replace')[-3000:]}")


def stop(processes: list[Loa]) -> None:
    for loa in processes:
        if loa.proc.poll() is None:
            loa.proc.terminate()
    for loa in processes:
        try:
            loa.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            loa.proc.kill()
            loa.proc.wait()


# -- one measured run ----------------------------------------------------------------------------

@dataclass
class Result:
    procs: int
    offered: float
    accepted_per_s: float
    errors: int
    hook_p50: float
    hook_p99: float
    reply_p50: float
    reply_p99: float
    missing: int
    cpu: dict[str, float]  # cores busy (1.0 = one core) by: loa, pg, fake+gen, others, idle
    lock_waits: float      # database sessions waiting for a lock, on average

    @property
    def sustained(self) -> bool:
        return (self.errors == 0 and self.missing == 0
                and self.accepted_per_s >= 0.95 * self.offered
                and self.hook_p99 < 500 and self.reply_p99 < 1000)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))]


class Replies:
    """What the fake Bot API received, for the whole bench (chat ids are never reused)."""

    def __init__(self, fake_url: str, fake_pid: int) -> None:
        self.fake_url = fake_url
        self.fake = psutil.Process(fake_pid)
        self.next_chat = 1_000_000
        self.next_update = 1
        self.seen = 0
        self.first_at: dict[int, float] = {}

    async def fetch(self, http: aiohttp.ClientSession) -> None:
        async with http.get(f"{self.fake_url}/_fake/replies",
                            params={"since": str(self.seen)}) as response:
            items = (await response.json())["result"]
        self.seen += len(items)
        for chat, at in items:
            self.first_at.setdefault(chat, at)       # the first message answers the update


def _cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for proc in processes:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


class Probe:
    """Where the CPU goes during a run (Loa, PostgreSQL backends of the bench database, the
    fake and this load generator, everything else on the machine) and how many database
    sessions wait for a lock (sampled 4 times a second)."""

    def __init__(self, db: Database, loas: list[Loa], fake: psutil.Process) -> None:
        self.db, self.loas, self.fake = db, loas, fake
        self.me = psutil.Process()
        self.conn = None

    async def __aenter__(self) -> Probe:
        import asyncpg
        host, port, name = self.db.where()
        self.conn = await asyncpg.connect(host=host, port=port, user="postgres", database=name)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.conn is not None:
            await self.conn.close()

    async def _backends(self) -> list[psutil.Process]:
        assert self.conn is not None
        pids = await self.conn.fetch("select pid from pg_stat_activity where datname = "
                                     "current_database() and pid <> pg_backend_pid()")
        out = []
        for row in pids:
            try:
                out.append(psutil.Process(row["pid"]))
            except psutil.Error:
                pass
        return out

    def _groups(self) -> dict[str, float]:
        busy = psutil.cpu_times()
        return {"loa": _cpu_seconds([loa.ps for loa in self.loas]),
                "fake+gen": _cpu_seconds([self.fake, self.me]),
                "machine": sum(busy) - busy.idle - getattr(busy, "iowait", 0.0)}

    @staticmethod
    def _per_pid(backends: list[psutil.Process]) -> dict[int, float]:
        return {proc.pid: _cpu_seconds([proc]) for proc in backends}

    async def measure(self, work):  # type: ignore[no-untyped-def]
        """Run `work` (a coroutine); returns (its result, cores by group, mean lock waits)."""
        assert self.conn is not None
        pg_before = self._per_pid(await self._backends())
        before, t0 = self._groups(), time.monotonic()
        waits: list[int] = []

        async def sample() -> None:
            while True:
                waits.append(int(await self.conn.fetchval(
                    "select count(*) from pg_stat_activity where datname = current_database() "
                    "and wait_event_type = 'Lock'")))
                await asyncio.sleep(0.25)

        sampler = asyncio.create_task(sample())
        try:
            result = await work
        finally:
            sampler.cancel()
            await asyncio.gather(sampler, return_exceptions=True)
        after, wall = self._groups(), time.monotonic() - t0
        pg_after = self._per_pid(await self._backends())   # pool connections come and go
        after["pg"] = sum(pg_after.values())
        before["pg"] = sum(pg_before.get(pid, 0.0) for pid in pg_after)
        cores = {k: (after[k] - before[k]) / wall for k in before}
        cores["others"] = max(0.0, cores.pop("machine") - cores["loa"] - cores["pg"]
                              - cores["fake+gen"])
        cores["idle"] = max(0.0, (os.cpu_count() or 1) - sum(cores.values()))
        return result, cores, (statistics.mean(waits) if waits else 0.0)


class Bench:
    def __init__(self, http: aiohttp.ClientSession, replies: Replies, loas: list[Loa],
                 probe: Probe) -> None:
        self.http = http
        self.replies = replies
        self.loas = loas
        self.probe = probe

    async def run(self, rate: float, seconds: float, drain_s: float = 15.0) -> Result:
        total = max(1, int(rate * seconds))
        posted: dict[int, float] = {}
        latencies: list[float] = []
        statuses: list[int] = []
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}

        async def post(chat: int, update: dict, url: str) -> None:
            started = time.monotonic()
            posted[chat] = started
            try:
                async with self.http.post(f"{url}/telegram/webhook", json=update,
                                          headers=headers) as response:
                    await response.read()
                    status = response.status
            except (aiohttp.ClientError, TimeoutError):
                status = 0
            latencies.append((time.monotonic() - started) * 1000)
            statuses.append(status)

        async def offer() -> None:
            tasks = []
            for i in range(total):
                delay = t0 + i / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                ids = self.replies
                chat, ids.next_chat = ids.next_chat, ids.next_chat + 1
                update = text_update(chat, QUESTIONS[i % len(QUESTIONS)],
                                     update_id=ids.next_update)
                ids.next_update += 1
                loa = self.loas[i % len(self.loas)]          # round robin: the load balancer
                tasks.append(asyncio.create_task(post(chat, update, loa.url)))
            await asyncio.gather(*tasks)

        t0 = time.monotonic()
        _, cpu, lock_waits = await self.probe.measure(offer())
        accepted_until = time.monotonic()
        deadline = time.monotonic() + drain_s
        first_at = self.replies.first_at
        while True:
            await self.replies.fetch(self.http)
            if all(chat in first_at for chat in posted) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        replies = [(first_at[chat] - at) * 1000 for chat, at in posted.items()
                   if chat in first_at]
        ok = statuses.count(200)
        return Result(len(self.loas), rate, ok / (accepted_until - t0), len(statuses) - ok,
                      statistics.median(latencies), pct(latencies, 0.99),
                      statistics.median(replies) if replies else float("nan"),
                      pct(replies, 0.99), total - len(replies), cpu, lock_waits)


# -- main -------------------------------------------------------------------------------------

def row(r: Result, label: str) -> str:
    cpu = " ".join(f"{r.cpu[k]:.2f}" for k in ("loa", "pg", "fake+gen", "others"))
    return (f"{r.procs:>5} {label:<6}{r.offered:>8.0f}{r.accepted_per_s:>9.1f}"
            f"{r.hook_p50:>7.1f}{r.hook_p99:>8.1f}{r.reply_p50:>8.1f}{r.reply_p99:>8.1f}"
            f"{r.errors + r.missing:>5}  {cpu:<22}{r.lock_waits:>5.1f}  "
            f"{'yes' if r.sustained else 'NO'}")


HEADER = (f"{'procs':>5} {'run':<6}{'offered':>8}{'accepted':>9}{'hook':>7}{'hook':>8}"
          f"{'reply':>8}{'reply':>8}{'lost':>5}  {'cores busy':<22}{'lock':>5}\n"
          f"{'':>5} {'':<6}{'/s':>8}{'/s':>9}{'p50':>7}{'p99 ms':>8}{'p50':>8}{'p99 ms':>8}"
          f"{'':>5}  {'loa  pg   fake other':<22}{'waits':>5}  sustained")


async def measure(procs: int, args: argparse.Namespace, replies: Replies,
                  peak: list[int]) -> list[tuple[str, Result]]:
    results: list[tuple[str, Result]] = []
    with tempfile.TemporaryDirectory() as tmp:
        async with Database(args.pg) as db, aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=512),
                timeout=aiohttp.ClientTimeout(total=30)) as http:
            await _measure(procs, args, replies, peak, db, http, tmp, results)
    return results


async def _measure(procs: int, args: argparse.Namespace, replies: Replies, peak: list[int],
                   db: Database, http: aiohttp.ClientSession, tmp: str,
                   results: list[tuple[str, Result]]) -> None:
    logs = [Path(tmp) / f"loa-{i}.log" for i in range(procs)]
    loas = [start_loa(db.url, f"{replies.fake_url}/bot", tmp, log) for log in logs]
    try:
        for loa, log in zip(loas, logs, strict=True):
            await wait_ready(http, loa, log)
        async with Probe(db, loas, replies.fake) as probe:
            bench = Bench(http, replies, loas, probe)
            await bench.run(20, 2.0)                                   # warm-up
            for rate in args.fixed_rate:
                fixed = await bench.run(rate, args.seconds)
                results.append(("fixed", fixed))
                print(row(fixed, "fixed"), flush=True)
            for index, rate in enumerate(args.rates):
                spy = subprocess.Popen(   # py-spy (a dev dependency) samples the first Loa
                    [str(Path(sys.executable).parent / "py-spy"), "record", "--nonblocking",
                     "-r", "250", "-f", "raw", "-o", args.profile, "-p", str(loas[0].proc.pid)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) \
                    if args.profile and index == 0 else None
                result = await bench.run(rate, args.seconds)
                if spy is not None:
                    spy.send_signal(signal.SIGINT)
                    spy.wait(timeout=30)
                results.append(("ramp", result))
                print(row(result, "ramp"), flush=True)
                peak.append(await db.connections())
                if not result.sustained:   # the cores are shared: a hiccup gets one more try
                    await asyncio.sleep(3)
                    result = await bench.run(rate, args.seconds)
                    results.append(("ramp", result))
                    print(row(result, "again"), flush=True)
                    if not result.sustained:
                        break
    finally:
        stop(loas)
        for log in logs:
            text = log.read_text(errors="replace")
            if "Traceback" in text:
                print(f"--- {log.name} has tracebacks:\n{text[-2000:]}", file=sys.stderr)


async def main(args: argparse.Namespace) -> None:
    fake_port = free_port()
    fake = subprocess.Popen([sys.executable, __file__, "--serve-fake", str(fake_port)],
                            stdout=subprocess.PIPE, cwd=ROOT)
    assert fake.stdout is not None
    if await asyncio.to_thread(fake.stdout.readline) != b"ready\n":
        raise RuntimeError("the fake Bot API did not start")
    fake_url = f"http://127.0.0.1:{fake_port}"
    everything: dict[int, list[tuple[str, Result]]] = {}
    replies = Replies(fake_url, fake.pid)   # one for the whole bench: chat ids never reused
    peak: list[int] = []
    print(f"{os.cpu_count()} CPU cores (load average {os.getloadavg()[0]:.1f} before); "
          f"{args.seconds:.0f} s per run; database: "
          f"{'private cluster' if args.pg == 'private' else f'{PG_HOST}:{PG_PORT}'}")
    print(HEADER, flush=True)
    try:
        for procs in args.procs:
            everything[procs] = await measure(procs, args, replies, peak)
    finally:
        fake.terminate()
        fake.wait(timeout=10)
    print()
    print("at fixed rates:")
    for procs, results in everything.items():
        for kind, fixed in results:
            if kind == "fixed":
                print(f"  {procs} process(es), {fixed.offered:.0f}/s: webhook p50 "
                      f"{fixed.hook_p50:.1f} ms, p99 {fixed.hook_p99:.1f} ms; reply p50 "
                      f"{fixed.reply_p50:.1f} ms, p99 {fixed.reply_p99:.1f} ms")
    print("max sustained rate (all accepted, replies keeping up):")
    for procs, results in everything.items():
        ramp = [r for kind, r in results if kind == "ramp"]
        ok = [r for r in ramp if r.sustained]
        best = max(ok, key=lambda r: r.offered) if ok else None
        last = ramp[-1] if ramp else None
        limit = "" if last is None or last.sustained else \
            f" (not at {last.offered:.0f}/s)"
        print(f"  {procs} process(es): "
              + (f"{best.offered:.0f} updates/s, {best.accepted_per_s:.0f} accepted/s"
                 if best else "none of the rates tried") + limit)
    if peak:
        print(f"peak database connections seen: {max(peak)}")
    print(f"load average after: {os.getloadavg()[0]:.1f}. Cores busy: the Loa processes, "
          "the PostgreSQL sessions of the bench database, the fake Bot API and this load "
          "generator, and everything else on the machine; lock waits: database sessions "
          "waiting for a row or transaction lock, on average.")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs, coarse rates")
    parser.add_argument("--procs", default="1,2,4")
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--fixed-rate", default="20,50")
    parser.add_argument("--rates", default=None)
    parser.add_argument("--pg", choices=("shared", "private"), default="shared")
    parser.add_argument("--profile", help="sample the first Loa process with py-spy during "
                        "the first ramp run into this file (raw format); print the top of it")
    parser.add_argument("--serve-fake", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.procs = [int(x) for x in args.procs.split(",") if x.strip()]
    args.fixed_rate = [float(x) for x in args.fixed_rate.split(",") if x.strip()]
    if args.seconds is None:
        args.seconds = 4.0 if args.quick else 10.0
    if args.rates is None:
        args.rates = "50,100,200" if args.quick else "50,75,100,150,200,300,400,600"
    args.rates = [float(x) for x in args.rates.split(",") if x.strip()]
    return args


if __name__ == "__main__":
    arguments = parse()
    if arguments.serve_fake:
        try:
            asyncio.run(serve_fake(arguments.serve_fake))
        except KeyboardInterrupt:
            pass
    else:
        asyncio.run(main(arguments))
        if arguments.profile:
            from replies import print_profile  # bench/replies.py
            print_profile(arguments.profile)
