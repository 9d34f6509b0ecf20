"""The shape of the code: layers that hold, and functions and classes small enough to read.

The import contracts live in pyproject.toml (``[tool.importlinter]``); this runs import-linter
on them, so a change that makes a model read files or the core import ComfyUI fails the suite.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_FUNCTION_LINES = 60
MAX_CLASS_LINES = 400
# Declarations rather than logic: node schemas and argparse tables are long lists of inputs.
DECLARATIONS = {"define_schema"}
DECLARATION_PREFIXES = ("add_", "_add_")


def test_import_contracts_hold():
    script = "import sys; from importlinter.cli import lint_imports_command; lint_imports_command()"
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" not in result.stdout.lower().replace("0 broken", "")


def _body_lines(node: ast.AST) -> int:
    """Lines from the first statement after the docstring to the last one."""
    body = list(node.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return 0 if not body else body[-1].end_lineno - body[0].lineno + 1


def _definitions():
    for folder in ("audiogen_core", "nodes"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    yield path.relative_to(ROOT), node


def _is_declaration(node: ast.AST) -> bool:
    return node.name in DECLARATIONS or node.name.startswith(DECLARATION_PREFIXES)


def test_functions_and_classes_stay_small():
    too_long = []
    for path, node in _definitions():
        limit = MAX_CLASS_LINES if isinstance(node, ast.ClassDef) else MAX_FUNCTION_LINES
        if isinstance(node, ast.ClassDef) or not _is_declaration(node):
            lines = _body_lines(node)
            if lines > limit:
                too_long.append(f"{path}:{node.lineno} {node.name}: {lines} lines > {limit}")
    assert not too_long, "\n".join(too_long)


@pytest.mark.parametrize("part", ["models", "conditioning", "sampling", "media", "runtime"])
def test_no_function_level_imports_inside_the_lower_parts(part):
    """A lower part imports at the top of its modules: an import hidden in a function is how
    cycles were hidden before (generator <-> weights)."""
    hidden = []
    for path in sorted((ROOT / "audiogen_core" / part).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                for inner in ast.walk(node):
                    if isinstance(inner, ast.ImportFrom) and inner.level > 0:
                        hidden.append(f"{path.relative_to(ROOT)}:{inner.lineno}")
    assert not hidden, "function-level imports of the core:\n" + "\n".join(hidden)
