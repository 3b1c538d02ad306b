"""What a citizen's right to be forgotten removes, declared by the owners of the tables.

Each module that keeps a table with a citizen's pseudonym declares next to it an `ERASURE`
tuple: the table, the column holding the pseudonym, and whether the citizen's rows are deleted
or kept (for counts) with their identifying columns written over. The composition root gathers
the declarations and hands them to bot/features/privacy/forget.py; tests/unit/
test_erasure_declared.py fails for a table with a pseudonym column that is not declared (nor
kept on purpose). The store's own tables are declared here (`STORE_ERASURE`).
"""
from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store import queries
from bot.store.models import PollAnswer


def erased_pseudonym() -> str:
    """A random stand-in for an erased citizen's pseudonym: links to nothing, not even to the
    citizen's other rows."""
    return f"erased:{secrets.token_hex(12)}"


@dataclass(frozen=True)
class Erasure:
    """One citizen's rows of `table`: those whose `column` is their pseudonym. `values` None:
    delete them; otherwise they stay (they are counted) with `values` written over them, where
    a callable value is called once per row (a fresh random stand-in for each)."""

    table: Any
    column: str
    values: Mapping[str, Any | Callable[[], Any]] | None = None


async def erase(conn: AsyncConnection, erasure: Erasure, pseudonym: str) -> int:
    """Apply one declaration to one citizen's rows; returns how many rows it touched."""
    table, values = erasure.table, erasure.values
    match = table.c[erasure.column] == pseudonym
    if values is None:
        return (await conn.execute(delete(table).where(match))).rowcount or 0
    if not any(callable(v) for v in values.values()):
        return (await conn.execute(update(table).where(match).values(**values))).rowcount or 0
    (key,) = table.primary_key.columns     # per-row values need a one-column key
    touched = 0
    for row_key in (await conn.execute(select(key).where(match).order_by(key))).scalars():
        await conn.execute(update(table).where(key == row_key).values(
            **{name: v() if callable(v) else v for name, v in values.items()}))
        touched += 1
    return touched


POLL = PollAnswer.__table__     # type: ignore[attr-defined]
STORE_ERASURE: tuple[Erasure, ...] = (
    # Communication runs stay for the monthly report, without the pseudonym.
    Erasure(queries.RUN, "contact_pseudonym", {"contact_pseudonym": None}),
    # Poll answers stay counted, each under a random id of its own and without the commune.
    Erasure(POLL, "contact_pseudonym",
            {"contact_pseudonym": erased_pseudonym, "commune_code": None}),
)
