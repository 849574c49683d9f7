"""The noise study's levers (``study.noise_levers``): their runs, their table and what they cost."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from mfvpose_lib.study import ablation, noise, noise_levers, significance
from mfvpose_lib.study.profiles import DatasetRecipe, get_profile


def _scores(lever: str, weights: str, base: list[float], row: list[float], minutes: float = 3.0) -> pd.DataFrame:
    rows = []
    for seed, (b, r) in enumerate(zip(base, row, strict=True)):
        for key, value in (("baseline", b), ("lsw", r)):
            rows.append({"lever": lever, "label": f"{lever} label", "recipe": "8 epochs", "weights": weights,
                         "key": key, "seed": seed, ablation.METRIC: value, ablation.FINE_METRIC: 100 - value,
                         "cpu_minutes": minutes})  # fmt: skip
    return pd.DataFrame(rows)


def test_lever_table_measures_paired_and_unpaired_spread_and_the_cost_of_the_target():
    base, row = [50.0, 52.0, 49.0, 51.0], [47.0, 50.5, 45.0, 48.0]
    scores = pd.concat([_scores("a", "final", base, row), _scores("a", "ema", base, [48, 50.5, 47, 49], 5.0)])
    table = noise_levers.lever_table(scores)
    first = table.iloc[0]
    diff = np.subtract(row, base)
    assert (first["lever"], first["weights"], first["seeds"]) == ("a", "final", 4)
    assert first["paired diff std"] == pytest.approx(np.std(diff, ddof=1))
    assert first["unpaired diff std"] == pytest.approx(math.hypot(np.std(base, ddof=1), np.std(row, ddof=1)))
    assert first[f"paired diff std {ablation.FINE_METRIC}"] == pytest.approx(np.std(diff, ddof=1))  # 100 − PCKh
    assert first["minimum detectable difference"] == pytest.approx(
        significance.minimum_detectable_difference(np.std(diff, ddof=1), 4))
    needed = noise.seeds_needed(np.std(diff, ddof=1), noise.PCKH_TARGET)
    assert first["seeds for target"] == needed
    assert first["Table 4 CPU-hours at those seeds"] == pytest.approx(4 * needed * 3.0 / 60)
    assert table.iloc[1]["weights"] == "ema" and table.iloc[1]["CPU-min per run"] == 5.0
    assert noise_levers.spread_ratio(table, "a", "ema", reference="a") == pytest.approx(
        first["paired diff std"] / table.iloc[1]["paired diff std"])
    assert len(noise_levers.lever_statements(table)) == 2


def test_a_lever_changes_only_its_setting_and_keeps_the_pairing(tmp_path):
    profile = get_profile("cpu")
    grid = noise_levers.get_lever("grid8")
    cells = noise_levers.lever_cells(grid, profile, tmp_path / "data", tmp_path / "run")
    assert [(c.row.key, c.seed) for c in cells] == [(k, s) for s in range(3) for k in ("baseline", "lsw")]
    recipe = profile.for_dataset("mpii")
    for cell in cells:
        assert cell.out_dir == tmp_path / "run" / "noise" / "grid8" / "ablation" / f"{cell.row.key}_seed{cell.seed}"
        assert cell.config.model_overrides["patch_size"] == (2, 2) and cell.config.ema_decay == noise_levers.LEVER_EMA
        assert cell.config.epochs == recipe.epochs and cell.config.input_size == recipe.input_size
        assert cell.config.init_from == str(tmp_path / "run" / "noise" / "grid8" / "ablation" / f"init_seed{cell.seed}.pt")
        assert cell.full_config.model_overrides == {"patch_size": (2, 2)}  # the initial weights have the lever's grid
    assert cells[0].config.model_overrides == {"patch_size": (2, 2), "hrfov": None, "layer_scale_init": None}
    own = noise_levers.lever_cells(noise_levers.get_lever("profile"), profile, tmp_path / "data", tmp_path / "run")
    table4 = {c.out_dir: c.config for c in ablation.ablation_cells(profile, tmp_path / "data", tmp_path / "run")}
    assert all(table4[c.out_dir] == c.config for c in own)  # the profile lever *is* Table 4's runs
    with pytest.raises(KeyError, match="unknown lever"):
        noise_levers.get_lever("nope")


def test_ablation_rows_keep_the_profiles_model_overrides(tmp_path):
    cpu = get_profile("cpu")
    recipe = DatasetRecipe(**{**cpu.datasets["mpii"], "model_overrides": {"patch_size": (2, 2)}})
    profile = replace(cpu, datasets={**cpu.datasets, "mpii": recipe})
    cells = ablation.ablation_cells(profile, tmp_path, tmp_path / "run", seeds=1)
    assert [c.config.model_overrides for c in cells] == [
        {"patch_size": (2, 2), "hrfov": None, "layer_scale_init": None}, {"patch_size": (2, 2), "layer_scale_init": None},
        {"patch_size": (2, 2), "hrfov": None}, {"patch_size": (2, 2)}]  # fmt: skip


def test_run_cpu_minutes_counts_training_and_validation_per_thread(tmp_path):
    pd.DataFrame({"epoch": [1, 2], "train_seconds": [30.0, 30.0], "val_seconds": [np.nan, 6.0]}).to_csv(
        tmp_path / "metrics.csv", index=False)
    assert noise_levers.run_cpu_minutes(tmp_path, 1) == pytest.approx(66 / 60)
    assert noise_levers.run_cpu_minutes(tmp_path, 2) == pytest.approx(2 * 66 / 60)


def test_run_levers_trains_scores_final_and_averaged_weights_and_reuses_them(tmp_path):
    from mfvpose_lib.data.synth import write_synthetic

    root = tmp_path / "data"
    write_synthetic(root, 24, 6, seed=0, n_test=2)
    smoke, grid = get_profile("smoke"), noise_levers.get_lever("grid8")
    scores = noise_levers.run_levers([grid], smoke, root, tmp_path / "run", seeds=2, device="cpu", log=lambda _: None)
    assert sorted(scores["weights"].unique()) == ["ema", "final"] and len(scores) == 8
    assert set(scores["recipe"]) == {"1 epochs, 64x64 crops, 8x8 patch grid"}
    assert (scores["cpu_minutes"] > 0).all()
    again = noise_levers.run_levers([grid], smoke, root, tmp_path / "run", seeds=2, device="cpu", log=lambda _: None)
    pd.testing.assert_frame_equal(scores, again)  # runs and scores reused, not retrained


def test_every_profile_scores_its_ablation_on_weights_its_runs_keep(tmp_path):
    from mfvpose_lib.study.profiles import PROFILES

    for profile in PROFILES.values():
        assert profile.ablation_weights in ablation.WEIGHTS, profile.name
        if profile.ablation_weights == "ema":  # only a run that keeps an average has ema.pt
            assert profile.for_dataset("mpii").ema_decay, profile.name
    cell = ablation.ablation_cells(get_profile("smoke"), tmp_path, tmp_path / "run", seeds=1)[0]
    assert ablation.scored_checkpoint(cell, "ema") == cell.out_dir / "ema.pt"
    with pytest.raises(ValueError, match="weights must be one of final, ema"):
        ablation.scored_checkpoint(cell, "best")
    with pytest.raises(FileNotFoundError, match="kept no weight average"):
        ablation.evaluate_cells([cell], tmp_path, device="cpu", weights="ema")
