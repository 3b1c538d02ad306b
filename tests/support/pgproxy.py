"""A TCP proxy in front of PostgreSQL that can lose the answer to one COMMIT, on purpose.

The worst moment for a database to fail is right after it committed a transaction and before
the client heard so: the client sees a broken connection, the database has the changes. The
proxy makes that moment happen exactly where a test wants it. It reads the client's side of
the PostgreSQL protocol (Parse, Bind, simple Query: which statements a transaction ran), and
when armed with a pattern it waits for a transaction that ran a statement containing it (and
that returned rows: the server's DataRow messages are counted), lets that transaction's COMMIT
through, then closes both sockets as soon as the server answers
(the answer is never forwarded). Everything else passes through untouched; new connections
are accepted as before, so the client reconnects as it would after a real network failure.
"""
from __future__ import annotations

import asyncio
import struct

SSL_REQUEST = 80877103


class PgProxy:
    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._pattern: bytes | None = None
        self._min_rows = 1
        self.fired = asyncio.Event()     # the answer to an armed COMMIT was lost
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def __aenter__(self) -> PgProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):   # the pumps see the end of their streams
            writer.close()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def url(self, database_url: str) -> str:
        """`database_url` (postgresql+asyncpg://user@host:port/name) through this proxy."""
        head, name = database_url.rsplit("/", 1)
        user = head.split("//", 1)[1].split("@", 1)[0]
        return f"postgresql+asyncpg://{user}@127.0.0.1:{self.port}/{name}"

    def arm(self, pattern: str, returning_rows: bool = True) -> None:
        """Lose the answer to the next COMMIT of a transaction that ran a statement
        containing `pattern` (SQL text as the client sends it), which returned rows unless
        `returning_rows` is False."""
        self.fired.clear()
        self._pattern = pattern.encode()
        self._min_rows = 1 if returning_rows else 0

    async def _serve(self, client_r: asyncio.StreamReader,
                     client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            server_r, server_w = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_w.close()
            self._tasks.discard(task)
            return
        self._writers.update((client_w, server_w))
        state = _Connection()
        down = asyncio.create_task(self._server_to_client(server_r, client_w, state))
        try:
            await self._client_to_server(client_r, client_w, server_w, state)
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            down.cancel()
            await asyncio.gather(down, return_exceptions=True)
            for writer in (client_w, server_w):
                writer.close()
                self._writers.discard(writer)
            self._tasks.discard(task)

    async def _client_to_server(self, reader: asyncio.StreamReader,
                                client_w: asyncio.StreamWriter, writer: asyncio.StreamWriter,
                                state: _Connection) -> None:
        # Untyped start-up messages first. An SSLRequest is answered here ("no"), so the
        # conversation stays readable; then the StartupMessage goes through.
        while True:
            length = struct.unpack("!I", await reader.readexactly(4))[0]
            body = await reader.readexactly(length - 4)
            if length == 8 and struct.unpack("!I", body)[0] == SSL_REQUEST:
                client_w.write(b"N")
                await client_w.drain()
                continue
            writer.write(struct.pack("!I", length) + body)
            await writer.drain()
            break
        statements: dict[bytes, bytes] = {}   # prepared statement name -> SQL text
        while True:
            kind = await reader.readexactly(1)
            length = struct.unpack("!I", await reader.readexactly(4))[0]
            body = await reader.readexactly(length - 4)
            sql = b""
            if kind == b"P":                  # Parse: name, query
                name, rest = body.split(b"\0", 1)
                statements[name] = rest.split(b"\0", 1)[0]
            elif kind == b"B":                # Bind: portal, statement
                sql = statements.get(body.split(b"\0", 2)[1], b"")
            elif kind == b"Q":                # simple Query
                sql = body.rstrip(b"\0")
            head = sql.lstrip().upper()[:8]
            if head.startswith(b"BEGIN") or head.startswith(b"ROLLBACK"):
                state.ran = []
            elif head.startswith(b"COMMIT"):
                pattern = self._pattern
                if pattern is not None and any(pattern in text and rows >= self._min_rows
                                               for text, rows in state.ran):
                    self._pattern = None
                    state.cut = True   # before the COMMIT leaves: its answer must not pass
                state.ran = []
            elif sql:
                state.ran.append([sql, 0])
            writer.write(kind + struct.pack("!I", length) + body)
            await writer.drain()

    async def _server_to_client(self, reader: asyncio.StreamReader,
                                writer: asyncio.StreamWriter, state: _Connection) -> None:
        """Forward the server's messages, counting the rows each statement returned."""
        try:
            while True:
                kind = await reader.readexactly(1)
                length = struct.unpack("!I", await reader.readexactly(4))[0]
                body = await reader.readexactly(length - 4)
                if state.cut:   # the COMMIT's answer (the client sends nothing until it has it)
                    self.fired.set()
                    break
                if kind == b"D" and state.ran:   # DataRow of the statement running now
                    state.ran[-1][1] += 1
                writer.write(kind + struct.pack("!I", length) + body)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        writer.close()   # the client's reads end: it sees a broken connection


class _Connection:
    """What one client connection did in its current transaction."""

    def __init__(self) -> None:
        self.ran: list[list] = []   # [SQL text, rows returned] per statement run
        self.cut = False
