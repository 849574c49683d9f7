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


def plot_ablation_dynamics(curves: pd.DataFrame, layer_scales: pd.DataFrame, *, title: str = ""):
    """Left: training loss per epoch for every row (line: mean over seeds, band: their range).
    Right, when there are LSW rows: mean |λ| / its initial value per epoch."""
    panels = 2 if len(layer_scales) else 1
    fig, axes = plt.subplots(1, panels, figsize=(5.6 * panels, 3.8), squeeze=False)
    _band(axes[0, 0], curves, "train_loss", log=True)
    axes[0, 0].set_ylabel("training loss (JointsMSE)")
    axes[0, 0].set_title("training loss", fontsize=10)
    if panels == 2:
        _band(axes[0, 1], layer_scales, "λ / init")
        axes[0, 1].axhline(1.0, color="grey", lw=0.8, ls="--")
        axes[0, 1].set_ylabel("mean |λ| / initial value")
        axes[0, 1].set_title("LayerScale weights over training", fontsize=10)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
