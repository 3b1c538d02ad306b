"""The first free-text matcher: accent-insensitive, IDF-weighted overlap with sample questions.

Typos are tolerated by snapping unknown words to the closest known word (rapidfuzz).
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from bot.core.content import ContentSet
from bot.core.text import normalize_query

ANSWER_THRESHOLD = 0.45   # below this Loa says it is unsure
KEYWORD_BONUS = 0.12      # per distinct keyword phrase found, capped
KEYWORD_CAP = 0.3
_FUZZY_CUTOFF = 80
# Function words that say nothing about the topic (folded, without tone marks).
STOPWORDS = frozenset("""
a ah ak a oi ai anh ba bac bi cai cac cho chi chu co con cua da dang day de di do em gi ha
hay hoi hom la lam luc ma minh mot nay neu nhe nhi nhu nguoi nha no nua o oi ong ra roi sao
se thi the toi tu va van vay ve voi vui xin ya u ui ne nhe nha ho
""".split())


@dataclass(frozen=True, slots=True)
class Match:
    topic: str | None           # None when out of scope / unsure
    score: float
    runner_up: str | None = None
    runner_up_score: float = 0.0


@dataclass(frozen=True, slots=True)
class _Doc:
    topic: str
    weights: dict[str, float]
    norm: float


class Matcher:
    """Matches a citizen's free text to one topic of a ContentSet."""

    def __init__(self, content: ContentSet) -> None:
        samples: list[tuple[str, list[str]]] = []
        self._keywords: dict[str, list[tuple[str, ...]]] = {}
        for topic in content.topics.values():
            texts = [topic.title, *topic.samples]
            samples.extend((topic.id, _terms(normalize_query(t))) for t in texts)
            self._keywords[topic.id] = [tuple(normalize_query(k)) for k in topic.keywords]
        df: Counter[str] = Counter()
        for _, tokens in samples:
            df.update(set(tokens))
        n = len(samples)
        self._idf = {tok: math.log(1 + n / count) for tok, count in df.items()}
        self._vocab = [t for t in self._idf if " " not in t]
        self._docs = []
        for topic_id, tokens in samples:
            weights = {t: self._idf[t] for t in set(tokens)}
            norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
            self._docs.append(_Doc(topic_id, weights, norm))

    def _snap(self, token: str) -> str | None:
        if token in self._idf:
            return token
        if len(token) < 4 or token.isdigit():
            return None
        found = process.extractOne(token, self._vocab, scorer=fuzz.ratio,
                                   score_cutoff=_FUZZY_CUTOFF)
        return found[0] if found else None

    def match(self, text: str) -> Match:
        raw = [t for t in normalize_query(text)[:200] if t not in STOPWORDS]
        tokens = [s if s else t for s, t in ((self._snap(t), t) for t in raw)]
        terms = _terms(tokens, stop=False)
        known = [t for t in terms if t in self._idf]
        if not known:
            return Match(topic=None, score=0.0)
        # Unknown words count against the match (weight of a rare word), so a question about
        # something else ("tiền điện tháng này") does not borrow a 2G answer.
        rare = max(self._idf.values())
        query = {t: self._idf.get(t, rare) for t in set(terms)}
        qnorm = math.sqrt(sum(w * w for w in query.values())) or 1.0
        best: dict[str, float] = {}
        for doc in self._docs:
            dot = sum(w * doc.weights[t] for t, w in query.items() if t in doc.weights)
            if dot:
                score = dot / (qnorm * doc.norm)
                if score > best.get(doc.topic, 0.0):
                    best[doc.topic] = score
        joined = f" {' '.join(t for t in tokens)} "
        for topic_id, phrases in self._keywords.items():
            hits = sum(1 for p in phrases if p and f" {' '.join(p)} " in joined)
            if hits:
                best[topic_id] = best.get(topic_id, 0.0) + min(KEYWORD_CAP, hits * KEYWORD_BONUS)
        if not best:
            return Match(topic=None, score=0.0)
        ranked = sorted(best.items(), key=lambda kv: kv[1], reverse=True)
        top, score = ranked[0]
        runner, runner_score = ranked[1] if len(ranked) > 1 else (None, 0.0)
        score = min(score, 1.0)
        return Match(topic=top if score >= ANSWER_THRESHOLD else None, score=round(score, 3),
                     runner_up=runner if score >= ANSWER_THRESHOLD else top,
                     runner_up_score=round(min(runner_score, 1.0), 3))


def _terms(tokens: list[str], stop: bool = True) -> list[str]:
    """Content words plus adjacent word pairs ("dien thoai", "tat song")."""
    words = [t for t in tokens if t not in STOPWORDS] if stop else tokens
    return words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]
