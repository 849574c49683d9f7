"""Pictures of receptive fields: dilation footprints (gridding), branch sizes, effective RFs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from mfvpose_lib.receptive_field import (
    atrous_branch_receptive_fields,
    dilation_footprint,
    erf_radius,
    has_gridding,
)


def _pad_to(array: np.ndarray, size: int) -> np.ndarray:
    pad = (size - array.shape[0]) // 2
    return np.pad(array, pad)


def plot_dilation_footprints(rate_sets: Mapping[str, Sequence[int]], *, kernel: int = 3) -> Figure:
    """One panel per rate sequence: how many paths reach each input cell of a cascade.

    Black cells inside the square are inputs the chain never reads (gridding).
    """
    footprints = {label: dilation_footprint(rates, kernel) for label, rates in rate_sets.items()}
    size = max(f.shape[0] for f in footprints.values())
    fig, axes = plt.subplots(1, len(footprints), figsize=(3.2 * len(footprints), 3.4), squeeze=False)
    for ax, (label, fp) in zip(axes[0], footprints.items()):
        rates = tuple(rate_sets[label])
        shown = np.ma.masked_equal(_pad_to(fp.astype(float), size), 0)
        ax.set_facecolor("black")
        ax.imshow(np.log1p(shown), cmap="viridis", interpolation="nearest")
        status = "gridding" if has_gridding(rates, kernel) else "no holes"
        ax.set_title(f"{label}\nrates {rates}: RF {fp.shape[0]}, {status}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(
        "Input cells read by one output of a stack of dilated 3x3 convs (colour: log paths)", fontsize=10
    )
    fig.tight_layout()
    return fig


def footprint_overlay(
    image: np.ndarray, footprint: np.ndarray, *, stride: int = 4, dim: float = 0.25
) -> np.ndarray:
    """``image`` (H, W, 3, uint8) with every input pixel whose feature cell is unread dimmed.

    The footprint lives on the 1/``stride`` feature grid and is centred on the image centre;
    each of its cells covers ``stride x stride`` input pixels.
    """
    h, w = image.shape[:2]
    mask = np.zeros((h // stride, w // stride), dtype=bool)
    fh, fw = mask.shape
    size = footprint.shape[0]
    cy, cx, r = fh // 2, fw // 2, size // 2
    ys, xs = np.nonzero(footprint)
    ys, xs = ys - r + cy, xs - r + cx
    keep = (ys >= 0) & (ys < fh) & (xs >= 0) & (xs < fw)
    mask[ys[keep], xs[keep]] = True
    full = np.kron(mask, np.ones((stride, stride), dtype=bool))
    full = np.pad(full, ((0, h - full.shape[0]), (0, w - full.shape[1])))
    out = image.astype(np.float32) * dim
    out[full] = image[full]
    return out.astype(np.uint8)


def plot_footprints_on_image(
    image: np.ndarray, rate_sets: Mapping[str, Sequence[int]], *, stride: int = 4, kernel: int = 3
) -> Figure:
    """The pixels of a crop that one centre feature of each rate stack can see (the rest dimmed)."""
    fig, axes = plt.subplots(1, len(rate_sets) + 1, figsize=(2.6 * (len(rate_sets) + 1), 3.6), squeeze=False)
    axes[0, 0].imshow(image)
    axes[0, 0].set_title("input crop", fontsize=9)
    for ax, (label, rates) in zip(axes[0, 1:], rate_sets.items()):
        ax.imshow(footprint_overlay(image, dilation_footprint(rates, kernel), stride=stride))
        ax.set_title(f"{label}\n{tuple(rates)}", fontsize=9)
    for ax in axes[0]:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def plot_branch_receptive_fields(rates: Sequence[int], *, stride: int = 4, kernel: int = 3) -> Figure:
    """Receptive field of each HRFOV branch, cascade (WASP) against parallel (ASPP)."""
    cascade = atrous_branch_receptive_fields(rates, "cascade", kernel)
    parallel = atrous_branch_receptive_fields(rates, "parallel", kernel)
    idx = np.arange(len(rates))
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    ax.bar(idx - 0.2, parallel, width=0.4, label="parallel (ASPP)")
    ax.bar(idx + 0.2, cascade, width=0.4, label="cascade (WASP)")
    ax.set_xticks(idx, [f"branch {i + 1}\nrate {r}" for i, r in enumerate(rates)])
    ax.set_ylabel("receptive field (feature cells)")
    secondary = ax.secondary_yaxis("right", functions=(lambda v: v * stride, lambda v: v / stride))
    secondary.set_ylabel(f"input pixels (stride {stride})")
    ax.legend(frameon=False)
    ax.set_title("Theoretical receptive field added by each HRFOV branch", fontsize=10)
    fig.tight_layout()
    return fig


def plot_erf_maps(maps: Mapping[str, np.ndarray], *, mass: float = 0.9) -> Figure:
    """Effective receptive fields side by side (square-root colour scale), with the square
    around the centre that holds ``mass`` of each."""
    fig, axes = plt.subplots(1, len(maps), figsize=(3.4 * len(maps), 4.0), squeeze=False)
    for ax, (label, erf) in zip(axes[0], maps.items()):
        ax.imshow(np.sqrt(erf / erf.max()), cmap="magma")
        radius = erf_radius(erf, mass)
        cy, cx = erf.shape[0] // 2, erf.shape[1] // 2
        ax.add_patch(
            Rectangle(
                (cx - radius - 0.5, cy - radius - 0.5), 2 * radius + 1, 2 * radius + 1, fill=False, ec="cyan"
            )
        )
        ax.set_title(f"{label}\n{mass:.0%} of the gradient within ±{radius:.0f} px", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig
