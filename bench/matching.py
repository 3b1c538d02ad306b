"""Speed and memory of the free-text matcher (a benchmark, not a test: no asserts on time).

Matches every question of tests/data/questions.jsonl several times with a warm matcher and
prints the median and p99 time per question (goal: median < 1 ms), the time for a question
never seen before (empty typo cache), the memory the index takes (tracemalloc), and how long
a rebuild takes when officers have taught Loa 0, 500 and 2,000 extra examples (each rebuild
trains the classifier again on the samples, content/training-vi.jsonl and those examples).

    .venv/bin/python bench/matching.py [--rounds 20]
"""
from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.core import classifier  # noqa: E402
from bot.core.content import load_content  # noqa: E402
from bot.core.evaluation import load_labelled  # noqa: E402
from bot.core.matching import Example, Matcher  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    content = load_content(ROOT / "content", "vi")
    questions = [item.text for item in load_labelled(ROOT / "tests" / "data" / "questions.jsonl")]

    classifier._fit([classifier.Labelled("a b", "x"), classifier.Labelled("c d", "y")], "svm")
    classifier._CACHE.clear()           # scikit-learn imported: its modules are not the index
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    matcher = Matcher(content)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    index_bytes = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    classifier._CACHE.clear()           # the classifier is trained again, not taken from memory
    started = time.perf_counter()
    matcher = Matcher(content)          # timed without tracemalloc's overhead
    build_s = time.perf_counter() - started

    cold = []
    for text in questions:
        start = time.perf_counter()
        matcher.match(text)
        cold.append((time.perf_counter() - start) * 1000)
    warm = []
    for _ in range(args.rounds):
        for text in questions:
            start = time.perf_counter()
            matcher.match(text)
            warm.append((time.perf_counter() - start) * 1000)

    print(f"questions: {len(questions)} x {args.rounds} rounds")
    print(f"per question (warm): median {statistics.median(warm):.3f} ms, "
          f"p99 {percentile(warm, 0.99):.3f} ms, max {max(warm):.3f} ms")
    print(f"per question (first time, typo cache empty): median {statistics.median(cold):.3f} "
          f"ms, p99 {percentile(cold, 0.99):.3f} ms")
    print(f"index: {index_bytes / 1e6:.2f} MB (tracemalloc), built in {build_s * 1000:.0f} ms")
    for extra in (0, 500, 2000):
        classifier._CACHE.clear()
        taught = [Example("switch" if i % 3 else None, f"{questions[i % len(questions)]} {i}")
                  for i in range(extra)]
        start = time.perf_counter()
        matcher.rebuilt(taught)
        print(f"rebuild with {extra:>5} learned examples: "
              f"{(time.perf_counter() - start) * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
