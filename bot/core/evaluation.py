"""Evaluating how Loa understands questions on a labelled set (`python -m bot eval FILE`).

A labelled set is JSON Lines: {"text": "...", "topic": "timeline"}, with "topic": null for a
question that is out of scope. Labels may be top-level topics or sub-topics; a question is
answered right when Loa's topic is the labelled one or in the same top-level topic (an answer
about `after_shutdown.emergency` is right for a question labelled `after_shutdown`).

What Loa did with each question is one of: a direct answer, "which one?" / unsure with topics
offered as buttons, declined as off-topic, small talk, or unsure without options.

In scope: direct right, right topic offered (not answered), wrong direct answer, wrongly
declined as off-topic, and the rest. Out of scope: declined, wrongly answered, offered topics.
"""
from __future__ import annotations

import functools
import json
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

NONE = "-"

# The targets of issue 14, checked on the blind set by tests/test_blind.py.
TARGETS = {"direct_right": 0.90, "right_or_offered": 0.97, "wrong_direct": 0.03,
           "oos_precision": 0.90}
# An in-scope question naming any of these is never to be declined as off-topic.
PHONE_WORDS = ("2g", "3g", "4g", "song", "sim", "may", "dien thoai", "nha mang", "viettel",
               "vinaphone", "vina", "mobifone", "mobi", "vnpt", "vietnamobile")


class LabelledSetError(ValueError):
    """The labelled file is malformed; the message names the line."""

    def __init__(self, path: Path, line: int, reason: str) -> None:
        self.line = line
        self.reason = reason
        super().__init__(f"{path}:{line}: {reason}")


@dataclass(frozen=True, slots=True)
class Labelled:
    text: str
    topic: str | None
    set: str = ""


@dataclass(frozen=True, slots=True)
class Decision:
    """What Loa did with one question (the fields of `ask --json`)."""

    kind: str                     # answer, clarify, unsure, out_of_scope, smalltalk
    topic: str | None             # the topic answered, or None
    options: tuple[str, ...] = ()  # topics offered as buttons, in order
    score: float = 0.0


def family(topic: str | None) -> str | None:
    return topic.split(".", 1)[0] if topic else topic


def load_labelled(path: Path) -> list[Labelled]:
    try:
        return list(_parse_labelled(path.read_text(encoding="utf-8")))
    except _BadLine as exc:
        raise LabelledSetError(path, exc.line, exc.reason) from None


class _BadLine(ValueError):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(line, reason)
        self.line, self.reason = line, reason


@functools.lru_cache(maxsize=8)
def _parse_labelled(raw: str) -> tuple[Labelled, ...]:
    """The items of a labelled set's text. Kept by the text itself (reading it is cheap, its
    thousands of json.loads are not): every app built reads content/training-vi.jsonl, and
    an edited or copied file is simply another text. Immutable (frozen items in a tuple);
    load_labelled hands each caller a list of its own."""
    items = []
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _BadLine(number, f"not JSON ({exc.msg})") from None
        text, topic = (data.get("text"), data.get("topic")) if isinstance(data, dict) \
            else (None, None)
        if not isinstance(text, str) or not text.strip() or not (
                topic is None or isinstance(topic, str)):
            raise _BadLine(number, 'needs "text" and "topic" (or null)')
        items.append(Labelled(text, None if topic in (None, "", "none") else topic,
                              str(data.get("set") or "")))
    return tuple(items)


def names_phone(text: str) -> bool:
    """The question names phones, SIMs, signal, carriers or 2G/3G/4G (issue 14's list)."""
    from bot.core.text import fold
    padded = f" {fold(text)} "
    return any(f" {word} " in padded for word in PHONE_WORDS)


