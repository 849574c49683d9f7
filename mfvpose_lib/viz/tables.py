"""Accuracy against cost, as pose papers draw it: published points and ours, marked apart."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.text import Annotation, Text
from matplotlib.transforms import Bbox

from mfvpose_lib.data.source_label import is_synthetic_label

#: Directions tried around a point, in this order, at each distance of ``LABEL_DISTANCES``.
LABEL_DIRECTIONS = ((1, 1), (1, -1), (-1, 1), (-1, -1), (0, 1), (0, -1), (1, 0), (-1, 0))
#: Offsets (points) of a label from its point; beyond the first a leader line joins them.
LABEL_DISTANCES = (3, 12, 22, 34, 48, 64, 82, 102)
_MARKER_HALF_WIDTH = 4  # display pixels around each point that other labels keep clear of
_HA = {1: "left", 0: "center", -1: "right"}
_VA = {1: "bottom", 0: "center", -1: "top"}


def _overlap_area(a: Bbox, b: Bbox) -> float:
    width = min(a.x1, b.x1) - max(a.x0, b.x0)
    height = min(a.y1, b.y1) - max(a.y0, b.y0)
    return max(width, 0.0) * max(height, 0.0)


def _outside_area(box: Bbox, frame: Bbox) -> float:
    return box.width * box.height - _overlap_area(box, frame)


def label_points(
    ax: Axes, xs: Sequence[float], ys: Sequence[float], labels: Sequence[str], *, fontsize: float = 7,
    avoid: Sequence[Bbox] = (),
) -> list[Annotation]:  # fmt: skip
    """Write each label next to its point where it overlaps no other label, no other point and
    nothing in ``avoid`` (display boxes, e.g. the legend), and stays inside the axes.

    Labels are placed in the given order, each at the first free offset of ``LABEL_DIRECTIONS`` x
    ``LABEL_DISTANCES`` (near the point first, further out with a leader line); when none is free,
    at the one overlapping least. The boxes are the rendered text extents, so call this once the
    layout is final (after ``tight_layout``); the result is deterministic."""
    renderer = ax.figure.canvas.get_renderer()
    ax.get_xlim(), ax.get_ylim()  # settle autoscaling before data are mapped to pixels
    frame = ax.get_window_extent(renderer)
    points = ax.transData.transform(np.column_stack([np.asarray(xs, float), np.asarray(ys, float)]))
    half = _MARKER_HALF_WIDTH
    markers = [Bbox.from_extents(px - half, py - half, px + half, py + half) for px, py in points]
    placed: list[Bbox] = []
    annotations = []
    for i, (x, y, label) in enumerate(zip(xs, ys, labels, strict=True)):
        obstacles = placed + list(avoid) + markers[:i] + markers[i + 1 :]
        probe = ax.annotate(label, (x, y), fontsize=fontsize, xytext=(0, 0), textcoords="offset points")
        best = None
        for distance in LABEL_DISTANCES:
            for ux, uy in LABEL_DIRECTIONS:
                offset = (ux * distance, uy * distance)
                probe.set_position(offset)
                probe.set_ha(_HA[ux])
                probe.set_va(_VA[uy])
                probe.update_positions(renderer)
                box = Text.get_window_extent(probe, renderer)
                cost = sum(_overlap_area(box, other) for other in obstacles) + _outside_area(box, frame)
                if best is None or cost < best[0]:
                    best = (cost, offset, ux, uy, distance, box)
                if cost == 0:
                    break
            if best[0] == 0:
                break
        probe.remove()
        _, offset, ux, uy, distance, box = best
        leader = None if distance == LABEL_DISTANCES[0] else {"arrowstyle": "-", "color": "0.55", "lw": 0.6,
                                                              "shrinkA": 1, "shrinkB": 2}  # fmt: skip
        annotations.append(ax.annotate(label, (x, y), fontsize=fontsize, xytext=offset, textcoords="offset points",
                                       ha=_HA[ux], va=_VA[uy], arrowprops=leader))  # fmt: skip
        placed.append(box)
    return annotations


def point_labels(methods: Sequence[str], inputs: Sequence[str]) -> tuple[list[str], str]:
    """A label per published point and the input size most rows share: a row at that size is
    named by its method alone (the legend says the size once), any other gets its size."""
    common = pd.Series(list(inputs)).mode()
    common = str(common.iloc[0]) if len(common) else ""
    labels = [m if str(size) == common else f"{m} {size}" for m, size in zip(methods, inputs, strict=True)]
    return labels, common


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
    fig, axes = plt.subplots(1, panels, figsize=(6.2 * panels, 4.2), squeeze=False,
                             width_ratios=(3, 2) if panels == 2 else None)  # fmt: skip
    ax = axes[0, 0]
    x = published["paper GFLOPs"].fillna(published["ours GFLOPs (paper convention)"])
    shown = x.notna()
    untrained_start = published.get("pretrain", pd.Series("", index=published.index)).eq("none")
    methods = published["method"].mask(untrained_start, published["method"] + " (no pretrain)")
    labels, common = point_labels(methods[shown], published["input"][shown])
    ax.scatter(x, published[f"paper {metric}"], marker="o", color="tab:blue", label="published")
    on_same = ours[ours["ours data"].isin(same_data)]
    if len(on_same):
        ax.scatter(on_same["ours GFLOPs (paper convention)"], on_same[f"ours {metric}"], marker="x", s=60,
                   color="tab:red", label="ours (" + "; ".join(same_data) + ")")  # fmt: skip
    ax.set_xlabel("GFLOPs (papers' convention)")
    ax.set_ylabel(metric)
    ax.set_title(title or metric, fontsize=10)
    ax.legend(fontsize=7, loc="lower right", title=f"input {common} unless named" if common else None,
              title_fontsize=7)  # fmt: skip
    if other_data:
        ax2 = axes[0, 1]
        synth = ours[ours["ours data"].isin(other_data)]
        _measured_panel(ax2, synth, metric, other_data)
    fig.tight_layout()
    # labels last: their placement is measured in the final layout's pixels
    label_points(ax, x[shown], published[f"paper {metric}"][shown], labels,
                 avoid=[ax.get_legend().get_window_extent()])  # fmt: skip
    if other_data:
        label_points(ax2, synth["ours GFLOPs (paper convention)"], synth[f"ours {metric}"],
                     [f"{m} ({origin})" for m, origin in zip(synth["model"], synth["ours origin"], strict=True)])  # fmt: skip
    return fig


def _measured_panel(ax: Axes, synth: pd.DataFrame, metric: str, data: Sequence[str]) -> None:
    """Our points on the synthetic data. Both axes start at 0 (and the metric ends at 100): left to
    autoscale, one point sits alone on an axis a few thousandths of a GFLOP wide."""
    x = synth["ours GFLOPs (paper convention)"].astype(float)
    ax.scatter(x, synth[f"ours {metric}"], marker="x", s=60, color="tab:red")
    ax.set_xlim(0, float(x.max()) * 1.6 if len(x) and x.max() > 0 else 1)
    ax.set_ylim(0, 100)
    ax.set_xlabel("GFLOPs (papers' convention) at the model's input size")
    ax.set_ylabel(f"{metric} on the built-in synthetic data")
    ax.set_title("ours: " + "\n".join(textwrap.wrap("; ".join(data), 60)), fontsize=8)


def plot_ablation(
    per_seed: pd.DataFrame, table: pd.DataFrame, *, metric: str = "PCKh@0.5", paper_gain: float | None = None
):
    """Left: each seed's score per row (points, lines join a seed across rows) with the row mean.
    Right: each row's paired difference to the baseline with its 95% interval, and the paper's gain."""
    order = list(table["row"])
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    pos = {row: i for i, row in enumerate(order)}
    for seed, group in per_seed.groupby("seed"):
        group = group.assign(x=group["row"].map(pos)).sort_values("x")
        ax.plot(group["x"], group[metric], "o-", alpha=0.6, label=f"seed {seed}")
    ax.scatter(
        range(len(order)), table[f"{metric} mean"], marker="_", s=600, color="black", label="mean", zorder=3
    )
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
        ax2.axhline(
            paper_gain,
            color="tab:green",
            ls="--",
            lw=1,
            label=f"paper: MfvPose +{paper_gain:.2f} over TokenPose-L/D6",
        )
    ax2.set_ylabel(f"difference to the baseline ({metric})")
    ax2.set_title("against the baseline")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    return fig
