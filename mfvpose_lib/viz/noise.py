"""The noise study drawn: how far each lever narrows Table 4's paired spread, and what that costs."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


def _lever_name(row) -> str:
    return f"{row['lever']} ({row['weights']})"


def plot_levers(table: pd.DataFrame, *, budget_hours: float | None = None, target: float = 2.0):
    """Left: the spread of the per-seed paired differences (TokenPose → + LSW) per lever and weights,
    with the spread an unpaired design would face (◆). Right: CPU-minutes per run against the
    CPU-hours of a Table 4 with the seeds a ``target``-PCKh difference needs; ``budget_hours`` is
    drawn as a line. ``table``: :func:`~mfvpose_lib.study.noise_levers.lever_table`."""
    names = [_lever_name(row) for _, row in table.iterrows()]
    y = np.arange(len(table))[::-1]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11.5, 0.5 * len(table) + 2.2))
    colours = ["tab:blue" if w == "final" else "tab:orange" for w in table["weights"]]
    left.barh(y, table["paired diff std"], color=colours, alpha=0.8)
    left.scatter(table["unpaired diff std"], y, marker="D", color="black", s=18, zorder=3, label="unpaired design")
    left.set_yticks(y, names, fontsize=8)
    left.set_xlabel("std of the per-seed differences (PCKh@0.5)")
    left.set_title("paired spread, + LSW against TokenPose\n(blue: final weights, orange: weight average)", fontsize=10)
    left.legend(fontsize=8, loc="lower right")
    left.grid(axis="x", alpha=0.3)
    hours = table["Table 4 CPU-hours at those seeds"].replace(math.inf, np.nan)
    right.scatter(table["CPU-min per run"], hours, c=colours, s=30)
    for name, x, h, seeds in zip(names, table["CPU-min per run"], hours, table["seeds for target"], strict=True):
        if np.isfinite(h):
            right.annotate(f"{name}: {seeds:g} seeds", (x, h), fontsize=7, xytext=(4, 3), textcoords="offset points")
    right.set_xlim(0, 1.45 * float(np.nanmax(table["CPU-min per run"])))
    right.set_ylim(0, 1.15 * float(np.nanmax([hours.max(), budget_hours or 0])))
    if budget_hours is not None:
        right.axhline(budget_hours, color="grey", ls="--", lw=1)
        right.annotate(f"budget: {budget_hours:g} CPU-hours", (0, budget_hours), fontsize=8, color="grey",
                       xytext=(4, 3), textcoords="offset points")  # fmt: skip
    right.set_xlabel("CPU-minutes per run")
    right.set_ylabel(f"CPU-hours of a Table 4 resolving {target:g} PCKh")
    right.set_title("what resolving the target costs (4 rows, paired seeds)", fontsize=10)
    right.grid(alpha=0.3)
    fig.tight_layout()
    return fig
