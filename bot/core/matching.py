"""Free-text matching: a learned classifier picks the topic, BM25 over the samples picks the
sub-topic, and phone words keep a question from being declined as off-topic.

`Matcher.match` asks `classifier.Classifier` (character and word n-grams, logistic regression,
trained on the samples and content/training-vi.jsonl) how likely each top-level topic and the
out-of-scope class are. It answers when one topic is clearly ahead, asks "which one?" with
the 2–3 closest when they are close, offers the 3 most likely when it is unsure, and declines
only when the question is most likely about another subject AND names nothing about phones
(2G, 3G, 4G, sóng, SIM, máy, điện thoại, nhà mạng, a carrier). Within the chosen topic, the
BM25 scorer below picks the sub-topic whose samples fit best (`after_shutdown.emergency` for
"gọi 113 được không"). The thresholds were set by the fold-out score on the training data and
on the old question set, never on the blind set (README, "How Loa understands questions").

The BM25 scorer:

Each topic's title, sample questions and keywords are short documents; so are the lines of
other subjects (`smalltalk.OFF_TOPIC`) and what officers taught Loa on the review page
(learned samples and out-of-scope examples). A question is scored against every document
with Okapi BM25 (Robertson & Zaragoza, "The Probabilistic Relevance Framework", 2009):

    bm25(q, d) = sum over terms t of  w(t) * idf(t) * tf(t,d) * (k1 + 1)
                                      / (tf(t,d) + k1 * (1 - b + b * len(d) / avg_len))
    idf(t)     = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))          (never negative)

Terms are content words and adjacent word pairs ("tat song", "ho ngheo"); w(t) is 1, less for
a word corrected for a typo, more for a number Loa knows (112, 1900). Dividing by the
question's own weight (sum of w(t) * idf(t), unknown words counted too) turns a score into
the share of the question explained. A topic's score is half its best document's share and
half the share its whole vocabulary covers (a question may mix words of two samples). Topics
matched through question words alone ("bao giờ", "ở đâu") are dropped; the out-of-scope class
competes like a topic; two topics within CLARIFY_RATIO of each other make Loa ask.

BM25 is written out here (a dozen lines on an inverted index) rather than taken from bm25s or
rank-bm25 because queries need per-term weights and the index is rebuilt at run time when an
officer teaches Loa; bench/matching.py measures speed and memory.
"""
from __future__ import annotations

import functools
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from rapidfuzz import fuzz, process
from rapidfuzz.distance import Levenshtein

from bot.core import classifier as clf
from bot.core.content import ContentSet, Topic
from bot.core.evaluation import Decision
from bot.core.smalltalk import OFF_TOPIC
from bot.core.text import PLACE_WORDS, fold, is_syllable, keyboard_variants, normalize_query

OUT_OF_SCOPE = "_out_of_scope"   # label of the documents about other subjects
ANSWER_THRESHOLD = 0.30          # below this share of the question explained, Loa is unsure
SUGGEST_THRESHOLD = 0.22         # ... but offers "Did you mean" above this
CLARIFY_RATIO = 0.90             # runner-up this close to the best: ask which one
LOW_CONFIDENCE = 0.55            # answered, but kept for review
MAX_TOKENS = 150                 # a long message is read up to here
K1 = 1.2
B = 0.5                          # documents are all short; length matters a little
TYPO_WEIGHT = 0.8                # a corrected word counts a bit less
UNKNOWN_WEIGHT = 0.35            # share of a typical word's weight for a word Loa never saw
_FUZZY_RATIO = 80
NUMBER_WEIGHT = 2.0              # a known number (112, 1900, 9090) names one thing
COVER_WEIGHT = 0.5               # share of a topic's score from its whole vocabulary

