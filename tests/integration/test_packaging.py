"""`pip install .` without the dev extra gives a Loa that runs: every third-party module Loa
needs comes from a runtime dependency of pyproject.toml, and the files it reads next to its
modules (templates, static files, reference data) are package data.

Tools in the dev extra pull packages into the development environment that a production
install does not have: SQLAlchemy 2.1 made greenlet optional, and only Playwright brought it,
so Loa crashed at its first database use when installed without the dev extra.
"""
from __future__ import annotations

import ast
import fnmatch
import re
import subprocess
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, packages_distributions, requires
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_requirements() -> list[Requirement]:
    return [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]


def runtime_closure() -> set[str]:
    """The distributions `pip install .` brings: the runtime dependencies, theirs (with the
    extras asked for), and so on, as the installed metadata declares them."""
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [(r.name, frozenset(r.extras)) for r in runtime_requirements()]
    while todo:
        name, extras = todo.pop()
        if (canonical(name), extras) in seen:
            continue
        seen.add((canonical(name), extras))
        try:
            declared = requires(name) or []
        except PackageNotFoundError:
            continue   # not installed here; then nothing installed here can come from it
        environments = [{"extra": e} for e in sorted(extras)] or [{"extra": ""}]
        for requirement in map(Requirement, declared):
            if requirement.marker is None or any(requirement.marker.evaluate(env)
                                                 for env in environments):
                todo.append((requirement.name, frozenset(requirement.extras)))
    return {name for name, _ in seen}


def imported_top_level() -> dict[str, set[str]]:
    """Top-level module -> files under bot/ importing it (inside functions too)."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / "bot").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], set()).add(
                    str(path.relative_to(ROOT)))
    return found


def test_every_third_party_import_of_loa_is_a_runtime_dependency():
    """Declared directly: one that only comes along with another package (or with a dev
    tool) may disappear when that one changes."""
    declared = {canonical(r.name) for r in runtime_requirements()}
    providers = packages_distributions()
    missing = []
    for module, files in sorted(imported_top_level().items()):
        if module == "bot" or module in sys.stdlib_module_names:
            continue
        dists = providers.get(module, [])
        if not any(canonical(d) in declared for d in dists):
            missing.append(f"{module} (from {', '.join(dists) or 'no installed package'}; "
                           f"imported in {', '.join(sorted(files)[:3])})")
    assert not missing, "imported by bot/ but not a [project] dependency: " + "; ".join(missing)


# Runs in a fresh interpreter: modules of installed packages that `pip install .` would not
# bring are made unimportable (as if absent), then every module of Loa is imported and the
# database is used once through Loa's own engine setup (a migration and a query on SQLite, the
# asyncpg driver loaded). Packages only imported when present (httpx's optional command line)
# stay out of the way, as in production.
WITHOUT_DEV = r"""
import asyncio, importlib, importlib.abc, pkgutil, sys, tempfile
blocked = set(sys.argv[1].split(","))

class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r} (not a runtime dependency)",
                                      name=name)
        return None

sys.meta_path.insert(0, Absent())
import bot
for info in pkgutil.walk_packages(bot.__path__, "bot."):
    if not info.name.endswith("__main__"):
        importlib.import_module(info.name)

from sqlalchemy import text
from bot.store.db import Database, make_engine, upgrade_database

async def first_use(url):
    db = Database(make_engine(url))
    async with db.connect() as conn:
        assert (await conn.execute(text("select count(*) from contact"))).scalar() == 0
    await db.dispose()
    await make_engine("postgresql+asyncpg://loa@127.0.0.1:9/loa").dispose()

with tempfile.TemporaryDirectory() as folder:
    url = f"sqlite+aiosqlite:///{folder}/loa.db"
    upgrade_database(url)
    asyncio.run(first_use(url))
print("ok")
"""


def test_loa_imports_and_uses_its_database_with_the_runtime_dependencies_only(tmp_path):
    runtime = runtime_closure()
    blocked = sorted(
        module for module, dists in packages_distributions().items()
        if module.isidentifier() and module != "bot"
        and not any(canonical(d) in runtime for d in dists))
    assert "pytest" in blocked and "sqlalchemy" not in blocked
    result = subprocess.run([sys.executable, "-c", WITHOUT_DEV, ",".join(blocked)],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-3000:]


PACKAGE_DATA_SKIPPED = ("*.py", "*.pyc", "*.md")    # code, and notes for developers


def _matches(relative: Path, pattern: str) -> bool:
    parts = pattern.split("/")
    return len(parts) == len(relative.parts) and all(
        fnmatch.fnmatchcase(part, p) for part, p in zip(relative.parts, parts, strict=True))


def test_files_loa_reads_next_to_its_modules_are_package_data():
    """Templates, static files and reference data under bot/ go into a non-editable install
    ([tool.setuptools.package-data]; patterns are relative to a package's folder)."""
    package_data: dict[str, list[str]] = PYPROJECT["tool"]["setuptools"].get("package-data", {})
    left_out = []
    for path in sorted((ROOT / "bot").rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or any(
                fnmatch.fnmatchcase(path.name, p) for p in PACKAGE_DATA_SKIPPED):
            continue
        relative = path.relative_to(ROOT)
        covered = False
        for package, patterns in package_data.items():
            # "*": any package; otherwise the dotted name of one package
            folders = [relative.parents[i] for i in range(len(relative.parts) - 1)] \
                if package == "*" else [Path(*package.split("."))]
            covered = covered or any(
                _matches(relative.relative_to(folder), pattern)
                for folder in folders if relative.is_relative_to(folder)
                for pattern in patterns)
        if not covered:
            left_out.append(str(relative))
    assert not left_out, f"not in [tool.setuptools.package-data]: {left_out}"
