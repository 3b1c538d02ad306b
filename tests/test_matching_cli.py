"""`python -m bot eval` and `ask --json` as a developer runs them."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def bot(*args: str, tmp_path: Path, stdin: str | None = None):
    environ = {**os.environ, "BOT_DATA_DIR": str(tmp_path)}
    environ.pop("BOT_TELEGRAM_TOKEN", None)
    return subprocess.run([sys.executable, "-m", "bot", *args], input=stdin, capture_output=True,
                          text=True, cwd=ROOT, env=environ, timeout=120)


def test_eval_prints_accuracy_confusion_oos_figures_and_timing(tmp_path):
    result = bot("eval", "tests/data/questions.jsonl", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for words in ("top-1 accuracy (in scope):", "out of scope: precision", "recall",
                  "time per question: median", "p99", "per topic"):
        assert words in out
    table = {line.split()[0] for line in out.splitlines()[8:] if line.strip()}
    assert {"timeline", "switch.volte", "coverage.report_dead_zone", "-"} <= table


def test_eval_json_and_a_broken_file(tmp_path):
    data = json.loads(bot("eval", "tests/data/questions.jsonl", "--json",
                          tmp_path=tmp_path).stdout)
    assert data["accuracy"] >= 0.9 and data["oos_precision"] >= 0.9
    assert data["confusion"]["timeline"]["timeline"] >= 1
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"text": "khi nao tat 2g", "topic": "timeline"}\n{"text": 5}\n')
    result = bot("eval", str(broken), tmp_path=tmp_path)
    assert result.returncode == 2 and "broken.jsonl:2" in result.stderr
    assert "Traceback" not in result.stderr


def test_ask_json_carries_the_kind_and_runner_up(tmp_path):
    lines = bot("ask", "-", "--json", tmp_path=tmp_path,
                stdin="khi nao tat song 2g\nđổi sim\nbóng đá tối nay\n").stdout.splitlines()
    first, second, third = (json.loads(line) for line in lines)
    assert (first["topic"], first["kind"]) == ("timeline", "answer") and first["runner_up"]
    assert (second["topic"], second["kind"], second["runner_up"]) == ("none", "clarify", "cost")
    assert (third["topic"], third["kind"]) == ("none", "out_of_scope")
