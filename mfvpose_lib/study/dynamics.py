"""Training dynamics of Table 4's rows: the paper says LSW "improves the dynamics of model training".

Read from what every ablation run already writes: ``metrics.csv`` (training loss every epoch, the
validation score every ``eval_every`` epochs) and, for the LSW rows, ``layerscale.csv`` (mean |λ|
per layer and branch after every epoch). Nothing is trained here.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from mfvpose_lib.study.ablation import METRIC, AblationCell

METRICS_FILE = "metrics.csv"
LAYER_SCALE_FILE = "layerscale.csv"


def training_curves(cells: Sequence[AblationCell]) -> pd.DataFrame:
    """One row per cell and epoch: row, key, seed, epoch, train_loss and the validation score
    where that epoch was validated (empty elsewhere)."""
    frames = []
    for cell in cells:
        metrics = pd.read_csv(cell.out_dir / METRICS_FILE)
        score = metrics[METRIC] if METRIC in metrics else float("nan")
        frames.append(pd.DataFrame({"row": cell.row.label, "key": cell.row.key, "seed": cell.seed,
                                    "epoch": metrics["epoch"], "train_loss": metrics["train_loss"], METRIC: score}))  # fmt: skip
    return pd.concat(frames, ignore_index=True)


def layer_scale_curves(cells: Sequence[AblationCell]) -> pd.DataFrame:
    """One row per LSW cell and epoch: mean |λ| over layers and branches, divided by its initial
    value (1.0: λ has not moved)."""
    frames = []
    for cell in cells:
        path = cell.out_dir / LAYER_SCALE_FILE
        if not cell.row.lsw or not path.is_file():
            continue
        scales = pd.read_csv(path)
        ratio = (scales["mean_abs"] / scales["init"]).groupby(scales["epoch"]).mean()
        frames.append(pd.DataFrame({"row": cell.row.label, "key": cell.row.key, "seed": cell.seed,
                                    "epoch": ratio.index, "λ / init": ratio.to_numpy()}))  # fmt: skip
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["row", "key", "seed", "epoch"])


def epochs_to_reach(curves: pd.DataFrame, *, column: str = "train_loss", level: float | None = None) -> pd.DataFrame:
    """Per row and seed, the first epoch at which ``column`` reaches ``level``: at or below it for the
    training loss, at or above it for the validation score (:data:`METRIC`), over the epochs that
    have a value. The default level is the one every run reaches: the highest final loss, or the
    lowest final score, of any run. Empty where a run never does. Columns: row, key, seed, epoch,
    ``level`` and ``column``."""
    higher = column != "train_loss"
    valued = curves.dropna(subset=[column])
    finals = valued.sort_values("epoch").groupby(["key", "seed"])[column].last()
    if level is None:
        level = float(finals.min() if higher else finals.max())
    hit = valued[valued[column] >= level] if higher else valued[valued[column] <= level]
    reached = hit.groupby(["row", "key", "seed"], sort=False)["epoch"].min()
    table = curves[["row", "key", "seed"]].drop_duplicates().merge(reached.reset_index(), how="left")
    return table.assign(level=level, column=column)


def validated_epochs(curves: pd.DataFrame) -> int:
    """How many epochs of the first run carry a validation score."""
    first = curves[(curves["key"] == curves["key"].iloc[0]) & (curves["seed"] == curves["seed"].iloc[0])]
    return int(first[METRIC].notna().sum())


def curve_score(curves: pd.DataFrame, *, min_epochs: int = 3) -> str | None:
    """The validation score to draw as a learning curve (:data:`METRIC`), or None when the runs
    validated on fewer than ``min_epochs`` epochs (a profile that validates twice has no curve)."""
    return METRIC if validated_epochs(curves) >= min_epochs else None
