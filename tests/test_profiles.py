"""Profiles hold one recipe per data set; the profile's own values fill what a recipe leaves out."""

from __future__ import annotations

import pytest

from mfvpose_lib.study.profiles import PROFILES, get_profile, profile_table


def test_a_recipe_overrides_only_what_it_names():
    cpu = get_profile("cpu")
    coco, mpii = cpu.for_dataset("coco"), cpu.for_dataset("mpii")
    assert (coco.epochs, coco.lr_steps, coco.workers) == (24, (18, 22), 0)
    assert (coco.batch_size, coco.lr, coco.threads) == (32, 1.4e-3, 2)
    assert (mpii.epochs, mpii.lr_steps, mpii.workers) == (8, (6, 7), 0)
    # what the MPII recipe leaves out is the profile's
    shared = cpu.training
    assert (mpii.batch_size, mpii.lr, mpii.threads) == (shared["batch_size"], shared["lr"], shared["threads"])
    assert coco.cache_images and mpii.cache_images and not get_profile("smoke").for_dataset("coco").cache_images
    assert mpii.model.endswith("_mpii") and not coco.model.endswith("_mpii")
    assert (coco.input_size, mpii.input_size) == (None, (64, 64))  # COCO: the model's own 128x96
    assert get_profile("paper").for_dataset("coco").input_size is None  # the model's default crop


def test_profile_settings_are_checked_against_the_train_config_fields():
    from mfvpose_lib.engine.config_file import ConfigFileError
    from mfvpose_lib.study.profiles import DatasetRecipe, TrainSettings

    with pytest.raises(ConfigFileError, match="TrainSettings: unknown key.*'epoch'.*valid keys: model"):
        TrainSettings(epoch=3)
    with pytest.raises(ConfigFileError, match="DatasetRecipe: key 'lr_steps' must be a list"):
        DatasetRecipe("mfvpose_tiny", lr_steps=5)
    recipe = DatasetRecipe("mfvpose_tiny", input_size=[64, 48], lr=1)
    assert dict(recipe) == {"model": "mfvpose_tiny", "input_size": (64, 48), "lr": 1.0}


def test_what_no_profile_sets_is_the_train_config_default():
    from mfvpose_lib.engine.train_config import TrainConfig

    smoke = get_profile("smoke").for_dataset("coco")
    assert "lr_gamma" not in get_profile("smoke").training and smoke.lr_gamma == TrainConfig.lr_gamma


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
    assert (coco.batch_size, coco.lr, coco.threads, coco.workers, coco.cache_images) == (32, 1.4e-3, 2, 0, True)
    assert (mpii.batch_size, mpii.lr, mpii.threads, mpii.workers, mpii.cache_images) == (16, 1e-3, 1, 0, True)
    assert config_from_profile(cpu, "coco", tmp_path, tmp_path / "c", batch_size=8).batch_size == 8


