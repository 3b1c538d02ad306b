"""Evaluating the matcher on a labelled question set (`python -m bot eval FILE`).

A labelled set is JSON Lines: {"text": "...", "topic": "timeline"}, with "topic": null for a
question that is out of scope, and optionally "set": "late" for questions written after the
matcher was last tuned (a held-out check: `eval FILE --set late`). A question counts as
answered with a topic when the matcher answers it or asks "which one?" with that topic
first; anything else is "no answer" ("-").
"""
from __future__ import annotations

import json
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.core.matching import Matcher, MatchKind

NONE = "-"


class LabelledSetError(ValueError):
    """The labelled file is malformed; the message names the line."""


@dataclass(frozen=True, slots=True)
class Labelled:
    text: str
    topic: str | None
    set: str = ""             # e.g. "late": written after the matcher was tuned (held out)


def load_labelled(path: Path) -> list[Labelled]:
    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise LabelledSetError(f"{path}:{number}: not JSON ({exc.msg})") from None
        text, topic = (data.get("text"), data.get("topic")) if isinstance(data, dict) \
            else (None, None)
        if not isinstance(text, str) or not text.strip() or not (
                topic is None or isinstance(topic, str)):
            raise LabelledSetError(f"{path}:{number}: needs \"text\" and \"topic\" (or null)")
        items.append(Labelled(text, None if topic in (None, "", "none") else topic,
                              str(data.get("set") or "")))
    return items


@dataclass
class Evaluation:
    in_scope: int = 0
    right: int = 0                   # top-1 topic right (answered or first of two)
    answered_right: int = 0          # answered straight away with the right topic
    clarified: int = 0               # "which one?" asked (in or out of scope)
    clarified_offering_right: int = 0
    out_of_scope: int = 0
    predicted_none: int = 0          # no answer given
    true_none: int = 0               # out of scope and no answer given
    times_ms: list[float] = field(default_factory=list)
    confusion: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    misses: list[tuple[str, str, str]] = field(default_factory=list)   # expected, got, text

    @property
    def accuracy(self) -> float:
        return self.right / self.in_scope if self.in_scope else 0.0

    @property
    def oos_precision(self) -> float:
        return self.true_none / self.predicted_none if self.predicted_none else 0.0

    @property
    def oos_recall(self) -> float:
        return self.true_none / self.out_of_scope if self.out_of_scope else 0.0

    @property
    def median_ms(self) -> float:
        return statistics.median(self.times_ms) if self.times_ms else 0.0

    @property
    def p99_ms(self) -> float:
        ordered = sorted(self.times_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else 0.0

    def to_json(self) -> dict[str, object]:
        return {"questions": self.in_scope + self.out_of_scope, "in_scope": self.in_scope,
                "accuracy": round(self.accuracy, 4), "answered_right": self.answered_right,
                "clarified": self.clarified, "oos_precision": round(self.oos_precision, 4),
                "oos_recall": round(self.oos_recall, 4), "median_ms": round(self.median_ms, 3),
                "p99_ms": round(self.p99_ms, 3),
                "confusion": {k: dict(v) for k, v in sorted(self.confusion.items())}}

    def to_text(self, show_misses: bool = False) -> str:
        total = self.in_scope + self.out_of_scope
        lines = [
            f"{total} questions: {self.in_scope} in scope, {self.out_of_scope} out of scope",
            f"top-1 accuracy (in scope): {self.accuracy:.1%} ({self.right}/{self.in_scope}); "
            f"answered straight away: {self.answered_right}, "
            f"asked \"which one?\": {self.clarified} "
            f"(right topic offered {self.clarified_offering_right})",
            f"out of scope: precision {self.oos_precision:.1%} "
            f"({self.true_none}/{self.predicted_none}), recall {self.oos_recall:.1%} "
            f"({self.true_none}/{self.out_of_scope})",
            f"time per question: median {self.median_ms:.3f} ms, p99 {self.p99_ms:.3f} ms",
            "", "per topic (expected -> what Loa did):",
            f"{'topic':<28}{'n':>4}{'right':>7}{'acc':>7}  confused with"]
        for topic, got in sorted(self.confusion.items(), key=lambda kv: (kv[0] == NONE, kv[0])):
            n = sum(got.values())
            hits = got.get(topic, 0)
            others = ", ".join(f"{k} {v}" for k, v in got.most_common() if k != topic)
            lines.append(f"{topic:<28}{n:>4}{hits:>7}{hits / n:>7.0%}  {others}")
        if show_misses:
            lines += ["", "misses (expected | got | question):"]
            lines += [f"{e} | {g} | {t}" for e, g, t in self.misses]
        return "\n".join(lines)


def evaluate(matcher: Matcher, items: Sequence[Labelled],
             clock: Callable[[], float] = time.perf_counter) -> Evaluation:
    result = Evaluation()
    for item in items:
        start = clock()
        match = matcher.match(item.text)
        result.times_ms.append((clock() - start) * 1000)
        predicted = match.topic if match.kind in (MatchKind.ANSWER, MatchKind.CLARIFY) else None
        expected = item.topic or NONE
        got = predicted or NONE
        result.confusion[expected][got] += 1
        if match.kind is MatchKind.CLARIFY:
            result.clarified += 1
            result.clarified_offering_right += item.topic in (match.topic, match.runner_up)
        if predicted is None:
            result.predicted_none += 1
        if item.topic is None:
            result.out_of_scope += 1
            result.true_none += predicted is None
        else:
            result.in_scope += 1
            result.right += predicted == item.topic
            result.answered_right += predicted == item.topic and match.kind is MatchKind.ANSWER
        if got != expected:
            result.misses.append((expected, got, item.text))
    return result
