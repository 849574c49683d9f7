"""Building models: by registered name, or rebuilt from one of our checkpoints.

Importing this module imports the model modules, which register their entry points and families
with :mod:`mfvpose_lib.models.registry`.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch.nn as nn

from mfvpose_lib.models.checkpoint import (
    FORMAT,
    CheckpointMismatchError,
    LoadReport,
    _compare,
    _read_checkpoint,
    _strip_module_prefix,
    load_weights,
)
from mfvpose_lib.models.codec import codec_from_payload, default_codec, set_codec
from mfvpose_lib.models.config import build_config
from mfvpose_lib.models.registry import entrypoints, families
from mfvpose_lib.optional import import_if_present

# Modules that register models when imported; kept explicit so import order is obvious.
MODEL_MODULES = (
    "mfvpose_lib.models.hrnet",
    "mfvpose_lib.models.simplebaseline",
    "mfvpose_lib.models.tokenpose",
    "mfvpose_lib.models.mfvpose",
)


def _import_model_modules() -> None:
    for module in MODEL_MODULES:
        import_if_present(module)


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style ``pattern``, sorted."""
    _import_model_modules()
    return sorted(n for n in entrypoints() if fnmatch.fnmatch(n, pattern))


def is_model(name: str) -> bool:
    _import_model_modules()
    return name in entrypoints()


def family_for_config(config_cls_name: str) -> tuple[type, Callable[..., nn.Module]]:
    """The (config dataclass, model class) pair registered under a config class name."""
    _import_model_modules()
    try:
        return families()[config_cls_name]
    except KeyError:
        raise KeyError(f"no model family is registered for config {config_cls_name!r}") from None


def create_model(name: str, checkpoint_path: str | None = None, **overrides) -> nn.Module:
    """Build a registered model, optionally loading weights from ``checkpoint_path``.

    ``overrides`` replace fields of the model's config (e.g. ``num_keypoints=16``).
    """
    _import_model_modules()
    registered = entrypoints()
    if name not in registered:
        close = fnmatch.filter(registered, f"*{name}*")
        hint = f" Similar: {', '.join(sorted(close)[:8])}." if close else ""
        raise KeyError(f"unknown model {name!r}.{hint} See list_models().")
    model = registered[name](**overrides)
    model.model_name = name
    set_codec(model, default_codec(model.cfg))
    if checkpoint_path is not None:
        load_weights(model, checkpoint_path)
    return model


def load_model(path: str | os.PathLike, map_location: Any = "cpu") -> nn.Module:
    """Rebuild a model from one of our checkpoints (its stored config alone) and load its weights
    and its codec. The model is returned in eval mode on ``map_location``.
    """
    return load_model_checkpoint(path, map_location)[0]


def load_model_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> tuple[nn.Module, Mapping]:
    """:func:`load_model` and the whole checkpoint it read (epoch, metrics, ...), from one read
    of the file."""
    path = Path(path)
    obj = _read_checkpoint(path, map_location="cpu")
    if not (isinstance(obj, Mapping) and obj.get("format") == FORMAT):
        raise ValueError(
            f"{path}: not an mfvpose checkpoint (no format='{FORMAT}'); build the model with "
            "create_model(name) and use load_weights(model, path) for public checkpoints"
        )
    for key in ("config_class", "config", "state_dict"):
        if key not in obj:
            raise ValueError(f"{path}: mfvpose checkpoint lacks {key!r}")
    try:
        config_cls, model_cls = family_for_config(obj["config_class"])
        cfg = build_config(config_cls, None, obj["config"], source=str(path))
    except KeyError as err:
        raise ValueError(f"{path}: {err.args[0]}") from None
    model = model_cls(cfg)
    report = LoadReport(source=str(path), layout=FORMAT)
    fitting = _compare(report, _strip_module_prefix(dict(obj["state_dict"])), model.state_dict())
    if not report.ok:
        raise CheckpointMismatchError(f"checkpoint does not fit its own config\n{report}")
    model.load_state_dict(fitting, strict=False)
    model.model_name = obj.get("model_name") or type(model).__name__
    set_codec(model, codec_from_payload(obj, model, source=str(path)))
    if map_location is not None and not callable(map_location) and not isinstance(map_location, dict):
        model.to(map_location)
    return model.eval(), obj
