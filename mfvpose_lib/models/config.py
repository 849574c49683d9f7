"""Model configs: the fields every pose model shares, and building a frozen config from values."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PoseTaskConfig:
    """Keypoint count, input crop (H, W) and heatmap (H', W'); defaults are COCO at 256x192."""

    num_keypoints: int = 17
    input_size: tuple[int, int] = (256, 192)
    heatmap_size: tuple[int, int] = (64, 48)


# Every family here predicts heatmaps at 1/4 of the input crop unless it says otherwise.
HEATMAP_STRIDE = 4


def heatmap_size_for(input_size: tuple[int, int], stride: int = HEATMAP_STRIDE) -> tuple[int, int]:
    """The heatmap (H', W') an input crop (H, W) implies: each side divided by the output stride."""
    h, w = input_size
    return int(h) // stride, int(w) // stride


def with_implied_heatmap(overrides: Mapping[str, Any], stride: int = HEATMAP_STRIDE) -> dict[str, Any]:
    """A copy of ``overrides`` in which a new ``input_size`` without a ``heatmap_size`` brings its own."""
    overrides = dict(overrides)
    if "input_size" in overrides and "heatmap_size" not in overrides:
        overrides["heatmap_size"] = heatmap_size_for(overrides["input_size"], stride)
    return overrides


def task_preset(num_keypoints: int, input_size: tuple[int, int]) -> dict[str, Any]:
    """The :class:`PoseTaskConfig` fields of a data set at one input size, heatmap at 1/4."""
    return {
        "num_keypoints": num_keypoints,
        "input_size": input_size,
        "heatmap_size": heatmap_size_for(input_size),
    }


# The published input sizes: COCO at 256x192 and 384x288, MPII at 256x256.
COCO_256 = task_preset(17, (256, 192))
COCO_384 = task_preset(17, (384, 288))
MPII_256 = task_preset(16, (256, 256))


def _as_tuples(value: Any) -> Any:
    """Lists (e.g. from JSON) back to the tuples frozen configs use."""
    if isinstance(value, (list, tuple)):
        return tuple(_as_tuples(v) for v in value)
    return value


def build_config(config_cls: type, base: Any | None, values: Mapping[str, Any], *, source: str) -> Any:
    """A frozen config of ``config_cls``: ``base``'s fields (or the defaults) replaced by ``values``.

    Unknown field names raise a ``TypeError`` that names ``source`` and lists the valid fields,
    so a typo in an override or a checkpoint from another version fails loudly.
    """
    names = [f.name for f in dataclasses.fields(config_cls)]
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise TypeError(
            f"{source}: unknown {config_cls.__name__} field(s) {', '.join(unknown)}; "
            f"valid fields: {', '.join(names)}"
        )
    fields = dataclasses.asdict(base) if base is not None else {}
    fields.update({k: _as_tuples(v) for k, v in values.items()})
    fields = {k: _as_tuples(v) for k, v in fields.items()}
    return config_cls(**fields)
