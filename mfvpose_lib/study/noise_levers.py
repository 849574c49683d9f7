"""Where Table 4's seed noise comes from and what removing it costs: one lever at a time.

Each :class:`Lever` changes one thing of a profile's MPII recipe (schedule length, patch grid,
crop size, weight averaging) and trains the two rows whose paired difference is the noisiest,
TokenPose and + LSW, on the same paired seeds as Table 4 (shared initial weights, data order and
augmentation draws). :func:`lever_table` turns the scored runs into one row per lever and weights:
the spread of each row over seeds, the spread of the paired differences (and what an unpaired
design would face), the minimum detectable difference at these seeds, the seeds a 2.0 PCKh
difference needs and what they cost in CPU-minutes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from mfvpose_lib.study import significance
from mfvpose_lib.study.ablation import (
    ABLATION_ROWS,
    FINE_METRIC,
    METRIC,
    ablation_cells,
    evaluate_cells,
    run_ablation,
)
from mfvpose_lib.study.noise import PCKH_TARGET, seeds_needed

#: The rows each lever trains: the reference row and the one whose difference to it scattered most.
LEVER_ROWS = tuple(row for row in ABLATION_ROWS if row.key in ("baseline", "lsw"))
#: Decay of the weight average the levers keep: a horizon of about 200 steps (1.6 epochs of 125 steps).
LEVER_EMA = 0.995


@dataclass(frozen=True)
class Lever:
    key: str  # folder under ``<run_dir>/noise`` (the profile's own runs for ``settings={}``)
    label: str  # what changes, for tables
    settings: Mapping[str, Any] = field(default_factory=dict)  # TrainConfig values over the MPII recipe

    @property
    def weights(self) -> tuple[str, ...]:
        """The weights each run is scored on: final, and the average where the lever keeps one."""
        return ("final", "ema") if self.settings.get("ema_decay") else ("final",)

    def run_dir(self, study_run_dir: str | Path) -> Path:
        return Path(study_run_dir) if not self.settings else Path(study_run_dir) / "noise" / self.key


LEVERS = (
    Lever("profile", "the profile's own recipe"),
    Lever("epochs16", "16 epochs (lr x0.1 at 12 and 15)",
          {"epochs": 16, "lr_steps": (12, 15), "ema_decay": LEVER_EMA}),
    Lever("grid8", "8x8 patch grid (2x2 patches of the 16x16 map)",
          {"model_overrides": {"patch_size": (2, 2)}, "ema_decay": LEVER_EMA}),
    Lever("cosine", "cosine learning rate to 0 (in place of x0.1 at 6 and 7)",
          {"lr_schedule": "cosine", "ema_decay": LEVER_EMA}),
    Lever("input96", "96x96 crops (24x24 heatmaps, 3x3 patches: an 8x8 grid)",
          {"input_size": (96, 96), "model_overrides": {"patch_size": (3, 3)}, "ema_decay": LEVER_EMA}),
)  # fmt: skip


def get_lever(key: str) -> Lever:
    for lever in LEVERS:
        if lever.key == key:
            return lever
    raise KeyError(f"unknown lever {key!r}; choose one of {', '.join(lever.key for lever in LEVERS)}")


def lever_cells(lever: Lever, profile, data_root: str | Path, run_dir: str | Path, *, seeds: int | None = None):
    """The lever's runs: :data:`LEVER_ROWS` × seeds, the profile's MPII recipe with the lever's settings."""
    return ablation_cells(profile, data_root, lever.run_dir(run_dir), seeds=seeds, rows=LEVER_ROWS,
                          **dict(lever.settings))  # fmt: skip


def run_levers(
    levers, profile, data_root: str | Path, run_dir: str | Path, *, seeds: int | None = None,
    parallel: int = 1, device: str = "auto", log: Callable[[str], None] = print,
) -> pd.DataFrame:  # fmt: skip
    """Train (or reuse) every lever's runs and score them: one row per run and weights, with the
    lever, the statistics of :func:`ablation.evaluate_cells` and the run's CPU-minutes."""
    frames = []
    for lever in levers:
        log(f"lever {lever.key}: {lever.label}")
        cells = run_ablation(lever_cells(lever, profile, data_root, run_dir, seeds=seeds),
                             lever.run_dir(run_dir), parallel=parallel, log=log)  # fmt: skip
        minutes = [run_cpu_minutes(cell.out_dir, cell.config.threads) for cell in cells]
        for weights in lever.weights:
            scores = evaluate_cells(cells, data_root, device=device, weights=weights)
            frames.append(scores.assign(lever=lever.key, label=lever.label, recipe=recipe(cells[0].config),
                                        cpu_minutes=minutes))  # fmt: skip
    return pd.concat(frames, ignore_index=True)


def recipe(config) -> str:
    """A run's schedule, crop and patch grid in a few words, read from what it trained."""
    from mfvpose_lib.models.factory import load_model_checkpoint

    model, _ = load_model_checkpoint(Path(config.out_dir) / "last.pt")
    h, w = model.cfg.input_size
    grid = "x".join(str(g) for g in model.cfg.patch_grid)
    return f"{config.epochs} epochs, {h}x{w} crops, {grid} patch grid"


