"""Table 4's training dynamics: curves read back from what the runs wrote, the epoch each run
reaches a loss, λ over training, the figure and its sentences."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from mfvpose_lib.study.dynamics import curve_score, epochs_to_reach, layer_scale_curves, training_curves
from mfvpose_lib.study.findings import RunScope, dynamics_findings
from mfvpose_lib.viz.dynamics import plot_ablation_dynamics
from mfvpose_lib.viz.figures import figure_problems

SCOPE = RunScope("cpu", "mfvpose_tiny_mpii", (64, 64), 3, "built-in synthetic (test)", seeds=2)


def _cell(root: Path, key: str, lsw: bool, seed: int, losses: list[float], ratios: list[float] | None,
          scores: list[float | None] | None = None):  # fmt: skip
    out = root / f"{key}_seed{seed}"
    out.mkdir(parents=True)
    epochs = range(1, len(losses) + 1)
    scores = scores or [None] * (len(losses) - 1) + [50.0]
    pd.DataFrame({"epoch": epochs, "train_loss": losses, "PCKh@0.5": scores}).to_csv(out / "metrics.csv", index=False)
    if ratios is not None:
        rows = [{"epoch": e, "layer": layer, "branch": b, "mean_abs": 0.1 * r, "init": 0.1}
                for e, r in zip(epochs, ratios, strict=True) for layer in (1, 2) for b in ("MSA", "FFN")]  # fmt: skip
        pd.DataFrame(rows).to_csv(out / "layerscale.csv", index=False)
    row = SimpleNamespace(label={"baseline": "TokenPose (baseline)", "lsw": "+LSW"}[key], key=key, lsw=lsw)
    return SimpleNamespace(out_dir=out, row=row, seed=seed)


@pytest.fixture
def cells(tmp_path):
    return [
        _cell(tmp_path, "baseline", False, 0, [0.010, 0.006, 0.004], None),
        _cell(tmp_path, "baseline", False, 1, [0.010, 0.005, 0.004], None),
        _cell(tmp_path, "lsw", True, 0, [0.011, 0.008, 0.005], [1.0, 0.98, 0.97]),
        _cell(tmp_path, "lsw", True, 1, [0.011, 0.007, 0.006], [1.0, 0.99, 0.95]),
    ]


def test_curves_come_from_each_runs_files(cells):
    curves = training_curves(cells)
    assert len(curves) == 12 and set(curves["row"]) == {"TokenPose (baseline)", "+LSW"}
    assert curves.loc[(curves["key"] == "lsw") & (curves["seed"] == 1), "train_loss"].tolist() == [0.011, 0.007, 0.006]
    scales = layer_scale_curves(cells)
    assert set(scales["key"]) == {"lsw"}  # the baseline has no λ
    assert scales.loc[scales["seed"] == 1, "λ / init"].tolist() == pytest.approx([1.0, 0.99, 0.95])


def test_the_epoch_each_run_reaches_the_highest_final_loss(cells):
    reached = epochs_to_reach(training_curves(cells)).set_index(["key", "seed"])["epoch"]
    assert reached.to_dict() == {("baseline", 0): 2, ("baseline", 1): 2, ("lsw", 0): 3, ("lsw", 1): 3}
    never = epochs_to_reach(training_curves(cells), level=0.001)
    assert never["epoch"].isna().all()


def test_dynamics_sentences_and_figure(cells):
    curves, scales = training_curves(cells), layer_scale_curves(cells)
    assert curve_score(curves) is None  # validated once: no learning curve
    found = dynamics_findings(curves, scales, scope=SCOPE)
    text = " ".join(f.text for f in found)
    assert "+LSW: final training loss 0.00550 against 0.00400 without LSW, higher in 2 of 2 paired seeds" in text
    assert "reach a training loss of 0.00600" in text and "+LSW 3.0" in text and "TokenPose (baseline) 2.0" in text
    assert "λ stayed within 5.0% of its initial value" in text
    fig = plot_ablation_dynamics(curves, scales)
    try:
        assert len(fig.axes) == 2 and figure_problems(fig) == []
    finally:
        plt.close(fig)


def test_validation_curves_give_the_epoch_each_run_reaches_a_score_and_a_third_panel(tmp_path):
    cells = [
        _cell(tmp_path, "baseline", False, 0, [0.01, 0.006, 0.004], None, [20.0, 40.0, 50.0]),
        _cell(tmp_path, "baseline", False, 1, [0.01, 0.005, 0.004], None, [25.0, 45.0, 52.0]),
        _cell(tmp_path, "lsw", True, 0, [0.011, 0.008, 0.005], [1.0, 1.1, 1.2], [10.0, 30.0, 48.0]),
        _cell(tmp_path, "lsw", True, 1, [0.011, 0.007, 0.006], [1.0, 1.05, 1.1], [12.0, 52.0, 55.0]),
    ]
    curves = training_curves(cells)
    reached = epochs_to_reach(curves, column="PCKh@0.5").set_index(["key", "seed"])["epoch"]
    # the level is the lowest final score (48): the first epoch at or above it
    assert reached.to_dict() == {("baseline", 0): 3, ("baseline", 1): 3, ("lsw", 0): 3, ("lsw", 1): 2}
    text = " ".join(f.text for f in dynamics_findings(curves, layer_scale_curves(cells), scope=SCOPE))
    assert "+LSW: final validation PCKh@0.5 51.50 against 51.00 without LSW, higher in 1 of 2 paired seeds" in text
    assert "a validation PCKh@0.5 of 48.00" in text and "+LSW 2.5" in text
    assert curve_score(curves) == "PCKh@0.5"
    fig = plot_ablation_dynamics(curves, layer_scale_curves(cells), score=curve_score(curves))
    try:
        assert len(fig.axes) == 3 and figure_problems(fig) == []
    finally:
        plt.close(fig)
