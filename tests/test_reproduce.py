"""The batch runner: order, parameters, failure reporting, summary."""

from __future__ import annotations

import nbformat
import pandas as pd
import pytest

from mfvpose_lib.reproduce import NotebookFailed, discover_notebooks, notebook_map, run_study


def _write_notebook(path, *sources):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(
        'profile = "x"\ndata_root = ""\nrun_dir = ""\nfigures_dir = ""\ndevice = "auto"'
    )
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {path.stem}"), params]
    nb.cells += [nbformat.v4.new_code_cell(s) for s in sources]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


@pytest.fixture
def notebook_dir(tmp_path):
    folder = tmp_path / "nbs"
    folder.mkdir()
    _write_notebook(
        folder / "00_first.ipynb", "from pathlib import Path\nPath(run_dir, 'marker').write_text(profile)"
    )
    _write_notebook(folder / "01_broken.ipynb", "x = 1", "raise ValueError('deliberate failure')")
    _write_notebook(folder / "02_never.ipynb", "y = 2")
    (folder / "notes.ipynb").write_text("{}")  # not NN_*: ignored
    return folder


def test_discovery_order_and_selection(notebook_dir):
    assert [p.name for p in discover_notebooks(notebook_dir)] == [
        "00_first.ipynb",
        "01_broken.ipynb",
        "02_never.ipynb",
    ]
    assert [p.name for p in discover_notebooks(notebook_dir, ["02", "00_first"])] == [
        "00_first.ipynb",
        "02_never.ipynb",
    ]
    with pytest.raises(FileNotFoundError, match="07"):
        discover_notebooks(notebook_dir, ["07"])
    assert list(notebook_map(notebook_dir)["title"]) == ["00_first", "01_broken", "02_never"]


@pytest.mark.slow
def test_stops_at_first_failure_naming_notebook_and_cell(notebook_dir, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(NotebookFailed) as info:
        run_study("smoke", out=out, notebook_dir=notebook_dir, prepare=False, progress=False)
    message = str(info.value)
    assert "01_broken.ipynb" in message and "deliberate failure" in message and "cell" in message
    # parameters reached the first notebook
    assert (out / "run" / "marker").read_text() == "smoke"
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary["status"]) == ["ok", "failed", "skipped"]
    assert (out / "notebooks" / "00_first.ipynb").exists()


def test_unknown_profile_is_rejected(notebook_dir, tmp_path):
    with pytest.raises(KeyError, match="unknown profile"):
        run_study("huge", out=tmp_path, notebook_dir=notebook_dir, prepare=False, progress=False)
