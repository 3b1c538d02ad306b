"""Text normalisation for matching: NFC, accent folding, chat abbreviations."""
from __future__ import annotations

import re
import unicodedata

# Letters with no Unicode decomposition, or typed with look-alikes (see languages.md).
_SPECIAL = str.maketrans({"đ": "d", "Đ": "d", "ƀ": "b", "Ƀ": "b", "Ɓ": "b", "ɓ": "b",
                          "’": "'", "‘": "'", "ʼ": "'"})
_NON_WORD = re.compile(r"[^a-z0-9]+")

# Chat abbreviations Vietnamese users type; expanded after folding (issue 5 extends this).
ABBREVIATIONS: dict[str, str] = {
    "k": "khong", "ko": "khong", "kg": "khong", "hok": "khong", "hong": "khong", "khg": "khong",
    "dc": "duoc", "dk": "duoc", "dt": "dien thoai", "dth": "dien thoai", "dthoai": "dien thoai",
    "sdt": "so dien thoai", "ntn": "nhu the nao", "j": "gi", "z": "vay", "v": "vay",
    "mik": "minh", "mk": "minh", "bjo": "bao gio", "bh": "bao gio", "trc": "truoc",
    "nhieu": "nhieu", "tg": "thoi gian", "sim4g": "sim 4g", "4g": "4g", "2g": "2g",
    "dtdd": "dien thoai", "a": "a",
}


def fold(text: str) -> str:
    """Lower-case, strip tone marks and diacritics, keep only a-z0-9 words separated by spaces."""
    text = unicodedata.normalize("NFC", text).translate(_SPECIAL).lower()
    decomposed = unicodedata.normalize("NFD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _NON_WORD.sub(" ", stripped).strip()


def normalize_query(text: str) -> list[str]:
    """Fold a citizen's message and expand abbreviations into a token list."""
    tokens: list[str] = []
    for word in fold(text).split():
        tokens.extend(ABBREVIATIONS.get(word, word).split())
    return tokens


def clip(text: str, limit: int) -> str:
    """Cut text to at most `limit` characters without splitting a grapheme (combining marks)."""
    if len(text) <= limit:
        return text
    cut = limit
    while cut > 0 and unicodedata.combining(text[cut]):
        cut -= 1
    return text[:cut]
