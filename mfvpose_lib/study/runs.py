"""A study's run folder: which training a profile asks for, where it lives, and "train it unless done".

The notebooks never call the training loop themselves. :func:`ensure_trained` builds the profile's
:class:`~mfvpose_lib.engine.train_config.TrainConfig` (:func:`config_from_profile`) for a data set,
and :func:`ensure_run` reuses a finished run of the same experiment, resumes a cut one and trains
otherwise, so a checkpoint shared by several notebooks is trained once. The run folder also
records what ``mfvpose reproduce`` was given (the ImageNet backbone, ``pretrained.json``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from mfvpose_lib.engine.checkpointing import BEST_NAME, LAST_NAME
from mfvpose_lib.engine.config_file import ConfigFileError
from mfvpose_lib.engine.train import train
from mfvpose_lib.engine.train_config import TrainConfig
from mfvpose_lib.io_utils import jsonable
from mfvpose_lib.study.profiles import get_profile


def config_from_profile(
    profile, dataset: str, data_root: str | Path, out_dir: str | Path, **overrides
) -> TrainConfig:
    """A :class:`TrainConfig` with the profile's recipe for ``dataset``; ``overrides`` (not
    None) replace single fields, e.g. ``epochs=5`` or ``device="cuda"``."""
    return profile.for_dataset(dataset, data_root, out_dir, **overrides)


def run_dir_for(run_dir: str | Path, dataset: str) -> Path:
    """Where the notebooks keep the run of ``dataset`` inside ``run_dir``."""
    return Path(run_dir) / f"train_{dataset}"


def ensure_trained(
    profile,
    dataset: str,
    data_root: str | Path,
    run_dir: str | Path,
    *,
    callbacks: Iterable = (),
    **overrides,
) -> Path:
    """``best.pt`` of the profile's run for ``dataset``; trains it first when it is missing,
    finishes it (resuming from ``last.pt``) when it was cut short, and starts afresh when the
    folder holds a run of another profile or model."""
    out_dir = overrides.pop("out_dir", None) or run_dir_for(run_dir, dataset)
    overrides.setdefault("pretrained", run_pretrained(run_dir))  # recorded by `reproduce --pretrained`
    config = config_from_profile(profile, dataset, data_root, out_dir, **overrides)
    return ensure_run(config, callbacks=callbacks)


# The fields that make two configs the same experiment: a finished run of the same identity is
# reused, an unfinished one resumed, anything else in the folder is started afresh. The recipe's
# schedule belongs to it: resuming a run under another batch, lr or length would mix two recipes.
RUN_IDENTITY = ("model", "dataset", "profile", "seed", "model_overrides", "init_from", "input_size", "ema_decay",
                "epochs", "batch_size", "total_batch", "lr", "lr_schedule", "lr_steps", "lr_gamma", "warmup_epochs",
                "optimizer", "weight_decay")  # fmt: skip
# what a checkpoint written before a field existed was trained with
IDENTITY_DEFAULTS = {"model_overrides": {}, "init_from": None, "ema_decay": None, "lr_schedule": "step"}


def same_experiment(saved: dict[str, Any], config: TrainConfig) -> bool:
    wanted = jsonable(dataclasses.asdict(config))
    defaults = IDENTITY_DEFAULTS

    def identity(values: dict[str, Any]) -> list:
        out = [defaults.get(key) if values.get(key) is None else values[key] for key in RUN_IDENTITY]
        init = RUN_IDENTITY.index("init_from")
        out[init] = Path(out[init]).name if out[init] else None  # the run folder may be reached by another path
        return out

    return identity(saved) == identity(wanted)


def run_state(config: TrainConfig) -> str:
    """``"finished"``, ``"cut"`` (same experiment, fewer epochs than asked) or ``"none"`` (no
    run of this experiment in ``config.out_dir``)."""
    out_dir = Path(config.out_dir)
    last = out_dir / LAST_NAME
    if not last.is_file():
        return "none"
    ckpt = torch.load(last, map_location="cpu", weights_only=True)
    if ckpt.get("dataset") != config.dataset or not same_experiment(ckpt.get("train_config") or {}, config):
        return "none"
    done = ckpt.get("epoch", 0) >= config.epochs and (out_dir / BEST_NAME).is_file()
    return "finished" if done else "cut"


def ensure_run(config: TrainConfig, *, callbacks: Iterable = ()) -> Path:
    """``best.pt`` of ``config``'s run: reused when finished, resumed when cut short, trained
    otherwise."""
    state = run_state(config)
    if state != "finished":
        train(config, callbacks=callbacks, resume="auto" if state == "cut" else None)
    return Path(config.out_dir) / BEST_NAME


def resolve_config(file_values: dict[str, Any], cli_values: dict[str, Any], *, source: str = "command line",
                   default_profile: str = "smoke") -> TrainConfig:  # fmt: skip
    """TrainConfig from its defaults, then the profile, then the file, then the flags (None: not
    given); the profile is the one the flags name, else the file's, else ``default_profile``."""
    merged = {**file_values, **{k: v for k, v in cli_values.items() if v is not None}}
    missing = [k for k in ("data_root", "out_dir") if not merged.get(k)]
    if missing:
        raise ConfigFileError(f"{source}: no {' or '.join(missing)} given (set it in the file or by flag)")
    try:
        profile = get_profile(merged.pop("profile", None) or default_profile)
        return config_from_profile(profile, merged.pop("dataset", None) or "coco", **merged)
    except KeyError as err:
        raise ConfigFileError(f"{source}: {err.args[0]}") from None
    except (TypeError, ValueError) as err:
        raise ConfigFileError(f"{source}: {err}") from None


PRETRAINED_FILE = "pretrained.json"


def write_run_pretrained(run_dir: str | Path, checkpoint: str | Path) -> Path:
    """Remember the ImageNet backbone checkpoint for the trainings of a study run folder
    (``mfvpose reproduce --pretrained`` writes it; the notebooks' ``ensure_trained`` reads it)."""
    from mfvpose_lib.io_utils import atomic_write_json

    checkpoint = Path(checkpoint).resolve()
    if not checkpoint.is_file():
        raise FileNotFoundError(f"{checkpoint}: pretrained checkpoint not found")
    return atomic_write_json({"pretrained": str(checkpoint)}, Path(run_dir) / PRETRAINED_FILE)


def run_pretrained(run_dir: str | Path) -> str | None:
    """The checkpoint :func:`write_run_pretrained` recorded for ``run_dir``, or None."""
    from mfvpose_lib.io_utils import read_json

    path = Path(run_dir) / PRETRAINED_FILE
    return read_json(path).get("pretrained") if path.is_file() else None
