"""Text normalisation for matching: NFC, accent folding, chat abbreviations, regional words.

Citizens type with or without tone marks, in chat shorthand (k, ko, dc, dt, sdt, ntn, j, bn,
mik), in Central or Southern words (răng, rứa, mô, hông, dzậy, xài), and sometimes with the
tone keys of a Telex/VNI keyboard left in the text ("tawts soongs"). Everything here is pure
and works on folded text: lower-case a-z0-9 words separated by spaces.
"""
from __future__ import annotations

import re
import unicodedata

# Letters with no Unicode decomposition, or typed with look-alikes (see languages.md).
_SPECIAL = str.maketrans({"đ": "d", "Đ": "d", "ƀ": "b", "Ƀ": "b", "Ɓ": "b", "ɓ": "b",
                          "’": "'", "‘": "'", "ʼ": "'"})
_NON_WORD = re.compile(r"[^a-z0-9]+")
# "sim4g" -> "sim 4g", "nokia1280" -> "nokia 1280"; "4g", "500k", "2g" stay whole.
_LETTER_DIGIT = re.compile(r"(?<=[a-z])(?=[0-9])")
# Accented words whose folded form collides with a topic word: "mấy" (how many) would fold
# to "may" (phone). Mapped before folding; only when typed with their marks.
_ACCENTED: dict[str, str] = {"mấy": ""}
_ACCENTED_RE = re.compile(r"\w+", re.UNICODE)

# Chat abbreviations and regional words, after folding. Values may be several words.
ABBREVIATIONS: dict[str, str] = {
    # không
    "k": "khong", "ko": "khong", "kg": "khong", "khg": "khong", "kh": "khong", "hok": "khong",
    "hong": "khong", "hk": "khong", "hem": "khong", "hum": "khong", "khum": "khong",
    "khom": "khong", "khonq": "khong", "hg": "khong",
    # được, biết, rồi, với, cũng, làm, người, mình, gì, vậy
    "dc": "duoc", "dk": "duoc", "dduoc": "duoc", "duoc": "duoc", "bit": "biet",
    "bik": "biet", "bjk": "biet", "bjet": "biet", "r": "roi", "rui": "roi", "vs": "voi",
    "cx": "cung", "cg": "cung", "cug": "cung", "lm": "lam", "ng": "nguoi", "mik": "minh",
    "mk": "minh", "mjk": "minh", "j": "gi", "ji": "gi", "z": "vay", "v": "vay", "dzay": "vay",
    "zay": "vay", "rua": "vay", "ni": "nay", "tui": "toi", "hnay": "hom nay", "rang": "sao",
    "ms": "moi", "wa": "qua", "ntn": "nhu the nao", "sao": "sao", "trc": "truoc",
    "tg": "thoi gian", "bgio": "bao gio", "bjo": "bao gio",
    # phones, numbers, messages, subscribers
    "dt": "dien thoai", "dth": "dien thoai", "dthoai": "dien thoai", "dtdd": "dien thoai",
    "dienthoai": "dien thoai", "dttm": "dien thoai thong minh",
    "smartphone": "dien thoai thong minh", "sdt": "so dien thoai", "sdth": "so dien thoai",
    "tn": "tin nhan", "nt": "nhan tin", "tb": "thue bao", "xai": "dung", "sim4g": "sim 4g",
    # carriers (canonical names)
    "vt": "viettel", "vtel": "viettel", "vietel": "viettel", "vina": "vinaphone",
    "vnp": "vinaphone", "vinafone": "vinaphone", "vnpt": "vinaphone", "mobi": "mobifone",
    "mobiphone": "mobifone", "mobifon": "mobifone", "mobiphon": "mobifone",
    "vnmb": "vietnamobile", "vietnammobile": "vietnamobile", "vnmobile": "vietnamobile",
    "vnmobi": "vietnamobile",
    # words of other regions
    "coi": "xem", "dum": "giup", "gium": "giup",
}

