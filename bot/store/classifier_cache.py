"""The trained topic classifier, kept on disk so a process starts without training it again.

Training takes a second or two (and scikit-learn's import as long again); every `python -m
bot` process and test would pay it. The arrays of a trained classifier are saved under
BOT_CACHE_DIR (default .cache/ in the checkout) in a file named by the fingerprint of what it
was trained on (samples, training questions, settings): a changed content file simply gives a
new name, so a stale classifier is never used. A missing, unreadable or broken file is
retrained and rewritten; a cache folder that cannot be written only costs the training.
"""
from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from bot.core.classifier import Classifier, fingerprint
from bot.core.content import ContentSet
from bot.core.matching import training_examples

log = logging.getLogger(__name__)
KEEP = 4          # classifier files kept (older content versions are removed)


def cached_classifier(content: ContentSet, cache_dir: Path) -> Classifier:
    examples = training_examples(content)
    path = cache_dir / f"classifier-{fingerprint(examples)[:40]}.npz"
    try:
        arrays = Classifier.load(path)
        return Classifier(examples, arrays=arrays)
    except FileNotFoundError:
        pass
    except Exception as exc:  # noqa: BLE001 (a truncated zip, bad JSON, wrong shapes ...)
        log.warning("classifier cache %s unreadable (%s): training again", path.name,
                    exc.__class__.__name__)
    classifier = Classifier(examples)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".classifier-", suffix=".tmp", dir=cache_dir)
        os.close(fd)
        try:
            Classifier.save(classifier.to_arrays(), Path(tmp))
            os.replace(tmp, path)        # whole or not at all, whoever writes at the same time
        finally:
            Path(tmp).unlink(missing_ok=True)
        old = sorted(cache_dir.glob("classifier-*.npz"), key=lambda p: p.stat().st_mtime)
        for stale in old[:-KEEP]:
            stale.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("classifier cache not written to %s (%s)", cache_dir, exc.__class__.__name__)
    return classifier
