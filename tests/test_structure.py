"""The tree's layering: every import points down (or sideways within a layer), no import circles,
no TensorFlow for --help. Checked over aimodel/, benchmarks/ and tests/, lazy imports included."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGES = ("aimodel", "benchmarks", "tests")

#: The layers, bottom to top. A module may import modules of its own layer or of lower layers only.
#: A name covers that module and every module under it; the longest name that covers a module
#: gives its layer (so the two section modules of training/ and search/ sit below the config that
#: assembles them, while the rest of those packages sits above it). The name ``aimodel`` covers the
#: package root (its public API) and nothing else: every other aimodel module must be placed.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("foundation", ("aimodel.errors", "aimodel.registry", "aimodel.section", "aimodel.fileio", "aimodel.hardware",
                    "aimodel.compat",
                    "aimodel.tfimport", "aimodel.tasks")),
    ("data", ("aimodel.data",)),
    # aimodel's custom Keras layers, then loading a saved model (inference), then the architectures: a
    # pretrained architecture can start from an earlier run's saved model
    ("custom layers", ("aimodel.models.layers",)),
    ("inference", ("aimodel.inference",)),
    ("models", ("aimodel.models",)),
    ("sections", ("aimodel.training.config", "aimodel.search.config")),
    ("config", ("aimodel.config",)),
    ("training", ("aimodel.training",)),
    ("evaluation", ("aimodel.evaluation",)),
    ("export", ("aimodel.export",)),
    ("search", ("aimodel.search",)),
    ("serving", ("aimodel.serving",)),
    ("api", ("aimodel", "aimodel.keras_hook")),
    ("cli", ("aimodel.cli", "aimodel.cli_common", "aimodel.cli_export", "aimodel.cli_render", "aimodel.cli_serve",
             "aimodel.cli_tune", "aimodel.__main__")),
    # harness, data, figure_base, photos and the standalone scripts
    ("benchmark tools", ("benchmarks",)),
    ("benchmark figures", ("benchmarks.export_figures", "benchmarks.photo_bench", "benchmarks.tables_real",
                           "benchmarks.tasks_real")),
    ("benchmark table", ("benchmarks.figures", "benchmarks.report")),
    ("benchmark command", ("benchmarks.__main__",)),
    ("tests", ("tests",)),
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}


def _targets(node: ast.AST, name: str, is_package: bool) -> list[str]:
    """The dotted names one import statement may load (the module, and each name as a submodule)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    module = node.module or ""
    if node.level:  # relative: "from . import x" inside package p, or beside module p.m
        base = name.split(".") if is_package else name.split(".")[:-1]
        base = base[: len(base) - node.level + 1]
        module = ".".join(base + ([module] if module else []))
    # "from aimodel.models import cnn" imports the submodule aimodel.models.cnn (and the package)
    return [f"{module}.{a.name}" for a in node.names] + [module]


def _imports() -> dict[str, set[str]]:
    """Module -> the tree's modules it imports anywhere in its body (lazy imports included)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            for target in _targets(node, name, path.name == "__init__.py"):
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    found.add(target)
        graph[name] = found
    return graph


def _without_parents(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    # a package's __init__ is imported by its submodules anyway; it is not an edge of a circle
    return {name: {t for t in targets if not name.startswith(t + ".")} for name, targets in graph.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import circle, or []."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return []


def _placement(module: str, layers=LAYERS) -> tuple[int, str] | None:
    """(layer index, the name that placed it) for the longest name covering ``module``, or None."""
    best: tuple[int, str] | None = None
    for index, (_, names) in enumerate(layers):
        for covering in names:
            if module == covering or (module.startswith(covering + ".") and covering != "aimodel"):
                if best is None or len(covering) > len(best[1]):
                    best = (index, covering)
    return best


def _upward(graph: dict[str, set[str]], layers=LAYERS) -> list[str]:
    """Every import from a module to a module of a higher layer, as 'a (layer) -> b (layer)'."""
    found = []
    for module, targets in sorted(graph.items()):
        low = _placement(module, layers)
        for target in sorted(targets):
            high = _placement(target, layers)
            if low is not None and high is not None and high[0] > low[0]:
                found.append(f"{module} ({layers[low[0]][0]}) -> {target} ({layers[high[0]][0]})")
    return found


def test_the_walk_sees_the_whole_tree():
    graph = _imports()
    for package in PACKAGES:
        assert sum(m.split(".")[0] == package for m in graph) > 10, package
    assert "aimodel.section" in graph["aimodel.data.base"]  # a plain import
    assert "aimodel.config" in graph["aimodel.training.runner"]  # a lazy one counts too


def test_every_module_has_a_layer():
    unplaced = [m for m in _imports() if _placement(m) is None or (m != "aimodel" and _placement(m)[1] == "aimodel")]
    assert unplaced == [], f"add these to LAYERS in tests/test_structure.py: {unplaced}"


def test_no_import_runs_up_the_layers():
    upward = _upward(_imports())
    assert upward == [], "imports from a lower layer to a higher one:\n" + "\n".join(upward)


def test_no_import_circles():
    graph = _without_parents(_imports())
    assert _cycle(graph) == [], " -> ".join(_cycle(graph))


def test_the_cycle_finder_finds_a_circle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) == []


def test_the_layer_check_finds_an_upward_import():
    layers = (("low", ("p.base",)), ("mid", ("p.mid", "p.mid.special")), ("high", ("p",)))
    # p.mid.special is placed by its own, longer name; p.top falls under p, the highest layer
    assert _placement("p.mid.special.x", layers) == (1, "p.mid.special")
    assert _placement("p.top", layers) == (2, "p")
    assert _placement("q", layers) is None
    fine = {"p.top": {"p.mid", "p.base"}, "p.mid": {"p.base", "p.mid.special"}, "p.base": set()}
    assert _upward(fine, layers) == []
    assert _upward({**fine, "p.base": {"p.mid.special"}}, layers) == ["p.base (low) -> p.mid.special (mid)"]


def test_relative_imports_resolve():
    (node,) = ast.parse("from ..errors import ConfigError").body
    assert _targets(node, "aimodel.data.base", is_package=False) == ["aimodel.errors.ConfigError", "aimodel.errors"]
    (node,) = ast.parse("from . import spec").body
    assert _targets(node, "aimodel.data", is_package=True) == ["aimodel.data.spec", "aimodel.data"]


@pytest.mark.subprocess
def test_help_does_not_import_tensorflow():
    code = "import sys; from aimodel.cli import main; print('tensorflow' in sys.modules or 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"
