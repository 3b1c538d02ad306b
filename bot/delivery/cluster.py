"""Several Loa processes on one database: who is alive, who leads, and waking each other.

Every process holds a lock that says it is alive: on PostgreSQL a session advisory lock on a
connection of its own, on SQLite an flock on a file beside the database. The database or the
kernel drops that lock the moment the process dies, so "alive" needs no heartbeat timeout,
and the messages a dead process had in flight are handed back at once (flagged ambiguous).

One process at a time is the leader. It alone runs what must happen once per bot: the
announcement (bulk) lanes, so their pacing is the pacing of the whole bot; the announcement
runner; the Telegram and Zalo pollers; scheduled jobs. When the leader dies another process
takes over within a second.

On PostgreSQL the processes also talk through LISTEN/NOTIFY: a web-only process tells the
workers that an update was stored; a process that hits a flood wait tells the others to
pause; a process sending replies tells the leader how many, so announcements slow down to
keep the bot's total rate.
"""
from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path

from bot.delivery.waiting import within, woken

log = logging.getLogger(__name__)

NS_ALIVE = 0x4C6F61      # advisory lock class ids ("Loa", "Lob")
NS_LEADER = 0x4C6F62
TOPICS = ("loa_inbox", "loa_outbox", "loa_flood", "loa_sent", "loa_content", "loa_learned")
POLL_S = 1.0             # how often a follower tries to become leader
RECONNECT_MAX_S = 5.0    # longest wait between reconnection attempts
SETTLE_S = 3 * RECONNECT_MAX_S   # see Cluster.settled
Listener = Callable[[str], None]


