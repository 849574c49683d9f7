"""Model registry: every row of the paper's tables is a registered name.

Entry points are plain functions decorated with :func:`register_model`; their
``__name__`` is the model name. ``create_model`` looks the name up, applies keyword
overrides to the family's frozen config and optionally loads a checkpoint.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable

import torch.nn as nn

from mfvpose_lib.optional import import_if_present

_ENTRYPOINTS: dict[str, Callable[..., nn.Module]] = {}
_FAMILIES: dict[str, tuple[type, Callable[..., nn.Module]]] = {}

# Modules that register models when imported; kept explicit so import order is obvious.
_MODEL_MODULES = (
    "mfvpose_lib.models.hrnet",
    "mfvpose_lib.models.simplebaseline",
    "mfvpose_lib.models.tokenpose",
    "mfvpose_lib.models.mfvpose",
)


def register_model(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Register ``fn`` under its function name."""
    name = fn.__name__
    if name in _ENTRYPOINTS:
        raise ValueError(f"model {name!r} is registered twice")
    _ENTRYPOINTS[name] = fn
    return fn


def register_family(config_cls: type) -> Callable[[type], type]:
    """Map a config dataclass (by class name) to the model class it builds.

    Used to rebuild a model from the config stored in a checkpoint.
    """

    def wrap(model_cls: type) -> type:
        _FAMILIES[config_cls.__name__] = (config_cls, model_cls)
        return model_cls

    return wrap


def _import_model_modules() -> None:
    for module in _MODEL_MODULES:
        import_if_present(module)


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style ``pattern``, sorted."""
    _import_model_modules()
    return sorted(n for n in _ENTRYPOINTS if fnmatch.fnmatch(n, pattern))


def is_model(name: str) -> bool:
    _import_model_modules()
    return name in _ENTRYPOINTS


def family_for_config(config_cls_name: str) -> tuple[type, Callable[..., nn.Module]]:
    """The (config dataclass, model class) pair registered under a config class name."""
    _import_model_modules()
    try:
        return _FAMILIES[config_cls_name]
    except KeyError:
        raise KeyError(f"no model family is registered for config {config_cls_name!r}") from None


def create_model(name: str, checkpoint_path: str | None = None, **overrides) -> nn.Module:
    """Build a registered model, optionally loading weights from ``checkpoint_path``.

    ``overrides`` replace fields of the model's config (e.g. ``num_keypoints=16``).
    """
    _import_model_modules()
    if name not in _ENTRYPOINTS:
        close = fnmatch.filter(_ENTRYPOINTS, f"*{name}*")
        hint = f" Similar: {', '.join(sorted(close)[:8])}." if close else ""
        raise KeyError(f"unknown model {name!r}.{hint} See list_models().")
    model = _ENTRYPOINTS[name](**overrides)
    model.model_name = name
    if checkpoint_path is not None:
        from mfvpose_lib.models.checkpoint import load_weights

        load_weights(model, checkpoint_path)
    return model
