"""The matching methods side by side on labelled sets (a measurement, not a test).

    .venv/bin/python bench/methods.py tests/data/questions.jsonl tests/data/blind.jsonl

For each method, the figures of `python -m bot eval` (issue 14's): direct right answer, right
topic offered, wrong direct answer, wrongly declined; out-of-scope precision and answered.
Methods: "bm25" is the hand-tuned scorer Loa used before (bot/core/matching.py, class Bm25, its
own thresholds); "lr" and "svm" are the learned classifier (bot/core/classifier.py) with
logistic regression or a linear SVM, each with the thresholds chosen for it by the 5-fold score
on content/training-vi.jsonl and the older set. Loa uses "svm" (README). The blind set is only
measured here, never used to choose a threshold.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.core import classifier, matching  # noqa: E402
from bot.core.content import load_content  # noqa: E402
from bot.core.evaluation import Decision, evaluate, load_labelled  # noqa: E402
from bot.core.matching import Bm25, Matcher, MatchKind  # noqa: E402
from bot.core.smalltalk import smalltalk_kind  # noqa: E402
from bot.core.text import normalize_query  # noqa: E402

# method -> (classifier model, answer probability, answer margin) from the fold-out score
LEARNED = {"svm": ("svm", 0.25, 0.20), "lr": ("lr", 0.35, 0.15)}


def bm25_decider(content) -> Callable[[str], Decision]:
    scorer = Bm25(content)

    def decide(text: str) -> Decision:
        if smalltalk_kind(normalize_query(text)) is not None:
            return Decision("smalltalk", None)
        match = scorer.match(text)
        if match.kind is MatchKind.ANSWER:
            return Decision("answer", match.topic, (), match.score)
        if match.kind is MatchKind.CLARIFY:
            return Decision("clarify", None, (match.topic, match.runner_up), match.score)
        if match.kind is MatchKind.UNSURE:
            return Decision("unsure", None, (match.runner_up,) if match.runner_up else (),
                            match.score)
        return Decision("out_of_scope", None)
    return decide


def learned_decider(content, method: str) -> Callable[[str], Decision]:
    model, answer, margin = LEARNED[method]
    classifier.MODEL, matching.ANSWER_PROB, matching.ANSWER_MARGIN = model, answer, margin
    matcher = Matcher(content)

    def decide(text: str) -> Decision:
        if smalltalk_kind(normalize_query(text)) is not None:
            return Decision("smalltalk", None)
        classifier.MODEL, matching.ANSWER_PROB, matching.ANSWER_MARGIN = model, answer, margin
        return matching.decision(matcher.match(text))
    return decide


def main() -> int:
    files = [Path(a) for a in sys.argv[1:]] or [ROOT / "tests" / "data" / "questions.jsonl"]
    content = load_content(ROOT / "content", "vi")
    for method in ("bm25", "lr", "svm"):
        started = time.perf_counter()
        decide = bm25_decider(content) if method == "bm25" else learned_decider(content, method)
        built = time.perf_counter() - started
        for path in files:
            result = evaluate(decide, load_labelled(path))
            f = result.figures
            print(f"{method:5} {path.name:16} direct {f['direct_right']:6.1%}  "
                  f"right/offered {f['right_or_offered']:6.1%}  wrong {f['wrong_direct']:5.1%}  "
                  f"declined {f['declined_in_scope']:5.1%} (phones {result.declined_naming_phones})"
                  f"  oos precision {f['oos_precision']:6.1%}  oos answered "
                  f"{f['oos_answered']:5.1%}  median {result.median_ms:.2f} ms"
                  f"  (built in {built:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
