"""`mfvpose lab`: the notebooks copied beside the run with their parameters pointed at it."""

from __future__ import annotations

import ast

import nbformat

from mfvpose_lib.cli import main
from mfvpose_lib.lab import lab_command, prepare_lab
from mfvpose_lib.reproduce import NOTEBOOK_DIR, discover_notebooks


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
