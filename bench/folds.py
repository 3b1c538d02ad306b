"""The fold-out score of the matcher on the written training questions (a measurement).

    .venv/bin/python bench/folds.py [--folds 5] [--no-phone-prob 0.6] [--model svm]

The questions of content/training-vi.jsonl are cut into folds; for each, Loa's matcher is
trained on the samples and the other folds and asked the held-out questions, with the same
decision rules as in use. Prints issue 14's figures over all held-out questions. This is how
the thresholds in bot/core/matching.py and the model in bot/core/classifier.py were chosen
(with the older set); the blind set is never read here.
"""
from __future__ import annotations

import argparse
import random
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.core import classifier, matching  # noqa: E402
from bot.core.content import load_content  # noqa: E402
from bot.core.evaluation import Decision, Labelled, evaluate  # noqa: E402
from bot.core.matching import Matcher  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--no-phone-prob", type=float, default=matching.NO_PHONE_ANSWER_PROB)
    parser.add_argument("--model", default=classifier.MODEL, choices=("svm", "lr"))
    args = parser.parse_args()
    matching.NO_PHONE_ANSWER_PROB = args.no_phone_prob
    content = load_content(ROOT / "content", "vi")
    questions = list(content.training)
    random.Random(1).shuffle(questions)
    held_out: list[Labelled] = []
    decisions: dict[str, Decision] = {}
    for k in range(args.folds):
        test = questions[k::args.folds]
        train = tuple(q for i, q in enumerate(questions) if i % args.folds != k)
        fold_content = replace(content, training=train)
        examples = matching.training_examples(fold_content)
        matcher = Matcher(fold_content, classifier=classifier.Classifier(examples, args.model))
        for text, topic in test:
            decisions[text] = matching.decision(matcher.match(text))
            held_out.append(Labelled(text, topic))
    result = evaluate(lambda text: decisions[text], held_out)
    f = result.figures
    print(f"{args.folds}-fold score, {len(held_out)} questions, model {args.model}, "
          f"no-phone answer probability {args.no_phone_prob}:")
    print(f"  direct right {f['direct_right']:.1%}, right or offered {f['right_or_offered']:.1%},"
          f" wrong direct {f['wrong_direct']:.1%}, declined in scope "
          f"{f['declined_in_scope']:.1%} (naming phones {result.declined_naming_phones})")
    print(f"  out of scope: precision {f['oos_precision']:.1%}, declined {f['oos_recall']:.1%},"
          f" answered {f['oos_answered']:.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