def run_cpu_minutes(out_dir: str | Path, threads: int | None) -> float:
    """CPU-minutes a finished run took: its epochs' training and validation seconds (``metrics.csv``)
    × its compute threads (all cores of the machine when it did not fix them)."""
    import os

    metrics = pd.read_csv(Path(out_dir) / "metrics.csv")
    seconds = metrics["train_seconds"].sum() + metrics.get("val_seconds", pd.Series(dtype=float)).fillna(0).sum()
    return float(seconds) * (threads or os.cpu_count() or 1) / 60.0


def lever_table(scores: pd.DataFrame, *, target: float = PCKH_TARGET, rows_in_table: int = 4) -> pd.DataFrame:
    """One row per lever and weights: PCKh@0.5 of both rows (mean), their seed stds, the spread of
    the paired differences in PCKh@0.5 and in the mean normalised error, the spread an unpaired
    comparison would have (√(var₁ + var₂)), the minimum detectable difference with these seeds, the
    paired seeds a ``target`` PCKh difference needs, and the CPU cost per run and of a Table 4 of
    ``rows_in_table`` rows at that many seeds."""
    base_key, row_key = (row.key for row in LEVER_ROWS)
    out = []
    for (lever, weights), group in scores.groupby(["lever", "weights"], sort=False):
        wide = group.pivot(index="seed", columns="key", values=[METRIC, FINE_METRIC]).dropna()
        diff = wide[(METRIC, row_key)] - wide[(METRIC, base_key)]
        fine_diff = wide[(FINE_METRIC, row_key)] - wide[(FINE_METRIC, base_key)]
        n = len(diff)
        base_sd, row_sd = (float(wide[(METRIC, k)].std(ddof=1)) for k in (base_key, row_key))
        diff_sd = float(diff.std(ddof=1))
        needed = seeds_needed(diff_sd, target)
        cell_minutes = float(group["cpu_minutes"].mean())
        out.append({
            "lever": lever, "what changes": group["label"].iloc[0], "recipe": group["recipe"].iloc[0],
            "weights": weights, "seeds": n,
            f"{base_key} {METRIC}": float(wide[(METRIC, base_key)].mean()),
            f"{row_key} {METRIC}": float(wide[(METRIC, row_key)].mean()),
            f"{base_key} seed std": base_sd, f"{row_key} seed std": row_sd,
            "paired diff std": diff_sd, "unpaired diff std": math.hypot(base_sd, row_sd),
            f"paired diff std {FINE_METRIC}": float(fine_diff.std(ddof=1)),
            "minimum detectable difference": significance.minimum_detectable_difference(diff_sd, n),
            "seeds for target": needed, "CPU-min per run": cell_minutes,
            "Table 4 CPU-hours at those seeds": rows_in_table * needed * cell_minutes / 60.0,
        })  # fmt: skip
    return pd.DataFrame(out)


def lever_statements(table: pd.DataFrame, *, target: float = PCKH_TARGET) -> list[str]:
    """One computed sentence per row of :func:`lever_table`."""
    sentences = []
    for _, row in table.iterrows():
        needed = row["seeds for target"]
        seeds = "more than the search allows" if needed == math.inf else f"{needed:g} paired seeds"
        sentences.append(
            f"{row['what changes']} ({row['weights']} weights): the paired difference spreads by "
            f"{row['paired diff std']:.2f} PCKh over {row['seeds']} seeds (unpaired: {row['unpaired diff std']:.2f}); "
            f"a {target:.1f}-PCKh difference needs {seeds}, a Table 4 of them "
            f"{row['Table 4 CPU-hours at those seeds']:.1f} CPU-hours ({row['CPU-min per run']:.1f} CPU-min per run)."
        )
    return sentences


#: What :func:`write_lever_report` writes into the figures folder.
LEVER_TABLE_NAME, LEVER_FIGURE_NAME = "table4_noise_levers.csv", "table4_noise_levers.png"
#: The wall-clock budget of a profile for the ablation alone (2 cores): the figure's reference line.
ABLATION_BUDGET_HOURS = 2.0


def write_lever_report(scores: pd.DataFrame, figures_dir: str | Path):
    """The lever table and figure of ``scores`` (:func:`run_levers`) written into ``figures_dir``;
    returns both (the figure left open for a notebook to show)."""
    from mfvpose_lib.io_utils import atomic_write_text
    from mfvpose_lib.viz.figures import save_figure
    from mfvpose_lib.viz.noise import plot_levers

    figures_dir = Path(figures_dir)
    table = lever_table(scores)
    atomic_write_text(table.to_csv(index=False), figures_dir / LEVER_TABLE_NAME)
    # 2 cores: a budget of wall-clock hours is twice as many CPU-hours
    fig = plot_levers(table, budget_hours=2 * ABLATION_BUDGET_HOURS)
    save_figure(fig, figures_dir / LEVER_FIGURE_NAME)
    return table, fig


def spread_ratio(table: pd.DataFrame, lever: str, weights: str = "final", reference: str = "profile") -> float:
    """How many times smaller ``lever``'s paired spread is than the ``reference`` lever's with final
    weights (NaN when either is missing or the lever's spread is 0)."""
    def spread(key: str, w: str) -> float:
        hit = table[(table["lever"] == key) & (table["weights"] == w)]
        return float(hit["paired diff std"].iloc[0]) if len(hit) else float("nan")

    own = spread(lever, weights)
    return spread(reference, "final") / own if own > 0 else float("nan")
