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


def plot_similarity_matrices(
    matrices: Mapping[str, np.ndarray], order: Sequence[int], names: Sequence[str], *, cols: int = 4
) -> Figure:
    """Cosine-similarity matrices (one panel each), rows and columns in ``order`` (skeleton order),
    one shared scale from -1 to 1 with a colour bar."""
    labels = list(matrices)
    cols = min(cols, len(labels))
    rows = (len(labels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.1 * cols, 3.0 * rows), squeeze=False)
    im = None
    tick = [names[k] for k in order]
    for ax in axes.ravel()[len(labels) :]:
        ax.set_visible(False)
    for ax, label in zip(axes.ravel(), labels):
        sim = matrices[label][np.ix_(order, order)]
        im = ax.imshow(sim, cmap="RdBu_r", vmin=-1, vmax=1)
        ax.set_title(label, fontsize=9)
        ax.set_xticks(range(len(order)), tick, rotation=90, fontsize=5)
        ax.set_yticks(range(len(order)), tick, fontsize=5)
    fig.tight_layout()
    if im is not None:
        fig.colorbar(im, ax=list(axes.ravel()[: len(labels)]), fraction=0.02, pad=0.02).set_label("cosine")
    return fig


def plot_attention_distance(table: pd.DataFrame, *, grid_diagonal: float | None = None) -> Figure:
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
    ax.set_title("How far patch tokens look, per layer and head", fontsize=10)
    fig.tight_layout()
    return fig


def plot_keypoint_block(
    block: np.ndarray, order: Sequence[int], names: Sequence[str], *, title: str = ""
) -> Figure:
    """Keypoint -> keypoint attention (rows: query token), in skeleton order, with a colour bar."""
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    im = ax.imshow(block[np.ix_(order, order)], cmap="magma")
    tick = [names[k] for k in order]
    ax.set_xticks(range(len(order)), tick, rotation=90, fontsize=6)
    ax.set_yticks(range(len(order)), tick, fontsize=6)
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
    ax.set_ylabel("mean |λ|")
    ax.set_title("Learned LayerScale weights (grey: init value)", fontsize=10)
    ax.legend(frameon=False, fontsize=7)
    fig.tight_layout()
    return fig


def plot_layer_scale_history(history: pd.DataFrame) -> Figure:
    """Mean |λ| of every layer/branch over the epochs of a run (``layerscale.csv``)."""
    fig, ax = plt.subplots(figsize=(5.6, 3.5))
    for (layer, branch), part in history.groupby(["layer", "branch"]):
        ax.plot(part["epoch"], part["mean_abs"], "-" if branch == "MSA" else "--", label=f"L{layer} {branch}")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean |λ|")
    ax.legend(frameon=False, fontsize=6, ncol=2)
    ax.set_title("LayerScale weights during training", fontsize=10)
    fig.tight_layout()
    return fig
