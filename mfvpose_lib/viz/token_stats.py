"""Pictures of keypoint-token statistics, attention distances and learned LayerScale weights.

Computations in :mod:`mfvpose_lib.analysis.tokens`, :mod:`~mfvpose_lib.analysis.attention`
and :mod:`~mfvpose_lib.analysis.layerscale`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from mfvpose_lib.viz.figures import whole_number_ticks


def plot_similarity_matrices(
    matrices: Mapping[str, np.ndarray], order: Sequence[int], names: Sequence[str], *, cols: int = 3,
    title: str = "",
) -> Figure:  # fmt: skip
    """Cosine-similarity matrices (one panel each), rows and columns in ``order`` (skeleton order),
    one shared scale from -1 to 1 with a colour bar. All panels share the order, so only the
    outer ones carry names: the left column's rows, and each column's lowest panel."""
    labels = list(matrices)
    cols = min(cols, len(labels))
    rows = (len(labels) + cols - 1) // cols
    # 2.4 in a panel: 17 names at 7 pt need ~2 in along an axis
    fig, axes = plt.subplots(rows, cols, figsize=(2.4 * cols + 1.6, 2.4 * rows + 1.2), squeeze=False,
                             layout="constrained")  # fmt: skip
    im = None
    tick = [names[k] for k in order]
    for ax in axes.ravel()[len(labels) :]:
        ax.set_visible(False)
    for i, (ax, label) in enumerate(zip(axes.ravel(), labels)):
        sim = matrices[label][np.ix_(order, order)]
        im = ax.imshow(sim, cmap="RdBu_r", vmin=-1, vmax=1)
        ax.set_title(label, fontsize=9)
        lowest = i + cols >= len(labels)
        ax.set_xticks(range(len(order)), tick if lowest else [], rotation=90, fontsize=7)
        ax.set_yticks(range(len(order)), tick if i % cols == 0 else [], fontsize=7)
    if im is not None:
        fig.colorbar(im, ax=list(axes.ravel()[: len(labels)]), fraction=0.02, pad=0.02).set_label("cosine")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def plot_attention_distance(
    table: pd.DataFrame, *, grid_diagonal: float | None = None, title: str = "How far patch tokens look, per layer and head"
) -> Figure:
    """Mean attention distance per head (dots) and its mean over heads (line), per layer."""
    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    ax.scatter(table["layer"], table["distance"], s=12, alpha=0.6, label="one head")
    mean = table.groupby("layer")["distance"].mean()
    ax.plot(mean.index, mean.values, "k-", lw=1.5, label="mean over heads")
    if grid_diagonal is not None:
        ax.axhline(grid_diagonal, color="grey", ls=":", label="uniform attention")
    ax.set_xlabel("layer")
    ax.set_xticks(sorted(table["layer"].unique()))
    ax.set_ylabel("mean attention distance (patches)")
    ax.legend(frameon=False, fontsize=8)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_keypoint_block(
    block: np.ndarray, order: Sequence[int], names: Sequence[str], *, title: str = ""
) -> Figure:
    """Keypoint -> keypoint attention (rows: query token), in skeleton order, with a colour bar."""
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    im = ax.imshow(block[np.ix_(order, order)], cmap="magma")
    tick = [names[k] for k in order]
    ax.set_xticks(range(len(order)), tick, rotation=90, fontsize=7)
    ax.set_yticks(range(len(order)), tick, fontsize=7)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03).set_label("attention", fontsize=8)
    ax.set_title(title or "keypoint → keypoint attention", fontsize=9)
    fig.tight_layout()
    return fig


def plot_layer_scale(tables: Mapping[str, pd.DataFrame]) -> Figure:
    """Mean |λ| per layer, MSA and FFN branches, one line style per model, init values dotted."""
    fig, ax = plt.subplots(figsize=(5.6, 3.5))
    for (label, table), style in zip(tables.items(), ("-", "--", ":", "-.")):
        for branch, colour in (("MSA", "tab:blue"), ("FFN", "tab:orange")):
            part = table[table["branch"] == branch]
            if len(part):
                ax.plot(
                    part["layer"],
                    part["mean |λ|"],
                    style,
                    color=colour,
                    marker="o",
                    ms=3,
                    label=f"{label}, {branch}",
                )
        if len(table):
            ax.axhline(float(table["init"].iloc[0]), color="grey", ls=":", lw=1)
    ax.set_yscale("log")
    ax.set_xlabel("layer")
    whole_number_ticks(ax.xaxis)
    ax.set_ylabel("mean |λ|")
    ax.set_title("Learned LayerScale weights (grey: init value)", fontsize=10)
    ax.legend(frameon=False, fontsize=7)
    fig.tight_layout()
    return fig


def plot_layer_scale_history(history: pd.DataFrame) -> Figure:
    """Mean |λ| of every layer/branch over the epochs of a run (``layerscale.csv``)."""
    fig, ax = plt.subplots(figsize=(6.4, 3.5), layout="constrained")
    for (layer, branch), part in history.groupby(["layer", "branch"]):
        ax.plot(part["epoch"], part["mean_abs"], "-" if branch == "MSA" else "--", marker="o", ms=3,
                label=f"L{layer} {branch}")  # fmt: skip
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    whole_number_ticks(ax.xaxis)
    ax.set_ylabel("mean |λ|")
    # beside the axes: inside, one entry per layer and branch covers the lines
    ax.legend(frameon=False, fontsize=7, ncol=1 + len(history.groupby(["layer", "branch"])) // 12,
              loc="upper left", bbox_to_anchor=(1.01, 1.0))  # fmt: skip
    ax.set_title("LayerScale weights during training", fontsize=10)
    return fig
