"""No function in aimodel/ needs more than a screen and a half: a longer one is several functions (STYLE.md)."""

from __future__ import annotations

import ast

from tests.conftest import ROOT

PACKAGE = ROOT / "aimodel"
LIMIT = 80


def _body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from the first statement of the body (docstring included) to the last, nested functions included."""
    return node.end_lineno - node.body[0].lineno + 1


def _long_functions(source: str, limit: int = LIMIT) -> list[tuple[str, int]]:
    """(qualified name, body lines) of every function or method in ``source`` whose body is over ``limit`` lines."""
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = f"{prefix}{child.name}"
                if _body_lines(child) > limit:
                    found.append((name, _body_lines(child)))
                visit(child, f"{name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(ast.parse(source), "")
    return found


def test_no_function_in_the_package_is_over_80_lines():
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 30  # the walk saw the package
    offenders = [
        f"{path.relative_to(ROOT)}:{name} ({lines} lines)"
        for path in files
        for name, lines in _long_functions(path.read_text(encoding="utf-8"))
    ]
    assert offenders == [], f"functions over {LIMIT} lines: " + ", ".join(offenders)


def test_the_walk_finds_long_methods_and_nested_functions():
    body = "\n".join(f"    x{i} = {i}" for i in range(5))
    source = (
        "class A:\n"
        "    def short(self):\n        return 1\n"
        "    def long(self):\n" + "\n".join("    " + line for line in body.splitlines()) + "\n"
        "def outer():\n"
        "    async def inner():\n" + "\n".join("    " + line for line in body.splitlines()) + "\n"
        "    return inner\n"
    )
    assert _long_functions(source, limit=4) == [("A.long", 5), ("outer", 7), ("outer.inner", 5)]
    assert _long_functions(source, limit=7) == []
