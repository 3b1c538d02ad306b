"""A citizen's erasure cannot forget a table: every table with a pseudonym column is either
declared for erasure by its owner (an `ERASURE` tuple of bot.store.erasure.Erasure next to the
table, bot/store/erasure.py for the store's own) or kept on purpose, with the reason, below."""
from __future__ import annotations

import sys

from sqlmodel import SQLModel

import bot.models  # noqa: F401  (imports every table, and with them their owners' declarations)
from bot.store.erasure import STORE_ERASURE, Erasure

# Tables with a pseudonym column that no declaration erases, and why.
KEEP = {
    "contact": "erase_contact itself anonymises the contact row of the channel asked (and blanks "
               "the addresses of its outbox rows): it needs the channel, not only the pseudonym",
    "officer": "staff, not citizens: an officer's chat identity is their login; removing an "
               "officer is the officers feature's own audited action",
}


def pseudonym_columns(table: object) -> set[str]:
    return {c.name for c in table.columns if "pseudonym" in c.name}   # type: ignore[attr-defined]


def declarations() -> list[tuple[str, Erasure]]:
    """Every declaration in the loaded modules of Loa: (module, erasure)."""
    found = [("bot.store.erasure", e) for e in STORE_ERASURE]
    for name, module in sorted(sys.modules.items()):
        erasures = getattr(module, "ERASURE", None) if name.startswith("bot.") else None
        if erasures is not None:
            assert isinstance(erasures, tuple), f"{name}.ERASURE is not a tuple"
            found += [(name, e) for e in erasures]
    return found


def test_every_pseudonym_column_is_erased_or_kept_on_purpose():
    declared: dict[tuple[str, str], list[str]] = {}
    for module, erasure in declarations():
        assert isinstance(erasure, Erasure), f"{module}.ERASURE holds {erasure!r}"
        declared.setdefault((erasure.table.name, erasure.column), []).append(module)
    missing = sorted(f"{name}.{column}" for name, table in SQLModel.metadata.tables.items()
                     if name not in KEEP for column in pseudonym_columns(table)
                     if (name, column) not in declared)
    assert not missing, (
        f"{missing}: a table keeps a citizen's pseudonym but nothing erases it; declare an "
        "Erasure next to the table (ERASURE, bot/store/erasure.py) and add it to the "
        "composition root's list, or add the table to KEEP here with the reason")
    twice = {k: v for k, v in declared.items() if len(v) > 1}
    assert not twice, f"declared more than once: {twice}"


def test_declarations_name_real_pseudonym_columns_and_keep_is_not_stale():
    tables = SQLModel.metadata.tables
    for module, erasure in declarations():
        assert tables.get(erasure.table.name) is erasure.table, (module, erasure.table.name)
        assert erasure.column in pseudonym_columns(erasure.table), (module, erasure)
        assert erasure.table.name not in KEEP, (module, erasure.table.name)
        for column in erasure.values or {}:
            assert column in erasure.table.c, (module, erasure.table.name, column)
    for name in KEEP:
        assert name in tables and pseudonym_columns(tables[name]), f"stale KEEP entry {name}"
