"""PostgreSQL: the statements on every message's path, run on asyncpg itself (issue 16).

SQLAlchemy stays what builds the statements, owns the pool and the transactions, and turns
errors into its own; only the execution of a built statement skips its layers. On a busy
process those layers cost more CPU than asyncpg does (`bench/statement_cost.py`: some 120 µs
of Loa's CPU per statement through `AsyncConnection.execute` against 50 µs on asyncpg; the
py-spy profile of `bench/load.py` at 300 updates/s: about a quarter of Loa's CPU in
SQLAlchemy's execution layer). A statement is compiled for asyncpg once (its text, which
parameters go where, their bind processors, the column defaults an INSERT fills in, the
result columns and their processors) and then run with asyncpg's `fetch` or `executemany`
in the caller's transaction (begun here if SQLAlchemy has not sent BEGIN yet).
A statement this cannot run as compiled (an expanding IN list, a parameter computed at
execution) goes through SQLAlchemy as before: `run` answers None and the caller executes it there.

An error is raised as SQLAlchemy raises it (`DBAPIError` and its kinds), and a lost
connection is invalidated in the pool, as when SQLAlchemy ran the statement.
"""
from __future__ import annotations

import re
from collections import namedtuple
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.dialects.postgresql.asyncpg import dialect as _AsyncpgDialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.util import greenlet_spawn

_DIALECT = _AsyncpgDialect()


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    # per positional parameter: (name in the caller's params, or None; constant or a column
    # default's callable; bind processor or None; whether the constant is a callable)
    slots: tuple[tuple[str | None, Any, Callable[[Any], Any] | None, bool], ...]
    row: Any                 # a namedtuple class over the result columns, or None
    results: tuple[Callable[[Any], Any] | None, ...] | None   # result processors, if any
    arrays: bool = False     # an INSERT of many rows as one over arrays (see _unnest)


_CACHE: dict[tuple[int, tuple[str, ...], bool], _Compiled | None] = {}
_VALUES = re.compile(r"\) VALUES \((\$\d+::[A-Z ]+(?:, \$\d+::[A-Z ]+)*)\)")
_KEEP: dict[int, ClauseElement] = {}   # the statements cached by id stay alive
_MOST = 2000   # compiled forms kept (Loa's hot path has some 20)


def _unnest(sql: str) -> str | None:
    """An INSERT of one row's parameters ($1::TYPE, ... in order) as an INSERT of the rows of
    arrays ($1::TYPE[], ...): many rows in one statement with one text, whatever their number
    (one parse and one execution on the server, where asyncpg's executemany runs the
    statement once per row). `WITH ORDINALITY ... ORDER BY`: the rows go in, and get their
    serial ids, in the order given (as SQLAlchemy's own multi-row insert relies on)."""
    found = _VALUES.search(sql)
    if found is None:
        return None
    slots = found.group(1).split(", ")
    if [s.split("::")[0] for s in slots] != [f"${i}" for i in range(1, len(slots) + 1)]:
        return None
    names = [f"u{i}" for i in range(1, len(slots) + 1)]
    return (f"{sql[:found.start()]}) SELECT {', '.join(names)} FROM unnest("
            f"{', '.join(s + '[]' for s in slots)}) WITH ORDINALITY AS u({', '.join(names)}, "
            f"u_order) ORDER BY u_order{sql[found.end():]}")


def _compile(stmt: ClauseElement, keys: tuple[str, ...], many: bool) -> _Compiled | None:
    compiled: Any = stmt.compile(dialect=_DIALECT, column_keys=list(keys))
    if "POSTCOMPILE" in compiled.string or compiled.positiontup is None:
        return None   # an expanding list: its text depends on the values
    processors = compiled._bind_processors
    prefetch = {**{c.key: c.default for c in compiled.insert_prefetch},
                **{c.key: c.onupdate for c in compiled.update_prefetch}}
    given = set(keys)
    slots = []
    for name in compiled.positiontup:
        proc = processors.get(name)
        if name in given:
            slots.append((name, None, proc, False))
        elif name in prefetch:
            default = prefetch[name]
            if default is None or not (default.is_scalar or default.is_callable):
                return None
            if default.is_scalar:
                value = default.arg
                slots.append((None, proc(value) if proc else value, None, False))
            else:
                slots.append((None, default.arg, proc, True))   # called per row
        else:
            bind = compiled.binds.get(name)
            if bind is None or bind.callable is not None or bind.required:
                return None
            value = bind.effective_value
            slots.append((None, proc(value) if proc else value, None, False))
    row = results = None
    columns = getattr(compiled, "_result_columns", None) or []
    if columns:
        row = namedtuple("Row", [c[0] for c in columns], rename=True)   # type: ignore[misc]
        procs = tuple(c[3]._cached_result_processor(_DIALECT, None) for c in columns)
        results = procs if any(procs) else None
    sql, arrays = compiled.string, False
    if many and not compiled.isinsert and row is not None:
        return None   # (many rows of an UPDATE ... RETURNING: none on the hot path)
    if many and compiled.isinsert:
        sql, arrays = _unnest(sql), True
        if sql is None or (columns and columns[0][0] != "id"):
            return None   # (the rows are put back in order by their ids)
    return _Compiled(sql, tuple(slots), row, results, arrays)


