"""Profiles hold one recipe per data set; the profile's own values fill what a recipe leaves out."""

from __future__ import annotations

import pytest

from mfvpose_lib.study.profiles import PROFILES, get_profile, profile_table


def test_a_recipe_overrides_only_what_it_names():
    cpu = get_profile("cpu")
    coco, mpii = cpu.for_dataset("coco"), cpu.for_dataset("mpii")
    assert (coco.epochs, coco.lr_steps, coco.workers) == (45, (34, 41), 0)
    assert (coco.batch_size, coco.lr, coco.threads) == (64, 2e-3, 2)
    assert (mpii.epochs, mpii.lr_steps, mpii.workers) == (8, (6, 7), 0)
    # what the MPII recipe leaves out is the profile's
    assert (mpii.batch_size, mpii.lr, mpii.threads) == (cpu.batch_size, cpu.lr, cpu.threads)
    assert coco.cache_images and mpii.cache_images and not get_profile("smoke").for_dataset("coco").cache_images
    assert mpii.model.endswith("_mpii") and not coco.model.endswith("_mpii")
    assert (coco.input_size, mpii.input_size) == ((64, 48), (64, 64))
    assert get_profile("paper").for_dataset("coco").input_size is None  # the model's default crop


def test_unknown_dataset_names_the_profile_and_its_datasets():
    with pytest.raises(KeyError, match="profile 'smoke' trains nothing on 'crowdpose'; its data sets are coco, mpii"):
        get_profile("smoke").for_dataset("crowdpose")


def test_profile_table_has_a_row_per_profile_and_recipe_columns():
    table = profile_table(selected="cpu")
    assert list(table.index) == list(PROFILES)
    assert table.loc["cpu", "mpii epochs"] == 8 and table.loc["gpu", "coco model"] == "mfvpose_b"
    assert table["selected"].sum() == 1 and table.loc["cpu", "selected"]


def test_the_training_config_takes_each_data_set_recipe(tmp_path):
    from mfvpose_lib.study.runs import config_from_profile

    cpu = get_profile("cpu")
    coco = config_from_profile(cpu, "coco", tmp_path, tmp_path / "coco")
    mpii = config_from_profile(cpu, "mpii", tmp_path, tmp_path / "mpii")
    assert (coco.batch_size, coco.lr, coco.threads, coco.workers, coco.cache_images) == (64, 2e-3, 2, 0, True)
    assert (mpii.batch_size, mpii.lr, mpii.threads, mpii.workers, mpii.cache_images) == (16, 1e-3, 1, 0, True)
    assert config_from_profile(cpu, "coco", tmp_path, tmp_path / "c", batch_size=8).batch_size == 8
