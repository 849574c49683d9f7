"""A data root with only COCO or only MPII runs the parts of the study it can and says what it skipped."""

from __future__ import annotations

import shutil

import nbformat
import pandas as pd
import pytest

from mfvpose_lib.lab import prepare_lab
from mfvpose_lib.reproduce import NOTEBOOK_DIR, discover_notebooks, run_study
from mfvpose_lib.study.data_needs import (
    STUDY_DATASETS,
    cell_needs,
    datasets_available,
    fit_to_data,
    notebook_needs,
)


def _notebook(*cells, needs=None):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('profile = "x"\ndata_root = ""\nrun_dir = ""\nfigures_dir = ""\ndevice = "auto"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params]
    for source, tags in cells:
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["tags"] = list(tags)
        nb.cells.append(cell)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    if needs:
        nb.metadata["mfvpose"] = {"needs": needs}
    return nb


def test_cells_needing_a_missing_data_set_become_a_note():
    nb = _notebook(("a = 1", []), ("b = 2", ["needs-mpii"]), ("c = 3", ["needs-coco"]))
    fitted = fit_to_data(nb, ["coco"], "DATA")
    assert fitted.skipped_cells == 1 and fitted.missing == ["mpii"]
    kinds = [c.cell_type for c in fitted.notebook.cells]
    assert kinds == ["code", "code", "markdown", "code"]
    assert "`mpii/`" in fitted.notebook.cells[2].source and "DATA" in fitted.notebook.cells[2].source
    assert fitted.notebook.cells[2].id == nb.cells[2].id
    assert nb.cells[2].source == "b = 2"  # the original is not changed
    assert "1 cell(s) skipped" in fitted.describe("DATA")
    untouched = fit_to_data(nb, list(STUDY_DATASETS))
    assert untouched.skipped_cells == 0 and untouched.describe("DATA") == ""


def test_a_notebook_that_needs_a_missing_data_set_is_skipped_whole():
    fitted = fit_to_data(_notebook(("a = 1", []), needs=["mpii"]), ["coco"])
    assert fitted.notebook is None and fitted.describe("DATA") == "skipped: needs mpii/ under DATA"


def test_user_data_roots_have_what_their_folders_hold(tmp_path):
    (tmp_path / "coco").mkdir()
    assert datasets_available(tmp_path) == ["coco"]
    (tmp_path / "mpii").mkdir()
    assert datasets_available(tmp_path) == ["coco", "mpii"]
    assert datasets_available(tmp_path / "not-yet-rendered") == list(STUDY_DATASETS)  # the synthetic set


def test_every_study_notebook_names_only_study_data_sets():
    for path in discover_notebooks(NOTEBOOK_DIR):
        nb = nbformat.read(path, as_version=4)
        assert set(notebook_needs(nb)) <= set(STUDY_DATASETS), path.name
        for cell in nb.cells:
            assert set(cell_needs(cell)) <= set(STUDY_DATASETS), path.name
    # the notebooks that train or score on MPII say so
    needs = {p.name[:2]: notebook_needs(nbformat.read(p, as_version=4)) for p in discover_notebooks(NOTEBOOK_DIR)}
    assert needs["15"] == needs["16"] == ["mpii"] and needs["13"] == ["coco"]


def test_lab_on_a_coco_only_root_leaves_out_the_mpii_parts(tmp_path, capsys):
    (tmp_path / "data" / "coco").mkdir(parents=True)
    lab = prepare_lab("smoke", out=tmp_path / "out", data_root=tmp_path / "data", figures_dir=tmp_path / "f")
    names = {p.name[:2] for p in lab.glob("*.ipynb")}
    assert "15" not in names and "16" not in names and {"06", "07", "13"} <= names
    training = nbformat.read(lab / "06_training.ipynb", as_version=4)
    assert not any("mpii" in cell_needs(c) for c in training.cells if c.cell_type == "code")
    assert "15_table3_mpii_val.ipynb: skipped: needs mpii/" in capsys.readouterr().out


@pytest.mark.slow
def test_runner_skips_and_reports(tmp_path):
    folder = tmp_path / "nbs"
    folder.mkdir()
    nbformat.write(_notebook(("x = 1", []), ("raise RuntimeError('needs MPII')", ["needs-mpii"])), folder / "00_a.ipynb")
    nbformat.write(_notebook(("raise RuntimeError('never')", []), needs=["mpii"]), folder / "01_b.ipynb")
    (tmp_path / "data" / "coco").mkdir(parents=True)
    run_study("smoke", data_root=tmp_path / "data", out=tmp_path / "out", notebook_dir=folder, progress=False)
    summary = pd.read_csv(tmp_path / "out" / "summary.csv", keep_default_na=False).set_index("notebook")
    assert summary.loc["00_a.ipynb", "status"] == "ok"
    assert summary.loc["00_a.ipynb", "note"].startswith("1 cell(s) skipped: they need mpii/")
    assert summary.loc["01_b.ipynb", "status"] == "skipped"
    assert summary.loc["01_b.ipynb", "note"].startswith("skipped: needs mpii/")


@pytest.mark.slow
def test_coco_only_data_trains_and_evaluates_coco(tmp_path):
    """The real notebooks 06 and 07 on a data root holding only a COCO folder (the built-in set's
    COCO half, copied without our manifest, as a user's COCO would be)."""
    from mfvpose_lib.study import resolve_data_root

    synthetic, _ = resolve_data_root("smoke", tmp_path / "synthetic")
    shutil.copytree(synthetic / "coco", tmp_path / "user" / "coco")
    runs = run_study("smoke", data_root=tmp_path / "user", out=tmp_path / "out", only=["06", "07"], progress=False)
    assert [r.status for r in runs] == ["ok", "ok"]
    assert all("they need mpii/" in r.note for r in runs)
    assert (tmp_path / "out" / "run" / "train_coco" / "best.pt").is_file()
    assert not (tmp_path / "out" / "run" / "train_mpii").exists()
