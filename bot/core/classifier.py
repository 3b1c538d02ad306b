"""A learned topic classifier: character and word n-gram TF-IDF with a linear SVM.

Trained at start-up (under a second) on every topic's title, samples and keywords, on the
written training questions in content/training-vi.jsonl, on the other-subjects lines and on
what officers taught Loa. It predicts the top-level topic ("family": `after_shutdown` for
`after_shutdown.emergency`) or the out-of-scope class; `Matcher` then picks the sub-topic.

Why this and not only the hand-tuned BM25 scorer: measured on the blind set (README,
"How Loa understands questions"), the classifier generalises to questions nobody wrote
samples for, because character n-grams survive missing tone marks, typos and shorthand and
the weights are learned from hundreds of questions rather than set by hand.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix, hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from bot.core.text import keyboard_variants, normalize_query

OUT_OF_SCOPE = "_out_of_scope"
# Chosen by the 5-fold score on content/training-vi.jsonl and the older set (README).
MODEL = "svm"            # "svm": linear SVM, softmax of its margins; "lr": logistic regression
SVM_C = 1.0
TEMPERATURE = 3.0        # svm: softmax(TEMPERATURE * margin) stands in for probabilities
C = 8.0                  # lr: inverse regularisation


def family(topic: str | None) -> str | None:
    """The top-level topic of a topic id (`after_shutdown.emergency` -> `after_shutdown`)."""
    return topic.split(".", 1)[0] if topic else topic


def prepare(text: str) -> str:
    """What the classifier reads: folded words with abbreviations expanded (`normalize_query`)."""
    return " ".join(normalize_query(text)[:150])


@dataclass(frozen=True, slots=True)
class Labelled:
    text: str
    label: str            # a top-level topic id, or OUT_OF_SCOPE


def load_training(path: Path) -> list[Labelled]:
    """JSON Lines {"text": ..., "topic": id or null}; a missing file is an empty set."""
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        data = json.loads(line)
        topic = data.get("topic")
        out.append(Labelled(str(data["text"]), family(topic) if topic else OUT_OF_SCOPE))
    return out


class Classifier:
    """Probabilities of each top-level topic (and OUT_OF_SCOPE) for one question.

    Trained with scikit-learn; a question is scored by hand from the fitted vocabularies and
    weights (the same arithmetic as `predict_proba`: sublinear tf × idf, L2 per block, softmax
    of the linear scores), which takes a tenth of a millisecond instead of three."""

    def __init__(self, examples: Sequence[Labelled], c: float = C, model: str = "") -> None:
        model = model or MODEL
        key = (c, model, tuple(examples))
        cached = _CACHE.get(key)
        if cached is not None:
            self.__dict__.update(cached.__dict__)
            return
        texts = [prepare(e.text) for e in examples]
        keep = [i for i, t in enumerate(texts) if t]
        texts = [texts[i] for i in keep]
        labels = [examples[i].label for i in keep]
        chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True,
                                dtype=np.float64)
        words = TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True,
                                token_pattern=r"\S+", dtype=np.float64)
        x = hstack([chars.fit_transform(texts), words.fit_transform(texts)]).tocsr()
        if model == "svm":
            fitted = LinearSVC(C=SVM_C, class_weight="balanced").fit(x, labels)
            coef, intercept = fitted.coef_ * TEMPERATURE, fitted.intercept_ * TEMPERATURE
        else:
            fitted = LogisticRegression(C=c, max_iter=3000, class_weight="balanced").fit(x, labels)
            coef, intercept = fitted.coef_, fitted.intercept_
        self.labels: tuple[str, ...] = tuple(str(label) for label in fitted.classes_)
        offset = len(chars.vocabulary_)
        self._blocks = (
            (chars.build_analyzer(), chars.vocabulary_, chars.idf_, 0),
            (words.build_analyzer(), words.vocabulary_, words.idf_, offset))
        self._weights = np.ascontiguousarray(coef.T)      # features x classes
        self._bias = np.array(intercept, dtype=np.float64)
        if len(_CACHE) > 8:
            _CACHE.clear()
        _CACHE[key] = self

    def known_words(self, text: str) -> int:
        """How many of the question's words the classifier has seen in training."""
        vocabulary = self._blocks[1][1]
        return sum(1 for word in prepare(text).split() if word in vocabulary)

    def _read(self, text: str) -> str:
        """`prepare`, with words typed in Telex or VNI without an input method read as the
        word they spell when that word is known ("tawts" -> "tat")."""
        vocabulary = self._blocks[1][1]
        words = prepare(text).split()
        for i, word in enumerate(words):
            if word not in vocabulary:
                words[i] = next((v for v in keyboard_variants(word) if v in vocabulary), word)
        return " ".join(words)

    def features(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """The question's TF-IDF vector as (columns, values): sublinear tf × idf, each block
        (characters, words) of unit length, as the fitted vectorizers compute it."""
        prepared = self._read(text)
        columns: list[np.ndarray] = []
        values: list[np.ndarray] = []
        for analyzer, vocabulary, idf, offset in self._blocks:
            counts: dict[int, int] = {}
            for gram in analyzer(prepared):
                index = vocabulary.get(gram)
                if index is not None:
                    counts[index] = counts.get(index, 0) + 1
            if not counts:
                continue
            cols = np.fromiter(counts, dtype=np.intp, count=len(counts))
            vals = (1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64,
                                             count=len(counts)))) * idf[cols]
            columns.append(cols + offset)
            values.append(vals / np.sqrt(vals @ vals))
        if not columns:
            return np.zeros(0, dtype=np.intp), np.zeros(0)
        return np.concatenate(columns), np.concatenate(values)

    def matrix(self, texts: Sequence[str]) -> csr_matrix:
        """Rows of unit length, one per text, for cosine similarity with `similarities`."""
        rows, cols, vals = [], [], []
        for i, text in enumerate(texts):
            c, v = self.features(text)
            norm = np.sqrt(v @ v) if len(v) else 1.0
            rows.append(np.full(len(c), i))
            cols.append(c)
            vals.append(v / norm)
        shape = (len(texts), self._weights.shape[0])
        if not texts:
            return csr_matrix(shape)
        return csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                          shape=shape)

    def similarities(self, text: str, rows: csr_matrix) -> np.ndarray:
        """Cosine similarity of the question with each row of `matrix(...)`."""
        cols, vals = self.features(text)
        if not len(cols) or rows.shape[0] == 0:
            return np.zeros(rows.shape[0])
        vals = vals / np.sqrt(vals @ vals)
        return np.asarray(rows[:, cols] @ vals).ravel()

    def probabilities(self, text: str) -> list[tuple[str, float]]:
        """(label, probability), most likely first."""
        cols, vals = self.features(text)
        scores = self._bias + (vals @ self._weights[cols] if len(cols) else 0.0)
        scores = scores - scores.max()
        probs = np.exp(scores)
        probs /= probs.sum()
        order = np.argsort(-probs)
        return [(self.labels[i], float(probs[i])) for i in order]


_CACHE: dict[tuple[float, str, tuple[Labelled, ...]], Classifier] = {}
