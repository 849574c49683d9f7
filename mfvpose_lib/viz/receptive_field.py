"""Pictures of receptive fields: dilation footprints (gridding), branch sizes, effective RFs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from mfvpose_lib.analysis.receptive_field import erf_radius
from mfvpose_lib.models.dilation import (
    atrous_branch_receptive_fields,
    dilation_footprint,
    dilation_footprint_info,
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


# --------------------------------------------------------------------------------------------
# Trained-model analysis (computations in mfvpose_lib.analysis.receptive_field)
# --------------------------------------------------------------------------------------------


def parse_rates(text: str | Sequence[int]) -> tuple[int, ...]:
    """``"1, 2, 5"`` (or a sequence) -> ``(1, 2, 5)``, with an error that names the bad entry."""
    if not isinstance(text, str):
        return tuple(int(r) for r in text)
    parts = [p for p in text.replace(" ", ",").split(",") if p]
    try:
        rates = tuple(int(p) for p in parts)
    except ValueError as err:
        raise ValueError(f"rates must be comma-separated positive integers, got {text!r}") from err
    if not rates or any(r < 1 for r in rates):
        raise ValueError(f"rates must be comma-separated positive integers, got {text!r}")
    return rates


def plot_dilation_choice(info, study=None) -> Figure:
    """The footprint of one atrous pyramid (``info``: a
    :class:`~mfvpose_lib.analysis.receptive_field.DilationFootprint`), beside the study's choice
    when ``study`` is given; the study's panel is marked."""
    panels = [("chosen", info)] + ([("study's HRFOV", study)] if study is not None else [])
    size = max(p.footprint.shape[0] for _, p in panels)
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.9), squeeze=False)
    for ax, (label, fp) in zip(axes[0], panels):
        shown = np.ma.masked_equal(_pad_to(fp.footprint.astype(float), size), 0)
        ax.set_facecolor("black")
        im = ax.imshow(np.log1p(shown), cmap="viridis", interpolation="nearest")
        is_study = study is not None and (fp.rates, fp.topology, fp.kernel) == (
            study.rates,
            study.topology,
            study.kernel,
        )
        mark = " ★ study's choice" if is_study else ""
        ax.set_title(
            f"{label}{mark}\n{fp.topology} {fp.rates}, k={fp.kernel}\nfield {fp.field} cells, {fp.holes} holes",
            fontsize=9,
        )
        if is_study:
            for spine in ax.spines.values():
                spine.set_edgecolor("gold")
                spine.set_linewidth(3)
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03).set_label("log(1 + paths)", fontsize=7)
    fig.suptitle("Cells one fused output reads (black: holes)", fontsize=10)
    fig.tight_layout()
    return fig


def render_dilation(*, rates="1, 2, 5, 9", topology: str = "cascade", kernel: int = 3, study=None) -> Figure:
    """The dilation explorer's picture: footprint, field and holes of these settings beside the
    study's HRFOV (``study``: an HRFOVConfig; default :class:`HRFOVConfig()`)."""
    from mfvpose_lib.models.hrfov import HRFOVConfig

    study = study or HRFOVConfig()
    chosen = dilation_footprint_info(parse_rates(rates), topology, int(kernel))
    return plot_dilation_choice(chosen, dilation_footprint_info(study.rates, study.topology, 3))


def plot_erf_grid(maps: Mapping[str, Mapping[str, np.ndarray]], *, mass: float = 0.9) -> Figure:
    """Rows: models (e.g. trained, untrained); columns: maps (backbone, + HRFOV, branches).
    Square-root colour scale per panel; the cyan square holds ``mass`` of the gradient."""
    rows = list(maps)
    cols = list(dict.fromkeys(label for by_map in maps.values() for label in by_map))
    fig, axes = plt.subplots(len(rows), len(cols), figsize=(2.5 * len(cols), 3.0 * len(rows)), squeeze=False)
    for i, row in enumerate(rows):
        for j, col in enumerate(cols):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            erf = maps[row].get(col)
            if erf is None:
                ax.set_visible(False)
                continue
            ax.imshow(np.sqrt(erf / max(erf.max(), 1e-30)), cmap="magma")
            radius = erf_radius(erf, mass)
            cy, cx = erf.shape[0] // 2, erf.shape[1] // 2
            ax.add_patch(
                Rectangle(
                    (cx - radius - 0.5, cy - radius - 0.5),
                    2 * radius + 1,
                    2 * radius + 1,
                    fill=False,
                    ec="cyan",
                )
            )
            ax.set_title(f"{row}: {col}\n{mass:.0%} within ±{radius:.0f} px", fontsize=8)
    fig.suptitle("Effective receptive field of the centre unit (sqrt scale)", fontsize=10)
    fig.tight_layout()
    return fig


def plot_branch_fields_on_crop(
    image: np.ndarray, boxes, *, erf: np.ndarray | None = None, mass: float = 0.9
) -> Figure:
    """The theoretical field each HRFOV branch adds (``boxes``: the DataFrame of
    :func:`~mfvpose_lib.analysis.dilation.branch_field_boxes`) drawn on a crop at its true scale
    where it fits inside the crop (the others are named in the title, not drawn past its edges);
    with ``erf``, the square holding ``mass`` of the measured ERF in white."""
    h, w = image.shape[:2]
    fig, ax = plt.subplots(figsize=(3.6, 3.6 * h / w + 0.6))
    ax.imshow(image)
    colours = plt.get_cmap("viridis")(np.linspace(0.1, 0.9, len(boxes)))
    fits = boxes["fits crop"] if "fits crop" in boxes else pd.Series(True, index=boxes.index)
    for colour, fit, row in zip(colours, fits, boxes.itertuples(index=False)):
        size = row[3]
        if fit:
            ax.add_patch(Rectangle((row.x0 - 0.5, row.y0 - 0.5), size, size, fill=False, ec=colour, lw=1.5,
                                   label=f"branch {row.branch} (rate {row.rate}): {size} px"))  # fmt: skip
    too_big = [f"{b} ({px} px)" for b, px, fit in zip(boxes["branch"], boxes["field (px)"], fits) if not fit]
    if erf is not None:
        radius = erf_radius(erf, mass)
        ax.add_patch(
            Rectangle(
                (w / 2 - radius - 0.5, h / 2 - radius - 0.5),
                2 * radius + 1,
                2 * radius + 1,
                fill=False,
                ec="white",
                ls="--",
                lw=1.5,
                label=f"ERF {mass:.0%}: ±{radius:.0f} px",
            )
        )
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.02), frameon=False)
    title = "Theoretical field of each HRFOV branch\n(at input scale, centred)"
    if too_big:
        title += f"\nlarger than the {h}x{w} crop, not drawn: branch {', '.join(too_big)}"
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig
