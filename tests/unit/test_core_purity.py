"""bot/core stays pure: no platform, web or database imports."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "bot" / "core"
FORBIDDEN = ("telegram", "aiohttp", "sqlmodel", "sqlalchemy", "bot.store", "bot.channels")


def test_core_source_imports_nothing_forbidden():
    offenders = []
    for path in CORE.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if any(name == f or name.startswith(f + ".") for f in FORBIDDEN):
                    offenders.append(f"{path.name}: {name}")
    assert offenders == []


def test_importing_core_loads_no_forbidden_module():
    roots = ["telegram", "aiohttp", "sqlmodel", "sqlalchemy"]
    code = ("import sys, bot.core.conversation, bot.core.content, bot.core.matching;"
            f"print([m for m in sys.modules if m.split('.')[0] in {roots!r}"
            " or m.startswith(('bot.store', 'bot.channels'))])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=CORE.parent.parent)
    assert out.stdout.strip() == "[]"