# Words whose meaning depends on their neighbour: (previous word, word) -> replacement.
_AFTER: dict[tuple[str, str], str] = {
    ("bao", "h"): "gio", ("bao", "chu"): "gio", ("bay", "chu"): "gio", ("khi", "mo"): "nao",
    ("o", "mo"): "dau", ("di", "mo"): "dau", ("la", "chi"): "gi", ("lam", "chi"): "gi",
    ("de", "chi"): "gi", ("cai", "chi"): "gi", ("vo", "lte"): "",
}
# "bn" is "bao nhiêu" after a price word and "bạn" elsewhere; "bh" is "bao giờ" unless it
# opens the message ("bh phải làm sao" = "bây giờ").
_PRICE_WORDS = frozenset({"gia", "tien", "het", "mat", "ton", "la", "so", "mua", "khoang"})


# Same meaning, one spelling: applied to word pairs, then single words, after abbreviations.
SYNONYMS: dict[str, str] = {
    "cat": "tat", "ngat": "tat", "hoan": "lui", "free": "mien phi", "hotline": "tong dai",
    "cskh": "tong dai", "den trang": "cuc gach", "bam phim": "ban phim",
    "phim bam": "ban phim", "cuu thuong": "cap cuu", "thoai 4g": "volte",
    "len 4g": "sang 4g", "qua 4g": "sang 4g", "len 5g": "sang 5g", "bo song": "tat song",
    "bo 2g": "tat 2g", "dom": "hang gia", "rom": "hang gia", "nhai": "hang gia",
    "fake": "hang gia",
    # hearsay and calling Loa by name say nothing about the topic ("Loa ơi, nghe nói ...")
    "nghe noi": "", "nghe bao": "", "loa oi": "", "chao loa": "chao",
}
# Phone brands other than those the content names: a mention means "a phone".
BRANDS = frozenset("""samsung iphone apple oppo xiaomi vivo realme itel masstel philips
mobiistar energizer forme inoi sumo huawei lenovo motorola sony lg alcatel coolpad zte
tecno infinix redmi""".split())
# Place-name syllables of Đắk Lắk (Ê Đê, M'nông origin) that look like typos: never corrected.
PLACE_WORDS = frozenset("""krong drak mdrak hleo buk mgar kuin pac ea sup ana nang kar lak dak
puk thuot buon yang knop mdrac drang dlieya""".split())
# A folded Vietnamese syllable: initial consonant, 1-3 vowels, final consonant.
_SYLLABLE = re.compile(r"^(ngh|ng|gh|gi|kh|nh|ph|qu|th|tr|ch|[bcdghklmnprstvx])?"
                       r"[aeiouy]{1,3}(ch|ng|nh|[cmnpt])?$")


def is_syllable(word: str) -> bool:
    """True for a well-formed Vietnamese syllable (folded): a real word, not a typo."""
    return bool(_SYLLABLE.match(word))


