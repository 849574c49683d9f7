"""Pictures of captum attributions of a keypoint's heatmap peak.

The computations live in :mod:`mfvpose_lib.analysis.attribution`; these functions only draw.
"""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from mfvpose_lib.analysis.attribution import AttributionComparison, KeypointAttribution

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


def plot_attribution_per_model(
    image: np.ndarray,
    comparison: AttributionComparison,
    *,
    shared_scale: bool = True,
    cmap: str | None = None,
    alpha: float = 0.75,
) -> Figure:
    """One row per model of :func:`~mfvpose_lib.analysis.attribution.attribution_across_models`:
    the crop with the label (cyan +) and the model's peak (yellow x), and the attribution drawn
    over the crop with its colour bar and the disc the table's mass shares are measured in.

    ``shared_scale=True`` divides every map by the largest scale of all rows, so the rows can be
    compared in size (a row whose map is faint then really attributes less); ``False`` divides each
    by its own, to compare where the maps lie. Colour scales as :func:`plot_attribution`."""
    results = comparison.results
    signed = comparison.method in SIGNED_METHODS
    largest = max(result.scale for result in results.values()) or 1.0
    fig, axes = plt.subplots(len(results), 2, figsize=(5.6, 2.9 * len(results)), squeeze=False)
    table = comparison.table.set_index("model")
    for (left, right), (label, result) in zip(axes, results.items(), strict=True):
        peak = comparison.peak_point(label)
        scale = largest if shared_scale else (result.scale or 1.0)
        left.imshow(image)
        left.set_title(f"{label}\npeak {result.value:.3f}", fontsize=8)
        right.imshow(image, alpha=0.45)
        shown = result.attribution / scale
        if signed:
            im = right.imshow(shown, cmap=cmap or "bwr", vmin=-1, vmax=1, alpha=alpha)
        else:
            im = right.imshow(shown, cmap=cmap or "magma", vmin=0, vmax=1, alpha=alpha)
        bar = fig.colorbar(im, ax=right, fraction=0.046, pad=0.04)
        bar.set_label(
            f"/ {scale:.1e} = " + ("max |a| of all rows" if shared_scale else "own max |a|"), fontsize=7
        )
        bar.ax.tick_params(labelsize=7)
        row = table.loc[label]
        where = "label" if comparison.point is not None else "own peak"
        center = comparison.point if comparison.point is not None else peak
        right.add_patch(plt.Circle(center, comparison.radius, fill=False, color="cyan", lw=1, ls="--"))
        right.set_title(f"scale {result.scale:.1e}; {row[f'mass near {where}']:.0%} of |a| within "
                        f"{comparison.radius:.0f} px of the {where}\n(evenly spread: "
                        f"{row[f'uniform share near {where}']:.0%})", fontsize=7)  # fmt: skip
        if result.warning():
            right.text(0.5, 0.02, textwrap.fill("WARNING: " + result.warning(), 40), transform=right.transAxes,
                       ha="center", va="bottom", fontsize=6, color="#b00", backgroundcolor=(1, 1, 1, 0.7))  # fmt: skip
        for ax in (left, right):
            if comparison.point is not None:
                ax.plot(*comparison.point, "c+", ms=10, mew=2)
            ax.plot(*peak, "yx", ms=7, mew=1.5)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(
        f"{comparison.method.replace('_', ' ')} of {comparison.keypoint_name}, one row per model", fontsize=9
    )
    fig.tight_layout()
    return fig
