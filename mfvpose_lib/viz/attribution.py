"""Pictures of captum attributions of a keypoint's heatmap peak.

The computations live in :mod:`mfvpose_lib.analysis.attribution`; these functions only draw.
"""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from mfvpose_lib.analysis.attribution import AttributionComparison, KeypointAttribution
from mfvpose_lib.viz.overlay import MAX_OPACITY, draw_over_image

SIGNED_METHODS = ("integrated_gradients", "occlusion")


def plot_attribution(
    image: np.ndarray,
    result: KeypointAttribution,
    *,
    keypoint_name: str = "",
    point: np.ndarray | None = None,
    cmap: str | None = None,
    alpha: float = MAX_OPACITY,
    title: str = "",
) -> Figure:
    """Two panels: the crop with the predicted location, and the attribution over the crop.

    The map is divided by its largest magnitude, printed in the title and on the colour bar, and
    drawn over the crop in grey, as opaque as it is strong (``alpha`` at its largest magnitude).
    Saliency and Grad-CAM are non-negative (sequential scale, ``magma`` by default); integrated
    gradients and occlusion are signed (symmetric diverging scale, red: raises the peak), and IG's
    completeness check is in the title. A map that cannot be read
    (:meth:`KeypointAttribution.warning`) says so in red. ``title`` goes above both panels.
    """
    name = keypoint_name or f"keypoint {result.keypoint}"
    warning = result.warning()
    fig, axes = plt.subplots(1, 2, figsize=(6.0, 4.3 if title else 4.0), layout="constrained")
    axes[0].imshow(image)
    axes[0].set_title(f"{name}\npeak {result.value:.3f}", fontsize=9)
    shown = result.attribution / (result.scale or 1.0)
    signed = result.method in SIGNED_METHODS
    im = draw_over_image(axes[1], image, shown, cmap=cmap or ("bwr" if signed else "magma"),
                         vmin=-1 if signed else 0, vmax=1, alpha=alpha, signed=signed)  # fmt: skip
    bar = fig.colorbar(im, ax=axes[1], fraction=0.046, pad=0.04)
    bar.set_label(f"/ max |attribution| = {result.scale:.1e}", fontsize=8)
    label = result.method.replace("_", " ") + f" (scale {result.scale:.1e})"
    if result.completeness() and not result.flat:  # a flat map's warning says more
        label += "\n" + textwrap.fill(result.completeness(), 40)
    axes[1].set_title(label, fontsize=9)
    for ax in axes:
        if point is not None:
            ax.plot(point[0], point[1], "c+", ms=10, mew=2)
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=10)
    if warning:  # under the panels, inside the layout
        fig.supxlabel(textwrap.fill("WARNING: " + warning, 80), fontsize=7, color="#b00")
    return fig


def plot_attribution_per_model(
    image: np.ndarray,
    comparison: AttributionComparison,
    *,
    shared_scale: bool = True,
    cmap: str | None = None,
    alpha: float = MAX_OPACITY,
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
        im = draw_over_image(right, image, result.attribution / scale, cmap=cmap or ("bwr" if signed else "magma"),
                             vmin=-1 if signed else 0, vmax=1, alpha=alpha, signed=signed)  # fmt: skip
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
                       ha="center", va="bottom", fontsize=7, color="#b00", backgroundcolor=(1, 1, 1, 0.7))  # fmt: skip
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
