"""Several Loa processes on one database (bot/delivery/cluster.py): one leader at a time, the
announcement pace of the whole bot, one effect per update, and nobody lost when processes are
killed. The process tests start real `python -m bot run` processes on the local PostgreSQL."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select, text
from support.cli import run_cli
from support.env import free_port
from support.fakebotapi import FakeBotApi, text_update
from support.waiting import drained, wait_for

from bot.delivery.cluster import Cluster
from bot.store import queries
from bot.store.db import Database, make_engine, upgrade_database_async
from bot.store.models import OutboxStatus, utcnow

ROOT = Path(__file__).resolve().parents[2]
FINAL = ("sent", "blocked", "failed", "cancelled")
SECRET = "cluster-webhook-secret-1"


@pytest.fixture
def postgres_url(migrated_postgres_url: str) -> str:
    """Here each test's PostgreSQL database is migrated already: a copy of the session's
    template (tests/conftest.py), instead of every migration run again per test."""
    return migrated_postgres_url


# -- the cluster object, in one test process ------------------------------------------------

async def test_one_leader_on_postgres_and_a_successor_when_it_stops(postgres_url,
                                                                     monkeypatch):
    await _one_leader(postgres_url, monkeypatch)


async def test_one_leader_on_sqlite_and_a_successor_when_it_stops(tmp_path, monkeypatch):
    await _one_leader(f"sqlite+aiosqlite:///{tmp_path / 'loa.db'}", monkeypatch)


def count_leader_tries(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the tries to take the leader's lock (a non-blocking flock on SQLite, an advisory
    lock on PostgreSQL), so that a test waits for tries, not for time. Followers try every
    0.1 s here instead of every second."""
    import fcntl

    import asyncpg

    from bot.delivery import cluster as module
    tries = [0]

    class CountingFcntl:
        def __getattr__(self, name: str) -> object:
            return getattr(fcntl, name)

        def flock(self, fd: int, operation: int) -> None:
            if operation & fcntl.LOCK_NB:
                tries[0] += 1
            fcntl.flock(fd, operation)

    fetchval = asyncpg.Connection.fetchval

    async def counting_fetchval(conn, query, *args, **kwargs):  # type: ignore[no-untyped-def]
        if "pg_try_advisory_lock" in query:
            tries[0] += 1
        return await fetchval(conn, query, *args, **kwargs)

    monkeypatch.setattr(module, "fcntl", CountingFcntl())
    monkeypatch.setattr(asyncpg.Connection, "fetchval", counting_fetchval)
    monkeypatch.setattr(module, "POLL_S", 0.1)
    return tries


