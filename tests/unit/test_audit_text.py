"""The audit log in plain sentences (issue 17): every action code Loa writes anywhere has a
sentence with a Vietnamese translation (the code is read for them, so a new action without
one fails here), and the sentences name people, Loa itself, announcements and outreach
entries the way an officer knows them."""
from __future__ import annotations

import ast
import datetime as dt
import re
from pathlib import Path

import pytest
from support.catalogs import vietnamese_msgids
from support.outreach import tr

from bot.features.officers import audit_text

ROOT = Path(__file__).resolve().parents[2]
ACTION = re.compile(r"^[a-z_]+(\.[a-z_]+)+$")


class _Module:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(self.tree):
            for child in ast.iter_child_nodes(node):
                child.parent = node   # type: ignore[attr-defined]

    def where(self, node: ast.AST) -> str:
        return f"{self.path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}"


def _function(node: ast.AST) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    while node is not None and not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        node = getattr(node, "parent", None)
    return node


def _constants(node: ast.AST, module: _Module) -> set[str] | None:
    """The strings a plain expression can be: a constant, either branch of `a if c else b`, a
    tuple/set/list of constants or a module-level name bound to one. None if not plain."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.IfExp):
        a, b = _constants(node.body, module), _constants(node.orelse, module)
        return None if a is None or b is None else a | b
    if isinstance(node, (ast.Tuple, ast.Set, ast.List)):
        out: set[str] = set()
        for item in node.elts:
            got = _constants(item, module)
            if got is None:
                return None
            out |= got
        return out
    if isinstance(node, ast.Name):
        for stmt in module.tree.body:
            if isinstance(stmt, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == node.id for t in stmt.targets):
                return _constants(stmt.value, module)
    return None


class Finder:
    """Every action code passed to `audit(conn, actor, action, ...)` in bot/, followed
    through f-strings (the values the code checks the placeholder against), local variables
    and parameters (the calls of that function)."""

    def __init__(self) -> None:
        self.modules = [_Module(p) for p in sorted((ROOT / "bot").rglob("*.py"))]
        self.unread: list[str] = []

    def actions(self) -> set[str]:
        found: set[str] = set()
        for module in self.modules:
            for node in ast.walk(module.tree):
                if isinstance(node, ast.Call) and _name(node.func) == "audit":
                    arg = node.args[2] if len(node.args) > 2 else next(
                        (k.value for k in node.keywords if k.arg == "action"), None)
                    if arg is not None:
                        found |= self.resolve(arg, module)
                # actions written as SQL (the restore of a backup writes its own audit row)
                if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                        and "insert into audit_log" in node.value:
                    found |= {m for m in re.findall(r"'([a-z_.]+)'", node.value)
                              if ACTION.match(m)}
        return found

    def resolve(self, node: ast.AST, module: _Module) -> set[str]:
        plain = _constants(node, module)
        if plain is not None:
            return plain
        function = _function(node)
        if isinstance(node, ast.JoinedStr) and function is not None:
            return self._fstring(node, function, module)
        if isinstance(node, ast.Name) and function is not None:
            values = self._assigned(node.id, function, module)
            if values is None:
                values = self._parameter(node.id, function)
            if values is not None:
                return values
        self.unread.append(module.where(node))
        return set()

    def _fstring(self, node: ast.JoinedStr, function: ast.AST, module: _Module) -> set[str]:
        parts = node.values
        if len(parts) != 2 or not isinstance(parts[0], ast.Constant) \
                or not isinstance(parts[1], ast.FormattedValue) \
                or not isinstance(parts[1].value, ast.Name):
            self.unread.append(module.where(node))
            return set()
        prefix, name = parts[0].value, parts[1].value.id
        for test in ast.walk(function):     # `if decision not in DECISIONS: raise`
            if isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) \
                    and test.left.id == name and isinstance(test.ops[0], (ast.In, ast.NotIn)):
                values = _constants(test.comparators[0], module)
                if values:
                    return {prefix + v for v in values}
        self.unread.append(module.where(node))
        return set()

    def _assigned(self, name: str, function: ast.AST, module: _Module) -> set[str] | None:
        values: set[str] = set()
        for stmt in ast.walk(function):
            if isinstance(stmt, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == name for t in stmt.targets):
                got = _constants(stmt.value, module)
                if got is None:
                    return None
                values |= got
        return values or None

    def _parameter(self, name: str, function: ast.FunctionDef | ast.AsyncFunctionDef
                   ) -> set[str] | None:
        params = [a.arg for a in function.args.args]
        if name not in params:
            return None
        index = params.index(name) - (1 if params[:1] == ["self"] else 0)
        values: set[str] = set()
        for module in self.modules:
            for call in ast.walk(module.tree):
                if isinstance(call, ast.Call) and _name(call.func) == function.name:
                    arg = call.args[index] if len(call.args) > index else next(
                        (k.value for k in call.keywords if k.arg == name), None)
                    if arg is not None:
                        values |= self.resolve(arg, module)
        return values


def _name(func: ast.AST) -> str:
    return func.attr if isinstance(func, ast.Attribute) else \
        func.id if isinstance(func, ast.Name) else ""


def _msgids(value: str | tuple[str, str]) -> tuple[str, ...]:
    return value if isinstance(value, tuple) else (value,)


def test_every_action_loa_writes_has_a_sentence_in_vietnamese():
    finder = Finder()
    written = finder.actions()
    assert finder.unread == [], "audit actions this test cannot read; make them plain strings"
    # the reader works: these are written through a variable, a parameter and f-strings
    assert {"broadcast.submit", "broadcast.start", "password.set", "login_name.change",
            "translation.approved", "translation.sent_back", "learned.remove",
            "backup.restore", "outreach.delete"} <= written
    assert sorted(written - audit_text.ACTIONS.keys()) == []
    translated = vietnamese_msgids()
    for action, value in audit_text.ACTIONS.items():
        for msgid in _msgids(value):
            assert msgid in translated, (action, msgid)


NAMES = {1: "Ama", 2: "Chị Lan"}
ENTRY = audit_text.entry_name(dt.date(2026, 11, 22), tr("Conference / village meeting"), tr)


@pytest.mark.parametrize(("actor", "action", "target", "said"), [
    ("officer:1", "broadcast.submit", "broadcast:1", "Ama đã gửi duyệt thông báo số 1"),
    ("system", "broadcast.start", "broadcast:1", "Loa đã bắt đầu gửi thông báo số 1"),
    ("operator", "broadcast.approve", "broadcast:3", "người vận hành đã duyệt thông báo số 3"),
    ("officer:1", "outreach.delete", "outreach:2",
     "Ama đã xóa bản ghi hoạt động ngày 22/11/2026 (Hội nghị / họp dân)"),
    ("officer:1", "outreach.create", "outreach:2",
     "Ama đã lập bản ghi hoạt động ngày 22/11/2026 (Hội nghị / họp dân)"),
    ("officer:1", "outreach.update", "outreach:9", "Ama đã sửa một bản ghi hoạt động đã xóa"),
    ("officer:2", "report.submit", "report:2026-11", "Chị Lan đã nộp báo cáo tháng 11/2026"),
    ("anonymous", "login.failure", "officer:2",
     "Có người đã nhập sai mật khẩu vào tài khoản của Chị Lan"),
    ("anonymous", "login.lockout", "client:abc",
     "Có người đã nhập sai mật khẩu quá nhiều lần: một địa chỉ mạng bị tạm khóa"),
    ("officer:2", "password.change", "officer:2", "Chị Lan đã đổi mật khẩu của mình"),
    ("officer:1", "password.set", "officer:2",
     "Ama đã đặt tên đăng nhập và mật khẩu cho Chị Lan"),
    ("officer:7", "translation.approved", "rad:t:timeline",
     "một cán bộ đã rời đã duyệt một bản dịch tiếng Ê Đê"),
    ("officer:1", "translation.import", "lang:jra", "Ama đã nhập bản dịch tiếng J'rai"),
    ("officer:1", "learned.approve", "learned:5", "Ama đã duyệt một câu mẫu cho Loa"),
    ("operator", "login.unlock", "all",
     "người vận hành đã mở khóa cho mọi tên đăng nhập và địa chỉ mạng đang bị khóa"),
    ("operator", "backup.restore", "file:loa.db",
     "người vận hành đã khôi phục dữ liệu của Loa từ bản sao lưu"),
    ("officer:1", "something.new", "broadcast:1", "Ama đã làm một thao tác quản trị"),
])
def test_sentences(actor, action, target, said):
    who = audit_text.actor_name(actor, NAMES, tr)
    what = audit_text.sentence(action, target, NAMES, tr, actor=actor, entries={2: ENTRY})
    assert f"{who} {what}" == said


def test_an_entry_is_never_named_by_its_number():
    # the caller did not look the entries up: still no internal number
    said = audit_text.sentence("outreach.delete", "outreach:123", NAMES, tr)
    assert said == "đã xóa một bản ghi hoạt động" and "123" not in said
    assert audit_text.actor_name("system", NAMES, tr) == "Loa"
