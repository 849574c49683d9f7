"""Pictures of captum attributions of a keypoint's heatmap peak.

The computations live in :mod:`mfvpose_lib.analysis.attribution` (re-exported here, so
``from mfvpose_lib.viz.attribution import keypoint_attribution`` keeps working).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from mfvpose_lib.analysis.attribution import (  # noqa: F401 - re-exported
    ATTRIBUTION_METHODS,
    FLAT_ATTRIBUTION,
    KeypointAttribution,
    feature_layer,
    keypoint_attribution,
)

SIGNED_METHODS = ("integrated_gradients", "occlusion")


def plot_attribution(
    image: np.ndarray,
    result: KeypointAttribution,
    *,
    keypoint_name: str = "",
    point: np.ndarray | None = None,
    cmap: str | None = None,
    alpha: float = 0.75,
) -> Figure:
    """Two panels: the crop with the predicted location, and the attribution over the crop.

    The map is divided by its largest magnitude, printed in the title and on the colour bar.
    Saliency and Grad-CAM are non-negative (sequential scale, ``magma`` by default); integrated
    gradients and occlusion are signed (symmetric diverging scale, red: raises the peak). A
    map that cannot be read (:meth:`KeypointAttribution.warning`) says so in red.
    """
    name = keypoint_name or f"keypoint {result.keypoint}"
    fig, axes = plt.subplots(1, 2, figsize=(5.6, 3.9))
    axes[0].imshow(image)
    axes[0].set_title(f"{name}: peak {result.value:.3f}", fontsize=9)
    scale = result.scale or 1.0
    shown = result.attribution / scale
    axes[1].imshow(image, alpha=0.45)
    if result.method in SIGNED_METHODS:
        im = axes[1].imshow(shown, cmap=cmap or "bwr", vmin=-1, vmax=1, alpha=alpha)
    else:
        im = axes[1].imshow(shown, cmap=cmap or "magma", vmin=0, vmax=1, alpha=alpha)
    bar = fig.colorbar(im, ax=axes[1], fraction=0.046, pad=0.04)
    bar.set_label(f"/ max |attribution| = {result.scale:.1e}", fontsize=8)
    label = result.method.replace("_", " ") + f" (scale {result.scale:.1e})"
    if result.delta is not None:
        label += f"\ncompleteness gap {result.delta:.1e}"
    axes[1].set_title(label, fontsize=9)
    warning = result.warning()
    if warning:
        fig.text(
            0.5, 0.01, "WARNING: " + warning, ha="center", va="bottom", fontsize=7, color="#b00", wrap=True
        )
    for ax in axes:
        if point is not None:
            ax.plot(point[0], point[1], "c+", ms=10, mew=2)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout(rect=(0, 0.06 if warning else 0, 1, 1))
    return fig