# Function words that say nothing about the topic on their own (folded). They still form
# word pairs with a content word ("khong goi", "o dau").
STOPWORDS = frozenset("""
a ah ak ai anh ba bac ban bi cai cac cho chi chu co con cua da dang day de di do em gi ha
hay hoi hom la lam luc ma minh mot nay neu nhe nhi nhu nha no nua o oi ong ra roi sao
se thi the toi tu va van vay ve voi vui xin ya u ui ne ho khong duoc phai ad admin ok oke
nhen hen giup cam on nhieu qua cung nhung thoi vang nao
""".split())


# Question words: they say what kind of answer is wanted (when, how much, where, why), not
# what the question is about. A topic matched through these alone ("cúp điện đến bao giờ")
# is no evidence that the question is about 2G.
INTENT_WORDS = frozenset("""
khi nao bao gio nhieu dau tai sao vi lam the nhu gi cach ly do muon can biet hoi ngay nam
thang luc lai nhan den nghe noi gio
""".split())
SUBJECT_MIN = 0.06               # least share of the question that must be about the topic


class MatchKind(StrEnum):
    ANSWER = "answer"              # one topic clearly fits
    CLARIFY = "clarify"            # two topics fit almost equally: ask which
    UNSURE = "unsure"              # nothing fits well enough
    OUT_OF_SCOPE = "out_of_scope"  # about another subject


@dataclass(frozen=True, slots=True)
class Match:
    """The matcher's verdict. `topic` is set for ANSWER and CLARIFY (the first choice);
    `options` are the topics offered as buttons (CLARIFY and UNSURE), most likely first;
    `runner_up` is the second most likely topic (kept with questions for review)."""

    topic: str | None
    score: float
    runner_up: str | None = None
    runner_up_score: float = 0.0
    kind: MatchKind = MatchKind.UNSURE
    options: tuple[str, ...] = ()

    @property
    def low_confidence(self) -> bool:
        return self.kind is not MatchKind.ANSWER or self.score < LOW_CONFIDENCE


@dataclass(frozen=True, slots=True)
class Example:
    """A question taught at run time: a new sample of `topic`, or out of scope (topic None)."""

    topic: str | None
    text: str


def features(tokens: Sequence[str], weights: Sequence[float] | None = None) -> dict[str, float]:
    """Content words and every adjacent pair ("tat song", "lam gi"), with their weight."""
    weights = weights or [1.0] * len(tokens)
    out: dict[str, float] = {}
    for i, token in enumerate(tokens):
        if token not in STOPWORDS:
            out[token] = max(out.get(token, 0.0), weights[i])
        if i:
            pair = f"{tokens[i - 1]} {token}"
            out[pair] = max(out.get(pair, 0.0), min(weights[i], weights[i - 1]))
    return out


@dataclass(frozen=True, slots=True)
class _Index:
    """The inverted index of a list of (label, text) documents: read-only (mappings behind
    MappingProxyType, tuples, a frozenset), so matchers of different apps can share it."""

    labels: tuple[str, ...]                                   # of each document
    idf: Mapping[str, float]
    unknown_idf: float
    postings: Mapping[str, tuple[tuple[int, float], ...]]    # term -> (document, weight)
    labels_of: Mapping[str, tuple[str, ...]]                  # term -> labels using it
    words: Mapping[str, int]                                  # word -> documents with it
    vocab: tuple[str, ...]                                    # the words, numbers left out
    pairs: frozenset[str]                                     # the word pairs


