"""Pictures of a :class:`~mfvpose_lib.analysis.inspection.CropInspection`: keypoint-token
attention per layer and head, the rollout, and the heatmap each keypoint token predicts.

They only draw: the forward pass and its caches are in :mod:`mfvpose_lib.analysis.inspection`.
Layer and head arguments follow the rule of :mod:`mfvpose_lib.analysis.attention`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from mfvpose_lib.analysis.attention import head_label, keypoint_rollout, layer_number
from mfvpose_lib.analysis.inspection import CropInspection
from mfvpose_lib.viz.attention import panel_grid, plot_keypoint_attention
from mfvpose_lib.viz.overlay import MAX_OPACITY, draw_over_image


def _keypoint_list(inspection: CropInspection, keypoints: Sequence[int] | None) -> list[int]:
    keypoints = list(range(inspection.num_keypoints)) if keypoints is None else list(keypoints)
    for k in keypoints:
        if not 0 <= k < inspection.num_keypoints:
            raise IndexError(f"keypoint {k} out of range: the model has {inspection.num_keypoints}")
    return keypoints


def _layer_title(layer: int, inspection: CropInspection, head: int | None) -> str:
    """Title words such as 'layer 2 of 4, head 0', the layer counted as people count it."""
    return (
        f"layer {layer_number(layer, inspection.num_layers)} of {inspection.num_layers}, {head_label(head)}"
    )


def plot_token_attention(
    inspection: CropInspection,
    *,
    layer: int = -1,
    head: int | None = None,
    keypoints: Sequence[int] | None = None,
    cols: int = 6,
    **style,
) -> Figure:
    """Each keypoint token's attention to the patches in one layer, over the crop (+: prediction).
    ``style``: ``cmap``, ``alpha``, ``scale`` of :func:`~mfvpose_lib.viz.attention.plot_keypoint_attention`."""
    keypoints = _keypoint_list(inspection, keypoints)
    return plot_keypoint_attention(
        inspection.layer_attention(layer, head),
        image=inspection.image,
        keypoint_names=inspection.keypoint_names or None,
        keypoints=keypoints,
        cols=cols,
        points=inspection.points,
        title=f"keypoint-token attention, {_layer_title(layer, inspection, head)}",
        **style,
    )


def plot_token_rollout(
    inspection: CropInspection,
    *,
    last_layer: int = -1,
    head: int | None = None,
    residual_weight: float = 0.5,
    keypoints: Sequence[int] | None = None,
    cols: int = 6,
    **style,
) -> Figure:
    """Attention rollout of each keypoint token over the patches, through ``last_layer``.

    Under each name: the share of the token's rollout that comes from the patches (the rest
    came from the keypoint tokens).
    """
    keypoints = _keypoint_list(inspection, keypoints)
    rollout = inspection.rollout(last_layer, head, residual_weight)
    maps = keypoint_rollout(rollout, inspection.num_keypoints, inspection.patch_grid)
    shares = maps.reshape(maps.shape[0], -1).sum(axis=1)
    return plot_keypoint_attention(
        maps,
        image=inspection.image,
        keypoint_names=inspection.keypoint_names or None,
        keypoints=keypoints,
        cols=cols,
        points=inspection.points,
        notes=[f"{s:.0%} from patches" for s in shares],
        title=f"attention rollout through {_layer_title(last_layer, inspection, head)}",
        **style,
    )


def plot_keypoint_heatmaps(
    inspection: CropInspection,
    *,
    keypoints: Sequence[int] | None = None,
    cols: int = 6,
    cmap: str = "magma",
    alpha: float = MAX_OPACITY,
) -> Figure:
    """Each keypoint token's predicted heatmap over the crop (in grey; ``alpha``: the opacity where
    the heatmap peaks) with its decoded location (+) and, when known, the labelled one (x). Colour
    scales are per panel; the peak value is in the title."""
    keypoints = _keypoint_list(inspection, keypoints)
    h, w = inspection.image.shape[:2]
    fig, panels = panel_grid(len(keypoints), cols, (1.9, 2.5))
    for ax, k in zip(panels, keypoints):
        draw_over_image(ax, inspection.image, inspection.heatmaps[k], cmap=cmap, alpha=alpha,
                        extent=inspection.codec.heatmap_extent())  # fmt: skip
        ax.plot(*inspection.points[k], "c+", ms=10, mew=2)
        if inspection.true_points is not None and np.isfinite(inspection.true_points[k]).all():
            ax.plot(*inspection.true_points[k], "wx", ms=7, mew=1.5)
        ax.set_xlim(-0.5, w - 0.5)
        ax.set_ylim(h - 0.5, -0.5)
        ax.set_title(f"{inspection.keypoint_label(k)}\npeak {inspection.peaks[k]:.2f}", fontsize=8)
    legend = "+ decoded" + (", x labelled" if inspection.true_points is not None else "")
    fig.suptitle(f"heatmap of each keypoint token ({legend})", fontsize=10)
    fig.tight_layout()
    return fig
