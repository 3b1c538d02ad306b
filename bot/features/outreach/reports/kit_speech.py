"""Vietnamese written for the ear: numbers, dates and prices as a loudspeaker reader says them,
and how long a script takes to read out.

A reader who meets "1800 8098" or "15/9/2026" in a script hesitates or reads it several ways;
the loudspeaker script therefore carries no digits, only the words to say.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass

DIGITS = ("không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín")
_GROUPS = ("", "nghìn", "triệu", "tỷ")
# A slow, clear loudspeaker reading for older listeners. Counted in syllables ("tiếng"): a
# Vietnamese word written with spaces is a syllable. News readers go faster (about 200).
WORDS_PER_MINUTE = 130

_DATE = re.compile(r"\b(\d{1,2})/(\d{1,2})/(\d{4})\b")
_MONTH_YEAR = re.compile(r"\btháng (\d{1,2})/(\d{4})\b")
# A number standing alone ("200", "200.000"), not part of a term such as "2G" or "1800 8098".
_AMOUNT = re.compile(r"(?<![\w.])(?:\d{1,3}(?:\.\d{3})+|\d+)(?!\w|[.,]\d)")
_DECIMAL = re.compile(r"(?<![\w.,])(\d+),(\d+)(?!\w)")
_RANGE = re.compile(r"(?<=\d)\s*[–-]\s*(?=\d)")
_PER = re.compile(r"\s*đ/(\w+)")
_DONG = re.compile(r"(?<=\d)\s*đ\b|(?<=\s)đ\b")


def _hundreds(n: int, full: bool) -> list[str]:
    """0–999 in words; `full` when a higher group precedes it ("hai nghìn không trăm lẻ năm")."""
    h, t, u = n // 100, n // 10 % 10, n % 10
    words = [DIGITS[h], "trăm"] if full or h else []
    if t == 0:
        if u:
            words += ["lẻ", DIGITS[u]] if words else [DIGITS[u]]
    elif t == 1:
        words.append("mười")
        if u:
            words.append("lăm" if u == 5 else DIGITS[u])
    else:
        words += [DIGITS[t], "mươi"]
        if u:
            words.append({1: "mốt", 4: "tư", 5: "lăm"}.get(u, DIGITS[u]))
    return words


def say_number(n: int) -> str:
    """A quantity or a year in words: 2026 -> "hai nghìn không trăm hai mươi sáu"."""
    if n == 0:
        return DIGITS[0]
    groups = []
    while n:
        groups.append(n % 1000)
        n //= 1000
    words: list[str] = []
    for index in reversed(range(len(groups))):
        if groups[index]:
            words += _hundreds(groups[index], full=bool(words))
            if index:
                words.append(_GROUPS[index] if index < len(_GROUPS) else _GROUPS[-1])
    return " ".join(words)


def say_digits(number: str) -> str:
    """A phone number digit by digit, with a pause (comma) where it is written with a space:
    "1800 8098" -> "một tám không không, tám không chín tám"."""
    groups = [g for g in re.split(r"[\s.]+", number.strip()) if any(c.isdigit() for c in g)]
    return ", ".join(" ".join(DIGITS[int(c)] for c in g if c.isdigit()) for g in groups)


def say_month(month: int) -> str:
    return "tư" if month == 4 else say_number(month)


def say_day(day: int) -> str:
    """Days 1–10 are said "mùng một" ... "mùng mười"."""
    return f"mùng {say_number(day)}" if day <= 10 else say_number(day)


def say_date(day: dt.date) -> str:
    """ "mười lăm tháng chín năm hai nghìn không trăm hai mươi sáu" (the script writes "ngày"
    before it, as the printed text writes "ngày 15/9/2026")."""
    return f"{say_day(day.day)} tháng {say_month(day.month)} năm {say_number(day.year)}"


def _date_words(m: re.Match[str]) -> str:
    try:
        return say_date(dt.date(int(m[3]), int(m[2]), int(m[1])))
    except ValueError:                       # not a real date: read the numbers as they stand
        return m[0]


def spoken(text: str) -> str:
    """`text` with its dates, months, amounts and prices in words. Written terms such as "2G"
    and "4G" stay (a reader says "hai G" without help); any digit left over is read one by
    one, so no digit reaches the reader."""
    text = _DATE.sub(_date_words, text)
    text = _MONTH_YEAR.sub(lambda m: f"tháng {say_month(int(m[1]))} năm {say_number(int(m[2]))}",
                           text)
    text = _RANGE.sub(" đến ", text)
    text = _PER.sub(lambda m: f" đồng một {m[1]}", text)
    text = _DONG.sub(" đồng", text)
    text = re.sub(r"\s*%", " phần trăm", text)
    text = _DECIMAL.sub(lambda m: f"{say_number(int(m[1]))} phẩy {say_digits(m[2])}", text)
    text = _AMOUNT.sub(lambda m: say_number(int(m[0].replace(".", ""))), text)
    text = re.sub(r"\d(?!G\b)", lambda m: f" {DIGITS[int(m[0])]} ", text)
    return " ".join(text.split())


def count_words(paragraphs: Iterable[str]) -> int:
    return sum(len(p.split()) for p in paragraphs)


def reading_seconds(paragraphs: Iterable[str], per_minute: int = WORDS_PER_MINUTE) -> int:
    """How long reading the paragraphs out takes, at `per_minute` syllables a minute."""
    return round(count_words(paragraphs) * 60 / per_minute)


@dataclass(frozen=True)
class Reading:
    """How long a script takes to read out, for the officer who schedules the loudspeakers."""

    words: int
    seconds: int
    rate: int = WORDS_PER_MINUTE


def reading(paragraphs: Iterable[str], per_minute: int = WORDS_PER_MINUTE) -> Reading:
    paragraphs = list(paragraphs)
    return Reading(count_words(paragraphs), reading_seconds(paragraphs, per_minute), per_minute)
