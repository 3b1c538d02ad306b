"""Loaded by every Python process that has bench/tracing on its PYTHONPATH (bench/trace.py puts
it there for the Loa it starts; or by hand, for bench/load.py's): when LOA_TRACE names a file,
the process writes one line per event into it: Bot API calls, polled batches stored and
handled, write transactions (time waiting for SQLite's writer lock, time held, commit) and
each SQL statement (its first words and a hash of its text). Ids and times only: no message
text, no parameters. bench/trace.py reads the file."""
from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import sys
import threading
import time
from pathlib import Path

_PATH = os.environ.get("LOA_TRACE")
if _PATH:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    _out = open(_PATH, "w", buffering=1 << 16)   # noqa: SIM115 (open for the process's life)

    def _event(*fields: object) -> None:
        _out.write(" ".join(str(f) for f in fields) + "\n")

    def _flush() -> None:
        while True:
            time.sleep(1)
            _out.flush()

    threading.Thread(target=_flush, daemon=True).start()
    atexit.register(_out.flush)

    from sqlalchemy import event

    from bot.channels.telegram import http
    from bot.delivery import handler
    from bot.store import db, direct  # direct: PostgreSQL's hot statements on asyncpg

    _request = http.AiohttpRequest.do_request

    async def _do_request(self, url, method, request_data=None, *args, **kwargs):  # type: ignore[no-untyped-def]
        t0 = time.monotonic()
        try:
            return await _request(self, url, method, request_data, *args, **kwargs)
        finally:
            _event("http", url.rsplit("/", 1)[-1], f"{t0:.6f}", f"{time.monotonic():.6f}")

    http.AiohttpRequest.do_request = _do_request   # type: ignore[method-assign]

    _store_and_handle = handler.Handler.store_and_handle

    async def _traced_store_and_handle(self, channel, items):  # type: ignore[no-untyped-def]
        t0 = time.monotonic()
        try:
            return await _store_and_handle(self, channel, items)
        finally:
            _event("batch", len(items), f"{t0:.6f}", f"{time.monotonic():.6f}")

    handler.Handler.store_and_handle = _traced_store_and_handle   # type: ignore[method-assign]

    _db_begin = db.Database.begin

    @contextlib.asynccontextmanager
    async def _begin(self):  # type: ignore[no-untyped-def]
        """Database.begin itself, timed: asked, begun (the writer lock taken: the engine's
        "begin" event below), body done, committed."""
        caller = sys._getframe(2).f_code.co_name
        asked = time.monotonic()
        async with _db_begin(self) as conn:
            got = conn.sync_connection.info.pop("trace_begun", asked)
            yield conn
            body = time.monotonic()
        _event("txn", caller, f"{asked:.6f}", f"{got:.6f}", f"{body:.6f}",
               f"{time.monotonic():.6f}")

    db.Database.begin = _begin   # type: ignore[method-assign]

    _make_engine = db.make_engine

    def _traced_engine(url: str):  # type: ignore[no-untyped-def]
        engine = _make_engine(url)

        @event.listens_for(engine.sync_engine, "begin")
        def _begun(conn):  # type: ignore[no-untyped-def]
            conn.info["trace_begun"] = time.monotonic()

        @event.listens_for(engine.sync_engine, "before_cursor_execute")
        def _before(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
            conn.info["trace_t0"] = time.monotonic()

        @event.listens_for(engine.sync_engine, "after_cursor_execute")
        def _after(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
            words = "_".join(statement.split()[:3])[:40]
            _event("sql", f"{conn.info.get('trace_t0', 0):.6f}", f"{time.monotonic():.6f}",
                   words, f"{hash(statement) & 0xffffffff:08x}")

        return engine

    db.make_engine = _traced_engine

    _direct_run = direct.run

    async def _traced_run(conn, stmt, params):  # type: ignore[no-untyped-def]
        t0 = time.monotonic()
        out = await _direct_run(conn, stmt, params)
        if out is not None and params:
            sql = direct.sql_of(stmt, params) or str(stmt)
            _event("sql", f"{t0:.6f}", f"{time.monotonic():.6f}",
                   "_".join(sql.split()[:3])[:40], f"{hash(sql) & 0xffffffff:08x}")
        return out

    direct.run = _traced_run   # type: ignore[assignment]
    import bot.app  # noqa: E402  (it took make_engine by name)
    bot.app.make_engine = _traced_engine   # type: ignore[attr-defined]

    if os.environ.get("LOA_TRACE_STOCK_SQLITE"):   # SQLAlchemy's own aiosqlite driver
        import sqlite3

        import aiosqlite
        from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_dbapi

        from bot.store import sqlite_driver
        sqlite_driver.driver = lambda: AsyncAdapt_aiosqlite_dbapi(aiosqlite, sqlite3)  # type: ignore[assignment,return-value]

    if os.environ.get("LOA_TRACE_COMMIT_CHECKPOINTS"):   # SQLite's default: commits checkpoint
        db.WAL_BACKSTOP_PAGES = 1000

        async def _no_checkpoints(self) -> None:  # type: ignore[no-untyped-def]
            await asyncio.Event().wait()

        db.Database.checkpoints = _no_checkpoints   # type: ignore[method-assign]