class Cluster:
    """This process's place among the Loa processes sharing one database."""

    def __init__(self, database_url: str, can_lead: bool = True) -> None:
        self.instance_id = secrets.randbelow(2**31 - 2) + 1
        self.can_lead = can_lead   # a web-only process runs no duties: it never leads
        self.is_leader = False
        self._leading = asyncio.Event()
        self._following = asyncio.Event()
        self._following.set()
        self._listeners: dict[str, list[Listener]] = {t: [] for t in TOPICS}
        self._outgoing: dict[tuple[str, str], None] = {}   # ordered set of pending notifies
        self._flush = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._started = asyncio.Event()
        self._alive_since: float | None = None   # monotonic time the alive lock was taken
        if database_url.startswith("postgresql"):
            self._backend: _Backend = _Postgres(database_url, self)
        elif database_url.startswith("sqlite") and ":memory:" not in database_url:
            self._backend = _Files(Path(database_url.split("///", 1)[-1]), self)
        else:
            self._backend = _Alone(self)
        self.shared = isinstance(self._backend, _Postgres)   # NOTIFY reaches other processes

    # -- life ----------------------------------------------------------------------------------
    async def start(self) -> None:
        """Take the 'alive' lock (retrying until the database answers), then keep it."""
        self._task = asyncio.create_task(self._backend.run(), name="cluster")
        started = asyncio.create_task(self._started.wait())
        await asyncio.wait({self._task, started}, return_when=asyncio.FIRST_COMPLETED)
        started.cancel()
        if self._task.done():
            self._task.result()   # raises what stopped it

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        self._set_leader(False)

    def _set_leader(self, leading: bool) -> None:
        if leading == self.is_leader:
            return
        self.is_leader = leading
        (self._leading.set if leading else self._leading.clear)()
        (self._following.clear if leading else self._following.set)()
        log.info("instance %s %s the leader", self.instance_id, "is now" if leading
                 else "is no longer")

    async def wait_leading(self) -> None:
        await self._leading.wait()

    async def wait_following(self) -> None:
        await self._following.wait()

    async def lead(self, name: str, duty: Callable[[], Awaitable[None]]) -> None:
        """Run `duty` whenever this process leads; cancel it when leadership is lost."""
        while True:
            await self.wait_leading()
            task = asyncio.create_task(duty(), name=name)
            lost = asyncio.create_task(self.wait_following())
            try:
                await asyncio.wait({task, lost}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                lost.cancel()
                stopped = not task.done()
                if stopped:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
            if stopped:
                log.info("%s stopped here: this process no longer leads", name)
            elif task.cancelled() or task.exception() is None:
                return   # finished by itself (e.g. the webhook is registered)
            else:
                log.error("%s failed (%s); restarting it", name,
                          task.exception().__class__.__name__)
                await asyncio.sleep(1.0)

    def settled(self, seconds: float = SETTLE_S) -> bool:
        """We hold our alive lock and the database has been up for `seconds` (as of the last
        live_instances()): after a database restart every process reconnects within that
        time, so a process missing from the live set then is really gone."""
        if not isinstance(self._backend, _Postgres):
            return self._alive_since is not None   # file locks outlive no process
        return self._alive_since is not None and self._backend.db_uptime >= seconds

    async def live_instances(self) -> set[int] | None:
        """Ids of the processes alive now, or None when that cannot be known (database down)."""
        try:
            return await self._backend.live()
        except Exception as exc:   # never guess: a wrong answer would resend live messages
            log.warning("cluster: cannot list live processes (%s)", exc.__class__.__name__)
            return None

    # -- messages between processes -----------------------------------------------------------
    def on(self, topic: str, listener: Listener) -> None:
        self._listeners[topic].append(listener)

    def notify(self, topic: str, payload: str = "") -> None:
        """Tell the other processes (PostgreSQL only; coalesced, sent within milliseconds)."""
        if self.shared:
            self._outgoing[(topic, payload)] = None
            self._flush.set()

    def _deliver(self, topic: str, payload: str) -> None:
        for listener in self._listeners.get(topic, ()):
            try:
                listener(payload)
            except Exception:
                log.exception("cluster: listener for %s failed", topic)

    def _take_outgoing(self) -> list[tuple[str, str]]:
        out, self._outgoing = list(self._outgoing), {}
        self._flush.clear()
        return out


class _Backend:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    async def run(self) -> None:
        raise NotImplementedError

    async def live(self) -> set[int]:
        raise NotImplementedError


class _Alone(_Backend):
    """An in-memory database: there is only this process."""

    async def run(self) -> None:
        self.cluster._alive_since = asyncio.get_running_loop().time()
        self.cluster._started.set()
        self.cluster._set_leader(self.cluster.can_lead)
        await asyncio.Event().wait()

    async def live(self) -> set[int]:
        return {self.cluster.instance_id}


class _Files(_Backend):
    """SQLite: flock()ed files in a folder beside the database file."""

    def __init__(self, db_path: Path, cluster: Cluster) -> None:
        super().__init__(cluster)
        self.folder = db_path.parent / f"{db_path.name}.processes"
        self._alive_fd: int | None = None
        self._leader_fd: int | None = None

    async def run(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{self.cluster.instance_id}.alive"
        self._alive_fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._alive_fd, fcntl.LOCK_EX)
        self.cluster._alive_since = asyncio.get_running_loop().time()
        self.cluster._started.set()
        try:
            while True:
                if self._leader_fd is None and self.cluster.can_lead:
                    fd = os.open(self.folder / "leader.lock", os.O_RDWR | os.O_CREAT, 0o600)
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except OSError:
                        os.close(fd)
                    else:
                        self._leader_fd = fd
                        self.cluster._set_leader(True)
                await asyncio.sleep(POLL_S)
        finally:
            for fd in (self._leader_fd, self._alive_fd):
                if fd is not None:
                    os.close(fd)   # closing drops the lock
            self._leader_fd = self._alive_fd = None
            with contextlib.suppress(OSError):
                path.unlink()

    async def live(self) -> set[int]:
        alive = {self.cluster.instance_id}
        for path in self.folder.glob("*.alive"):
            try:
                instance = int(path.stem)
            except ValueError:
                continue
            if instance == self.cluster.instance_id:
                continue
            fd = os.open(path, os.O_RDWR)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                alive.add(instance)    # someone holds it: that process is running
            else:
                with contextlib.suppress(OSError):
                    path.unlink()      # its process is gone
            finally:
                os.close(fd)
        return alive


class _Postgres(_Backend):
    """PostgreSQL: advisory locks and LISTEN/NOTIFY on one asyncpg connection of our own."""

    def __init__(self, url: str, cluster: Cluster) -> None:
        super().__init__(cluster)
        from sqlalchemy.engine import make_url
        self.dsn = make_url(url).set(drivername="postgresql").render_as_string(
            hide_password=False)
        self._conn = None
        self._lock = asyncio.Lock()   # one operation at a time on the connection
        self.db_uptime = 0.0          # seconds since the server started (live())

    async def run(self) -> None:
        import asyncpg
        delay = 0.5
        while True:
            try:
                await self._session(asyncpg)
            except asyncio.CancelledError:
                raise
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError,
                    TimeoutError) as exc:
                log.warning("cluster: database connection lost (%s); reconnecting in %.1f s",
                            exc.__class__.__name__, delay)
            finally:
                self.cluster._set_leader(False)
                self.cluster._alive_since = None
                conn, self._conn = self._conn, None
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await within(conn.close(), 2)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_S)

    async def _session(self, asyncpg) -> None:  # type: ignore[no-untyped-def]
        conn = await asyncpg.connect(self.dsn, timeout=10)
        self._conn = conn
        cluster = self.cluster
        await conn.execute("SELECT pg_advisory_lock($1, $2)", NS_ALIVE, cluster.instance_id)
        cluster._alive_since = asyncio.get_running_loop().time()
        for topic in TOPICS:
            await conn.add_listener(topic, lambda _c, _pid, channel, payload:
                                    cluster._deliver(channel, payload))
        cluster._started.set()
        next_try = 0.0
        loop = asyncio.get_running_loop()
        while True:
            outgoing = cluster._take_outgoing()
            async with self._lock:
                if outgoing:
                    await conn.execute(
                        "SELECT pg_notify(t, p) FROM unnest($1::text[], $2::text[]) AS x(t, p)",
                        [t for t, _ in outgoing], [p for _, p in outgoing])
                if loop.time() >= next_try:
                    next_try = loop.time() + POLL_S
                    if cluster.is_leader:
                        await conn.fetchval("SELECT 1", timeout=5)   # still connected?
                    elif cluster.can_lead and await conn.fetchval(
                            "SELECT pg_try_advisory_lock($1, 0)", NS_LEADER, timeout=5):
                        cluster._set_leader(True)
            await woken(cluster._flush, max(0.01, next_try - loop.time()))

    async def live(self) -> set[int]:
        conn = self._conn
        if conn is None:
            raise ConnectionError("no cluster connection")
        async with self._lock:
            rows = await conn.fetch(
                "SELECT objid::bigint AS id FROM pg_locks WHERE locktype = 'advisory' "
                "AND granted AND objsubid = 2 AND classid::bigint = $1 AND database = "
                "(SELECT oid FROM pg_database WHERE datname = current_database())",
                NS_ALIVE, timeout=5)
            self.db_uptime = float(await conn.fetchval(
                "SELECT extract(epoch FROM now() - pg_postmaster_start_time())", timeout=5))
        return {int(r["id"]) for r in rows}
