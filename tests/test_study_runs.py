"""The study's training runs. Which saved run a folder reuses: the same experiment (model, data, seed
and the recipe's schedule) is reused or resumed; a changed recipe starts afresh instead of finishing
under new settings. Side-by-side ablation cells log to their own files."""

from __future__ import annotations

import dataclasses

import pytest

from mfvpose_lib.io_utils import jsonable
from mfvpose_lib.study.profiles import get_profile
from mfvpose_lib.study.runs import config_from_profile, same_experiment


@pytest.fixture
def config(tmp_path):
    return config_from_profile(get_profile("smoke"), "mpii", tmp_path / "data", tmp_path / "run")


def saved(config, **changes):
    return jsonable(dataclasses.asdict(dataclasses.replace(config, **changes)))


def test_the_same_config_is_the_same_experiment_whatever_its_display_settings(config):
    assert same_experiment(saved(config), config)
    assert same_experiment(saved(config, progress=not config.progress, workers=3), config)


@pytest.mark.parametrize("change", [
    {"epochs": 99}, {"batch_size": 7}, {"lr": 0.123}, {"lr_steps": (1,)}, {"lr_schedule": "cosine"},
    {"warmup_epochs": 3.0}, {"optimizer": "adamw"}, {"weight_decay": 0.05}, {"total_batch": 512},
    {"seed": 41}, {"ema_decay": 0.9},
])  # fmt: skip
def test_a_changed_recipe_is_another_experiment(config, change):
    assert not same_experiment(saved(config, **change), config)


def test_a_checkpoint_from_before_the_schedule_field_counts_as_a_step_schedule(config):
    older = saved(config)
    older.pop("lr_schedule")
    assert config.lr_schedule == "step" and same_experiment(older, config)
    assert not same_experiment(older, dataclasses.replace(config, lr_schedule="cosine"))


def test_a_quiet_ablation_cell_keeps_its_log_out_of_the_notebook(config, monkeypatch, capsys):
    from mfvpose_lib.study import ablation

    monkeypatch.setattr(ablation, "ensure_run", lambda c: print("epoch 1/1: loss 0.1") or c.out_dir)
    ablation._train_cell(config, quiet=True)
    assert capsys.readouterr().out == ""
    ablation._train_cell(config)
    assert "epoch 1/1" in capsys.readouterr().out
