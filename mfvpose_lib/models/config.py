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
