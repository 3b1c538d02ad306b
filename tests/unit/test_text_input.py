"""Odd Unicode in what citizens type never stops Loa from keeping it."""
from __future__ import annotations

from bot.core.text import clean_input


def test_a_lone_surrogate_becomes_a_replacement_character_and_pairs_join():
    assert clean_input("khi n\ud800ao") == "khi n\ufffdao"
    assert clean_input("\ud83d\ude00 tắt sóng") == "\U0001F600 tắt sóng"
    assert clean_input("tắt sóng 2G").encode("utf-8")     # storable as UTF-8
    assert clean_input("x\udfff").encode("utf-8") == "x\ufffd".encode()
