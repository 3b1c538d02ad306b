"""Apps built in one process share what was read from unchanged files (the content, the
training questions, the catalogs, the matcher's index, the classifier: bot/core/kept.py),
never what one app changes: an approval, a taught question or a changed dict in one app is
not seen by another, and a file edited on disk is read again by the next build."""
from __future__ import annotations

import datetime as dt
import os
import shutil
import time
from pathlib import Path

import polib
import pytest
from support.env import make_settings
from support.translations import (
    TEST_DESK,
    TEST_REVIEWER,
    copy_tree,
    make_ready,
    settings_for,
    write_string,
    write_topic,
)

from bot.app import LOA, build_app
from bot.core import content as content_module
from bot.core.content import load_content
from bot.core.matching import Example, MatchKind
from bot.features.translations.catalogs import compile_catalogs
from bot.features.translations.rules import Decision, Provenance, Status, Unit
from bot.features.translations.web import TRANSLATIONS
from bot.settings import Settings

DRAFT = Provenance(Status.DRAFT, "human", "Test translator (test data)")
MENU = "☰ Main menu"                       # an interface string citizens see
RAD_MENU = "RAD-TEST menu (draft)"
CAT = "con mèo nhà tôi thích ăn cá"       # nothing Loa answers as the timeline
# An edit of the same size, of a body (a title would make another classifier to train).
OLD, NEW = "Căn cứ: Thông tư", "Căn cứ! Thông tư"


def age(*paths: Path, seconds: int = 3600) -> None:
    """Files (or every file of folders) unchanged for a while (older than kept.RECENT_NS):
    what is read from them is kept for the next build, as in a real checkout."""
    then = time.time() - seconds
    for path in paths:
        for file in path.rglob("*") if path.is_dir() else (path,):
            if file.is_file():
                os.utime(file, (then, then))


@pytest.fixture
def s(tmp_path: Path) -> Settings:
    """A copy of content/ and locales/ with a draft Ê Đê timeline and a draft string."""
    content, locales = copy_tree(tmp_path)
    make_ready(content, skip=("timeline",))
    write_topic(content, "rad", "timeline", DRAFT)
    write_string(locales, "rad", MENU, RAD_MENU, DRAFT)
    age(content, locales)
    return settings_for(make_settings(tmp_path), content, locales, languages=("vi", "rad"))


def approve(unit: Unit) -> tuple[str, Decision]:
    return "rad", Decision(unit.review_key, "approved", unit.target_hash, unit.source_hash,
                           TEST_REVIEWER, TEST_DESK, dt.datetime.now(dt.UTC))


def test_an_approval_in_one_app_is_not_seen_by_another(s):
    one, two = build_app(s), build_app(s)
    service, runtime = one[TRANSLATIONS], one[LOA].runtime
    text = service.unit("rad", "t:timeline")
    string = next(u for u in service.units["rad"] if u.key == MENU)
    service.reload([approve(text), approve(string)])
    service.install(runtime.conversation, runtime.translator)

    body = text.target["body"]
    assert runtime.conversation.contents["rad"].topics["timeline"].body == body
    assert runtime.translator.gettext("rad", MENU) == RAD_MENU
    other = two[LOA].runtime
    assert other.conversation.contents["rad"].topics["timeline"].body != body
    assert "timeline" not in other.conversation.contents["rad"].translated
    assert other.translator.gettext("rad", MENU) != RAD_MENU
    assert two[TRANSLATIONS].decisions == {}
    assert all(u.prov.status == Status.DRAFT for u in two[TRANSLATIONS].units["rad"]
               if u.key in ("timeline", MENU))
    # ... nor by an app built afterwards from the same files (the decision is the database's)
    later = build_app(s)[LOA].runtime
    assert later.conversation.contents["rad"].topics["timeline"].body != body


def test_what_one_app_changes_or_is_taught_stays_its_own(s):
    one, two = build_app(s)[LOA].runtime.conversation, build_app(s)[LOA].runtime.conversation
    assert one.matcher.match(CAT).topic != "timeline"
    one.matcher = one.matcher.rebuilt([Example("timeline", CAT)])     # as refresh_matcher
    vi = one.contents["vi"]
    vi.topics.pop("cost")
    vi.check.verdicts.clear()
    assert vi.facts is not None
    vi.facts.clear()

    taught = one.matcher.match(CAT)
    assert taught.kind is MatchKind.ANSWER and taught.topic == "timeline"
    assert two.matcher.match(CAT).topic != "timeline"
    for other in (two.contents["vi"], load_content(s.content_dir, "vi"),
                  build_app(s)[LOA].runtime.conversation.contents["vi"]):
        assert "cost" in other.topics and other.check.verdicts and other.facts
    assert build_app(s)[LOA].runtime.conversation.matcher.match(CAT).topic != "timeline"


