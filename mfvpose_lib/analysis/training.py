"""A training run's validation metric against the wall time it took to get there.

Two runs with different batch, thread or loader settings are compared fairly only at equal
wall time: a faster step buys more epochs, a larger batch fewer updates per epoch.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd


def metric_against_wall_time(history: pd.DataFrame | list[dict], metric: str) -> pd.DataFrame:
    """One row per evaluated epoch of a run's ``metrics.csv``: ``epoch``, ``wall_s`` (training
    plus validation seconds summed up to and including that epoch), ``samples_per_s`` (the
    epoch's training throughput) and ``metric``."""
    frame = pd.DataFrame(history)
    missing = {"epoch", "train_seconds", metric} - set(frame.columns)
    if missing:
        raise KeyError(f"the run's history lacks {', '.join(sorted(missing))} (columns: {', '.join(frame.columns)})")
    spent = frame["train_seconds"].fillna(0.0) + frame.get("val_seconds", pd.Series(0.0, index=frame.index)).fillna(0.0)
    frame = frame.assign(wall_s=spent.cumsum())
    evaluated = frame[frame[metric].notna()]
    return evaluated[["epoch", "wall_s", "samples_per_s", metric]].reset_index(drop=True)


def compare_runs(histories: Mapping[str, pd.DataFrame | list[dict]], metric: str) -> pd.DataFrame:
    """Per run: median epoch samples/s, wall time to its last evaluation, its best ``metric``
    and its best ``metric`` within the wall time of the shortest run (the fair comparison)."""
    curves = {label: metric_against_wall_time(h, metric) for label, h in histories.items()}
    if any(curve.empty for curve in curves.values()):
        raise ValueError(f"every run needs at least one evaluated epoch with {metric}")
    budget = min(float(curve["wall_s"].iloc[-1]) for curve in curves.values())
    rows = []
    for label, curve in curves.items():
        within = curve.loc[curve["wall_s"] <= budget + 1e-9, metric]
        rows.append({
            "run": label,
            "samples/s (median epoch)": float(pd.DataFrame(histories[label])["samples_per_s"].median()),
            "wall s": float(curve["wall_s"].iloc[-1]),
            f"best {metric}": float(curve[metric].max()),
            f"best {metric} within {budget:.0f} s": float(within.max()) if len(within) else float("nan"),
        })  # fmt: skip
    return pd.DataFrame(rows)


def read_curves(path: str | Path, metric: str = "AP") -> dict[str, pd.DataFrame]:
    """The curves of a saved comparison (a CSV with ``epoch``, ``wall_s``, ``samples_per_s``,
    ``metric`` and ``run`` columns, as ``figures/bench/cpu-study/`` holds): run label -> its rows,
    in the order the runs appear in the file."""
    frame = pd.read_csv(path)
    missing = {"epoch", "wall_s", "samples_per_s", metric, "run"} - set(frame.columns)
    if missing:
        raise ValueError(f"{path}: not a saved curve comparison, it lacks {', '.join(sorted(missing))}")
    return {label: part.drop(columns="run").reset_index(drop=True)
            for label, part in frame.groupby("run", sort=False)}  # fmt: skip
