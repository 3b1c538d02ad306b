"""A learned topic classifier: character and word n-gram TF-IDF with a linear SVM.

Trained (scikit-learn) on every topic's title, samples and keywords, on the written training
questions in content/training-vi.jsonl and on the other-subjects lines. It predicts the
top-level topic ("family": `after_shutdown` for `after_shutdown.emergency`) or the
out-of-scope class; `Matcher` then picks the sub-topic.

Why this and not only the hand-tuned BM25 scorer: measured on the blind set (README, "How
Loa understands questions"), the classifier generalises to questions nobody wrote samples
for, because character n-grams survive missing tone marks, typos and shorthand and the weights
are learned from thousands of questions rather than set by hand.

A fitted classifier is plain arrays (`to_arrays` / `from_arrays`): the vocabularies, idf,
weights and biases. Scoring a question is done here from those arrays, with the same n-grams
the vectorizers were fitted with (`char_ngrams`, `word_ngrams`), so a process that loads a
saved classifier needs neither scikit-learn nor a second of training.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix

from bot.core.text import keyboard_variants, normalize_query

OUT_OF_SCOPE = "_out_of_scope"
# Chosen by the 5-fold score on content/training-vi.jsonl and the older set (README).
MODEL = "svm"            # "svm": linear SVM, softmax of its margins; "lr": logistic regression
SVM_C = 1.0
TEMPERATURE = 3.0        # svm: softmax(TEMPERATURE * margin) stands in for probabilities
C = 8.0                  # lr: inverse regularisation
CHAR_N = (2, 5)
WORD_N = (1, 2)
_SPACES = re.compile(r"\s\s+")


def family(topic: str | None) -> str | None:
    """The top-level topic of a topic id (`after_shutdown.emergency` -> `after_shutdown`)."""
    return topic.split(".", 1)[0] if topic else topic


def prepare(text: str) -> str:
    """What the classifier reads: folded words with abbreviations expanded (`normalize_query`)."""
    return " ".join(normalize_query(text)[:150])


def char_ngrams(text: str) -> list[str]:
    """Character n-grams inside word boundaries, as scikit-learn's analyzer="char_wb"."""
    out: list[str] = []
    low, high = CHAR_N
    for word in _SPACES.sub(" ", text).split():
        padded = f" {word} "
        size = len(padded)
        for n in range(low, high + 1):
            offset = 0
            out.append(padded[offset:offset + n])
            while offset + n < size:
                offset += 1
                out.append(padded[offset:offset + n])
            if offset == 0:          # a word shorter than n is counted once
                break
    return out


def word_ngrams(text: str) -> list[str]:
    """Words and adjacent word pairs."""
    words = text.split()
    out = list(words) if WORD_N[0] == 1 else []
    for n in range(max(2, WORD_N[0]), WORD_N[1] + 1):
        out += [" ".join(words[i:i + n]) for i in range(len(words) - n + 1)]
    return out


@dataclass(frozen=True, slots=True)
class Labelled:
    text: str
    label: str            # a top-level topic id, or OUT_OF_SCOPE


def fingerprint(examples: Sequence[Labelled], model: str = "") -> str:
    """Names one trained classifier: the examples, the model and its settings."""
    digest = hashlib.sha256()
    digest.update(json.dumps([model or MODEL, SVM_C, TEMPERATURE, C, CHAR_N, WORD_N, 2]).encode())
    for example in examples:
        digest.update(f"{example.label}\t{example.text}\n".encode())
    return digest.hexdigest()


def _fit(examples: Sequence[Labelled], model: str) -> dict[str, object]:
    from scipy.sparse import hstack  # training only
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    texts = [prepare(e.text) for e in examples]
    keep = [i for i, t in enumerate(texts) if t]
    texts = [texts[i] for i in keep]
    labels = [examples[i].label for i in keep]
    chars = TfidfVectorizer(analyzer=char_ngrams, sublinear_tf=True, dtype=np.float64)
    words = TfidfVectorizer(analyzer=word_ngrams, sublinear_tf=True, dtype=np.float64)
    x = hstack([chars.fit_transform(texts), words.fit_transform(texts)]).tocsr()
    if model == "svm":
        fitted = LinearSVC(C=SVM_C, class_weight="balanced").fit(x, labels)
        coef, intercept = fitted.coef_ * TEMPERATURE, fitted.intercept_ * TEMPERATURE
    else:
        fitted = LogisticRegression(C=C, max_iter=3000, class_weight="balanced").fit(x, labels)
        coef, intercept = fitted.coef_, fitted.intercept_
    return {"labels": [str(label) for label in fitted.classes_],
            "char_vocabulary": {k: int(v) for k, v in chars.vocabulary_.items()},
            "word_vocabulary": {k: int(v) for k, v in words.vocabulary_.items()},
            "char_idf": chars.idf_, "word_idf": words.idf_,
            "weights": np.ascontiguousarray(coef.T), "bias": np.asarray(intercept, dtype=float)}