@functools.lru_cache(maxsize=8)
def _index(texts: tuple[tuple[str, str], ...]) -> _Index:
    """A pure function of the documents, kept in the process: every app built (and every
    `Matcher`) indexes the same few thousand samples, and normalising them took most of the
    time of a build. Keyed by the texts themselves, so changed content or taught questions
    give another index."""
    tokens = [normalize_query(text) for _, text in texts]   # once per text: start-up
    docs = [(label, features(words)) for (label, _), words in zip(texts, tokens, strict=True)]
    docs = [(label, f) for label, f in docs if f]
    df: Counter[str] = Counter()
    for _, feats in docs:
        df.update(feats)
    n = len(docs)
    idf = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}
    lengths = [len(f) for _, f in docs]
    avg = sum(lengths) / max(1, n)
    postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
    labels_of: dict[str, set[str]] = defaultdict(set)
    for index, (label, feats) in enumerate(docs):
        norm = K1 * (1 - B + B * lengths[index] / avg)
        for term in feats:   # tf is 1 in these short texts
            postings[term].append((index, idf[term] * (K1 + 1) / (1 + norm)))
            labels_of[term].add(label)
    words: Counter[str] = Counter()
    for text_words in tokens:
        words.update(set(text_words))
    return _Index(
        labels=tuple(label for label, _ in docs), idf=MappingProxyType(idf),
        unknown_idf=UNKNOWN_WEIGHT * max(idf.values(), default=1.0),
        postings=MappingProxyType({t: tuple(p) for t, p in postings.items()}),
        labels_of=MappingProxyType({t: tuple(ls) for t, ls in labels_of.items()}),
        words=MappingProxyType(words), vocab=tuple(w for w in words if not w.isdigit()),
        pairs=frozenset(t for t in df if " " in t))


