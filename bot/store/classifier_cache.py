"""The trained topic classifier, kept on disk so a process starts without training it again.

Training takes a second or two (and scikit-learn's import as long again); every `python -m
bot` process and test would pay it. The arrays of a trained classifier are saved under
BOT_CACHE_DIR (default .cache/ in the checkout) in a file named by the fingerprint of what it
was trained on (samples, training questions, settings): a changed content file simply gives a
new name, so a stale classifier is never used. A missing, unreadable or broken file is
retrained and rewritten; a cache folder that cannot be written only costs the training.
"""
from __future__ import annotations

import contextlib
import functools
import logging
import os
import tempfile
from pathlib import Path

import numpy as np

from bot.core.classifier import Classifier, Labelled, fingerprint
from bot.core.content import ContentSet, Topic
from bot.core.kept import stamps
from bot.core.matching import examples_of

log = logging.getLogger(__name__)
KEEP = 4          # classifier files kept (older content versions are removed)


def cached_classifier(content: ContentSet, cache_dir: Path) -> Classifier:
    topics, training = tuple(content.topics.values()), tuple(content.training)
    examples, name = _examples(topics, training)
    path = cache_dir / name
    key = stamps(path)
    if key is not None and len(key[0]) > 1:      # the file is there and not just written
        with contextlib.suppress(Exception):      # unreadable: the reasons are logged below
            return _loaded(key, topics, training)
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


# Every app built in a process loads the classifier of the same content. What it is trained on
# (`matching.training_examples`) and the classifier loaded from one unchanged file are kept in the
# process: the key holds the inputs themselves (frozen topics, the training tuple) and the
# file's stamp, so other content or a rewritten file loads anew. Sharing a Classifier between
# apps is safe: nothing changes it after it is built (queries only read its vocabularies and
# arrays, and the arrays kept here are made read-only).

@functools.lru_cache(maxsize=4)
def _examples(topics: tuple[Topic, ...], training: tuple[tuple[str, str | None], ...]
              ) -> tuple[tuple[Labelled, ...], str]:
    """The classifier's examples for these topics and training questions, and its file name."""
    examples = examples_of(topics, training)
    return tuple(examples), f"classifier-{fingerprint(examples)[:40]}.npz"


@functools.lru_cache(maxsize=4)
def _loaded(key: tuple[tuple[object, ...], ...], topics: tuple[Topic, ...],
            training: tuple[tuple[str, str | None], ...]) -> Classifier:
    arrays = Classifier.load(Path(str(key[0][0])))
    for value in arrays.values():
        if isinstance(value, np.ndarray):
            value.flags.writeable = False
    return Classifier(_examples(topics, training)[0], arrays=arrays)