@pytest.mark.parametrize("recent", [False, True], ids=["aged", "just-written"])
def test_a_file_edited_on_disk_is_read_by_the_next_build(s, recent):
    before = build_app(s)[LOA].runtime
    assert OLD in before.conversation.contents["vi"].topics["timeline"].body
    topic = s.content_dir / "vi" / "timeline.md"
    size = topic.stat().st_size
    topic.write_text(topic.read_text(encoding="utf-8").replace(OLD, NEW), encoding="utf-8")
    assert topic.stat().st_size == size                         # in place, same size
    training = s.content_dir / "training-vi.jsonl"
    with training.open("a", encoding="utf-8") as out:    # of no topic: the same classifier
        out.write('{"text": "mèo của tôi có bị tắt sóng không", "topic": "no_such_topic"}\n')
    rad_po, vi_po = (s.locales_dir / lang / "LC_MESSAGES" / "loa.po" for lang in ("rad", "vi"))
    rad = polib.pofile(str(rad_po))
    next(e for e in rad if e.msgid == MENU).msgstr = "RAD-TEST menu, edited"
    rad.save()                                                  # in place
    write_string(s.locales_dir, "vi", MENU, "☰ Trở về menu")     # replaced (the source)
    if not recent:       # changed, but not just now; the other files are as they were
        age(topic, training, rad_po, vi_po, seconds=1800)

    after = build_app(s)
    runtime, service = after[LOA].runtime, after[TRANSLATIONS]
    assert NEW in runtime.conversation.contents["vi"].topics["timeline"].body
    assert NEW in load_content(s.content_dir, "vi").topics["timeline"].body
    assert len(runtime.conversation.contents["vi"].training) == \
        len(before.conversation.contents["vi"].training) + 1
    unit = next(u for u in service.units["rad"] if u.key == MENU)
    assert unit.target["text"] == "RAD-TEST menu, edited"
    assert unit.source["text"] == service.vi_texts[MENU] == "☰ Trở về menu"
    # The app built before keeps what it read.
    assert OLD in before.conversation.contents["vi"].topics["timeline"].body


@pytest.mark.parametrize("recent", [False, True], ids=["aged", "just-written"])
def test_a_recompiled_catalog_is_shown_by_the_next_build(s, recent):
    before = build_app(s)[LOA].runtime.translator
    assert before.gettext("vi", MENU) == "☰ Menu chính"
    write_string(s.locales_dir, "vi", MENU, "☰ Trở về menu")
    compile_catalogs(s.locales_dir)                     # `make catalogs`: .mo rewritten in place
    if not recent:
        age(s.locales_dir, seconds=1800)

    assert build_app(s)[LOA].runtime.translator.gettext("vi", MENU) == "☰ Trở về menu"
    assert before.gettext("vi", MENU) == "☰ Menu chính"     # the app built before keeps its own


def test_another_folder_is_read_on_its_own(s, tmp_path):
    content = tmp_path / "elsewhere"
    shutil.copytree(s.content_dir, content)          # the same files, their times kept
    topic = content / "vi" / "timeline.md"
    stat = topic.stat()
    topic.write_text(topic.read_text(encoding="utf-8").replace(OLD, NEW), encoding="utf-8")
    os.utime(topic, ns=(stat.st_atime_ns, stat.st_mtime_ns))   # same size, same time
    assert OLD in load_content(s.content_dir, "vi").topics["timeline"].body
    assert NEW in load_content(content, "vi").topics["timeline"].body


def test_a_second_build_reads_no_file_again(s, monkeypatch):
    build_app(s)
    parsed: list[str] = []
    pofile, load = polib.pofile, content_module._load
    monkeypatch.setattr(polib, "pofile", lambda *a, **k: parsed.append("po") or pofile(*a, **k))
    monkeypatch.setattr(content_module, "_load",
                        lambda *a, **k: parsed.append("content") or load(*a, **k))
    build_app(s)
    assert parsed == []
