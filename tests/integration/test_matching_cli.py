"""`python -m bot eval` and `ask --json` as a developer runs them."""
from __future__ import annotations

import json
import os
from pathlib import Path

from support.cli import run_cli

ROOT = Path(__file__).resolve().parents[2]


def bot(*args: str, tmp_path: Path, stdin: str | None = None):
    """The command in this process (bot.cli.main), run from the repository as a developer
    would."""
    environ = {**os.environ, "BOT_DATA_DIR": str(tmp_path)}
    environ.pop("BOT_TELEGRAM_TOKEN", None)
    return run_cli(*args, env=environ, stdin=stdin, cwd=ROOT)


def test_eval_prints_the_issue_14_figures_per_topic_and_timing(tmp_path):
    result = bot("eval", "tests/data/questions.jsonl", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for words in ("direct right answer", "right topic offered", "wrong direct answer",
                  "wrongly declined off-topic", "out of scope:", "declined",
                  "wrongly answered", "out-of-scope precision", "time per question: median",
                  "p99", "targets:", "per topic"):
        assert words in out, words
    table = {line.split()[0] for line in out.split("per topic", 1)[1].splitlines()[2:]
             if line.strip()}
    assert {"timeline", "scams", "coverage", "-"} <= table


def test_eval_json_and_a_broken_file(tmp_path):
    data = json.loads(bot("eval", "tests/data/questions.jsonl", "--json",
                          tmp_path=tmp_path).stdout)
    assert data["direct_right"] >= 0.8 and data["oos_precision"] >= 0.9
    assert data["counts"]["direct_right"] + data["counts"]["offered_right"] \
        + data["counts"]["wrong_direct"] <= data["in_scope"]
    assert data["confusion"]["timeline"]["timeline"] >= 1
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"text": "khi nao tat 2g", "topic": "timeline"}\n{"text": 5}\n')
    result = bot("eval", str(broken), tmp_path=tmp_path)
    assert result.returncode == 2 and "broken.jsonl:2" in result.stderr
    assert "Traceback" not in result.stderr


def test_ask_json_prints_topic_kind_options_score_and_answer(tmp_path):
    lines = bot("ask", "-", "--json", tmp_path=tmp_path,
                stdin="khi nao tat song 2g\nđèn điện thoại cứ nhấp nháy\nbóng đá tối nay\n"
                      "cảm ơn nhé\n").stdout.splitlines()
    rows = [json.loads(line) for line in lines]
    assert all(set(r) == {"topic", "kind", "options", "score", "answer"} for r in rows)
    first, second, third, fourth = rows
    assert (first["topic"], first["kind"], first["options"]) == ("timeline", "answer", [])
    assert "15/9/2026" in first["answer"] and 0 < first["score"] <= 1
    assert second["kind"] in ("clarify", "unsure") and second["topic"] is None
    assert len(second["options"]) == 3 and len(set(second["options"])) == 3
    assert "Bạn muốn hỏi về" in second["answer"]
    assert (third["topic"], third["kind"], third["options"]) == (None, "out_of_scope", [])
    assert "chỉ trả lời về việc tắt sóng 2G" in third["answer"]
    assert (fourth["topic"], fourth["kind"]) == (None, "smalltalk")