def fold(text: str) -> str:
    """Lower-case, strip tone marks and diacritics, keep only a-z0-9 words separated by spaces."""
    text = unicodedata.normalize("NFC", text).translate(_SPECIAL).lower()
    decomposed = unicodedata.normalize("NFD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _NON_WORD.sub(" ", stripped).strip()


def _premap(text: str) -> str:
    text = unicodedata.normalize("NFC", text).lower()
    return _ACCENTED_RE.sub(lambda m: _ACCENTED.get(m.group(0), m.group(0)), text)


def tokenize(text: str) -> list[str]:
    """Folded words, with glued letters and numbers split and "4 g" joined to "4g"."""
    words: list[str] = []
    for word in fold(_premap(text)).split():
        if word in ABBREVIATIONS:
            words.append(word)
            continue
        for part in _LETTER_DIGIT.split(word):
            if part == "g" and words and words[-1] in {"2", "3", "4", "5"}:
                words[-1] += "g"
            elif part:
                words.append(part)
    return words


def expand(words: list[str]) -> list[str]:
    """Expand abbreviations and regional words, using the previous word where it matters."""
    out: list[str] = []
    for index, word in enumerate(words):
        previous = words[index - 1] if index else ""
        if (previous, word) in _AFTER:
            replacement = _AFTER[(previous, word)]
            if word == "lte":        # "vo lte" is "volte"
                out[-1] = "volte"
                continue
            word = replacement
        elif word == "bn":
            following = words[index + 1] if index + 1 < len(words) else ""
            price = previous in _PRICE_WORDS or following in {"tien", "nghin", "ngan", "trieu"}
            word = "bao nhieu" if price or not following else "ban"
        elif word == "bh":
            word = "bay gio" if index == 0 and len(words) > 2 else "bao gio"
        elif word == "man" and index + 1 < len(words) and words[index + 1] in {"rang", "sao", "gi"}:
            word = "lam"                       # "mần răng" = "làm sao"
        else:
            word = ABBREVIATIONS.get(word, word)
        out.extend(word.split())
    return out


def canonical(words: list[str]) -> list[str]:
    """One spelling for words that mean the same here ("cắt sóng" = "tắt sóng")."""
    out: list[str] = []
    index = 0
    while index < len(words):
        pair = " ".join(words[index:index + 2])
        if index + 1 < len(words) and pair in SYNONYMS and not (
                pair == "thoai 4g" and index and words[index - 1] == "dien"):
            out.extend(SYNONYMS[pair].split())
            index += 2
            continue
        word = words[index]
        if word in BRANDS:
            word = "may"
        out.extend(SYNONYMS.get(word, word).split())
        index += 1
    return out


def normalize_query(text: str) -> list[str]:
    """Fold a citizen's message, expand abbreviations and unify synonyms into a token list."""
    return canonical(expand(tokenize(text)))


_TELEX_PAIRS = (("dd", "d"), ("aa", "a"), ("aw", "a"), ("ee", "e"), ("oo", "o"), ("ow", "o"),
                ("uw", "u"), ("w", "u"))
_TONE_KEYS = "sfrxj"


def keyboard_variants(word: str) -> list[str]:
    """Readings of a word typed with Telex or VNI keys but no input method ("tawts" -> "tat").

    Returns candidates only; the matcher keeps the first one that is a known word.
    """
    out: list[str] = []
    if is_syllable(word) and not any(mark in word for mark in ("aa", "ee", "oo", "dd", "w")):
        return out
    if any(ch.isdigit() for ch in word) and any(ch.isalpha() for ch in word):
        out.append("".join(ch for ch in word if not ch.isdigit()))      # VNI: "ta81t"
    bases = [word] + [word[:i] + word[i + 1:] for i in range(1, len(word))
                      if word[i] in _TONE_KEYS]
    for base in bases:
        collapsed = base
        for pair, single in _TELEX_PAIRS:
            collapsed = collapsed.replace(pair, single)
        for candidate in (base, collapsed):
            if candidate != word and candidate not in out:
                out.append(candidate)
    return out


# Some sources write the Ê Đê/M'nông letter b-hook as Ɓ/ɓ (U+0181/U+0253); the alphabet uses
# Ƀ/ƀ (U+0243/U+0180). See ../shared/languages.md.
_B_HOOK = str.maketrans({"Ɓ": "Ƀ", "ɓ": "ƀ"})


def clean_input(text: str) -> str:
    """What a citizen or a translator typed, stored and compared as NFC with Ƀ/ƀ unified; a
    lone UTF-16 surrogate (JSON can carry one, no database can store it) becomes U+FFFD."""
    if any("\ud800" <= ch <= "\udfff" for ch in text):
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return unicodedata.normalize("NFC", text.translate(_B_HOOK))


def clip(text: str, limit: int) -> str:
    """Cut text to at most `limit` characters without splitting a grapheme (combining marks)."""
    if len(text) <= limit:
        return text
    cut = limit
    while cut > 0 and unicodedata.combining(text[cut]):
        cut -= 1
    return text[:cut]