class Bm25:
    """Scores a citizen's free text against every topic's samples (and other subjects)."""

    def __init__(self, content: ContentSet, learned: Iterable[Example] = ()) -> None:
        self.content = content
        self.learned = tuple(learned)
        texts: list[tuple[str, str]] = []
        for topic in content.topics.values():
            texts += [(topic.id, topic.title), *((topic.id, s) for s in topic.samples),
                      *((topic.id, k) for k in topic.keywords)]
        texts += [(OUT_OF_SCOPE, line) for line in OFF_TOPIC]
        texts += [(ex.topic if ex.topic in content.topics else OUT_OF_SCOPE, ex.text)
                  for ex in self.learned if ex.topic is None or ex.topic in content.topics]
        index = _index(tuple(texts))
        self._labels, self._idf, self._postings, self._labels_of = index.labels, index.idf, \
            index.postings, index.labels_of
        self._unknown_idf = index.unknown_idf
        self._words, self._vocab, self._pairs = index.words, index.vocab, index.pairs
        # Typo corrections found so far: this matcher's own (the index is shared, read-only).
        self._corrections: dict[tuple[str, str, str], str | None] = {}

    # -- typo tolerance ----------------------------------------------------------------------
    def _correct(self, word: str, before: str, after: str) -> str | None:
        key = (word, before, after)
        if key not in self._corrections:
            if len(self._corrections) > 50_000:
                self._corrections.clear()
            self._corrections[key] = self._find_correction(word, before, after)
        return self._corrections[key]

    def _find_correction(self, word: str, before: str, after: str) -> str | None:
        for variant in keyboard_variants(word):
            if variant in self._words:
                return variant
        if word.isdigit() or len(word) < 3 or is_syllable(word):
            return None     # a real word Loa does not know is not a typo
        if len(word) <= 4:
            found = process.extract(word, self._vocab, scorer=Levenshtein.distance,
                                    score_cutoff=1, limit=None)
        else:
            found = process.extract(word, self._vocab, scorer=fuzz.ratio,
                                    score_cutoff=_FUZZY_RATIO, limit=8)
        if not found:
            return None

        def context(candidate: str) -> int:
            return int(f"{before} {candidate}" in self._pairs) + \
                int(f"{candidate} {after}" in self._pairs)

        ranked = sorted(found, key=lambda f: (context(f[0]), -f[1] if len(word) <= 4 else f[1],
                                              self._words[f[0]]), reverse=True)
        best = ranked[0][0]
        # A short word is only corrected when the correction forms a known pair.
        if len(word) <= 4 and context(best) == 0:
            return None
        return best

    def _query(self, text: str) -> tuple[dict[str, float], float]:
        tokens = normalize_query(text)[:MAX_TOKENS]
        fixed: list[str] = []
        weights: list[float] = []
        unknown = 0
        for i, token in enumerate(tokens):
            if token in self._words or token in STOPWORDS:
                fixed.append(token)
                weights.append(NUMBER_WEIGHT if token.isdigit() else 1.0)
                continue
            if token.isdigit() or token in PLACE_WORDS:
                continue     # dates, model numbers and place names Loa does not know
            before = fixed[-1] if fixed else ""
            after = tokens[i + 1] if i + 1 < len(tokens) else ""
            correction = self._correct(token, before, after)
            if correction is None:
                unknown += 1
                fixed.append(token)
                weights.append(0.0)
            else:
                fixed.append(correction)
                weights.append(TYPO_WEIGHT)
        feats = {t: w for t, w in features(fixed, weights).items() if w > 0 and t in self._idf}
        mass = sum(w * self._idf[t] for t, w in feats.items()) + unknown * self._unknown_idf
        return feats, mass

    # -- matching ----------------------------------------------------------------------------
    def scores(self, text: str) -> dict[str, float]:
        """Each label's share of the question explained (0-1), best first."""
        return {label: share for label, share, _ in self._rank(text)}

    def _rank(self, text: str) -> list[tuple[str, float, float]]:
        """(label, share of the question explained, share explained by subject words)."""
        feats, mass = self._query(text)
        if not feats or mass <= 0:
            return []
        totals: dict[int, float] = defaultdict(float)
        for term, weight in feats.items():
            for index, value in self._postings[term]:
                totals[index] += weight * value
        best: dict[str, float] = {}
        for index, total in totals.items():
            label = self._labels[index]
            total /= mass
            if total > best.get(label, 0.0):
                best[label] = total
        # How much of the question the topic's words cover, across all its documents: a
        # question may combine words of two samples of the same topic.
        cover: dict[str, float] = defaultdict(float)
        subject: dict[str, float] = defaultdict(float)
        for term, weight in feats.items():
            about = not all(w in INTENT_WORDS or w in STOPWORDS for w in term.split())
            for label in self._labels_of[term]:
                cover[label] += weight * self._idf[term]
                if about:
                    subject[label] += weight * self._idf[term]
        ranked = [(label, (1 - COVER_WEIGHT) * best[label]
                   + COVER_WEIGHT * min(1.0, cover[label] / mass), subject[label] / mass)
                  for label in best]
        # Ties (short questions explain fully): the closer sample, then the broader topic.
        return sorted(ranked, key=lambda r: (round(r[1], 3), best[r[0]], "." not in r[0]),
                      reverse=True)

    def match(self, text: str) -> Match:
        ranked = self._rank(text)
        off_topic = next((share for label, share, _ in ranked if label == OUT_OF_SCOPE), 0.0)
        # A topic matched only through question words is no candidate at all.
        topics = [r for r in ranked if r[0] != OUT_OF_SCOPE and r[2] >= SUBJECT_MIN]
        if not topics:
            kind = MatchKind.OUT_OF_SCOPE if off_topic > 0 else MatchKind.UNSURE
            return Match(topic=None, score=0.0, kind=kind)
        (top, raw, _), (runner, runner_raw, _) = topics[0], (
            topics[1] if len(topics) > 1 else (None, 0.0, 0.0))
        score, runner_score = _shown(raw), _shown(runner_raw)
        guess = top if score >= SUGGEST_THRESHOLD else None
        if off_topic >= raw:
            return Match(None, score, guess, score, MatchKind.OUT_OF_SCOPE)
        if score < ANSWER_THRESHOLD:
            return Match(None, score, guess, score, MatchKind.UNSURE)
        if runner is not None and runner_raw >= CLARIFY_RATIO * raw:
            return Match(top, score, runner, runner_score, MatchKind.CLARIFY)
        return Match(top, score, runner, runner_score, MatchKind.ANSWER)


