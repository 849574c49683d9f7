"""Table 4's training dynamics drawn: training loss per row with its seed band, and λ over training."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from mfvpose_lib.viz.figures import whole_number_ticks


def _band(ax, curves: pd.DataFrame, column: str, *, log: bool = False) -> None:
    """Each row's mean over seeds as a line, the seeds' range as a band."""
    for row, runs in curves.groupby("row", sort=False):
        by_epoch = runs.groupby("epoch")[column]
        mean = by_epoch.mean()
        line = ax.plot(mean.index, mean.to_numpy(), marker="o", markersize=3, label=f"{row} ({runs['seed'].nunique()} seeds)")
        ax.fill_between(mean.index, by_epoch.min().to_numpy(), by_epoch.max().to_numpy(), alpha=0.2,
                        color=line[0].get_color())  # fmt: skip
    ax.set_xlabel("epoch")
    whole_number_ticks(ax.xaxis)
    if log:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def plot_ablation_dynamics(curves: pd.DataFrame, layer_scales: pd.DataFrame, *, score: str | None = None,
                           title: str = ""):  # fmt: skip
    """Training loss per epoch for every row (line: mean over seeds, band: their range); with
    ``score`` (a column of ``curves``, e.g. the validation PCKh@0.5) that score the same way over
    the epochs that have it; and, when there are LSW rows, mean |λ| / its initial value per epoch."""
    panels = 1 + (score is not None) + bool(len(layer_scales))
    fig, axes = plt.subplots(1, panels, figsize=(5.0 * panels, 3.8), squeeze=False)
    axes = list(axes[0])
    ax = axes.pop(0)
    _band(ax, curves, "train_loss", log=True)
    ax.set_ylabel("training loss (JointsMSE)")
    ax.set_title("training loss", fontsize=10)
    if score is not None:
        ax = axes.pop(0)
        _band(ax, curves.dropna(subset=[score]), score)
        ax.set_ylabel(f"validation {score} (no flip)")
        ax.set_title(f"validation {score}", fontsize=10)
    if axes:
        ax = axes.pop(0)
        _band(ax, layer_scales, "λ / init")
        ax.axhline(1.0, color="grey", lw=0.8, ls="--")
        ax.set_ylabel("mean |λ| / initial value")
        ax.set_title("LayerScale weights over training", fontsize=10)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
