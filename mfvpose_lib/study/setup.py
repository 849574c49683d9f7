"""One set-up call for every notebook: profile, data, run folder, figures folder, device.

The data root a user gives is only ever read when it holds data of its own (``coco/`` or
``mpii/`` without our manifest). The built-in synthetic set is written into a sub-folder named
after its generation setting (:func:`~mfvpose_lib.data.synth.synthetic_set_name`), so sets of
different profiles live side by side and a model trained on one never finds it changed.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import torch

from mfvpose_lib.data.source_label import SYNTHETIC_LABEL
from mfvpose_lib.data.spec import available_datasets
from mfvpose_lib.data.synth import ensure_synthetic, is_complete, is_synthetic_root, synthetic_set_name
from mfvpose_lib.device import resolve_device
from mfvpose_lib.study.profiles import Profile, get_profile


class Study(NamedTuple):
    """What a notebook works with; unpack it or use the fields."""

    settings: Profile
    data_root: Path
    run_dir: Path
    figures: Path
    device: torch.device
    data_source: str


def has_user_data(folder: Path) -> bool:
    return bool(available_datasets(folder)) and not is_synthetic_root(folder)


def resolve_data_root(profile: Profile | str, data_root: str | Path, *, prepare: bool = True) -> tuple[Path, str]:
    """Where the data of this run are, and a label saying what they are.

    A folder with a user's ``coco/`` or ``mpii/`` is used as it is, never written. Otherwise the
    synthetic set of the profile's size is used (rendered when missing, ``prepare=True``) in its
    own sub-folder; a profile without synthetic counts (``paper``) needs user data.
    """
    settings = get_profile(profile) if isinstance(profile, str) else profile
    base = Path(data_root)
    if has_user_data(base):
        return base, f"user data at {base}"
    n_train, n_val, seed, n_test = settings.synth_train, settings.synth_val, settings.synth_seed, settings.synth_test
    if n_train < 1 or n_val < 1:
        raise FileNotFoundError(
            f"profile {settings.name!r} needs real data: {base} has neither coco/ nor mpii/ "
            "(see README, 'Real COCO 2017 / MPII data')"
        )
    label = f"{SYNTHETIC_LABEL} ({n_train} train / {n_val} val images, seed {seed})"
    if is_synthetic_root(base) and is_complete(base, n_train, n_val, seed, n_test):
        return base, label  # a set written directly into the folder (``mfvpose synth DIR``)
    target = base / synthetic_set_name(n_train, n_val, seed, n_test)
    if prepare:
        ensure_synthetic(target, n_train, n_val, seed, n_test=n_test)
    return target, label


def setup_study(
    profile: str,
    data_root: str | Path,
    run_dir: str | Path,
    figures_dir: str | Path,
    device: str = "auto",
    *,
    prepare: bool = True,
) -> Study:
    """Resolve the profile and device, find (or render) the data, create the run and figures
    folders. The only set-up a notebook needs."""
    settings = get_profile(profile)
    root, source = resolve_data_root(settings, data_root, prepare=prepare)
    run = Path(run_dir)
    figures = Path(figures_dir)
    for folder in (run, figures):
        folder.mkdir(parents=True, exist_ok=True)
    return Study(settings, root, run, figures, resolve_device(device), source)
