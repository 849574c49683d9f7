"""Seed noise per statistic (``study.noise``), the fine statistic in Table 4 and its cached scores."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from mfvpose_lib.study import ablation, noise, significance
from mfvpose_lib.study.profiles import get_profile


def _power(target: float, sd: float, n: int, alpha: float = 0.05) -> float:
    """The paired-t power equation, transcribed directly."""
    crit = stats.t.ppf(1 - alpha / 2, n - 1)
    nc = target / (sd / np.sqrt(n))
    return stats.nct.sf(crit, n - 1, nc) + stats.nct.cdf(-crit, n - 1, nc)


@pytest.mark.parametrize(("sd", "target"), [(1.0, 2.0), (3.0, 2.0), (6.0, 2.0), (0.4, 0.1), (2.5, 4.0)])
def test_seeds_needed_is_the_first_n_with_the_asked_power(sd, target):
    n = noise.seeds_needed(sd, target)
    assert n >= 2 and _power(target, sd, n) >= 0.8
    if n > 2:
        assert _power(target, sd, n - 1) < 0.8
    assert significance.minimum_detectable_difference(sd, n) <= target + 1e-9
    assert significance.paired_t_power(target, sd, n) == pytest.approx(_power(target, sd, n))


def test_seeds_needed_grows_with_the_spread_and_shrinks_with_the_target():
    by_sd = [noise.seeds_needed(sd, 2.0) for sd in (0.5, 1.0, 2.0, 4.0, 8.0)]
    assert by_sd == sorted(by_sd) and by_sd[0] < by_sd[-1]
    by_target = [noise.seeds_needed(3.0, t) for t in (0.5, 1.0, 2.0, 4.0)]
    assert by_target == sorted(by_target, reverse=True) and by_target[0] > by_target[-1]
    assert noise.seeds_needed(3.0, 2.0, power=0.9) > noise.seeds_needed(3.0, 2.0)
    assert noise.seeds_needed(3.0, 2.0, alpha=0.01) > noise.seeds_needed(3.0, 2.0)


def test_seeds_needed_edges():
    assert noise.seeds_needed(0.0, 1.0) == 2
    assert noise.seeds_needed(100.0, 0.1) == math.inf  # beyond the cap: "more than 1000"
    assert noise.seeds_needed(100.0, 0.1, cap=50) == math.inf
    assert math.isnan(noise.seeds_needed(float("nan"), 1.0))
    with pytest.raises(ValueError, match="positive target"):
        noise.seeds_needed(1.0, 0.0)


def _per_seed(n_seeds=60, seed=0):
    """Known noise: PCKh has a shared seed effect (sd 1) and independent noise (sd 2) per cell; the
    fine statistic the same seed effect scaled by -0.5 and independent noise of sd 0.25."""
    rng = np.random.default_rng(seed)
    shared = rng.normal(0, 1.0, n_seeds)
    gains = {"baseline": 0.0, "hrfov": 0.5, "lsw": -0.5, "hrfov_lsw": 1.0}
    rows = []
    for r in ablation.ABLATION_ROWS:
        for s in range(n_seeds):
            rows.append({"row": r.label, "key": r.key, "seed": s, "val_people": 200, "epochs": 3, "eval_se": 1.5,
                         "PCKh@0.5": 60 + shared[s] + gains[r.key] + rng.normal(0, 2.0),
                         ablation.FINE_METRIC: 30 - 0.5 * (shared[s] + gains[r.key]) + rng.normal(0, 0.25),
                         ablation.eval_se_column(ablation.FINE_METRIC): 0.2})  # fmt: skip
    return pd.DataFrame(rows)


def test_noise_table_recovers_the_planted_noise():
    per_seed = _per_seed()
    table = noise.noise_table(per_seed).set_index("statistic")
    assert list(table.index) == ["PCKh@0.5", ablation.FINE_METRIC]  # PCKh@0.1 is not in this frame
    pckh, fine = table.loc["PCKh@0.5"], table.loc[ablation.FINE_METRIC]
    assert pckh["seeds"] == fine["seeds"] == 60
    assert pckh["paired diff std"] == pytest.approx(2.0 * np.sqrt(2), rel=0.2)
    assert fine["paired diff std"] == pytest.approx(0.25 * np.sqrt(2), rel=0.2)
    assert pckh["seed std (mean over rows)"] == pytest.approx(np.sqrt(5.0), rel=0.2)
    assert pckh["eval se"] == pytest.approx(1.5) and fine["eval se"] == pytest.approx(0.2)
    assert pckh["higher is better"] and not fine["higher is better"] and fine["unit"] == "mean normalised error"
    _, summary = ablation.ablation_table(per_seed)
    assert pckh["minimum detectable difference"] == pytest.approx(summary["minimum_detectable_difference"])
    for row in (pckh, fine):
        assert row["minimum detectable difference"] == pytest.approx(
            significance.minimum_detectable_difference(row["paired diff std"], 60))
        assert row["detectable effect size"] == pytest.approx(row["minimum detectable difference"] / row["baseline seed std"])
        assert row["seeds needed"] == noise.seeds_needed(row["paired diff std"], row["target"])
    # the same standardised target for both; the fine statistic's seed effect is shared, so it needs fewer seeds
    assert pckh["target"] == noise.PCKH_TARGET
    assert fine["target effect size"] == pytest.approx(pckh["target effect size"])
    assert fine["detectable effect size"] < pckh["detectable effect size"]
    assert fine["seeds needed"] < pckh["seeds needed"]
    sentences = noise.noise_statements(table.reset_index())
    assert "(lower is better)" in sentences[1] and f"needs {pckh['seeds needed']:g} paired seeds" in sentences[0]


def test_noise_table_without_evaluation_errors_or_seeds():
    per_seed = _per_seed(n_seeds=3)
    per_seed["PCKh@0.1"] = per_seed["PCKh@0.5"] - 20.0
    table = noise.noise_table(per_seed).set_index("statistic")
    assert list(table.index) == ["PCKh@0.5", "PCKh@0.1", ablation.FINE_METRIC]
    assert math.isnan(table.loc["PCKh@0.1", "eval se"])  # no bootstrap for it
    assert table.loc["PCKh@0.1", "seeds needed"] == table.loc["PCKh@0.5", "seeds needed"]  # the same noise, shifted
    flat = per_seed.assign(**{"PCKh@0.1": 40.0})  # no spread at all: no standardised target
    assert math.isnan(noise.noise_table(flat).set_index("statistic").loc["PCKh@0.1", "seeds needed"])
    one = noise.noise_table(_per_seed(n_seeds=1)).set_index("statistic")
    assert one["minimum detectable difference"].isna().all() and one["seeds needed"].isna().all()


# ---------------------------------------------------------------- the fine statistic in Table 4


def test_verdict_reads_right_where_lower_is_better():
    lower = significance.paired_difference(np.array([20.0, 21.0, 19.5, 20.4]), np.array([21.0, 21.9, 20.4, 21.3]))
    sentence = significance.verdict("+LSW", lower, "mean normalised error", 4, higher_is_better=False)
    assert sentence.startswith("+LSW: -0.92 mean normalised error (lower is better)")
    assert sentence.endswith("exceeds seed noise: better than the baseline.")
    worse = significance.paired_difference(np.array([22.0, 23.0, 21.5]), np.array([21.0, 21.9, 20.4]))
    assert "worse than the baseline" in significance.verdict("+X", worse, "MNE", 3, higher_is_better=False)
    higher = significance.verdict("+X", worse, "PCKh", 3)
    assert "lower is better" not in higher and higher.endswith("exceeds seed noise.")  # unchanged wording


def test_ablation_table_on_the_fine_statistic():
    per_seed = _per_seed(n_seeds=6)
    table, summary = ablation.ablation_table(per_seed, metric=ablation.FINE_METRIC)
    assert f"{ablation.FINE_METRIC} mean" in table and table["paper mean"].isna().all()
    assert all("(lower is better)" in v for v in table["verdict"].iloc[1:])
    assert summary["unit"] == "mean normalised error" and not summary["higher_is_better"]
    assert summary["eval_se"] == pytest.approx(0.2) and math.isnan(summary["paper_gain"])
    statement = ablation.power_statement(summary)
    assert "mean normalised error" in statement and "paper" not in statement and "lower is better" in statement
    _, primary = ablation.ablation_table(per_seed)
    assert primary["paper_gain"] == ablation.PAPER_GAIN and primary["eval_se"] == 1.5
    assert ablation.power_statement(primary).endswith(
        f"the paper's gain is +0.41, ours {primary['our_gain']:+.2f}.")  # the sentence as before


def test_scores_without_the_fine_statistic_are_scored_again(tmp_path):
    from mfvpose_lib.data.synth import write_synthetic
    from mfvpose_lib.engine.train import build_model_for_run
    from mfvpose_lib.io_utils import atomic_write_json, read_json
    from mfvpose_lib.models.checkpoint import save_model_checkpoint

    root = tmp_path / "data"
    write_synthetic(root, 2, 3, seed=0, n_test=2)
    cell = ablation.ablation_cells(get_profile("smoke"), root, tmp_path / "run", seeds=1)[0]
    torch.manual_seed(0)
    save_model_checkpoint(cell.out_dir / "last.pt", build_model_for_run(cell.config))
    first = ablation.evaluate_cells([cell], root, device="cpu").iloc[0]
    assert set(ablation.SCORE_COLUMNS) <= set(first.index) and first[ablation.FINE_METRIC] > 0
    assert first[ablation.eval_se_column(ablation.FINE_METRIC)] >= 0
    record = read_json(cell.out_dir / ablation.SCORE_NAME)
    assert record["format"] == ablation.SCORE_FORMAT
    old_row = {k: v for k, v in record["row"].items() if k != ablation.FINE_METRIC}
    atomic_write_json({**record, "row": {**old_row, "PCKh@0.5": -1.0}}, cell.out_dir / ablation.SCORE_NAME)
    again = ablation.evaluate_cells([cell], root, device="cpu").iloc[0]  # lacks a column: scored again
    assert again["PCKh@0.5"] == pytest.approx(first["PCKh@0.5"]) and again[ablation.FINE_METRIC] == first[ablation.FINE_METRIC]
    atomic_write_json({**read_json(cell.out_dir / ablation.SCORE_NAME), "format": 1, "row": {**first.to_dict(), "PCKh@0.5": -1.0}},
                      cell.out_dir / ablation.SCORE_NAME)  # fmt: skip
    assert ablation.evaluate_cells([cell], root, device="cpu").iloc[0]["PCKh@0.5"] == pytest.approx(first["PCKh@0.5"])
    complete = read_json(cell.out_dir / ablation.SCORE_NAME)
    atomic_write_json({**complete, "row": {**complete["row"], "PCKh@0.5": -1.0}}, cell.out_dir / ablation.SCORE_NAME)
    assert ablation.evaluate_cells([cell], root, device="cpu").iloc[0]["PCKh@0.5"] == -1.0  # complete: reused


def test_table_at_a_glance_keeps_the_compared_columns_of_either_statistic():
    per_seed = _per_seed(n_seeds=4)
    for metric in (ablation.METRIC, ablation.FINE_METRIC):
        table, _ = ablation.ablation_table(per_seed, metric=metric)
        shown = ablation.table_at_a_glance(table, metric=metric)
        assert list(shown.columns)[:4] == ["row", "seeds", f"{metric} mean", f"{metric} std"]
        assert "p (paired t)" in shown and "verdict" not in shown and "per seed" not in shown
        assert len(shown) == len(table) and len(shown.columns) < len(table.columns)
