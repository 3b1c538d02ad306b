"""The trained classifier is kept on disk: a new process answers the same without training,
a broken or unwritable cache only costs the training, never an answer."""
from __future__ import annotations

from dataclasses import replace

import pytest

from bot.app import load_conversation
from bot.core import classifier
from bot.core.content import load_content
from bot.settings import Settings
from bot.store import classifier_cache

QUESTIONS = ("khi nao tat song 2g", "đèn điện thoại cứ nhấp nháy", "sđt tổng đài vina",
             "ngư dân đi biển có sóng không", "thời tiết mai thế nào")


def answers(settings: Settings) -> list[tuple[str, str | None, tuple[str, ...]]]:
    _, conversation = load_conversation(settings)
    return [(d.kind, d.topic, d.options) for d in map(conversation.understand, QUESTIONS)]


def trainings(monkeypatch) -> list[int]:
    """Counts the real trainings (the in-process memory of classifiers is emptied first)."""
    calls: list[int] = []
    fit = classifier._fit

    def counting(*args, **kwargs):
        calls.append(1)
        return fit(*args, **kwargs)

    classifier._CACHE.clear()
    monkeypatch.setattr(classifier, "_fit", counting)
    return calls


def test_a_saved_classifier_answers_exactly_as_the_trained_one(tmp_path, monkeypatch):
    settings = Settings(secret_key="x", cache_dir=tmp_path / "cache")
    calls = trainings(monkeypatch)
    first = answers(settings)
    (saved,) = (tmp_path / "cache").glob("classifier-*.npz")
    assert len(calls) == 1 and saved.stat().st_mode & 0o077 == 0     # the service user's only
    classifier._CACHE.clear()
    assert answers(settings) == first and len(calls) == 1        # loaded, not trained
    assert first[0][:2] == ("answer", "timeline")


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_broken_cache_file_is_trained_again_and_replaced(tmp_path, monkeypatch, caplog,
                                                            damage):
    settings = Settings(secret_key="x", cache_dir=tmp_path / "cache")
    good = answers(settings)
    (saved,) = (tmp_path / "cache").glob("classifier-*.npz")
    whole = saved.read_bytes()
    saved.write_bytes(b"not a numpy file" if damage == "garbage" else whole[:len(whole) // 2])
    calls = trainings(monkeypatch)
    assert answers(settings) == good and len(calls) == 1
    assert "unreadable" in caplog.text and "not a numpy" not in caplog.text
    classifier._CACHE.clear()
    assert answers(settings) == good and len(calls) == 1         # the new file is good


def test_an_unwritable_cache_folder_only_costs_the_training(tmp_path, monkeypatch):
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")
    calls = trainings(monkeypatch)
    assert answers(Settings(secret_key="x", cache_dir=blocked))[0][:2] == ("answer", "timeline")
    assert len(calls) == 1


def test_changed_content_gets_a_new_file_never_the_old_classifier(tmp_path, monkeypatch):
    settings = Settings(secret_key="x", cache_dir=tmp_path / "cache")
    content = load_content(settings.content_dir, "vi")
    first = classifier_cache.cached_classifier(content, settings.cache_dir)
    fewer = replace(content, training=content.training[:-50])
    second = classifier_cache.cached_classifier(fewer, settings.cache_dir)
    assert first.fingerprint != second.fingerprint
    assert len(list((tmp_path / "cache").glob("classifier-*.npz"))) == 2


def test_old_classifier_files_are_pruned(tmp_path):
    count = classifier_cache.KEEP + 2
    settings = Settings(secret_key="x", cache_dir=tmp_path / "cache")
    content = load_content(settings.content_dir, "vi")
    for i in range(count):   # a content version each; small ones: pruning is the point
        classifier_cache.cached_classifier(replace(content, training=content.training[:300 + i]),
                                           settings.cache_dir)
    assert len(list((tmp_path / "cache").glob("classifier-*.npz"))) == classifier_cache.KEEP
