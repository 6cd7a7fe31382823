"""schedules/ is pure: no clock, no sleep, no I/O modules (import-linter guards the
package imports; this guards the standard library too)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import schedules

SOURCES = sorted(Path(schedules.__file__).parent.glob("*.py"))
FORBIDDEN_MODULES = {"asyncio", "socket", "time", "os", "subprocess", "threading", "urllib"}
FORBIDDEN_ATTRIBUTES = {"now", "utcnow", "today", "sleep", "time_ns", "monotonic"}
FORBIDDEN_CALLS = {"open", "print", "input"}


@pytest.mark.parametrize("source", SOURCES, ids=lambda path: path.name)
def test_module_is_pure(source: Path) -> None:
    tree = ast.parse(source.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = {alias.name.split(".")[0] for alias in node.names}
            assert not names & FORBIDDEN_MODULES, f"{source.name}:{node.lineno} imports {names}"
        elif isinstance(node, ast.ImportFrom):
            module = (node.module or "").split(".")[0]
            assert module not in FORBIDDEN_MODULES, f"{source.name}:{node.lineno} {module}"
        elif isinstance(node, ast.Attribute):
            assert node.attr not in FORBIDDEN_ATTRIBUTES, f"{source.name}:{node.lineno}"
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in FORBIDDEN_CALLS, f"{source.name}:{node.lineno}"


def test_every_module_is_checked() -> None:
    assert {path.name for path in SOURCES} >= {
        "antiflap.py",
        "calendar.py",
        "days.py",
        "override.py",
        "patterns.py",
        "plan.py",
        "program.py",
        "resolve.py",
        "site.py",
        "sun.py",
        "validate.py",
    }
