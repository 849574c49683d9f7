"""The noise study carried to the gpu profile (``study.scale_design``): a power law through two
schedule lengths, the seeds and epochs it predicts for a target, and their assumed GPU cost."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from mfvpose_lib.study import scale_design, significance


def test_the_power_law_passes_through_both_measured_lengths_and_inverts():
    scaling = scale_design.ScheduleScaling((8, 16), (3.2, 1.6))
    assert scaling.exponent == pytest.approx(1.0)
    assert scaling.spread_at(8) == pytest.approx(3.2) and scaling.spread_at(16) == pytest.approx(1.6)
    assert scaling.spread_at(64) == pytest.approx(0.4)
    assert scaling.epochs_for(0.4) == pytest.approx(64)
    assert scale_design.ScheduleScaling((8, 16), (2.0, 2.5)).epochs_for(1.0) == math.inf  # longer was noisier


def test_each_design_reaches_the_target_at_the_fewest_epochs_and_costs_rows_x_seeds_x_epochs():
    scaling = scale_design.ScheduleScaling((8, 16), (3.2, 1.6))
    designs = scale_design.scaled_designs(scaling, epoch_seconds=36.0, target=0.5, seeds=range(3, 8))
    for _, row in designs.iterrows():
        n, epochs = int(row["paired seeds"]), int(row["epochs"])
        assert significance.minimum_detectable_difference(scaling.spread_at(epochs), n) <= 0.5 + 1e-9
        assert significance.minimum_detectable_difference(scaling.spread_at(epochs - 1), n) > 0.5
        assert row["GPU-hours (assumed rate)"] == pytest.approx(4 * n * epochs * 36.0 / 3600)
    assert designs["epochs"].is_monotonic_decreasing  # more seeds, shorter schedules


def test_the_scaling_is_read_from_the_lever_table_rows_that_differ_in_length():
    levers = pd.DataFrame({"lever": ["profile", "epochs16", "epochs16"], "weights": ["final", "final", "ema"],
                           "recipe": ["8 epochs, 64x64 crops", "16 epochs, 64x64 crops", "16 epochs, 64x64 crops"],
                           "paired diff std": [3.0, 1.5, 9.9]})  # fmt: skip
    scaling = scale_design.schedule_scaling(levers)
    assert scaling.epochs == (8, 16) and scaling.spreads == (3.0, 1.5)


def test_assumed_epoch_time_follows_the_models_multiply_adds():
    from mfvpose_lib.analysis.complexity import build_on_meta, complexity

    gmacs = complexity(build_on_meta("mfvpose_tiny_mpii")).gmacs
    seconds = scale_design.assumed_epoch_seconds("mfvpose_tiny_mpii", 1000, flops=1e12)
    assert seconds == pytest.approx(1000 * gmacs * 1e9 * 6 / 1e12)