def decision(match: Match) -> Decision:
    """What Loa does with a match, as `ask --json` and `eval` report it."""
    if match.kind is MatchKind.ANSWER:
        return Decision("answer", match.topic, (), match.score)
    options = match.options if match.kind in (MatchKind.CLARIFY, MatchKind.UNSURE) else ()
    return Decision(match.kind.value, None, options, match.score)


def _shown(share: float) -> float:
    """A share as reported: 0 to 1, three decimals."""
    return round(min(1.0, max(0.0, share)), 3)


# -- the matcher Loa uses ------------------------------------------------------------------------
# Set by the 5-fold score on the training questions and by the older set, never the blind set.
ANSWER_PROB = 0.25       # the best topic's probability needed to answer straight away
ANSWER_MARGIN = 0.20     # ... and its lead over the second
OUT_OF_SCOPE_PROB = 0.40  # decline only above this (and never when phones are named)
NO_PHONE_ANSWER_PROB = 0.60  # a question naming no phone word needs this much to be answered
OPTIONS = 3              # topics offered as buttons when Loa is unsure
TAUGHT_SIMILARITY = 0.85  # a question this close to one officers taught gets its answer

# Words that make a question about phones: such a question is never declined as off-topic.
_PHONE_WORDS = frozenset("""
2g 3g 4g 5g sim simcard volte lte imei viettel vinaphone vina mobifone mobi vnpt vietnamobile
gmobile dienthoai dt dtdd nhamang tongdai sdt otp
""".split())
_PHONE_PAIRS = ("dien thoai", "nha mang", "tong dai", "so dien thoai", "goi dien",
                "cuc gach", "song dien thoai", "mat song", "song yeu", "bat song", "co song",
                "khong co song", "vung lom", "lom song", "goi khong", "nghe goi")
_ACCENTED_PHONE = ("máy", "sóng")


def mentions_phone(text: str) -> bool:
    """True when the question names phones, SIMs, signal, carriers or 2G/3G/4G."""
    folded = fold(text)
    words = set(folded.split()) | set(normalize_query(text))
    if words & _PHONE_WORDS:
        return True
    padded = f" {folded} "
    if any(f" {pair} " in padded for pair in _PHONE_PAIRS):
        return True
    lower = text.lower()
    if any(word in lower for word in _ACCENTED_PHONE):
        return True
    # Typed without tone marks: "may" and "song" may be máy and sóng.
    plain = lower == folded or lower.isascii()
    return plain and bool(words & {"may", "song"})


