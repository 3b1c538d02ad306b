"""The shipped content is valid and sticks to the facts; broken files are named clearly."""
from __future__ import annotations

import re
import shutil
import unicodedata
from pathlib import Path

import pytest
from support.cli import run_cli

from bot.core.content import REQUIRED_TOPICS, load_content, validate_content

ROOT = Path(__file__).resolve().parents[2]
CONTENT = ROOT / "content"
# Free carrier hotlines, MobiFone's paid 9090 and the consumer-complaint line (content-facts.md).
# MobiFone 1800 1090 is unverified: it must appear nowhere.
ALLOWED_NUMBERS = {"1800 8098", "1800 1091", "9090", "1800 6838"}


def all_texts() -> list[tuple[str, str]]:
    return [(p.name, p.read_text(encoding="utf-8")) for p in sorted((CONTENT / "vi").iterdir())
            if p.suffix in (".md", ".yml")]


def test_shipped_content_is_valid_and_complete():
    assert validate_content(CONTENT, "vi") == []
    content = load_content(CONTENT, "vi")
    for topic_id in REQUIRED_TOPICS:
        topic = content.topics[topic_id]
        assert topic.sources and topic.samples and topic.body
    assert any("." in t for t in content.topics)   # sub-topics exist


def rendered_texts() -> list[tuple[str, str]]:
    """What citizens read: bodies, titles, the check and the help line with facts filled in."""
    content = load_content(CONTENT, "vi")
    out = [(t.id, f"{t.title}\n{t.body}") for t in content.topics.values()]
    check = content.check
    out.append(("check.yml", "\n".join([check.intro, *check.verdicts.values(),
                                        *(q.text for q in check.questions)])))
    return [*out, ("menu.yml", content.help_line)]


def test_only_verified_hotlines_are_published():
    for name, text in rendered_texts() + all_texts():
        for number in re.findall(r"\b1[89]00[ .]?\d{3,4}\b", text):
            normal = re.sub(r"[ .]", "", number)
            spaced = f"{normal[:4]} {normal[4:]}"
            assert spaced in ALLOWED_NUMBERS or normal.startswith("1900"), (name, number)


def test_no_forbidden_claims():
    for name, text in rendered_texts() + all_texts():
        folded = text.lower()
        assert "thông tư 13/2024" not in folded, name       # does not exist
        assert "vietnamobile" not in folded or "1800" not in folded.split("vietnamobile")[1][:40]
        # the old department must not be named as a current office
        for match in re.finditer("sở thông tin và truyền thông", folded):
            window = folded[max(0, match.start() - 60):match.end() + 60]
            assert "trước đây" in window or "cũ" in window or "sources" in window, name


def test_every_file_is_nfc():
    for name, text in all_texts():
        assert unicodedata.is_normalized("NFC", text), name


def _broken_copy(tmp_path: Path, name: str, old: str, new: str) -> Path:
    root = tmp_path / "content"
    shutil.copytree(CONTENT, root)
    path = root / "vi" / name
    text = path.read_text(encoding="utf-8")
    assert old in text, f"fixture text {old!r} not in {name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return root


@pytest.mark.parametrize("name, old, new, expected", [
    ("timeline.md", "as_of: 2026-12-02", "as_of: 2026-13-45", "timeline.md: as_of"),
    ("timeline.md", "as_of: 2026-12-02", "as_of: 2031-01-01", "is in the future"),
    ("timeline.md", "id: timeline", "id: time-line", "timeline.md: id"),
    ("timeline.md", "version: 3", "version: one", "timeline.md: version"),
    ("timeline.md", "related: [", "related: [nowhere, ", "unknown topic 'nowhere'"),
    ("timeline.md", "sources:", "sources: []\nold_sources:", "timeline.md: sources"),
    ("timeline.md", "---\nid:", "id:", "timeline.md: front matter"),
    ("menu.yml", "items: [after_shutdown.phone_stopped,", "items: [ghost,", "menu.yml: items"),
    ("check.yml", "verdicts:", "verdicts_missing:", "check.yml: verdicts"),
])
def test_check_content_names_file_and_field(tmp_path, name, old, new, expected):
    root = _broken_copy(tmp_path, name, old, new)
    result = run_cli("check-content", "--content-dir", str(root), cwd=ROOT)
    assert result.returncode == 1
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_required_topic_and_non_nfc_text(tmp_path):
    root = tmp_path / "content"
    shutil.copytree(CONTENT, root)
    (root / "vi" / "cost.md").unlink()
    path = root / "vi" / "reason.md"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "title:", "title: " + unicodedata.normalize("NFD", "Tại") + " ", 1), encoding="utf-8")
    problems = [str(p) for p in validate_content(root, "vi")]
    assert any("cost.md" in p and "required topic missing" in p for p in problems)
    assert any("reason.md: title: text is not Unicode NFC" in p for p in problems)
    assert any("links to unknown topic 'cost'" in p for p in problems)


def test_broken_content_stops_the_server_with_a_clear_message(tmp_path):
    root = _broken_copy(tmp_path, "support.md", "version: 2", "version: 0")
    result = run_cli("ask", "1", cwd=ROOT, env={"BOT_CONTENT_DIR": str(root),
                                               "BOT_DATA_DIR": str(tmp_path),
                                               "PATH": "/usr/bin:/bin"})
    assert result.returncode == 1
    assert "support.md: version" in result.stderr and "Traceback" not in result.stderr


TERMS = ("VoLTE", "IMEI", "OTP")


def test_answers_open_plainly_explain_terms_and_stay_short():
    """The first sentence says what to do or know; VoLTE, IMEI and OTP are explained in
    brackets the first time a text uses them; answers stay short."""
    content = load_content(CONTENT, "vi")
    texts = [(t.id, t.body) for t in content.topics.values()]
    texts += [(f"check.{k}", v) for k, v in content.check.verdicts.items()]
    for name, body in texts:
        first = re.split(r"(?<=[.:!?])\s|\n", body, maxsplit=1)[0]
        assert not first.startswith("•") and len(first) <= 160, (name, first)
        for term in TERMS:
            at = body.find(term)
            if at >= 0:
                assert body[at + len(term):].startswith(" ("), (name, term)
        limit = 750 if "." not in name or name.startswith("check.") else 560
        assert len(body) <= limit, (name, len(body))
    for name, body in texts:       # plain Vietnamese: "máy chỉ có 2G", not the English term
        assert "2g only" not in body.lower(), name


def test_the_end_of_2g_is_told_as_past_never_as_to_come():
    content = load_content(CONTENT, "vi")
    everything = "\n".join([t.body for t in content.topics.values()]
                           + list(content.check.verdicts.values()) + [content.check.intro])
    folded = everything.lower()
    for future in ("sẽ tắt sóng 2g", "sẽ dừng", "2g vẫn còn", "sóng 2g được giữ lại",
                   "sau khi tắt sóng 2g", "nhà mạng có ưu đãi", "trước tháng 9/2026 nhà mạng"):
        assert future not in folded, future
    assert "đã dừng sau ngày 15/9/2026" in everything
    assert "theo lộ trình" in folded
