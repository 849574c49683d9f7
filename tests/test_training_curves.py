"""A run's metric against wall time, and runs compared at equal wall time."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from mfvpose_lib.analysis.training import compare_runs, metric_against_wall_time
from mfvpose_lib.viz.training import plot_metric_against_wall_time


def _history(seconds: float, aps: dict[int, float], epochs: int = 4) -> pd.DataFrame:
    return pd.DataFrame([{"epoch": e, "train_seconds": seconds, "val_seconds": 1.0 if e in aps else None,
                          "samples_per_s": 100.0 / seconds, "AP": aps.get(e)} for e in range(1, epochs + 1)])  # fmt: skip


def test_wall_time_sums_training_and_validation_up_to_each_evaluation():
    curve = metric_against_wall_time(_history(10.0, {2: 0.3, 4: 0.5}), "AP")
    assert list(curve["epoch"]) == [2, 4]
    assert list(curve["wall_s"]) == [21.0, 42.0]  # 2 x 10 s + 1 s of validation, then again
    with pytest.raises(KeyError, match="lacks PCKh@0.5"):
        metric_against_wall_time(_history(10.0, {2: 0.3}), "PCKh@0.5")


def test_runs_are_compared_within_the_shortest_runs_wall_time():
    slow = _history(10.0, {2: 0.30, 4: 0.50})  # ends at 42 s
    fast = _history(5.0, {2: 0.35, 4: 0.45, 6: 0.60, 8: 0.70}, epochs=8)  # 11, 22, 33, 44 s
    table = compare_runs({"before": slow, "after": fast}, "AP").set_index("run")
    budget_column = "best AP within 42 s"
    assert table.loc["before", budget_column] == 0.50
    assert table.loc["after", budget_column] == 0.60  # its 44-s evaluation is past the budget
    assert table.loc["after", "best AP"] == 0.70
    assert math.isclose(table.loc["after", "samples/s (median epoch)"], 20.0)


def test_plot_has_one_line_per_run():
    curves = {"a": metric_against_wall_time(_history(10.0, {2: 0.3, 4: 0.5}), "AP"),
              "b": metric_against_wall_time(_history(5.0, {2: 0.2, 4: 0.4}), "AP")}  # fmt: skip
    fig = plot_metric_against_wall_time(curves, "AP")
    assert [line.get_label() for line in fig.axes[0].get_lines()] == ["a", "b"]


def test_saved_curve_comparisons_read_back_per_run(tmp_path):
    from mfvpose_lib.analysis.training import read_curves

    history = [{"epoch": e, "train_seconds": 10.0, "val_seconds": 1.0 if e % 2 == 0 else None,
                "samples_per_s": 100.0, "AP": 0.1 * e if e % 2 == 0 else None} for e in range(1, 7)]  # fmt: skip
    curve = metric_against_wall_time(history, "AP")
    path = tmp_path / "curves.csv"
    pd.concat([curve.assign(run="b run"), (curve * 2).assign(run="a run")]).to_csv(path, index=False)
    back = read_curves(path)
    assert list(back) == ["b run", "a run"]  # the file's order, not sorted
    pd.testing.assert_frame_equal(back["b run"], curve, check_dtype=False)
    for committed in sorted(Path(__file__).parents[1].glob("figures/bench/cpu-study/ap-vs-wall-time*.csv")):
        if not committed.stem.endswith("-summary"):
            assert all(len(c) >= 2 and c["wall_s"].is_monotonic_increasing for c in read_curves(committed).values())
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="bad.csv: not a saved curve comparison"):
        read_curves(tmp_path / "bad.csv")
