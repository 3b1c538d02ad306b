"""Shared by several test modules (moved from tests/test_fuzz_routes.py)."""
from __future__ import annotations

from hypothesis import strategies as st

json_values = st.recursive(   # JSON has no NaN and no Infinity
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=50),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30)


ODD_CHARS = ["\ud800", "\udfff", "\udc80", "\x00", "\u200b", "\ufeff", "\u202e", "e\u0301",
             "²", "³", "٣", "１２", "𝟙", "⁹", "Ⅻ", "\U0010ffff", "\ufffd", "\x7f", "\n"]


odd_text = st.lists(st.one_of(st.characters(), st.sampled_from(ODD_CHARS)),
                    max_size=30).map("".join)


odd_numbers = st.one_of(
    st.sampled_from(["²", "٣", "１２３", "١٧٠٠٠٠٠٠٠٠٠٠٠", "1²", "1e400", "-1", " 12", "0x10",
                     "", "NaN", "9" * 30]),
    st.integers(min_value=-2**80, max_value=2**80), st.floats(), st.booleans(),
    st.just(10**300), st.lists(st.integers(), max_size=2), st.none())


odd_values = st.one_of(odd_text, odd_numbers, json_values)


