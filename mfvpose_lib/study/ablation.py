"""The paper's Table 4 on the MPII layout: TokenPose, + HRFOV, + LSW, + HRFOV + LSW, with seeds.

Every row is the profile's MPII MfvPose model with the additions switched off through
``model_overrides``, trained with the profile's MPII recipe. Seeds are paired: seed ``s`` gives
all four rows the same data order and, wherever their architectures agree, the same initial
weights (the full model is built under ``torch.manual_seed(s)`` and the other rows start from its
fitting tensors, ``TrainConfig.init_from``). Seed 0 of the full row *is* the study's MPII run
(``train_mpii``, notebook 06), so it is never trained twice.

Each cell is scored on its final weights (no selection on the split it is scored on), with the
family's test settings and the flip test; :func:`ablation_table` turns the cells into Table 4.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mfvpose_lib.engine.checkpointing import LAST_NAME
from mfvpose_lib.engine.train import build_model_for_run
from mfvpose_lib.engine.train_config import TrainConfig
from mfvpose_lib.study import significance
from mfvpose_lib.study.runs import (
    config_from_profile,
    ensure_run,
    run_dir_for,
    run_pretrained,
    run_state,
)

METRIC = "PCKh@0.5"
PAPER_GAIN = 0.41  # the only ablation number the paper's text gives: MfvPose over TokenPose-L/D6


@dataclass(frozen=True)
class AblationRow:
    key: str
    label: str
    hrfov: bool
    lsw: bool
    paper_row: str | None  # the row of reference_data/ablation_mpii.csv, when the paper has it

    def model_overrides(self) -> dict:
        overrides = {}
        if not self.hrfov:
            overrides["hrfov"] = None
        if not self.lsw:
            overrides["layer_scale_init"] = None
        return overrides


ABLATION_ROWS = (
    AblationRow("baseline", "TokenPose (baseline)", False, False, "TokenPose-L/D6 (baseline)"),
    AblationRow("hrfov", "+HRFOV", True, False, "+HRFOV"),
    AblationRow("lsw", "+LSW", False, True, None),
    AblationRow("hrfov_lsw", "+HRFOV +LSW (MfvPose)", True, True, "+HRFOV +LSW (MfvPose)"),
)
FULL_ROW = ABLATION_ROWS[-1]


@dataclass(frozen=True)
class AblationCell:
    row: AblationRow
    seed: int
    config: TrainConfig

    @property
    def out_dir(self) -> Path:
        return Path(self.config.out_dir)

    @property
    def finished(self) -> bool:
        return run_state(self.config) == "finished"


def ablation_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / "ablation"


def initial_weights_path(run_dir: str | Path, seed: int) -> Path:
    return ablation_dir(run_dir) / f"init_seed{seed}.pt"


def ablation_cells(
    profile, data_root: str | Path, run_dir: str | Path, *, seeds: int | None = None, **overrides
) -> list[AblationCell]:
    """Every (row, seed) run of the ablation, seed-major, with its full training config."""
    overrides.setdefault("pretrained", run_pretrained(run_dir))
    n_seeds = profile.ablation_seeds if seeds is None else seeds
    cells = []
    for seed in range(n_seeds):
        for row in ABLATION_ROWS:
            full_seed0 = row is FULL_ROW and seed == 0
            out_dir = run_dir_for(run_dir, "mpii") if full_seed0 else ablation_dir(run_dir) / f"{row.key}_seed{seed}"
            config = config_from_profile(
                profile, "mpii", data_root, out_dir, seed=seed, model_overrides=row.model_overrides(),
                init_from=None if row is FULL_ROW else str(initial_weights_path(run_dir, seed)), **overrides,
            )  # fmt: skip
            cells.append(AblationCell(row, seed, config))
    return cells


def write_initial_weights(cells: Iterable[AblationCell], run_dir: str | Path) -> list[Path]:
    """The full model of each seed as it is before training (what seed ``s`` gives every row)."""
    from mfvpose_lib.models.checkpoint import save_model_checkpoint

    written = []
    for cell in cells:
        if cell.row is not FULL_ROW:
            continue
        path = initial_weights_path(run_dir, cell.seed)
        if not path.is_file():
            torch.manual_seed(cell.config.seed)  # exactly as Trainer seeds before building
            model = build_model_for_run(cell.config)
            save_model_checkpoint(path, model, seed=cell.seed)
        written.append(path)
    return written


def _train_cell(config: TrainConfig) -> str:
    return str(ensure_run(replace(config, progress=False)))


def run_ablation(
    cells: list[AblationCell], run_dir: str | Path, *, parallel: int = 1, log: Callable[[str], None] = print
) -> list[AblationCell]:
    """Train every unfinished cell (``parallel`` processes side by side), resuming cut runs."""
    write_initial_weights(cells, run_dir)
    pending = [c for c in cells if not c.finished]
    log(f"ablation: {len(cells) - len(pending)} of {len(cells)} runs already trained; training {len(pending)}"
        + (f", {parallel} at a time" if pending and parallel > 1 else ""))  # fmt: skip
    if parallel <= 1 or len(pending) <= 1:
        for cell in pending:
            log(f"  {cell.row.label}, seed {cell.seed} → {cell.out_dir}")
            _train_cell(cell.config)
    elif pending:
        # spawn: a fresh interpreter per worker, whatever threads the notebook kernel holds
        with ProcessPoolExecutor(parallel, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {pool.submit(_train_cell, c.config): c for c in pending}
            for future, cell in futures.items():
                future.result()
                log(f"  done: {cell.row.label}, seed {cell.seed}")
    return cells


def evaluate_cells(cells: list[AblationCell], data_root: str | Path, *, device: str = "auto") -> pd.DataFrame:
    """One row per cell: PCKh@0.5 / @0.1 of its final weights (flip test, the family's codec)
    and the bootstrap standard error of that evaluation over the validation people."""
    from mfvpose_lib.data.mpii import load_mpii_gt_valid
    from mfvpose_lib.engine.evaluate import EvalSettings, evaluate_checkpoint
    from mfvpose_lib.evaluation.mpii import pckh_hits

    rows = []
    for cell in cells:
        checkpoint = cell.out_dir / LAST_NAME
        result = evaluate_checkpoint(checkpoint, data_root, EvalSettings(dataset="mpii", flip=True),
                                     device=device, progress=False)  # fmt: skip
        gt = load_mpii_gt_valid(result.settings["gt_file"])
        correct, counted = pckh_hits(result.predictions.coords, gt, 0.5)
        rows.append({
            "row": cell.row.label, "key": cell.row.key, "seed": cell.seed,
            METRIC: result.metrics["PCKh@0.5"]["Mean"], "PCKh@0.1": result.metrics["PCKh@0.1"]["Mean"],
            "eval_se": significance.bootstrap_standard_error(correct, counted, seed=cell.seed),
            "val_people": int(len(counted)), "epochs": cell.config.epochs,
            "checkpoint": str(checkpoint),
        })  # fmt: skip
    return pd.DataFrame(rows)


def ablation_table(per_seed: pd.DataFrame, *, metric: str = METRIC) -> tuple[pd.DataFrame, dict]:
    """Table 4 from per-seed scores: mean ± std per row, the paired difference to the baseline
    with its 95% interval (and Welch's), a computed sentence per row, and the design's power.

    Returns the table and a summary dict (seed noise, evaluation noise, minimum detectable
    difference, the paper's +0.41 beside our full-row gain)."""
    from mfvpose_lib.reference import load_reference

    published = load_reference("ablation_mpii").set_index("row")
    base = per_seed[per_seed["key"] == ABLATION_ROWS[0].key].sort_values("seed")
    rows, diff_sds = [], []
    for row in ABLATION_ROWS:
        mine = per_seed[per_seed["key"] == row.key].sort_values("seed")
        if mine.empty:
            continue
        paired = mine.merge(base, on="seed", suffixes=("", "_base"))
        entry = {
            "row": row.label, "HRFOV": "Y" if row.hrfov else "N", "LSW": "Y" if row.lsw else "N",
            "seeds": len(mine), f"{metric} mean": mine[metric].mean(),
            f"{metric} std": mine[metric].std(ddof=1) if len(mine) > 1 else float("nan"),
            "per seed": ", ".join(f"{v:.2f}" for v in mine[metric]),
        }  # fmt: skip
        if row is not ABLATION_ROWS[0]:
            pair = significance.paired_difference(paired[metric].to_numpy(), paired[f"{metric}_base"].to_numpy())
            welch = significance.welch_difference(mine[metric].to_numpy(), base[metric].to_numpy())
            diff = paired[metric] - paired[f"{metric}_base"]
            if len(diff) > 1:
                diff_sds.append(float(diff.std(ddof=1)))
            entry.update({
                "diff to baseline": pair.estimate, "95% CI low (paired)": pair.low, "95% CI high (paired)": pair.high,
                "p (paired t)": pair.p_value, "95% CI low (Welch)": welch.low, "95% CI high (Welch)": welch.high,
                "verdict": significance.verdict(row.label, pair, "PCKh", len(paired)),
            })  # fmt: skip
        else:
            entry["verdict"] = f"{row.label}: the reference row."
        paper = published.loc[row.paper_row] if row.paper_row in published.index else None
        entry["paper mean"] = float(paper["mean"]) if paper is not None and pd.notna(paper["mean"]) else float("nan")
        entry["paper status"] = paper["status"] if paper is not None else "not in the paper"
        rows.append(entry)
    table = pd.DataFrame(rows)
    n = int(base["seed"].nunique())
    seed_sd = float(np.nanmean([per_seed[per_seed["key"] == r.key][metric].std(ddof=1) for r in ABLATION_ROWS])) \
        if n > 1 else float("nan")  # fmt: skip
    diff_sd = float(np.mean(diff_sds)) if diff_sds else float("nan")
    full = table[table["row"] == FULL_ROW.label]
    summary = {
        "metric": metric, "seeds": n, "val_people": int(per_seed["val_people"].iloc[0]) if len(per_seed) else 0,
        "seed_std": seed_sd, "paired_diff_std": diff_sd, "eval_se": float(per_seed["eval_se"].mean()),
        "minimum_detectable_difference": significance.minimum_detectable_difference(diff_sd, n),
        "paper_gain": PAPER_GAIN,
        "our_gain": float(full["diff to baseline"].iloc[0]) if len(full) and "diff to baseline" in full else float("nan"),
    }  # fmt: skip
    return table, summary


def power_statement(summary: dict) -> str:
    """The design's sensitivity in one computed sentence."""
    mdd = summary["minimum_detectable_difference"]
    if not np.isfinite(mdd):
        return f"With {summary['seeds']} seed(s) per row no interval or power can be computed."
    return (
        f"With {summary['seeds']} paired seeds per row, a spread of {summary['paired_diff_std']:.2f} PCKh in the "
        f"per-seed differences and {summary['val_people']} validation people (evaluation noise "
        f"{summary['eval_se']:.2f} PCKh, bootstrap), this design detects a true difference of "
        f"{mdd:.2f} PCKh with 80% power at the 5% level; the paper's gain is +{summary['paper_gain']:.2f}, "
        f"ours {summary['our_gain']:+.2f}."
    )


def layer_scale_magnitudes(cells: list[AblationCell]) -> pd.DataFrame:
    """Learned LayerScale weights λ of the LSW rows' final weights (for the visual analysis)."""
    from mfvpose_lib.analysis.layerscale import layer_scale_table
    from mfvpose_lib.models.factory import load_model

    frames = []
    for cell in cells:
        if not cell.row.lsw:
            continue
        table = layer_scale_table(load_model(cell.out_dir / LAST_NAME))
        frames.append(table.assign(row=cell.row.label, seed=cell.seed))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