def _compiled(stmt: ClauseElement, keys: tuple[str, ...], many: bool) -> _Compiled | None:
    key = (id(stmt), keys, many)
    try:
        return _CACHE[key]
    except KeyError:
        pass
    if len(_CACHE) >= _MOST:
        return None   # statements built per call (not once): SQLAlchemy caches those itself
    _KEEP[id(stmt)] = stmt
    found = _CACHE[key] = _compile(stmt, keys, many)
    return found


def sql_of(stmt: ClauseElement, params: dict[str, Any] | list[dict[str, Any]]) -> str | None:
    """The text `run` sent for `stmt` with parameters like these (None: it has not run it),
    for the benchmarks that count statements (bench/statements.py, bench/tracing)."""
    many = isinstance(params, list)
    if not params:
        return None
    found = _CACHE.get((id(stmt), tuple(params[0] if many else params), many))
    return None if found is None else found.sql


def _args(c: _Compiled, params: dict[str, Any]) -> list[Any]:
    out = []
    for name, constant, proc, call in c.slots:
        if name is not None:
            value = params[name]
        elif call:
            value = constant(None)
        else:
            out.append(constant)
            continue
        out.append(value if proc is None else proc(value))   # None too, as SQLAlchemy does
    return out


def _rows(c: _Compiled, records: Sequence[Any]) -> list[Any]:
    make = c.row._make
    if c.results is None:
        return [make(r) for r in records]
    procs = c.results
    return [make(v if p is None else p(v) for p, v in zip(procs, r, strict=True))
            for r in records]


async def run(conn: AsyncConnection, stmt: ClauseElement,
              params: dict[str, Any] | list[dict[str, Any]]) -> list[Any] | None:
    """Run `stmt` with one set of `params` (a dict) or many (a list of dicts with the same
    keys) on this PostgreSQL connection's asyncpg connection, in its transaction; its rows
    (named tuples) if it returns any, else []. None: not run (not PostgreSQL, no transaction
    begun, or a statement this does not run): execute it through SQLAlchemy."""
    if conn.dialect.name != "postgresql" or not conn.in_transaction():
        return None   # (outside a transaction SQLAlchemy begins one at the first statement:
        # let it, so that the caller's commit() commits; a connection from db.connect())
    many = isinstance(params, list)
    if many and not params:
        return []
    first = params[0] if many else params
    c = _compiled(stmt, tuple(first), many)
    if c is None:
        return None
    adapted = conn.sync_connection.connection.dbapi_connection   # type: ignore[union-attr]
    raw = adapted._connection
    try:
        async with adapted._execute_mutex:
            if adapted._transaction is None:
                await adapted._start_transaction()
            if not many:
                records = await raw.fetch(c.sql, *_args(c, params))   # type: ignore[arg-type]
            elif c.arrays:   # one array per column
                records = await raw.fetch(c.sql, *map(list, zip(*(_args(c, p) for p in params),
                                                               strict=True)))
            else:
                await raw.executemany(c.sql, [_args(c, p) for p in params])
                return []
    except BaseException as error:   # as SQLAlchemy's cursor would: translated, and a lost
        # connection (or one left mid-statement by a cancelled task) invalidated; raises
        await greenlet_spawn(_raise_as_sqlalchemy, conn, adapted, error, c.sql)
        raise
    if c.row is None:
        return []
    rows = _rows(c, records)
    if c.arrays:   # in the order given: ids follow it (see _unnest)
        rows.sort(key=lambda r: r[0])
    return rows


def _raise_as_sqlalchemy(conn: AsyncConnection, adapted: Any, error: BaseException,
                         sql: str) -> None:
    try:
        adapted._handle_exception(error)   # raises the DB-API error it maps to (or the
        # error itself: a cancellation)
    except BaseException as dbapi_error:
        # wraps it as DBAPIError (IntegrityError, OperationalError, ...) and invalidates the
        # connection if it was lost or left mid-statement (cancelled); always raises
        conn.sync_connection._handle_dbapi_exception(   # type: ignore[union-attr]
            dbapi_error, sql, None, None, None)