# config_from_profile(profile, dataset, "DATA", "OUT", **overrides) as the code before TrainConfig became the
# one declaration of the settings produced it (dataclasses.asdict): every profile x data set, and overrides
# that touch the public recipe and the total batch.
CONFIG_SNAPSHOT = [
    ('smoke', 'coco', {}, {'model': 'mfvpose_tiny', 'dataset': 'coco', 'data_root': 'DATA', 'out_dir': 'OUT',
        'epochs': 1, 'batch_size': 8, 'lr': 0.001, 'lr_steps': (), 'lr_schedule': 'step', 'lr_gamma': 0.1, 'warmup_epochs': 0.0,
        'warmup_factor': 0.001, 'lr_scaling': 'none', 'reference_batch': 32, 'optimizer': 'adam',
        'weight_decay': 0.0, 'ema_decay': None, 'clip_grad_norm': None, 'amp': 'auto', 'compile': False, 'channels_last': False,
        'workers': 0, 'cache_images': False, 'threads': None, 'seed': 0, 'device': 'auto', 'input_size': (64,
        48), 'model_overrides': {}, 'sigma': 2.0, 'codec': {}, 'total_batch': None, 'accumulate_steps': 1,
        'augmentation': None, 'val_boxes': 'det', 'val_flip': True, 'eval_every': 1, 'pretrained': None,
        'init_from': None, 'profile': 'smoke', 'progress': True}),
    ('smoke', 'mpii', {}, {'model': 'mfvpose_tiny_mpii', 'dataset': 'mpii', 'data_root': 'DATA', 'out_dir':
        'OUT', 'epochs': 1, 'batch_size': 8, 'lr': 0.001, 'lr_steps': (), 'lr_schedule': 'step', 'lr_gamma': 0.1, 'warmup_epochs':
        0.0, 'warmup_factor': 0.001, 'lr_scaling': 'none', 'reference_batch': 32, 'optimizer': 'adam',
        'weight_decay': 0.0, 'ema_decay': None, 'clip_grad_norm': None, 'amp': 'auto', 'compile': False, 'channels_last': False,
        'workers': 0, 'cache_images': False, 'threads': None, 'seed': 0, 'device': 'auto', 'input_size': (64,
        64), 'model_overrides': {}, 'sigma': 2.0, 'codec': {}, 'total_batch': None, 'accumulate_steps': 1,
        'augmentation': None, 'val_boxes': 'gt', 'val_flip': True, 'eval_every': 1, 'pretrained': None,
        'init_from': None, 'profile': 'smoke', 'progress': True}),
    ('cpu', 'coco', {}, {'model': 'mfvpose_tiny', 'dataset': 'coco', 'data_root': 'DATA', 'out_dir': 'OUT',
        'epochs': 24, 'batch_size': 32, 'lr': 0.0014, 'lr_steps': (18, 22), 'lr_schedule': 'step', 'lr_gamma': 0.1, 'warmup_epochs':
        1.0, 'warmup_factor': 0.001, 'lr_scaling': 'none', 'reference_batch': 32, 'optimizer': 'adam',
        'weight_decay': 0.0, 'ema_decay': None, 'clip_grad_norm': None, 'amp': 'auto', 'compile': False, 'channels_last': False,
        'workers': 0, 'cache_images': True, 'threads': 2, 'seed': 0, 'device': 'auto', 'input_size': None,
        'model_overrides': {}, 'sigma': 1.0, 'codec': {}, 'total_batch': None, 'accumulate_steps': 1,
        'augmentation': {'scale_factor': 0.25, 'rotation_factor': 20.0, 'rotation_prob': 0.5, 'flip_prob':
        0.5, 'half_body_prob': 0.1, 'num_joints_half_body': 8}, 'val_boxes': 'det', 'val_flip': False,
        'eval_every': 8, 'pretrained': None, 'init_from': None, 'profile': 'cpu', 'progress': True}),
    ('cpu', 'mpii', {}, {'model': 'mfvpose_tiny_mpii', 'dataset': 'mpii', 'data_root': 'DATA', 'out_dir':
        'OUT', 'epochs': 8, 'batch_size': 16, 'lr': 0.001, 'lr_steps': (6, 7), 'lr_schedule': 'step', 'lr_gamma': 0.1,
        'warmup_epochs': 1.0, 'warmup_factor': 0.001, 'lr_scaling': 'none', 'reference_batch': 32,
        'optimizer': 'adam', 'weight_decay': 0.0, 'ema_decay': None, 'clip_grad_norm': None, 'amp': 'auto', 'compile': False,
        'channels_last': False, 'workers': 0, 'cache_images': True, 'threads': 1, 'seed': 0, 'device': 'auto',
        'input_size': (64, 64), 'model_overrides': {}, 'sigma': 1.0, 'codec': {}, 'total_batch': None,
        'accumulate_steps': 1, 'augmentation': {'scale_factor': 0.25, 'rotation_factor': 20.0,
        'rotation_prob': 0.5, 'flip_prob': 0.5, 'half_body_prob': 0.1, 'num_joints_half_body': 8},
        'val_boxes': 'gt', 'val_flip': False, 'eval_every': 5, 'pretrained': None, 'init_from': None,
        'profile': 'cpu', 'progress': True}),
    ('gpu', 'coco', {}, {'model': 'mfvpose_b', 'dataset': 'coco', 'data_root': 'DATA', 'out_dir': 'OUT',
        'epochs': 40, 'batch_size': 64, 'lr': 0.001, 'lr_steps': (30, 36), 'lr_schedule': 'step', 'lr_gamma': 0.1, 'warmup_epochs':
        1.0, 'warmup_factor': 0.001, 'lr_scaling': 'none', 'reference_batch': 32, 'optimizer': 'adam',
        'weight_decay': 0.0, 'ema_decay': None, 'clip_grad_norm': None, 'amp': 'auto', 'compile': False, 'channels_last': False,
        'workers': 8, 'cache_images': False, 'threads': None, 'seed': 0, 'device': 'auto', 'input_size': None,
        'model_overrides': {}, 'sigma': None, 'codec': {}, 'total_batch': None, 'accumulate_steps': 1,
        'augmentation': None, 'val_boxes': 'det', 'val_flip': True, 'eval_every': 5, 'pretrained': None,
        'init_from': None, 'profile': 'gpu', 'progress': True}),
    ('gpu', 'mpii', {}, {'model': 'mfvpose_l_d6_mpii', 'dataset': 'mpii', 'data_root': 'DATA', 'out_dir':
        'OUT', 'epochs': 150, 'batch_size': 64, 'lr': 0.001, 'lr_steps': (120, 140), 'lr_schedule': 'step', 'lr_gamma': 0.1,
        'warmup_epochs': 1.0, 'warmup_factor': 0.001, 'lr_scaling': 'none', 'reference_batch': 32,
        'optimizer': 'adam', 'weight_decay': 0.0, 'ema_decay': None, 'clip_grad_norm': None, 'amp': 'auto', 'compile': False,
        'channels_last': False, 'workers': 8, 'cache_images': False, 'threads': None, 'seed': 0, 'device':
        'auto', 'input_size': None, 'model_overrides': {}, 'sigma': None, 'codec': {}, 'total_batch': None,
        'accumulate_steps': 1, 'augmentation': None, 'val_boxes': 'gt', 'val_flip': True, 'eval_every': 5,
        'pretrained': None, 'init_from': None, 'profile': 'gpu', 'progress': True}),
    ('paper', 'coco', {}, {'model': 'mfvpose_b', 'dataset': 'coco', 'data_root': 'DATA', 'out_dir': 'OUT',
        'epochs': 300, 'batch_size': 32, 'lr': 0.001, 'lr_steps': (200, 260), 'lr_schedule': 'step', 'lr_gamma': 0.1,
        'warmup_epochs': 0.0, 'warmup_factor': 0.001, 'lr_scaling': 'none', 'reference_batch': 32,
        'optimizer': 'adam', 'weight_decay': 0.0, 'ema_decay': None, 'clip_grad_norm': None, 'amp': 'off', 'compile': False,
        'channels_last': False, 'workers': 8, 'cache_images': False, 'threads': None, 'seed': 0, 'device':
        'auto', 'input_size': None, 'model_overrides': {}, 'sigma': None, 'codec': {}, 'total_batch': 128,
        'accumulate_steps': 1, 'augmentation': None, 'val_boxes': 'det', 'val_flip': True, 'eval_every': 10,
        'pretrained': None, 'init_from': None, 'profile': 'paper', 'progress': True}),
    ('paper', 'mpii', {}, {'model': 'mfvpose_l_d24_mpii', 'dataset': 'mpii', 'data_root': 'DATA', 'out_dir':
        'OUT', 'epochs': 300, 'batch_size': 32, 'lr': 0.001, 'lr_steps': (200, 260), 'lr_schedule': 'step', 'lr_gamma': 0.1,
        'warmup_epochs': 0.0, 'warmup_factor': 0.001, 'lr_scaling': 'none', 'reference_batch': 32,
        'optimizer': 'adam', 'weight_decay': 0.0, 'ema_decay': None, 'clip_grad_norm': None, 'amp': 'off', 'compile': False,
        'channels_last': False, 'workers': 8, 'cache_images': False, 'threads': None, 'seed': 0, 'device':
        'auto', 'input_size': None, 'model_overrides': {}, 'sigma': None, 'codec': {}, 'total_batch': 64,
        'accumulate_steps': 1, 'augmentation': None, 'val_boxes': 'gt', 'val_flip': True, 'eval_every': 10,
        'pretrained': None, 'init_from': None, 'profile': 'paper', 'progress': True}),
    ('paper', 'coco', {'model': 'hrnet_w32'}, {'model': 'hrnet_w32', 'dataset': 'coco', 'data_root': 'DATA',
        'out_dir': 'OUT', 'epochs': 210, 'batch_size': 32, 'lr': 0.001, 'lr_steps': (170, 200), 'lr_schedule': 'step', 'lr_gamma':
        0.1, 'warmup_epochs': 0.0, 'warmup_factor': 0.001, 'lr_scaling': 'none', 'reference_batch': 32,
        'optimizer': 'adam', 'weight_decay': 0.0, 'ema_decay': None, 'clip_grad_norm': None, 'amp': 'off', 'compile': False,
        'channels_last': False, 'workers': 8, 'cache_images': False, 'threads': None, 'seed': 0, 'device':
        'auto', 'input_size': None, 'model_overrides': {}, 'sigma': None, 'codec': {}, 'total_batch': 128,
        'accumulate_steps': 1, 'augmentation': None, 'val_boxes': 'det', 'val_flip': True, 'eval_every': 10,
        'pretrained': None, 'init_from': None, 'profile': 'paper', 'progress': True}),
    ('paper', 'mpii', {'batch_size': 8}, {'model': 'mfvpose_l_d24_mpii', 'dataset': 'mpii', 'data_root':
        'DATA', 'out_dir': 'OUT', 'epochs': 300, 'batch_size': 8, 'lr': 0.001, 'lr_steps': (200, 260),
        'lr_schedule': 'step', 'lr_gamma': 0.1, 'warmup_epochs': 0.0, 'warmup_factor': 0.001, 'lr_scaling': 'none',
        'reference_batch': 32, 'optimizer': 'adam', 'weight_decay': 0.0, 'ema_decay': None, 'clip_grad_norm': None, 'amp': 'off',
        'compile': False, 'channels_last': False, 'workers': 8, 'cache_images': False, 'threads': None,
        'seed': 0, 'device': 'auto', 'input_size': None, 'model_overrides': {}, 'sigma': None, 'codec': {},
        'total_batch': None, 'accumulate_steps': 1, 'augmentation': None, 'val_boxes': 'gt', 'val_flip': True,
        'eval_every': 10, 'pretrained': None, 'init_from': None, 'profile': 'paper', 'progress': True}),
    ('cpu', 'coco', {'epochs': 3, 'threads': None, 'seed': 2}, {'model': 'mfvpose_tiny', 'dataset': 'coco',
        'data_root': 'DATA', 'out_dir': 'OUT', 'epochs': 3, 'batch_size': 32, 'lr': 0.0014, 'lr_steps': (18, 22), 'lr_schedule': 'step', 'lr_gamma': 0.1, 'warmup_epochs': 1.0, 'warmup_factor': 0.001, 'lr_scaling': 'none',
        'reference_batch': 32, 'optimizer': 'adam', 'weight_decay': 0.0, 'ema_decay': None, 'clip_grad_norm': None, 'amp':
        'auto', 'compile': False, 'channels_last': False, 'workers': 0, 'cache_images': True, 'threads': 2,
        'seed': 2, 'device': 'auto', 'input_size': None, 'model_overrides': {}, 'sigma': 1.0, 'codec': {},
        'total_batch': None, 'accumulate_steps': 1, 'augmentation': {'scale_factor': 0.25, 'rotation_factor':
        20.0, 'rotation_prob': 0.5, 'flip_prob': 0.5, 'half_body_prob': 0.1, 'num_joints_half_body': 8},
        'val_boxes': 'det', 'val_flip': False, 'eval_every': 8, 'pretrained': None, 'init_from': None,
        'profile': 'cpu', 'progress': True}),
    ('gpu', 'mpii', {'total_batch': 32, 'batch_size': 4}, {'model': 'mfvpose_l_d6_mpii', 'dataset': 'mpii',
        'data_root': 'DATA', 'out_dir': 'OUT', 'epochs': 150, 'batch_size': 4, 'lr': 0.001, 'lr_steps': (120,
        140), 'lr_schedule': 'step', 'lr_gamma': 0.1, 'warmup_epochs': 1.0, 'warmup_factor': 0.001, 'lr_scaling': 'none',
        'reference_batch': 32, 'optimizer': 'adam', 'weight_decay': 0.0, 'ema_decay': None, 'clip_grad_norm': None, 'amp':
        'auto', 'compile': False, 'channels_last': False, 'workers': 8, 'cache_images': False, 'threads':
        None, 'seed': 0, 'device': 'auto', 'input_size': None, 'model_overrides': {}, 'sigma': None, 'codec':
        {}, 'total_batch': 32, 'accumulate_steps': 1, 'augmentation': None, 'val_boxes': 'gt', 'val_flip':
        True, 'eval_every': 5, 'pretrained': None, 'init_from': None, 'profile': 'gpu', 'progress': True}),
]


@pytest.mark.parametrize("profile, dataset, overrides, expected", CONFIG_SNAPSHOT,
                         ids=[f"{p}-{d}-{len(o)}" for p, d, o, _ in CONFIG_SNAPSHOT])
def test_config_from_profile_keeps_every_value_of_the_snapshot(profile, dataset, overrides, expected):
    import dataclasses

    from mfvpose_lib.study.runs import config_from_profile

    config = config_from_profile(get_profile(profile), dataset, "DATA", "OUT", **overrides)
    assert dataclasses.asdict(config) == expected
