"""The batch runner: order, parameters, failure reporting, summary."""

from __future__ import annotations

import nbformat
import pandas as pd
import pytest

from mfvpose_lib.reproduce import NotebookFailed, discover_notebooks, notebook_map, run_order, run_study


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


def test_a_notebook_that_shows_a_later_ones_results_runs_after_it(tmp_path):
    names = ["00_a.ipynb", "01_shows_03.ipynb", "02_b.ipynb", "03_trains.ipynb", "04_c.ipynb"]
    for name in names:
        _write_notebook(tmp_path / name, "x = 1")
    shows = nbformat.read(tmp_path / names[1], as_version=4)
    shows.metadata["mfvpose"] = {"after": ["03"]}
    nbformat.write(shows, tmp_path / names[1])
    order = [p.name for p in run_order(discover_notebooks(tmp_path))]
    assert order == ["00_a.ipynb", "02_b.ipynb", "03_trains.ipynb", "01_shows_03.ipynb", "04_c.ipynb"]
    # without the notebook it waits for, it keeps its place
    alone = [p.name for p in run_order(discover_notebooks(tmp_path, ["00", "01", "02"]))]
    assert alone == names[:3]
    loop = nbformat.read(tmp_path / names[3], as_version=4)
    loop.metadata["mfvpose"] = {"after": ["01"]}
    nbformat.write(loop, tmp_path / names[3])
    with pytest.raises(ValueError, match="wait for each other"):
        run_order(discover_notebooks(tmp_path))


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
    # the report is written also when a notebook failed: the failed copy shows its traceback
    index = (out / "report" / "index.html").read_text()
    assert "deliberate failure" in index and "notebooks/01_broken.html" in index
    assert "ValueError" in (out / "report" / "notebooks" / "01_broken.html").read_text()


def test_unknown_profile_is_rejected(notebook_dir, tmp_path):
    with pytest.raises(KeyError, match="unknown profile"):
        run_study("huge", out=tmp_path, notebook_dir=notebook_dir, prepare=False, progress=False)


def test_progress_tail_prints_only_new_complete_lines(tmp_path):
    from mfvpose_lib.reproduce import ProgressTail

    log = tmp_path / "train_coco" / "progress.log"
    log.parent.mkdir()
    log.write_text("train_coco: epoch 1/2 (an earlier run)\n")
    lines: list[str] = []
    with ProgressTail(tmp_path, write=lines.append, interval=0.05) as tail:
        with open(log, "a") as fh:
            fh.write("train_coco: epoch 2/2, loss 0.1\npartial")
        tail.poll()
    assert lines == ["  train_coco: epoch 2/2, loss 0.1"]


def test_kernel_tcp_warning_is_filtered():
    import logging

    from mfvpose_lib.reproduce import _DropTcpWarning

    record = logging.LogRecord("traitlets", logging.WARNING, "", 0,
                               "Kernel is running over TCP without encryption. Messages ...", None, None)  # fmt: skip
    assert not _DropTcpWarning().filter(record)


def test_where_things_went_names_every_output(tmp_path):
    from mfvpose_lib.reproduce import where_things_went

    text = "\n".join(where_things_went(tmp_path / "out"))
    for part in ("notebooks", "run", "figures", "summary.csv", "report/index.html"):
        assert part in text


def test_the_figures_summary_keeps_every_notebook_when_only_some_ran_again(tmp_path):
    from mfvpose_lib.reproduce import NotebookRun, StudyLayout, _write_summary

    layout = StudyLayout(tmp_path / "data", tmp_path / "out", tmp_path / "figures", tmp_path / "nbs")
    layout.out.mkdir()
    layout.figures_dir.mkdir()
    _write_summary([NotebookRun(f"0{i}_x.ipynb", "ok", 10.0 + i, "") for i in range(3)], layout)
    _write_summary([NotebookRun("01_x.ipynb", "ok", 99.0, "")], layout, partial=True)
    record = pd.read_csv(layout.figures_dir / "reproduce_summary.csv")
    assert list(record["notebook"]) == ["00_x.ipynb", "01_x.ipynb", "02_x.ipynb"]
    assert list(record["seconds"]) == [10.0, 99.0, 12.0]
    assert record["machine"].str.contains("cores").all() and record["finished"].str.endswith("UTC").all()
    assert list(pd.read_csv(layout.out / "summary.csv")["notebook"]) == ["01_x.ipynb"]  # this run alone
    _write_summary([NotebookRun("01_x.ipynb", "ok", 5.0, "")], layout)  # a whole run replaces the record
    assert list(pd.read_csv(layout.figures_dir / "reproduce_summary.csv")["notebook"]) == ["01_x.ipynb"]
