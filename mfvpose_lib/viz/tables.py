"""Accuracy against cost, as pose papers draw it: published points and ours, marked apart."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from mfvpose_lib.study.setup import is_synthetic_label


def plot_accuracy_vs_gflops(table: pd.DataFrame, metric: str, *, title: str = ""):
    """Published rows as circles (x: their GFLOPs, else ours), our measurements as crosses.

    Our numbers measured on other data than the published ones (the built-in synthetic set) get
    their own panel, labelled with that data, so the two accuracy scales are never read as one."""
    published = table.dropna(subset=[f"paper {metric}"]) if f"paper {metric}" in table else table.iloc[:0]
    ours = table.dropna(subset=[f"ours {metric}"]) if f"ours {metric}" in table else table.iloc[:0]
    data_sources = sorted(set(ours["ours data"])) if len(ours) else []
    same_data = [d for d in data_sources if not is_synthetic_label(d)]
    other_data = [d for d in data_sources if is_synthetic_label(d)]
    panels = 1 + bool(other_data)
    fig, axes = plt.subplots(1, panels, figsize=(6.2 * panels, 4.2), squeeze=False)
    ax = axes[0, 0]
    x = published["paper GFLOPs"].fillna(published["ours GFLOPs (paper convention)"])
    ax.scatter(x, published[f"paper {metric}"], marker="o", color="tab:blue", label="published")
    for xi, yi, label, size in zip(x, published[f"paper {metric}"], published["method"], published["input"], strict=True):
        if pd.notna(xi):
            ax.annotate(f"{label} {size}", (xi, yi), fontsize=7, xytext=(3, 2), textcoords="offset points")
    on_same = ours[ours["ours data"].isin(same_data)]
    if len(on_same):
        ax.scatter(on_same["ours GFLOPs (paper convention)"], on_same[f"ours {metric}"], marker="x", s=60,
                   color="tab:red", label="ours (" + "; ".join(same_data) + ")")  # fmt: skip
    ax.set_xlabel("GFLOPs (papers' convention)")
    ax.set_ylabel(metric)
    ax.set_title(title or metric)
    ax.legend(fontsize=7, loc="lower right")
    if other_data:
        ax2 = axes[0, 1]
        synth = ours[ours["ours data"].isin(other_data)]
        ax2.scatter(synth["ours GFLOPs (paper convention)"], synth[f"ours {metric}"], marker="x", s=60, color="tab:red")
        for xi, yi, label, origin in zip(synth["ours GFLOPs (paper convention)"], synth[f"ours {metric}"],
                                         synth["model"], synth["ours origin"], strict=True):  # fmt: skip
            ax2.annotate(f"{label} ({origin})", (xi, yi), fontsize=7, xytext=(3, 2), textcoords="offset points")
        ax2.set_xlabel("GFLOPs (papers' convention) at the model's input size")
        ax2.set_ylabel(f"{metric} on the built-in synthetic data")
        ax2.set_title("ours: " + "; ".join(other_data), fontsize=8)
    fig.tight_layout()
    return fig


def plot_ablation(per_seed: pd.DataFrame, table: pd.DataFrame, *, metric: str = "PCKh@0.5", paper_gain: float | None = None):
    """Left: each seed's score per row (points, lines join a seed across rows) with the row mean.
    Right: each row's paired difference to the baseline with its 95% interval, and the paper's gain."""
    import numpy as np

    order = list(table["row"])
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    pos = {row: i for i, row in enumerate(order)}
    for seed, group in per_seed.groupby("seed"):
        group = group.assign(x=group["row"].map(pos)).sort_values("x")
        ax.plot(group["x"], group[metric], "o-", alpha=0.6, label=f"seed {seed}")
    ax.scatter(range(len(order)), table[f"{metric} mean"], marker="_", s=600, color="black", label="mean", zorder=3)
    ax.set_xticks(range(len(order)), order, rotation=15, fontsize=8)
    ax.set_ylabel(f"{metric} (final weights, flip test)")
    ax.set_title("per seed")
    ax.legend(fontsize=7)
    rest = table[table["row"] != order[0]]
    if "diff to baseline" in rest:
        err = np.vstack([rest["diff to baseline"] - rest["95% CI low (paired)"],
                         rest["95% CI high (paired)"] - rest["diff to baseline"]])  # fmt: skip
        ax2.errorbar(range(len(rest)), rest["diff to baseline"], yerr=np.nan_to_num(err), fmt="o", capsize=6,
                     label="ours: mean paired difference, 95% CI")  # fmt: skip
        ax2.set_xticks(range(len(rest)), rest["row"], rotation=15, fontsize=8)
    ax2.axhline(0, color="grey", lw=0.8)
    if paper_gain is not None:
        ax2.axhline(paper_gain, color="tab:green", ls="--", lw=1, label=f"paper: MfvPose +{paper_gain:.2f} over TokenPose-L/D6")
    ax2.set_ylabel(f"difference to the baseline ({metric})")
    ax2.set_title("against the baseline")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    return fig
