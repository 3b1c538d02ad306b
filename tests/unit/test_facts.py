"""Facts live in one place (content/facts.yml): answers, the phone check, the help line, the
leaflet and the loudspeaker script follow an edit there; stale or unsourced facts and texts
past their review date fail check-content; no text types a hotline or key date itself."""
from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import pytest
from support.cli import run_cli

from bot.core.content import load_content, review_problems, validate_content
from bot.core.conversation import Conversation
from bot.core.i18n import GettextTranslator
from bot.core.messages import ConversationState, Inbound, InboundKind
from bot.features.outreach.reports.leaflet import leaflet_pdf, loudspeaker_script, sections

ROOT = Path(__file__).resolve().parents[2]
CONTENT = ROOT / "content"
TODAY = dt.date(2026, 12, 2)


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "content"
    shutil.copytree(CONTENT, root, ignore=shutil.ignore_patterns("media"))
    return root


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def _everything_a_citizen_reads(root: Path) -> str:
    """Every answer, the phone check and its verdicts, /help, the leaflet, the script."""
    content = load_content(root, "vi")
    translator = GettextTranslator(ROOT / "locales", ("vi",))
    conv = Conversation({"vi": content}, translator)
    texts = [conv.answer("vi", topic).text for topic in content.topics.values()]
    texts.append(conv.help("vi").text)
    texts += [content.check.intro, *content.check.verdicts.values(),
              *(q.text for q in content.check.questions)]
    texts += [line for s in sections(content) for line in (s.heading, *s.lines)]
    texts += loudspeaker_script(content, "Xã Ea Kar", lambda m, **kw: m.format(**kw))
    state = ConversationState()
    for text in ("khong hieu gi het", "thời tiết hôm nay"):
        texts += [r.text for r in conv.step(state, Inbound(InboundKind.TEXT, text=text)).replies]
    return "\n".join(texts)


def test_changing_a_hotline_is_one_edit_that_every_place_follows(tmp_path):
    root = _copy(tmp_path)
    before = _everything_a_citizen_reads(root)
    assert before.count("1800 8098") >= 5            # answers, help line, leaflet, script ...
    _edit(root / "facts.yml", '"1800 8098"', '"1800 7777"')
    after = _everything_a_citizen_reads(root)
    assert "1800 8098" not in after
    assert after.count("1800 7777") == before.count("1800 8098")
    pdf = leaflet_pdf(load_content(root, "vi"), "Xã Ea Kar", "http://localhost/chat",
                      lambda m, **kw: m.format(**kw))
    assert pdf.startswith(b"%PDF")


def test_changing_a_key_date_changes_every_answer_that_states_it(tmp_path):
    root = _copy(tmp_path)
    _edit(root / "facts.yml", "date: 2026-09-15", "date: 2026-09-30")
    after = _everything_a_citizen_reads(root)
    assert "15/9/2026" not in after and "30/9/2026" in after


def test_no_text_types_a_hotline_date_or_price_that_facts_yml_defines():
    content = load_content(CONTENT, "vi")
    values = {f.value for f in content.facts.values()}
    for path in sorted((CONTENT / "vi").glob("*.md")) + [CONTENT / "vi" / "check.yml",
                                                         CONTENT / "vi" / "menu.yml"]:
        raw = path.read_text(encoding="utf-8")
        body = raw.split("\n---", 1)[1] if path.suffix == ".md" else raw
        body = re.sub(r"(?m)^\s*(#|- url:|  - url:|url:|note:).*$", "", body)
        for value in values:
            if re.fullmatch(r"[\d /.:–-]+|\d{4}", value):  # numbers and dates, not names
                assert value not in body, f"{path.name} types {value!r}: write its {{{{name}}}}"


def test_unverified_mobifone_1800_number_appears_nowhere():
    everything = _everything_a_citizen_reads(CONTENT)
    assert "1800 1090" not in everything and "18001090" not in everything.replace(" ", "")
    assert "9090" in everything and "200 đ/phút" in everything
    for path in CONTENT.rglob("*"):
        if path.is_file() and path.suffix in (".md", ".yml", ".jsonl"):
            assert "1800 1090" not in path.read_text(encoding="utf-8"), path


def test_each_topic_knows_its_facts_and_review_date():
    content = load_content(CONTENT, "vi")
    assert "hotline_viettel" in content.topics["contact"].facts
    assert "date_2g_end" in content.topics["timeline"].facts
    assert content.help_facts and "hotline_viettel" in content.help_facts
    for topic in content.topics.values():
        assert topic.review_by is not None and topic.review_by > topic.as_of, topic.id
    assert content.check.review_by is not None


def test_a_passed_review_date_fails_check_content_but_not_loa(tmp_path):
    later = dt.date(2027, 3, 2)                     # every review_by shipped is ≤ 2027-03-01
    problems = validate_content(CONTENT, "vi", later)
    assert any("facts.hotline_viettel.review_by" in str(p) for p in problems)
    assert any(str(p).endswith("check the text, then update as_of and review_by")
               and "timeline.md" in str(p) for p in problems)
    assert validate_content(CONTENT, "vi", TODAY) == []
    assert review_problems(CONTENT, "vi", later)   # the admin page lists them
    load_content(CONTENT, "vi", later)             # Loa still starts and answers


def test_a_fact_without_a_source_or_an_unknown_name_is_named(tmp_path):
    root = _copy(tmp_path)
    _edit(root / "facts.yml",
          "    source: plo.vn/mat-tien-oan-vi-nhung-dau-so-gia-mao-tong-dai-post527110.html\n"
          "    as_of: 2026-12-02\n    review_by: 2027-03-01\n  hotline_vinaphone:",
          "    as_of: 2026-12-02\n    review_by: 2027-03-01\n  hotline_vinaphone:")
    problems = [str(p) for p in validate_content(root, "vi", TODAY)]
    assert any("facts.hotline_viettel.source: every fact needs the source" in p
               for p in problems), problems
    _edit(root / "vi" / "contact.md", "{{hotline_viettel}}", "{{hotline_viettell}}")
    problems = [str(p) for p in validate_content(root, "vi", TODAY)]
    assert any("contact.md: body: unknown fact '{{hotline_viettell}}'" in p for p in problems)


def test_check_content_command_fails_on_an_overdue_review(tmp_path):
    root = _copy(tmp_path)
    _edit(root / "facts.yml", "review_by: 2027-03-01", "review_by: 2026-11-30")
    run = run_cli("check-content", "--content-dir", str(root), cwd=ROOT)
    assert run.returncode == 1
    assert "review was due on 2026-11-30" in run.stderr and "Traceback" not in run.stderr


@pytest.mark.parametrize("bad", ["{{ }}", "{{hotline viettel}}", "{{hotline_viettel}"])
def test_a_malformed_placeholder_is_a_clear_content_error(tmp_path, bad):
    root = _copy(tmp_path)
    _edit(root / "vi" / "contact.md", "{{hotline_viettel}}", bad)
    problems = [str(p) for p in validate_content(root, "vi", TODAY)]
    assert any(p.startswith(str(root / "vi" / "contact.md") + ": body:") for p in problems)
