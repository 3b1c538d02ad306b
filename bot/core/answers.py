"""Yes, no and "I don't know" the way people type them in Vietnamese chats (the phone check).

Read from folded text (bot/core/text.fold: no tone marks, lower case, words only), so "Dạ có ạ",
"da co a" and "DẠ CÓ!!" are the same answer. Polite words around the answer ("dạ", "ạ", "nhé",
"con", "cháu", "Loa ơi") are set aside first. A longer message that is not one of these is a
question or a remark, and is left to the rest of the conversation.
"""
from __future__ import annotations

YES, NO, UNKNOWN = "yes", "no", "unknown"

# Words that only make an answer polite or address someone: "dạ có ạ", "không nhé cháu".
_POLITE = frozenset({
    "da", "a", "ah", "vang", "nhe", "nha", "nhen", "ne", "oi", "loa", "con", "chau", "em",
    "anh", "chi", "ba", "ong", "bac", "co", "chu", "di", "cau", "minh", "toi", "tui", "thi",
    "la", "roi", "luon", "lam", "do", "day", "ma", "hi", "hihi", "ok", "ak", "nua",
})
_PURE_POLITE = _POLITE - {"co", "da", "vang", "roi", "ok"}
# What the check's questions ask about, echoed in an answer: "không có 4G", "có vào mạng".
_ECHO = frozenset({"4g", "lte", "volte", "chu", "ghi", "internet", "mang", "zalo", "facebook",
                   "fb", "vao", "duoc", "dc", "tren", "hop", "man", "hinh", "cai", "dat",
                   "thay"})
# Whole answers (after the polite words are set aside), folded.
_YES = frozenset({
    "co", "u", "uh", "uhm", "um", "uk", "uki", "uhuh", "vang", "da", "da vang", "vang a",
    "ok", "oke", "okay", "okie", "yes", "y", "co chu", "da co", "vang co", "da vang co",
    "co a", "dung", "dung roi", "dung vay",
    "phai", "phai roi", "chuan", "co day", "co do", "co nha", "co luon", "co roi", "duoc",
    "dc", "co duoc", "vao duoc", "co vao duoc", "vao dc", "co ghi", "co chu do", "co thay",
    "thay co", "co 4g", "co lte", "co volte", "1",
})
_NO = frozenset({
    "khong", "ko", "k", "kg", "kh", "khg", "kô", "hong", "hok", "hem", "hum", "khum", "hk",
    "no", "n", "da khong", "da ko", "da k", "da chua", "ko co", "k co", "khong co",
    "hong co", "chua", "chua co", "khong a", "khong phai",
    "ko phai", "khong duoc", "ko duoc", "ko dc", "k dc", "khong dc", "khong vao duoc",
    "ko vao duoc", "k vao duoc", "khong thay", "ko thay", "k thay", "khong ghi", "ko ghi",
    "khong co chu", "ko co chu", "chiu khong co", "2",
})
_UNKNOWN = frozenset({
    "khong biet", "ko biet", "k biet", "kg biet", "hong biet", "hok biet", "khong bik",
    "ko bik", "k bik", "khong bit", "ko bit", "k bit", "hong bit", "kb", "kbt", "ko bt",
    "k bt", "khong bt", "chiu", "chiu thoi", "khong ro", "ko ro", "k ro", "chua ro",
    "khong chac", "ko chac", "k chac", "chua chac", "chua biet", "khong nho", "ko nho",
    "k nho", "quen roi", "khong hieu", "ko hieu", "biet dau", "ai biet", "co biet dau",
    "khong biet nua", "ko biet nua", "k biet nua", "hong biet nua", "dont know",
    "i dont know", "idk", "3", "khong xem duoc", "ko xem duoc", "khong doc duoc",
    "khong biet xem", "ko biet xem", "khong biet chu", "ko biet chu", "khong biet doc",
})
_MAX_WORDS = 7   # longer than this, and not a known answer: a question or a remark


def yes_no(folded: str) -> str | None:
    """YES, NO, UNKNOWN or None (not an answer) for a folded message."""
    words = folded.split()
    if not words or len(words) > _MAX_WORDS:
        return None
    for candidate in _forms(words):
        if candidate in _UNKNOWN:
            return UNKNOWN
        if candidate in _NO:
            return NO
        if candidate in _YES:
            return YES
    return None


def _trim(words: list[str], polite: frozenset[str]) -> list[str]:
    """Polite words off the end, then off the start, always leaving one word."""
    start, end = 0, len(words)
    while end - 1 > start and words[end - 1] in polite:
        end -= 1
    while start < end - 1 and words[start] in polite:
        start += 1
    return words[start:end]


def _forms(words: list[str]) -> list[str]:
    """The message as typed, then with polite words trimmed from its ends (first only those
    that are never an answer, then also "dạ", "có", "vâng", which are answers alone), then
    with them removed, then without the words it echoes from the question."""
    forms = [" ".join(words)]
    for polite in (_PURE_POLITE, _POLITE):
        forms.append(" ".join(_trim(words, polite)))
    kept = [w for w in words if w not in _PURE_POLITE]   # "không có ạ", "dạ không biết ạ"
    if kept:
        forms.append(" ".join(kept))
        bare = [w for w in kept if w not in _ECHO]   # "không có 4G" -> "không có"
        if bare and bare != kept:
            forms.append(" ".join(bare))
    return forms