async def _one_leader(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    tries = count_leader_tries(monkeypatch)
    clusters = [Cluster(url) for _ in range(3)]
    for cluster in clusters:
        await cluster.start()
    try:
        await wait_for(lambda: len([c for c in clusters if c.is_leader]) == 1, timeout=10)
        before = tries[0]   # the followers keep trying (three more tries each); still one
        await wait_for(lambda: tries[0] >= before + 3 * 2 + 1, timeout=30)
        leaders = [c for c in clusters if c.is_leader]
        assert len(leaders) == 1
        live = await clusters[1].live_instances()
        assert live == {c.instance_id for c in clusters}
        first = leaders[0]
        await first.stop()
        rest = [c for c in clusters if c is not first]
        await wait_for(lambda: len([c for c in rest if c.is_leader]) == 1, timeout=10)
        assert await rest[0].live_instances() == {c.instance_id for c in rest}
    finally:
        for cluster in clusters:
            await cluster.stop()


async def test_processes_tell_each_other_through_postgres(postgres_url):
    one, two = Cluster(postgres_url), Cluster(postgres_url)
    heard: list[str] = []
    two.on("loa_flood", heard.append)
    for cluster in (one, two):
        await cluster.start()
    try:
        one.notify("loa_flood", f"{one.instance_id}:telegram:3.0")
        await wait_for(lambda: heard == [f"{one.instance_id}:telegram:3.0"], timeout=5)
    finally:
        for cluster in (one, two):
            await cluster.stop()


async def test_recovery_hands_back_only_what_dead_processes_had_in_flight(database_url):
    url = database_url      # SQLite (file locks) or, on the PostgreSQL pass, advisory locks
    await upgrade_database_async(url)
    alive, gone = Cluster(url), Cluster(url)
    await alive.start()
    await gone.start()
    db = Database(make_engine(url))
    try:
        async with db.begin() as conn:
            contact = await queries.insert_contact(
                conn, channel="telegram", pseudonym="p1", address="1", lang="vi", state="{}",
                status="active", created_at=utcnow(), last_seen_at=utcnow())
            await queries.insert_outbox(conn, [
                {"contact_id": contact, "channel": "telegram", "address": "1",
                 "payload": '{"text": "x"}', "status": OutboxStatus.SENDING,
                 "claimed_by": owner} for owner in (alive.instance_id, gone.instance_id)])
        await gone.stop()      # its process ended while sending
        live = await alive.live_instances()
        assert live == {alive.instance_id}
        async with db.begin() as conn:
            assert await queries.recover_in_flight(conn, live) == 1
            rows = (await conn.execute(select(queries.OUTBOX.c.status,
                                              queries.OUTBOX.c.ambiguous)
                                       .order_by(queries.OUTBOX.c.id))).all()
        assert [tuple(r) for r in rows] == [("sending", False), ("retry", True)]
    finally:
        await alive.stop()
        await db.dispose()


# -- real processes ---------------------------------------------------------------------------

class Loa:
    """One `python -m bot run` process with its own port and log file."""

    def __init__(self, env: dict[str, str], log_dir: Path, name: str, *flags: str) -> None:
        self.env, self.flags, self.name = dict(env), flags, name
        self.port = free_port()
        self.env["BOT_PORT"] = str(self.port)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "bot", "run", *self.flags],
                                         cwd=ROOT, env=self.env, stdout=out,
                                         stderr=subprocess.STDOUT)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        kept = [line for line in text.splitlines() if "aiohttp.access" not in line
                and "HTTP Request" not in line]
        return f"--- {self.name} (started {self.starts}x) ---\n" + "\n".join(kept[-lines:])

    async def health(self, http: aiohttp.ClientSession) -> dict | None:
        try:
            async with http.get(f"{self.url}/healthz", timeout=aiohttp.ClientTimeout(2)) as r:
                return await r.json() if r.status == 200 else None
        except (aiohttp.ClientError, TimeoutError):
            return None

    async def ready(self, http: aiohttp.ClientSession, timeout: float = 60) -> None:
        async def up() -> bool:
            assert self.proc is not None and self.proc.poll() is None, \
                f"{self.name} exited:\n{self.log.read_text()[-3000:]}"
            return await self.health(http) is not None
        deadline = asyncio.get_running_loop().time() + timeout
        while not await up():
            assert asyncio.get_running_loop().time() < deadline, f"{self.name} never came up"
            await asyncio.sleep(0.2)


async def start_all(processes: list[Loa], http: aiohttp.ClientSession) -> None:
    for loa in processes:
        loa.start()
    for loa in processes:
        await loa.ready(http)


def loa_env(database_url: str, api: FakeBotApi, data_dir: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "BOT_DATABASE_URL": database_url, "BOT_DATA_DIR": str(data_dir),
            "BOT_SECRET_KEY": "cluster-test-secret", "BOT_TELEGRAM_TOKEN": api.token,
            "BOT_TELEGRAM_API_URL": api.base_url, "BOT_TELEGRAM_WEBHOOK_SECRET": SECRET,
            "BOT_QUIET_HOURS": "off", "BOT_LOG_LEVEL": "INFO", **extra}


async def seed_contacts(url: str, n: int, first_chat: int = 100_000) -> list[int]:
    chats = list(range(first_chat, first_chat + n))
    db = Database(make_engine(url))
    try:
        async with db.begin() as conn:
            now = utcnow()
            await conn.execute(queries.CONTACT.insert(), [
                {"channel": "telegram", "pseudonym": f"p{chat}", "address": str(chat),
                 "lang": "vi", "state": "{}", "status": "active", "created_at": now,
                 "last_seen_at": now, "subscribed": True} for chat in chats])
    finally:
        await db.dispose()
    return chats


