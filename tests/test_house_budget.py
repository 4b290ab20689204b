"""The house's size budgets (issue 19; later issues keep them): a module a newcomer can read in one
sitting, and a long function only with its reason stated where it is read."""

from __future__ import annotations

import ast
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "src" / "resilience"
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60
MAX_LONG_FUNCTIONS = 5
REASON = "Over 60 lines"  # how a long function's docstring says why it is long


def _modules() -> list[Path]:
    return sorted(SOURCE.rglob("*.py"))


def test_no_module_is_over_500_lines():
    long = {
        str(p.relative_to(SOURCE)): n
        for p in _modules()
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"modules over {MAX_MODULE_LINES} lines (split them by job): {long}"


def test_at_most_five_long_functions_each_saying_why():
    long = {}
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(SOURCE)}:{node.name}"] = (
                        length,
                        " ".join((ast.get_docstring(node) or "").split()),
                    )
    assert len(long) <= MAX_LONG_FUNCTIONS, sorted(long)
    unexplained = [name for name, (_, doc) in long.items() if REASON not in doc]
    assert not unexplained, (
        f"functions over {MAX_FUNCTION_LINES} lines without '{REASON}: …': {unexplained}"
    )
