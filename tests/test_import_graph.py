"""The library's modules import only downward in a fixed package order, and without cycles;
deferred (in-function) imports count like module-level ones.

The order, lowest first (a module may import its own package and any lower layer; modules of one
layer may import each other, acyclically):

1. foundation (``io_utils``, ``optional``, ``device``): files, optional dependencies, the device;
   everything uses them and they use nothing of the library.
2. ``layers``: torch building blocks with no notion of a pose model.
3. ``codecs``: pixels <-> heatmaps; below ``models`` so that a model can own and save its codec.
4. ``models``: the architectures, built from layers and carrying a codec; free of pandas and
   matplotlib so that building a model stays light.
5. ``evaluation``: metrics on arrays and result lists; needs no data loading.
6. ``data``: data sets and their specs, which name the metric of each (evaluation below them).
7. ``engine`` (with ``inference``, ``export``): runs models on data: training, evaluation, prediction.
8. ``analysis``: what a figure shows, computed from models, data and runs.
9. ``viz``: drawing what analysis computed.
10. ``study`` (with ``reference``, ``reproduce``): the study's profiles, runs, tables and claims,
    on top of everything it reports.
11. ``benchmarks``: measures the whole stack, the study's profiles included.
12. ``commands`` (with ``lab``, ``cli``, ``__main__``): the command line, the only argument parsing.

The package's ``__init__`` is the facade and sits in the top layer: it may import anything (lazily),
and only the top layer may import it (``cli`` reads ``__version__``).
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import mfvpose_lib

PACKAGE = Path(mfvpose_lib.__file__).parent
FACADE = "mfvpose_lib"

#: Lowest first: each layer's packages and root modules (names directly under ``mfvpose_lib``).
LAYERS = (
    ("foundation", {"io_utils", "optional", "device"}),
    ("layers", {"layers"}),
    ("codecs", {"codecs"}),
    ("models", {"models"}),
    ("evaluation", {"evaluation"}),
    ("data", {"data"}),
    ("engine", {"engine", "inference", "export"}),
    ("analysis", {"analysis"}),
    ("viz", {"viz"}),
    ("study", {"study", "reference", "reproduce"}),
    ("benchmarks", {"benchmarks"}),
    ("commands", {"commands", "lab", "cli", "__main__"}),
)


def module_names() -> dict[str, Path]:
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def import_graph() -> dict[str, set[str]]:
    """Module -> the library modules it imports anywhere in its body. ``from pkg import sub``
    is an edge to ``pkg.sub`` when ``sub`` is a module, else to ``pkg``."""
    modules = module_names()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parent + ([node.module] if node.module else []))
                subs = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in modules]
                targets = subs if len(subs) == len(node.names) else [base, *subs]
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_walker_sees_a_cycle_when_there_is_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    graph = import_graph()
    assert "mfvpose_lib.models.registry" in graph["mfvpose_lib.models.hrnet"]  # a real edge is found


def test_no_import_cycle_among_the_library_modules():
    found = cycles(import_graph())
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def layer_index(module: str, layers=LAYERS) -> int | None:
    """Position in ``layers`` of the package or root module ``module`` belongs to (the facade is in
    the top layer); None when no layer names it."""
    if module == FACADE:
        return len(layers) - 1
    top = module.split(".")[1]
    return next((i for i, (_, names) in enumerate(layers) if top in names), None)


def upward_edges(graph: dict[str, set[str]], layers=LAYERS) -> list[str]:
    """Every ``importer -> imported`` edge whose target sits in a higher layer than its source
    (modules without a layer are left to ``test_every_library_module_has_a_layer``)."""
    found = []
    for module, targets in graph.items():
        for target in targets:
            source_layer, target_layer = layer_index(module, layers), layer_index(target, layers)
            if source_layer is not None and target_layer is not None and target_layer > source_layer:
                found.append(f"{module} -> {target}")
    return sorted(found)


def test_every_library_module_has_a_layer():
    unassigned = sorted(m for m in module_names() if layer_index(m) is None)
    assert not unassigned, "add these to LAYERS (with a line in the docstring on why there):\n" + "\n".join(
        unassigned
    )
    named = [name for _, names in LAYERS for name in names]
    assert len(named) == len(set(named)), "a package sits in two layers"


def test_no_module_imports_a_higher_layer():
    found = upward_edges(import_graph())
    assert not found, "imports against the package order (move the name down or the import up):\n" + "\n".join(
        found
    )


def test_the_order_check_sees_an_upward_import_and_an_unassigned_package():
    graph = {
        "mfvpose_lib.models.hrfov": {"mfvpose_lib.study.runs", "mfvpose_lib.layers.transformer"},
        "mfvpose_lib.study.runs": {"mfvpose_lib.models.hrfov", "mfvpose_lib.study.profiles"},
        "mfvpose_lib.study.profiles": set(),
        "mfvpose_lib.layers.transformer": {"mfvpose_lib"},
        "mfvpose_lib": {"mfvpose_lib.study.runs"},
    }
    assert upward_edges(graph) == [
        "mfvpose_lib.layers.transformer -> mfvpose_lib",
        "mfvpose_lib.models.hrfov -> mfvpose_lib.study.runs",
    ]
    assert layer_index("mfvpose_lib.newpackage.module") is None


@pytest.mark.subprocess
def test_building_a_model_imports_neither_pandas_nor_matplotlib():
    script = textwrap.dedent(
        """
        import sys

        import mfvpose_lib.models

        mfvpose_lib.models.create_model("mfvpose_tiny")
        print(" ".join(sorted(name for name in ("pandas", "matplotlib") if name in sys.modules)))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "", f"building a model imported {result.stdout.strip()}"
