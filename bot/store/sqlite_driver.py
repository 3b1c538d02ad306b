"""SQLAlchemy's aiosqlite driver, with one trip to SQLite's thread per statement instead of four.

aiosqlite runs each SQLite call on a thread of its own connection and hands the result back to
the event loop. SQLAlchemy's adapter makes four such calls per statement: open a cursor,
execute, fetch the rows, close the cursor. Each trip wakes a thread and then the event loop,
and waits for whatever else the loop has to do first: on the path of a reply (a dozen
statements per transaction) that was most of the transaction's time at 200 messages/s, while
SQLite's own work was a quarter of it (issue 16). Here the cursor is opened, run, read and
closed in one call on that thread. Everything else (transactions, errors and their mapping,
the pool) is SQLAlchemy's aiosqlite dialect, unchanged; the driver is passed to it as its DB-API
module (`create_async_engine(..., module=driver())`). It uses aiosqlite's own way to run a call
on that thread (`Connection._execute`, with the sqlite3 connection `_conn`) and SQLAlchemy's
adapter classes, both pinned in pyproject.toml: every database test on SQLite goes through it.
"""
from __future__ import annotations

import collections
import sqlite3
from collections.abc import Sequence
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

Result = tuple[Any, Sequence[Any], int, int | None]


def _execute(conn: sqlite3.Connection, operation: str, parameters: Any) -> Result:
    """On the connection's thread: the whole statement, rows included."""
    cursor = conn.cursor()
    try:
        if parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else ()
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


def _executemany(conn: sqlite3.Connection, operation: str, seq: Any) -> Result:
    cursor = conn.cursor()
    try:
        cursor.executemany(operation, seq)
        return None, (), cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A cursor that holds its results: no aiosqlite cursor, nothing to close on the thread."""

    __slots__ = ("_description", "_rowcount", "_lastrowid")
    _awaitable_cursor_close = False

    def __init__(self, adapt_connection: Any) -> None:   # no cursor opened on the thread
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None   # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid   # type: ignore[return-value]

    @property
    def arraysize(self) -> int:
        return 1

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        pass

    def _keep(self, result: Result) -> None:
        self._description, rows, self._rowcount, self._lastrowid = result
        self._rows = collections.deque(rows)

    async def _execute_async(self, operation: Any, parameters: Any) -> None:
        async with self._adapt_connection._execute_mutex:
            aio = self._connection
            self._keep(await aio._execute(_execute, aio._conn, operation, parameters))

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> None:
        async with self._adapt_connection._execute_mutex:
            aio = self._connection
            self._keep(await aio._execute(_executemany, aio._conn, operation,
                                          seq_of_parameters))

    async def _async_soft_close(self) -> None:
        return

    def setinputsizes(self, *inputsizes: Any) -> None:
        return

    def nextset(self) -> None:
        raise self._adapt_connection.dbapi.NotSupportedError("SQLite has one result set")


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneTripCursor


class OneTripDriver(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        connection = aiosqlite.connect(*arg, **kw)
        connection._thread.daemon = True   # as SQLAlchemy's: never keeps the process alive
        return OneTripConnection(self, await_(connection))


def driver() -> OneTripDriver:
    return OneTripDriver(aiosqlite, sqlite3)
