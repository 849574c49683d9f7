"""The fields every pose model's config shares: what it predicts and at which sizes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PoseTaskConfig:
    """Keypoint count, input crop (H, W) and heatmap (H', W'); defaults are COCO at 256x192."""

    num_keypoints: int = 17
    input_size: tuple[int, int] = (256, 192)
    heatmap_size: tuple[int, int] = (64, 48)