async def outbox_summary(url: str, broadcast_id: int) -> dict[str, int]:
    db = Database(make_engine(url))
    try:
        async with db.connect() as conn:
            rows = await conn.execute(select(queries.OUTBOX.c.status, func.count())
                                      .where(queries.OUTBOX.c.broadcast_id == broadcast_id)
                                      .group_by(queries.OUTBOX.c.status))
            return {status: int(n) for status, n in rows.all()}
    finally:
        await db.dispose()


async def ambiguous_chats(url: str, broadcast_id: int) -> set[int]:
    db = Database(make_engine(url))
    try:
        async with db.connect() as conn:
            rows = await conn.execute(text(
                "select address from outbox where broadcast_id = :b and ambiguous"),
                {"b": broadcast_id})
            return {int(a) for (a,) in rows.all()}
    finally:
        await db.dispose()


async def queue_broadcast(env: dict[str, str], words: str, expected: int) -> None:
    """`python -m bot broadcast send` in this process (bot.cli.main), in a thread."""
    queued = await asyncio.to_thread(run_cli, "broadcast", "send", "--text", words, env=env)
    assert f"queued for {expected} recipients" in queued.stdout, queued.stdout + queued.stderr


def sends_to(api: FakeBotApi, words: str) -> list:
    return [c for c in api.calls if c.method == "sendMessage" and c.ok
            and words in c.params.get("text", "")]


def busiest_second(times: list[float]) -> int:
    """The most sends that arrived within any one second."""
    times, most, start = sorted(times), 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


async def test_three_processes_web_workers_and_one_pace(postgres_url, tmp_path):
    """`run`, `run --web-only` and `run --workers-only` on one database and one bot: every
    update delivered three times (to two processes at once) has one effect; an announcement
    is expanded once and sent at the bot's rate by all processes together; killing the
    leader mid-announcement loses nobody."""
    # The bot's announcement rate, which the fake enforces (a send beyond rate + 1 within
    # one second is refused and counted). At 100 a second, not 20, the 1,000 replies' share
    # of it is paid back while they are answered instead of holding the announcement 50 s.
    rate = 100
    async with FakeBotApi(token="909:CLUSTER") as api:
        env = loa_env(postgres_url, api, tmp_path, BOT_TELEGRAM_RATE=str(rate))
        full = Loa(env, tmp_path, "full")
        web_only = Loa(env, tmp_path, "web", "--web-only")
        workers = Loa(env, tmp_path, "workers", "--workers-only")
        for loa in (full, web_only, workers):
            loa.env["BOT_TELEGRAM_WEBHOOK_URL"] = f"{full.url}/telegram/webhook"
        processes = [full, web_only, workers]
        async with aiohttp.ClientSession() as http:
            try:
                await start_all(processes, http)
                # Roles: the workers-only process serves no chat; the web-only one no jobs.
                async with http.get(f"{workers.url}/") as response:
                    assert response.status == 404
                assert (await web_only.health(http))["role"] == "web"
                leaders = [loa for loa in processes if (await loa.health(http))["leader"]]
                assert len(leaders) <= 1

                # 1,000 updates, each delivered 3 times, concurrently to two processes.
                updates = []
                for i in range(1000):
                    update = text_update(200_000 + i, "khi nao tat song 2g")
                    update["update_id"] = 900_000 + i
                    updates.append(update)
                gate = asyncio.Semaphore(40)

                async def deliver(url: str, update: dict) -> int:
                    async with gate, http.post(
                            f"{url}/telegram/webhook", json=update,
                            headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}) as response:
                        return response.status
                statuses = await asyncio.gather(*(
                    deliver((full.url, web_only.url)[(k + i) % 2], u)
                    for k in range(3) for i, u in enumerate(updates)))
                assert set(statuses) == {200}
                answered = lambda: [c.params["chat_id"] for c in api.calls  # noqa: E731
                                    if c.method == "sendMessage" and c.ok
                                    and 200_000 <= c.params["chat_id"] < 201_000]
                await wait_for(lambda: len(set(answered())) == 1000, timeout=120)
                await drained(postgres_url, timeout=60)   # a late duplicate would have gone out
                assert sorted(answered()) == list(range(200_000, 201_000))   # once each

                # An announcement to 300 citizens, the fake bot counting every second.
                chats = await seed_contacts(postgres_url, 300)
                api.limit(global_per_s=rate + 1, per_chat_per_s=None, retry_after=2)
                await queue_broadcast(env, "Một nhịp cho cả bot", 300)
                await wait_for(lambda: len(sends_to(api, "Một nhịp")) >= 60, timeout=60)
                api.hold_sends()              # the leader's next send hangs: caught mid-way
                leader = [loa for loa in processes if (await loa.health(http) or {})
                          .get("leader")]
                assert len(leader) == 1 and leader[0] is not web_only
                assert len(sends_to(api, "Một nhịp")) < 300
                leader[0].kill()                                  # the leader dies mid-way
                api.release_sends()
                survivors = [loa for loa in processes if loa is not leader[0]]
                await wait_for(lambda: len(sends_to(api, "Một nhịp")) >= 300, timeout=90)

                async def final() -> bool:
                    states = await outbox_summary(postgres_url, 1)
                    return sum(states.get(s, 0) for s in FINAL) == 300
                deadline = asyncio.get_running_loop().time() + 60
                while not await final():
                    assert asyncio.get_running_loop().time() < deadline
                    await asyncio.sleep(0.2)
                assert await outbox_summary(postgres_url, 1) == {"sent": 300}  # expanded once
                new_leader = [loa for loa in survivors if (await loa.health(http) or {})
                              .get("leader")]
                assert len(new_leader) == 1 and new_leader[0] is not web_only
            finally:
                for loa in processes:
                    loa.stop()
                    print(loa.tail())   # shown when the test fails
        sent = sends_to(api, "Một nhịp")
        counts: dict[int, int] = {}
        for call in sent:
            counts[call.params["chat_id"]] = counts.get(call.params["chat_id"], 0) + 1
        assert set(counts) == set(chats)                                     # nobody lost
        doubled = {chat for chat, n in counts.items() if n > 1}
        assert doubled <= await ambiguous_chats(postgres_url, 1)             # only if flagged
        assert busiest_second([c.at for c in sent]) <= rate + 1             # one pace
        assert api.flood_answers == 0 and api.early_sends == 0