@dataclass
class Evaluation:
    in_scope: int = 0
    direct_right: int = 0            # answered straight away, right topic
    offered_right: int = 0           # not answered, but the right topic was a button
    wrong_direct: int = 0            # answered straight away with a wrong topic
    declined_in_scope: int = 0       # in scope, declined as off-topic
    declined_naming_phones: int = 0  # ... and it names phones, SIM, sóng, a carrier
    exact_right: int = 0             # direct answer with exactly the labelled (sub-)topic
    out_of_scope: int = 0
    declined_oos: int = 0            # out of scope and declined (or small talk)
    answered_oos: int = 0            # out of scope but answered with a topic
    offered_oos: int = 0             # out of scope, topics offered
    kinds: Counter[str] = field(default_factory=Counter)
    times_ms: list[float] = field(default_factory=list)
    confusion: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    misses: list[tuple[str, str, str]] = field(default_factory=list)   # expected, got, text

    @staticmethod
    def _share(part: int, whole: int) -> float:
        return part / whole if whole else 0.0

    @property
    def figures(self) -> dict[str, float]:
        declined = self.declined_oos + self.declined_in_scope
        return {
            "direct_right": self._share(self.direct_right, self.in_scope),
            "right_or_offered": self._share(self.direct_right + self.offered_right,
                                            self.in_scope),
            "wrong_direct": self._share(self.wrong_direct, self.in_scope),
            "declined_in_scope": self._share(self.declined_in_scope, self.in_scope),
            "oos_precision": self._share(self.declined_oos, declined),
            "oos_recall": self._share(self.declined_oos, self.out_of_scope),
            "oos_answered": self._share(self.answered_oos, self.out_of_scope),
        }

    def missed_targets(self) -> list[str]:
        f = self.figures
        out = [f"{name} {f[name]:.1%} (target {'≤' if name == 'wrong_direct' else '≥'} "
               f"{target:.0%})" for name, target in TARGETS.items()
               if (f[name] > target if name == "wrong_direct" else f[name] < target)]
        if self.declined_naming_phones:
            out.append(f"{self.declined_naming_phones} in-scope question(s) naming phones "
                       "declined as off-topic (target 0)")
        return out

    @property
    def median_ms(self) -> float:
        return statistics.median(self.times_ms) if self.times_ms else 0.0

    @property
    def p99_ms(self) -> float:
        ordered = sorted(self.times_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else 0.0

    def to_json(self) -> dict[str, object]:
        return {"questions": self.in_scope + self.out_of_scope, "in_scope": self.in_scope,
                "out_of_scope": self.out_of_scope,
                **{k: round(v, 4) for k, v in self.figures.items()},
                "counts": {"direct_right": self.direct_right, "offered_right": self.offered_right,
                           "wrong_direct": self.wrong_direct,
                           "declined_in_scope": self.declined_in_scope,
                           "declined_naming_phones": self.declined_naming_phones,
                           "exact_right": self.exact_right, "declined_oos": self.declined_oos,
                           "answered_oos": self.answered_oos, "offered_oos": self.offered_oos},
                "kinds": dict(self.kinds), "missed_targets": self.missed_targets(),
                "median_ms": round(self.median_ms, 3), "p99_ms": round(self.p99_ms, 3),
                "confusion": {k: dict(v) for k, v in sorted(self.confusion.items())}}

    def to_text(self, show_misses: bool = False) -> str:
        f = self.figures
        lines = [
            f"{self.in_scope + self.out_of_scope} questions: {self.in_scope} in scope, "
            f"{self.out_of_scope} out of scope",
            "in scope:",
            f"  direct right answer        {f['direct_right']:6.1%}  ({self.direct_right})"
            f"   exactly the labelled sub-topic: {self.exact_right}",
            f"  right topic offered        {self._share(self.offered_right, self.in_scope):6.1%}"
            f"  ({self.offered_right})   right or offered: {f['right_or_offered']:.1%}",
            f"  wrong direct answer        {f['wrong_direct']:6.1%}  ({self.wrong_direct})",
            f"  wrongly declined off-topic {f['declined_in_scope']:6.1%}  "
            f"({self.declined_in_scope}; naming phones: {self.declined_naming_phones})",
            "out of scope:",
            f"  declined                   {f['oos_recall']:6.1%}  ({self.declined_oos})",
            f"  wrongly answered           {f['oos_answered']:6.1%}  ({self.answered_oos})",
            f"  topics offered             {self._share(self.offered_oos, self.out_of_scope):6.1%}"
            f"  ({self.offered_oos})",
            f"out-of-scope precision (declined that were out of scope): {f['oos_precision']:.1%}",
            f"time per question: median {self.median_ms:.3f} ms, p99 {self.p99_ms:.3f} ms",
            "targets: " + ("all met" if not self.missed_targets()
                           else "missed: " + "; ".join(self.missed_targets())),
            "", "per topic (expected -> what Loa did; '?' = offered, not answered):",
            f"{'topic':<22}{'n':>4}{'right':>7}{'acc':>7}  confused with"]
        for topic, got in sorted(self.confusion.items(), key=lambda kv: (kv[0] == NONE, kv[0])):
            n = sum(got.values())
            hits = got.get(topic, 0)
            others = ", ".join(f"{k} {v}" for k, v in got.most_common() if k != topic)
            lines.append(f"{topic:<22}{n:>4}{hits:>7}{hits / n:>7.0%}  {others}")
        if show_misses:
            lines += ["", "misses (expected | what Loa did | question):"]
            lines += [f"{e} | {g} | {t}" for e, g, t in self.misses]
        return "\n".join(lines)


def _shown(decision: Decision) -> str:
    if decision.kind == "answer":
        return family(decision.topic) or NONE
    if decision.kind in ("out_of_scope", "smalltalk"):
        return NONE
    return "?" + ",".join(decision.options)


def evaluate(decide: Callable[[str], Decision], items: Sequence[Labelled],
             clock: Callable[[], float] = time.perf_counter) -> Evaluation:
    result = Evaluation()
    for item in items:
        start = clock()
        decision = decide(item.text)
        result.times_ms.append((clock() - start) * 1000)
        result.kinds[decision.kind] += 1
        expected = family(item.topic)
        declined = decision.kind in ("out_of_scope", "smalltalk")
        answered = decision.kind == "answer" and decision.topic is not None
        got = _shown(decision)
        if expected is None:
            result.out_of_scope += 1
            result.declined_oos += declined
            result.answered_oos += answered
            result.offered_oos += not declined and not answered and bool(decision.options)
            result.confusion[NONE]["-" if declined else got] += 1
            if not declined:
                result.misses.append((NONE, got, item.text))
            continue
        result.in_scope += 1
        right = answered and family(decision.topic) == expected
        result.direct_right += right
        result.exact_right += answered and decision.topic == item.topic
        result.wrong_direct += answered and not right
        offered = not answered and expected in {family(o) for o in decision.options}
        result.offered_right += offered
        if declined:
            result.declined_in_scope += 1
            result.declined_naming_phones += names_phone(item.text)
        result.confusion[expected][expected if right else ("?" if offered else got)] += 1
        if not right:
            result.misses.append((expected, got, item.text))
    return result