class Classifier:
    """Probabilities of each top-level topic (and OUT_OF_SCOPE) for one question."""

    def __init__(self, examples: Sequence[Labelled], model: str = "",
                 arrays: dict[str, object] | None = None) -> None:
        """Train on `examples`, or take `arrays` saved from a classifier trained on them."""
        model = model or MODEL
        self.fingerprint = fingerprint(examples, model)
        cached = _CACHE.get(self.fingerprint)
        if arrays is None and cached is not None:
            arrays = cached
        if arrays is None:
            arrays = _fit(examples, model)
        if len(_CACHE) > 8:
            _CACHE.clear()
        _CACHE[self.fingerprint] = arrays
        self._arrays = arrays
        self.labels: tuple[str, ...] = tuple(arrays["labels"])  # type: ignore[arg-type]
        chars: dict[str, int] = arrays["char_vocabulary"]  # type: ignore[assignment]
        words: dict[str, int] = arrays["word_vocabulary"]  # type: ignore[assignment]
        self._words = words
        self._blocks = ((char_ngrams, chars, np.asarray(arrays["char_idf"]), 0),
                        (word_ngrams, words, np.asarray(arrays["word_idf"]), len(chars)))
        self._weights = np.asarray(arrays["weights"])    # features x classes
        self._bias = np.asarray(arrays["bias"], dtype=np.float64)

    # -- saving and loading (bot/store/classifier_cache.py keeps them on disk) ---
    def to_arrays(self) -> dict[str, object]:
        return dict(self._arrays)

    @staticmethod
    def save(arrays: dict[str, object], path: Path) -> None:
        """One .npz file (no pickled objects: vocabularies are stored as JSON text)."""
        meta = json.dumps({k: arrays[k] for k in ("labels", "char_vocabulary",
                                                    "word_vocabulary")}, ensure_ascii=False)
        with path.open("wb") as out:
            np.savez(out, meta=np.array(meta), char_idf=arrays["char_idf"],
                     word_idf=arrays["word_idf"], weights=arrays["weights"],
                     bias=arrays["bias"])

    @staticmethod
    def load(path: Path) -> dict[str, object]:
        with np.load(path, allow_pickle=False) as data:
            arrays: dict[str, object] = json.loads(str(data["meta"]))
            for key in ("char_idf", "word_idf", "weights", "bias"):
                arrays[key] = np.array(data[key])
        return arrays

    # -- reading a question --------------------------------------------------------------------
    def known_words(self, text: str) -> int:
        """How many of the question's words the classifier has seen in training."""
        return sum(1 for word in prepare(text).split() if word in self._words)

    def _read(self, text: str) -> str:
        """`prepare`, with words typed in Telex or VNI without an input method read as the
        word they spell when that word is known ("tawts" -> "tat")."""
        words = prepare(text).split()
        for i, word in enumerate(words):
            if word not in self._words:
                words[i] = next((v for v in keyboard_variants(word) if v in self._words), word)
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
            rows.append(np.full(len(c), i))
            cols.append(c)
            vals.append(v / (np.sqrt(v @ v) if len(v) else 1.0))
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
        return np.asarray(rows[:, cols] @ (vals / np.sqrt(vals @ vals))).ravel()

    def probabilities(self, text: str) -> list[tuple[str, float]]:
        """(label, probability), most likely first."""
        cols, vals = self.features(text)
        scores = self._bias + (vals @ self._weights[cols] if len(cols) else 0.0)
        scores = scores - scores.max()
        probs = np.exp(scores)
        probs /= probs.sum()
        order = np.argsort(-probs)
        return [(self.labels[i], float(probs[i])) for i in order]


_CACHE: dict[str, dict[str, object]] = {}
