"""`mfvpose lab`: the notebooks copied beside the run with their parameters pointed at it."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import nbformat

from mfvpose_lib.cli import main
from mfvpose_lib.lab import lab_command, prepare_lab, reproduce_paths
from mfvpose_lib.reproduce import NOTEBOOK_DIR, discover_notebooks, run_study
from mfvpose_lib.study.profiles import DEFAULT_PROFILE


def test_prepare_lab_rewrites_only_the_parameters(tmp_path):
    lab = prepare_lab("smoke", out=tmp_path / "runs" / "smoke", data_root=tmp_path / "data",
                      figures_dir=tmp_path / "figs")  # fmt: skip
    sources = discover_notebooks(NOTEBOOK_DIR)
    assert sorted(p.name for p in lab.iterdir()) == sorted(p.name for p in sources)
    for src in sources:
        original = nbformat.read(src, as_version=4)
        copy = nbformat.read(lab / src.name, as_version=4)
        for a, b in zip(original.cells, copy.cells):
            if "parameters" in a.metadata.get("tags", []):
                values = {t.id: n.value.value for n in ast.parse(b.source).body for t in n.targets}
                assert values["profile"] == "smoke" and values["run_dir"] == str(tmp_path / "runs" / "smoke" / "run")
                assert values["figures_dir"] == str(tmp_path / "figs")
            else:
                assert a.source == b.source


def test_lab_command_flags(tmp_path):
    cmd = lab_command(tmp_path, port=8899, browser=False)
    assert "--no-browser" in cmd and "--port=8899" in cmd and f"--ServerApp.root_dir={tmp_path}" in cmd


def test_cli_prepare_only(tmp_path):
    assert main(["lab", "--profile", "smoke", "--out", str(tmp_path), "--prepare-only"]) == 0
    assert (tmp_path / "lab" / "00_overview.ipynb").is_file()


def _parameters(path):
    cell = next(c for c in nbformat.read(path, as_version=4).cells if "parameters" in c.metadata.get("tags", []))
    return {t.id: n.value.value for n in ast.parse(cell.source).body for t in n.targets}


def test_notebook_defaults_are_the_paths_make_reproduce_writes(repo_root):
    """Opened after `make reproduce`, a tracked notebook finds that run (not an untrained model)."""
    makefile = (Path(repo_root) / "Makefile").read_text()
    make_profile = re.search(r"^PROFILE \?= (\S+)$", makefile, re.M).group(1)
    assert make_profile == DEFAULT_PROFILE
    assert "--profile $(PROFILE) --figures-dir figures/$(PROFILE)" in makefile
    expected = reproduce_paths(DEFAULT_PROFILE)
    for path in discover_notebooks(NOTEBOOK_DIR):
        values = _parameters(path)
        assert values["profile"] == DEFAULT_PROFILE, path.name
        for name in ("data_root", "run_dir", "figures_dir"):
            assert (NOTEBOOK_DIR / values[name]).resolve() == expected[name].resolve(), (path.name, name)
    # the runner's own defaults agree: out = runs/PROFILE, the shared run folder OUT/run
    assert inspect.signature(run_study).parameters["profile"].default == DEFAULT_PROFILE
    assert expected["run_dir"] == expected["out"] / "run"


def test_lab_defaults_are_the_reproduce_paths(tmp_path):
    lab = prepare_lab("smoke", out=tmp_path / "out")
    values = _parameters(lab / "06_training.ipynb")
    paths = reproduce_paths("smoke")
    assert Path(values["data_root"]) == paths["data_root"].resolve()
    assert Path(values["figures_dir"]) == paths["figures_dir"].resolve()
