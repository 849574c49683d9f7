"""`mfvpose lab`: the notebooks copied beside the run with their parameters pointed at it."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import nbformat
import pytest

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


def test_lab_reads_the_reproduce_run_and_writes_figures_beside_itself(tmp_path):
    """The lab uses reproduce's data and run, but its figures stay out of the tracked figures/PROFILE."""
    lab = prepare_lab("smoke", out=tmp_path / "out")
    paths = reproduce_paths("smoke")
    for notebook in lab.glob("*.ipynb"):
        values = _parameters(notebook)
        assert Path(values["data_root"]) == paths["data_root"].resolve(), notebook.name
        assert Path(values["run_dir"]) == (tmp_path / "out" / "run").resolve(), notebook.name
        assert Path(values["figures_dir"]) == lab / "figures", notebook.name
        assert Path(values["figures_dir"]) != paths["figures_dir"].resolve()


def _launched(monkeypatch):
    """``subprocess.call`` as run_lab makes it, recorded instead of starting a server."""
    import mfvpose_lib.lab as lab_module

    calls = []
    monkeypatch.setattr(lab_module, "_has_jupyterlab", lambda: True)
    monkeypatch.setattr(lab_module.subprocess, "call", lambda cmd, cwd: calls.append((cmd, cwd)) or 0)
    return calls


def test_unknown_options_reach_jupyter_lab(tmp_path, monkeypatch, capsys):
    calls = _launched(monkeypatch)
    argv = ["lab", "--profile", "smoke", "--out", str(tmp_path), "--no-browser", "--ServerApp.token=",
            "--ip", "0.0.0.0", "--port", "8899"]  # fmt: skip
    assert main(argv) == 0
    (cmd, cwd), = calls
    assert cwd == tmp_path / "lab"
    assert "--no-browser" in cmd and "--port=8899" in cmd  # ours, translated
    assert cmd[-3:] == ["--ServerApp.token=", "--ip", "0.0.0.0"]  # jupyter's, unchanged and in order
    assert "figures" in capsys.readouterr().out


def test_options_after_a_double_dash_reach_jupyter_lab(tmp_path, monkeypatch):
    calls = _launched(monkeypatch)
    assert main(["lab", "--profile", "smoke", "--out", str(tmp_path), "--", "--no", "--port=1"]) == 0
    (cmd, _), = calls
    assert cmd[-2:] == ["--no", "--port=1"] and "--no-browser" not in cmd


def test_other_commands_stay_strict(capsys):
    with pytest.raises(SystemExit) as info:
        main(["models", "--ServerApp.token="])
    assert info.value.code == 2
    assert "unrecognized arguments: --ServerApp.token=" in capsys.readouterr().err