async def test_leader_killed_twenty_times_during_ten_thousand_recipients(postgres_url,
                                                                          tmp_path):
    """Two processes; the one sending the announcement is SIGKILLed 20 times and restarted.
    Every recipient ends in one final state, nobody is lost, and a citizen gets it twice only
    where the message was flagged ambiguous (in flight when its sender died)."""
    total = 10_000
    async with FakeBotApi(token="910:KILL20") as api:
        api.delay = 0.002
        env = loa_env(postgres_url, api, tmp_path, BOT_TELEGRAM_RATE="400",
                      BOT_LOG_LEVEL="WARNING")
        chats = await seed_contacts(postgres_url, total)
        await queue_broadcast(env, "Hai mươi lần", total)
        processes = [Loa(env, tmp_path, f"p{i}") for i in range(2)]
        kills = 0
        async with aiohttp.ClientSession() as http:
            try:
                for loa in processes:
                    loa.start()
                while kills < 20:
                    before = len(sends_to(api, "Hai mươi lần"))
                    await wait_for(lambda b=before: len(sends_to(api, "Hai mươi lần")) >= b + 150,
                                   timeout=60)
                    leader = [loa for loa in processes
                              if (await loa.health(http) or {}).get("leader")]
                    if not leader:
                        continue
                    leader[0].kill()
                    kills += 1
                    leader[0].start()
                for loa in processes:
                    await loa.ready(http)

                async def final() -> bool:
                    states = await outbox_summary(postgres_url, 1)
                    return sum(states.get(s, 0) for s in FINAL) == total
                deadline = asyncio.get_running_loop().time() + 180
                while not await final():
                    assert asyncio.get_running_loop().time() < deadline, \
                        await outbox_summary(postgres_url, 1)
                    await asyncio.sleep(0.5)
            finally:
                for loa in processes:
                    loa.stop()
                    print(loa.tail())
        assert kills == 20
        assert await outbox_summary(postgres_url, 1) == {"sent": total}
        counts: dict[int, int] = {}
        for call in sends_to(api, "Hai mươi lần"):
            counts[call.params["chat_id"]] = counts.get(call.params["chat_id"], 0) + 1
        assert set(counts) == set(chats)                                     # nobody lost
        doubled = {chat for chat, n in counts.items() if n > 1}
        assert doubled <= await ambiguous_chats(postgres_url, 1)             # only if flagged
        assert len(doubled) <= 20 * (400 // 5)   # at most one recording step per kill


async def test_a_flood_wait_one_process_gets_pauses_the_others(postgres_url, tmp_path):
    """Telegram's 429 is for the whole bot: when one process is told to wait, the other
    processes stop sending too, until the wait is over."""
    async with FakeBotApi(token="911:FLOOD") as api:
        env = loa_env(postgres_url, api, tmp_path)
        processes = [Loa(env, tmp_path, f"p{i}") for i in range(2)]
        for loa in processes:
            loa.env["BOT_TELEGRAM_WEBHOOK_URL"] = f"{processes[0].url}/telegram/webhook"
        async with aiohttp.ClientSession() as http:
            try:
                await start_all(processes, http)

                async def ask(loa: Loa, chat: int, update_id: int) -> None:
                    update = text_update(chat, "1")
                    update["update_id"] = update_id
                    async with http.post(f"{loa.url}/telegram/webhook", json=update,
                                         headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
                                         ) as response:
                        assert response.status == 200
                await ask(processes[0], 300_000, 1)
                await wait_for(lambda: any(c.ok for c in api.calls
                                           if c.method == "sendMessage"), timeout=30)
                api.flood(1, retry_after=3)            # the next send gets "retry after 3"
                for i in range(40):                    # both processes keep answering
                    await ask(processes[i % 2], 300_001 + i, 2 + i)
                    await asyncio.sleep(0.05)
                answered = lambda: {c.params["chat_id"] for c in api.calls  # noqa: E731
                                    if c.method == "sendMessage" and c.ok}
                await wait_for(lambda: len(answered()) == 41, timeout=60)
            finally:
                for loa in processes:
                    loa.stop()
                    print(loa.tail())
        flooded = [c for c in api.calls if c.status == 429]
        assert len(flooded) == 1
        told = flooded[0].at
        # Requests already on the wire when the 429 was answered cannot be called back;
        # after that (100 ms) nothing may reach Telegram until the 3 seconds are over.
        early = [c for c in api.calls if c.method == "sendMessage"
                 and told + 0.1 < c.at < told + 3.0]
        assert early == []
        senders = {c.params["chat_id"] % 2 for c in api.calls
                   if c.method == "sendMessage" and c.ok and c.at > told}
        assert senders == {0, 1}     # both processes' citizens were answered after the wait


async def test_a_web_only_process_wakes_the_workers_once_per_update(settings, postgres_url):
    """A web-only process tells the workers by NOTIFY and must not answer its own notice
    (it hears what it sends): that would be an endless storm of notifications."""
    from aiohttp.test_utils import TestClient, TestServer

    from bot.app import build_app
    from bot.web.keys import RUNTIME
    web_only = replace(settings, database_url=postgres_url, role="web",
                       telegram_token="1:WEBONLY", telegram_api_url="http://127.0.0.1:9/bot",
                       telegram_webhook_secret=SECRET)
    app = build_app(web_only)
    async with TestClient(TestServer(app)) as client:
        cluster = app[RUNTIME].cluster
        sent: list[str] = []
        original = cluster.notify
        cluster.notify = lambda topic, payload="": (sent.append(topic),  # type: ignore
                                                    original(topic, payload))
        heard: list[str] = []
        cluster.on("loa_inbox", heard.append)
        update = text_update(400_000, "1")
        update["update_id"] = 400_000
        response = await client.post("/telegram/webhook", json=update,
                                     headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
        assert response.status == 200
        await wait_for(lambda: heard, timeout=5)    # the notice went out through PostgreSQL
        # One more round trip through PostgreSQL, on the same connection: a notice the
        # process sent on hearing its own (the storm) would come back before this marker.
        markers: list[str] = []
        cluster.on("loa_sent", markers.append)
        cluster.notify("loa_sent", "marker")
        await wait_for(lambda: "marker" in markers, timeout=5)
        assert sent.count("loa_inbox") == 1
