"""Model registry: every row of the paper's tables is a registered name.

Entry points are plain functions decorated with :func:`register_model`; their ``__name__`` is the
model name. The registry only records; it imports no model code (``models.factory`` imports the
model modules, builds models and rebuilds them from checkpoints).
"""

from __future__ import annotations

from collections.abc import Callable

import torch.nn as nn

_ENTRYPOINTS: dict[str, Callable[..., nn.Module]] = {}
_FAMILIES: dict[str, tuple[type, Callable[..., nn.Module]]] = {}
_CODEC_FAMILIES: dict[str, str] = {}


def register_model(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Register ``fn`` under its function name."""
    name = fn.__name__
    if name in _ENTRYPOINTS:
        raise ValueError(f"model {name!r} is registered twice")
    _ENTRYPOINTS[name] = fn
    return fn


def register_family(config_cls: type, *, codec: str) -> Callable[[type], type]:
    """Map a config dataclass (by class name) to the model class it builds, and to the code base
    whose heatmap codec its models take (a key of ``codecs.heatmap.FAMILY_CODECS``).

    Used to rebuild a model from the config stored in a checkpoint and to give it its codec.
    """

    def wrap(model_cls: type) -> type:
        _FAMILIES[config_cls.__name__] = (config_cls, model_cls)
        _CODEC_FAMILIES[config_cls.__name__] = codec
        return model_cls

    return wrap


def entrypoints() -> dict[str, Callable[..., nn.Module]]:
    """The registered entry points by name (whatever model modules have been imported)."""
    return _ENTRYPOINTS


def codec_families() -> dict[str, str]:
    """Config class name -> the code base whose codec its models take, as registered so far."""
    return _CODEC_FAMILIES


def families() -> dict[str, tuple[type, Callable[..., nn.Module]]]:
    """Config class name -> (config dataclass, model class), as registered so far."""
    return _FAMILIES


#: Name suffixes of a registered model's task variants (the bare name is COCO at 256x192).
VARIANT_SUFFIXES = {"_384": "COCO 384x288", "_mpii": "MPII 256x256"}


def variants_by_architecture(names: list[str]) -> list[dict[str, str]]:
    """One row per architecture with a column per task variant it is registered for ("✓" or ""),
    so that 40 names read as a dozen rows."""
    columns = ["COCO 256x192", *VARIANT_SUFFIXES.values()]
    rows: dict[str, dict[str, str]] = {}
    for name in sorted(names):
        base, column = name, columns[0]
        for suffix, label in VARIANT_SUFFIXES.items():
            if name.endswith(suffix):
                base, column = name.removesuffix(suffix), label
        rows.setdefault(base, {"architecture": base, **dict.fromkeys(columns, "")})[column] = "✓"
    return list(rows.values())
