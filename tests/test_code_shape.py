"""No function or method in the library is longer than 60 lines: a longer one is several steps
that want names of their own."""

from __future__ import annotations

import ast
from pathlib import Path

LIBRARY = Path(__file__).resolve().parent.parent / "mfvpose_lib"
MAX_LINES = 60


def long_functions(source: str, filename: str, max_lines: int = MAX_LINES) -> list[str]:
    """``file:line name (N lines)`` for every function or method in ``source`` over ``max_lines``.

    The count runs from the ``def`` line to the last line of the body (decorators excluded).
    """
    found = []
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = node.end_lineno - node.lineno + 1
            if length > max_lines:
                found.append(f"{filename}:{node.lineno} {node.name} ({length} lines)")
    return found


def test_no_library_function_is_over_60_lines():
    found = []
    for path in sorted(LIBRARY.rglob("*.py")):
        name = str(path.relative_to(LIBRARY.parent))
        found += long_functions(path.read_text(encoding="utf-8"), name)
    assert not found, f"functions over {MAX_LINES} lines:\n" + "\n".join(found)


def _function_of(lines: int, *, decorated: bool = False, method: bool = False) -> str:
    """Source of a function spanning exactly ``lines`` lines from ``def`` to its last line."""
    indent = "    " if method else ""
    body = [f"{indent}    x = {i}" for i in range(lines - 2)] + [f"{indent}    return x"]
    head = [f"{indent}@staticmethod"] if decorated else []
    function = [*head, f"{indent}def planted():", *body]
    return "\n".join(["class Holder:", *function] if method else function) + "\n"


def test_checker_catches_a_planted_61_line_function():
    assert long_functions(_function_of(60), "ok.py") == []
    assert long_functions(_function_of(61), "long.py") == ["long.py:1 planted (61 lines)"]
    # a method is checked too; its decorator line does not count
    assert long_functions(_function_of(60, decorated=True, method=True), "ok.py") == []
    assert long_functions(_function_of(61, decorated=True, method=True), "long.py") == [
        "long.py:3 planted (61 lines)"
    ]