class Matcher:
    """Matches a citizen's free text to one topic of a ContentSet (or to none)."""

    def __init__(self, content: ContentSet, learned: Iterable[Example] = (),
                 classifier: clf.Classifier | None = None) -> None:
        """`classifier`: one already trained on `training_examples(content)` (loaded from
        disk by bot/store/classifier_cache.py); otherwise it is trained here."""
        self.content = content
        self.learned = tuple(learned)
        self.bm25 = Bm25(content, self.learned)
        # The classifier learns from the content only: a question an officer teaches must not
        # move the answers to other questions (the review page's evaluation guard checks it).
        self.classifier = classifier or clf.Classifier(training_examples(content))
        # What officers taught is answered as taught: word for word, and for questions that
        # are nearly the same words (cosine of their n-gram vectors ≥ TAUGHT_SIMILARITY).
        taught = [ex for ex in self.learned if ex.topic is None or ex.topic in content.topics]
        self._taught_topics = [ex.topic for ex in taught]
        self._taught = self.classifier.matrix([ex.text for ex in taught])
        self._families: dict[str, list[str]] = defaultdict(list)
        for topic_id in content.topics:
            self._families[clf.family(topic_id) or topic_id].append(topic_id)

    def rebuilt(self, learned: Iterable[Example]) -> Matcher:
        """A new matcher over the same content (and classifier) with these taught examples."""
        return Matcher(self.content, learned, self.classifier)

    def scores(self, text: str) -> dict[str, float]:
        """Each top-level topic's (and the out-of-scope class's) probability, best first."""
        return {label: round(p, 3) for label, p in self.classifier.probabilities(text)}

    def _sub_topic(self, family: str, text: str) -> str:
        """The topic of `family` whose samples fit the question best (the family itself
        unless one of its sub-topics scores higher with BM25)."""
        members = self._families.get(family, [family])
        if len(members) == 1:
            return members[0]
        bm25 = self.bm25.scores(text)
        best = max(members, key=lambda t: (bm25.get(t, 0.0), t == family))
        return best if bm25.get(best, 0.0) > bm25.get(family, 0.0) else family

    def match(self, text: str) -> Match:
        if self._taught_topics:
            similar = self.classifier.similarities(text, self._taught)
            best = int(similar.argmax())
            if similar[best] >= TAUGHT_SIMILARITY:
                taught = self._taught_topics[best]
                score = round(float(min(1.0, similar[best])), 3)
                return Match(taught, score, kind=MatchKind.ANSWER) if taught is not None \
                    else Match(None, score, kind=MatchKind.OUT_OF_SCOPE)
        ranked = self.classifier.probabilities(text)
        topics = [(label, p) for label, p in ranked
                  if label != OUT_OF_SCOPE and label in self._families]
        off = next((p for label, p in ranked if label == OUT_OF_SCOPE), 0.0)
        if not topics:
            return Match(None, 0.0, kind=MatchKind.UNSURE)
        (top, p1), (second, p2) = topics[0], topics[1] if len(topics) > 1 else (None, 0.0)
        options = tuple(label for label, _ in topics[:OPTIONS])
        about_phones = mentions_phone(text)
        if not about_phones and self.classifier.known_words(text) == 0:
            return Match(None, 0.0, kind=MatchKind.UNSURE)     # nothing Loa has ever read
        if off >= p1 and off >= OUT_OF_SCOPE_PROB and not about_phones:
            return Match(None, round(off, 3), top, round(p1, 3), MatchKind.OUT_OF_SCOPE)
        needed = ANSWER_PROB if about_phones else max(ANSWER_PROB, NO_PHONE_ANSWER_PROB)
        if p1 >= needed and p1 - p2 >= ANSWER_MARGIN and p1 > off:
            return Match(self._sub_topic(top, text), round(p1, 3), second, round(p2, 3),
                         MatchKind.ANSWER)
        if p1 > off and p2 >= 0.5 * p1 and p1 + p2 >= ANSWER_PROB:
            return Match(top, round(p1, 3), second, round(p2, 3), MatchKind.CLARIFY, options)
        if off > p1 and not about_phones:
            return Match(None, round(off, 3), top, round(p1, 3), MatchKind.OUT_OF_SCOPE)
        return Match(None, round(p1, 3), top, round(p1, 3), MatchKind.UNSURE, options)


def training_examples(content: ContentSet) -> list[clf.Labelled]:
    """What the classifier learns from: titles, samples and keywords of every topic (under
    its top-level topic), the written training questions and the other subjects."""
    return examples_of(tuple(content.topics.values()), content.training)


def examples_of(topics: Sequence[Topic], training: Iterable[tuple[str, str | None]]
                ) -> list[clf.Labelled]:
    """`training_examples` of a content set with these topics and training questions."""
    ids = {topic.id for topic in topics}
    out: list[clf.Labelled] = []
    for topic in topics:
        label = clf.family(topic.id) or topic.id
        out += [clf.Labelled(t, label) for t in (topic.title, *topic.samples, *topic.keywords)]
    out += [clf.Labelled(text, clf.family(topic) if topic else OUT_OF_SCOPE)
            for text, topic in training
            if topic is None or clf.family(topic) in ids]
    out += [clf.Labelled(line, OUT_OF_SCOPE) for line in OFF_TOPIC]
    return out
