"""The suite's results: one CSV row per figure, written, read back and plotted.

``speedup`` is fast/straightforward as a throughput (for a latency in ms: straightforward/fast),
blank for rows that are not speeds (errors, pixel changes, memory).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from mfvpose_lib.io_utils import atomic_write_text

CSV_COLUMNS = ["benchmark", "model", "device", "batch", "straightforward", "fast", "unit", "speedup"]
RATE_UNITS = ("samples/s", "GFLOP/s", "people/s")  # higher is better
TIME_UNITS = ("ms", "hours")  # lower is better


def row(benchmark: str, model: str, device: str, batch: int | None, straightforward: float, fast: float,
        unit: str) -> dict:  # fmt: skip
    """One CSV row; ``speedup`` follows from the unit."""
    speedup = float("nan")
    if unit in RATE_UNITS and straightforward > 0:
        speedup = fast / straightforward
    elif unit in TIME_UNITS and fast > 0:
        speedup = straightforward / fast
    return {"benchmark": benchmark, "model": model, "device": device, "batch": batch,
            "straightforward": float(straightforward), "fast": float(fast), "unit": unit, "speedup": speedup}  # fmt: skip


def write_csv(df: pd.DataFrame, path: str | Path, note: str | None = None) -> Path:
    """The suite's rows as CSV with exactly :data:`CSV_COLUMNS` (atomic). ``note`` (where the
    numbers were measured) goes to a ``<name>.txt`` beside it, so the CSV header stays fixed."""
    missing = [c for c in CSV_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: benchmark rows lack the columns {missing}")
    path = Path(path)
    atomic_write_text(df[CSV_COLUMNS].to_csv(index=False, float_format="%.6g"), path)
    if note is not None:
        env = df.attrs.get("environment", {})
        lines = (
            [note] + [f"{k}: {v}" for k, v in env.items()] + [f"fast path: {df.attrs.get('fast_path', '?')}"]
        )
        atomic_write_text("\n".join(lines) + "\n", path.with_suffix(".txt"))
    return path


def load_results(directory: str | Path) -> pd.DataFrame:
    """Every ``*.csv`` of the suite under ``directory``, with a ``machine`` column (the file stem)."""
    frames = []
    for path in sorted(Path(directory).glob("*.csv")):
        df = pd.read_csv(path)
        if list(df.columns) != CSV_COLUMNS:
            raise ValueError(f"{path}: header is {list(df.columns)}, expected {CSV_COLUMNS}")
        frames.append(df.assign(machine=path.stem))
    if not frames:
        return pd.DataFrame(columns=CSV_COLUMNS + ["machine"])
    return pd.concat(frames, ignore_index=True)


def plot_speedups(df: pd.DataFrame, benchmarks: Sequence[str] = ("inference_latency", "inference_throughput",
                                                                  "train_step")):  # fmt: skip
    """Fast/straightforward per model and batch, one colour per machine (CSV file), one panel per
    benchmark stacked top to bottom; each panel's height follows its number of bars."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    present = [b for b in benchmarks if b in set(df["benchmark"])]
    if not present:
        fig, ax = plt.subplots(figsize=(6, 1.5))
        ax.set_axis_off()
        ax.text(0.5, 0.5, "no speed rows", ha="center", va="center")
        return fig
    data = df[df["benchmark"].isin(present)].assign(
        case=lambda d: d["model"] + " b" + d["batch"].astype("Int64").astype("string").fillna("-")
    )
    machines = list(dict.fromkeys(data["machine"]))
    palette = dict(zip(machines, sns.color_palette("tab10", len(machines)), strict=True))
    bars = [len(data.loc[data["benchmark"] == b]) for b in present]  # panel heights: one per bar
    fig, axes = plt.subplots(len(present), 1, figsize=(9, 1.2 + 0.16 * sum(bars) + 0.6 * len(present)),
                             gridspec_kw={"height_ratios": bars}, sharex=True, squeeze=False)  # fmt: skip
    for ax, bench in zip(axes[:, 0], present, strict=True):
        part = data[data["benchmark"] == bench]
        sns.barplot(part, x="speedup", y="case", hue="machine", palette=palette, hue_order=machines, ax=ax,
                    orient="h", legend=ax is axes[0, 0])  # fmt: skip
        ax.axvline(1.0, color="k", lw=0.8)
        ax.set_title(bench, fontsize=10)
        ax.set_xlabel("speed-up (fast / straightforward)" if ax is axes[-1, 0] else "")
        ax.set_ylabel("")
        ax.tick_params(axis="y", labelsize=8)
    axes[0, 0].legend(title="machine (figures/bench/*.csv)", fontsize=7, title_fontsize=8,
                      loc="upper left", bbox_to_anchor=(1.01, 1.0))  # fmt: skip
    fig.tight_layout()
    return fig
