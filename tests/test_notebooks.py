"""Every notebook: committed clean, thin, and executed end to end at the smoke profile."""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from mfvpose_lib.reproduce import NOTEBOOK_DIR, NotebookFailed, discover_notebooks, run_study
from mfvpose_lib.viz.figures import STRICT_ENV

NOTEBOOKS = discover_notebooks(NOTEBOOK_DIR)
PARAMETER_NAMES = {"profile", "data_root", "run_dir", "figures_dir", "device"}


def _code_cells(path: Path):
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path):
    for cell in _code_cells(path):
        assert not cell.outputs, f"{path.name}: a code cell has outputs; strip them before committing"
        assert cell.execution_count is None, f"{path.name}: a code cell has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_parameters_cell_and_no_definitions(path):
    cells = _code_cells(path)
    tagged = [c for c in cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: needs exactly one cell tagged 'parameters'"
    assigned = {t.id for node in ast.parse(tagged[0].source).body for t in node.targets}
    assert assigned == PARAMETER_NAMES, f"{path.name}: parameters cell assigns {sorted(assigned)}"
    for cell in cells:
        source = "\n".join(
            line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!"))
        )
        for node in ast.walk(ast.parse(source)):
            assert not isinstance(node, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef), (
                f"{path.name}: defines {node.name}; logic belongs in mfvpose_lib"
            )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_figures_are_saved_through_the_readability_check(path):
    for cell in _code_cells(path):
        assert ".savefig(" not in cell.source, (
            f"{path.name}: save figures with mfvpose_lib.viz.figures.save_figure, which checks that they can be read"
        )


@pytest.fixture(scope="session")
def smoke_study(tmp_path_factory):
    """Run the whole study once at the smoke profile, as `mfvpose reproduce --profile smoke` does,
    with every saved figure checked: a figure with overlapping or too small text, or too small a
    panel, fails its notebook (the kernels inherit the environment)."""
    base = tmp_path_factory.mktemp("study")
    out = base / "out"
    before = _git_status()
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv(STRICT_ENV, "1")
            run_study("smoke", data_root=base / "data", out=out, progress=False)
        error = None
    except NotebookFailed as err:
        error = str(err)
    summary = pd.read_csv(out / "summary.csv", keep_default_na=False)
    smoke_study_git_status[:] = [before, _git_status()]
    return summary.set_index("notebook"), error, base


smoke_study_git_status: list = []


def _git_status() -> str | None:
    import subprocess

    try:
        return subprocess.run(["git", "status", "--porcelain"], cwd=NOTEBOOK_DIR.parent, capture_output=True,
                              text=True, check=True).stdout  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return None


@pytest.mark.slow
def test_smoke_study_leaves_the_checkout_clean(smoke_study):
    before, after = smoke_study_git_status
    if before is None:
        pytest.skip("not a git checkout")
    assert after == before, f"the smoke study changed tracked or untracked files:\n{after}"
    summary, _, base = smoke_study
    assert not any(str(v).startswith("/") for v in summary["output"]), "summary holds absolute paths"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_at_smoke(path, smoke_study):
    summary, error, base = smoke_study
    status = summary.loc[path.name, "status"]
    if status == "skipped":
        pytest.fail(f"{path.name} did not run because an earlier notebook failed: {error}")
    assert status == "ok", summary.loc[path.name, "error"]
    executed = nbformat.read(base / "out" / summary.loc[path.name, "output"], as_version=4)
    ran = [c for c in executed.cells if c.cell_type == "code" and c.execution_count is not None]
    assert len(ran) == len([c for c in executed.cells if c.cell_type == "code"])
