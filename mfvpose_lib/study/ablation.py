"""The paper's Table 4 on the MPII layout: TokenPose, + HRFOV, + LSW, + HRFOV + LSW, with seeds.

Every row is the profile's MPII MfvPose model with the additions switched off through
``model_overrides``, trained with the profile's MPII recipe. Seeds are paired: seed ``s`` gives
all four rows the same data order and, wherever their architectures agree, the same initial
weights (the full model is built with every generator seeded by ``s`` and the other rows start from its
fitting tensors, ``TrainConfig.init_from``). Seed 0 of the full row *is* the study's MPII run
(``train_mpii``, notebook 06), so it is never trained twice.

Each cell is scored on its final weights (no selection on the split it is scored on), with the
family's test settings and the flip test; :func:`ablation_table` turns the cells into Table 4.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from mfvpose_lib.engine.checkpointing import LAST_NAME
from mfvpose_lib.engine.run_state import isolated_run_state
from mfvpose_lib.engine.train import build_model_for_run
from mfvpose_lib.engine.train_config import TrainConfig
from mfvpose_lib.engine.weight_average import EMA_NAME
from mfvpose_lib.study import significance
from mfvpose_lib.study.runs import (
    config_from_profile,
    ensure_run,
    run_dir_for,
    run_pretrained,
    run_state,
)

METRIC = "PCKh@0.5"  # Table 4's statistic, as the paper's
#: A finer statistic on the same predictions, beside PCKh@0.5 (never instead): the mean distance to the
#: label in percent of PCKh's head size (``evaluation.mpii.mean_normalised_error``), lower is better. At
#: small inputs PCKh's tolerance is under one heatmap pixel, so the hit rate flips on tiny shifts.
FINE_METRIC = "MNE"
#: How each statistic's differences are worded in the verdicts and the power statement.
METRIC_UNITS = {METRIC: "PCKh", "PCKh@0.1": "PCKh@0.1", FINE_METRIC: "mean normalised error"}
LOWER_IS_BETTER = frozenset({FINE_METRIC})
PAPER_GAIN = 0.41  # the only ablation number the paper's text gives: MfvPose over TokenPose-L/D6
#: Table 4 rows with LSW, each with the same row without it (paired by seed).
LSW_PAIRS = (("lsw", "baseline"), ("hrfov_lsw", "hrfov"))


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
    # the full model's run of this seed, whose initial weights every row starts from
    full_config: TrainConfig

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
    profile, data_root: str | Path, run_dir: str | Path, *, seeds: int | None = None,
    rows: Iterable[AblationRow] = ABLATION_ROWS, **overrides,
) -> list[AblationCell]:  # fmt: skip
    """Every (row, seed) run of the ablation (``rows``: all four by default), seed-major, with its
    full training config. ``overrides`` replace the profile's MPII recipe for every row; their
    ``model_overrides`` are merged with the profile's and then with each row's switches."""
    overrides.setdefault("pretrained", run_pretrained(run_dir))
    n_seeds = profile.ablation_seeds if seeds is None else seeds
    shared = {**profile.for_dataset("mpii").model_overrides, **overrides.pop("model_overrides", {})}
    cells = []
    for seed in range(n_seeds):
        full = config_from_profile(profile, "mpii", data_root, run_dir_for(run_dir, "mpii"), seed=seed,
                                   model_overrides=shared, **overrides)  # fmt: skip
        if seed > 0:
            full = replace(full, out_dir=str(ablation_dir(run_dir) / f"{FULL_ROW.key}_seed{seed}"))
        for row in rows:
            config = full if row is FULL_ROW else replace(
                full, out_dir=str(ablation_dir(run_dir) / f"{row.key}_seed{seed}"),
                model_overrides={**shared, **row.model_overrides()},
                init_from=str(initial_weights_path(run_dir, seed)),
            )  # fmt: skip
            cells.append(AblationCell(row, seed, config, full))
    return cells


def write_initial_weights(cells: Iterable[AblationCell], run_dir: str | Path) -> list[Path]:
    """The full model of each seed as it is before training (what seed ``s`` gives every row)."""
    from mfvpose_lib.models.checkpoint import save_model_checkpoint

    written = []
    for seed, full in {cell.seed: cell.full_config for cell in cells}.items():
        path = initial_weights_path(run_dir, seed)
        if not path.is_file():
            with isolated_run_state(seed=full.seed):  # exactly as Trainer.fit seeds before building
                model = build_model_for_run(full)
            save_model_checkpoint(path, model, seed=seed)
        written.append(path)
    return written


def _train_cell(config: TrainConfig, quiet: bool = False) -> str:
    """Train one cell; ``quiet``: its log goes to its ``train.log`` only (side-by-side workers would
    interleave their lines in the notebook)."""
    with contextlib.ExitStack() as stack:
        if quiet:
            stack.enter_context(contextlib.redirect_stdout(stack.enter_context(open(os.devnull, "w"))))
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
            futures = {pool.submit(_train_cell, c.config, True): c for c in pending}
            for future, cell in futures.items():
                future.result()
                log(f"  done: {cell.row.label}, seed {cell.seed} (log: {cell.out_dir / 'train.log'})")
    return cells


#: Each cell's score, written beside its checkpoint and reused while checkpoint and labels are unchanged.
SCORE_NAME = "score.json"
#: The weights a cell can be scored on: the final ones, or the run's average (``ema_decay`` runs).
WEIGHTS = {"final": (LAST_NAME, SCORE_NAME), "ema": (EMA_NAME, "score_ema.json")}
#: Raised whenever a score gains a statistic, so that older records are scored again.
SCORE_FORMAT = 3
SCORE_COLUMNS = ("row", "key", "seed", "weights", METRIC, "PCKh@0.1", FINE_METRIC, "eval_se", f"eval_se {FINE_METRIC}",
                 "val_people", "epochs", "checkpoint")  # fmt: skip


def metric_unit(metric: str) -> str:
    return METRIC_UNITS.get(metric, metric)


def higher_is_better(metric: str) -> bool:
    return metric not in LOWER_IS_BETTER


def eval_se_column(metric: str) -> str:
    """The per-seed column holding ``metric``'s bootstrap evaluation error (PCKh@0.5's is ``eval_se``)."""
    return "eval_se" if metric == METRIC else f"eval_se {metric}"


def scored_checkpoint(cell: AblationCell, weights: str = "final") -> Path:
    """The checkpoint of ``cell`` that :func:`evaluate_cells` scores for ``weights``."""
    if weights not in WEIGHTS:
        raise ValueError(f"weights must be one of {', '.join(WEIGHTS)}, not {weights!r}")
    return cell.out_dir / WEIGHTS[weights][0]


def evaluate_cells(
    cells: list[AblationCell], data_root: str | Path, *, device: str = "auto", weights: str = "final"
) -> pd.DataFrame:
    """One row per cell: PCKh@0.5 / @0.1 and the mean normalised error (:data:`FINE_METRIC`) of its
    ``weights`` (:data:`WEIGHTS`: ``final`` or the run's ``ema``; flip test, the family's codec), all
    from one set of predictions, and the bootstrap standard errors of PCKh@0.5 (``eval_se``) and of
    the fine statistic over the validation people.

    A cell whose checkpoint and validation labels hash as when it was last scored, and whose record
    has this :data:`SCORE_FORMAT` and every one of :data:`SCORE_COLUMNS`, is not scored again
    (``score.json`` beside the checkpoint); anything else is."""
    return pd.DataFrame([_cell_score(cell, data_root, device, weights) for cell in cells])


def _file_sha256(path: str | Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _cached_score(cell: AblationCell, checkpoint_hash: str, weights: str) -> dict | None:
    from mfvpose_lib.io_utils import read_json

    path = cell.out_dir / WEIGHTS[weights][1]
    if not path.is_file():
        return None
    cached = read_json(path)
    gt_file = Path(cached.get("gt_file", ""))
    complete = cached.get("format") == SCORE_FORMAT and set(SCORE_COLUMNS) <= set(cached.get("row", {}))
    fresh = complete and cached.get("checkpoint_sha256") == checkpoint_hash and gt_file.is_file() \
        and cached.get("gt_sha256") == _file_sha256(gt_file)  # fmt: skip
    return cached["row"] if fresh else None


def _cell_score(cell: AblationCell, data_root: str | Path, device: str, weights: str) -> dict:
    from mfvpose_lib.data.mpii import load_mpii_gt_valid
    from mfvpose_lib.engine.evaluate import EvalSettings, evaluate_checkpoint
    from mfvpose_lib.evaluation.mpii import normalised_error_sums, pckh_hits
    from mfvpose_lib.io_utils import atomic_write_json

    checkpoint, score_name = scored_checkpoint(cell, weights), WEIGHTS[weights][1]
    if not checkpoint.is_file():
        raise FileNotFoundError(f"{checkpoint}: no {weights} weights to score"
                                + (" (the run kept no weight average: ema_decay)" if weights == "ema" else ""))
    checkpoint_hash = _file_sha256(checkpoint)
    cached = _cached_score(cell, checkpoint_hash, weights)
    if cached is not None:
        return cached
    result = evaluate_checkpoint(checkpoint, data_root, EvalSettings(dataset="mpii", flip=True),
                                 device=device, progress=False)  # fmt: skip
    gt_file = result.settings["gt_file"]
    gt = load_mpii_gt_valid(gt_file)
    correct, counted = pckh_hits(result.predictions.coords, gt, 0.5)
    error_sums, _ = normalised_error_sums(result.predictions.coords, gt)  # the same people and joints
    row = {
        "row": cell.row.label, "key": cell.row.key, "seed": cell.seed, "weights": weights,
        METRIC: result.metrics["PCKh@0.5"]["Mean"], "PCKh@0.1": result.metrics["PCKh@0.1"]["Mean"],
        FINE_METRIC: float(100.0 * error_sums.sum() / max(counted.sum(), 1)),
        "eval_se": significance.bootstrap_standard_error(correct, counted, seed=cell.seed),
        # the bootstrap of a pooled ratio: error sums in place of hits give the fine statistic's
        eval_se_column(FINE_METRIC): significance.bootstrap_standard_error(error_sums, counted, seed=cell.seed),
        "val_people": int(len(counted)), "epochs": cell.config.epochs,
        "checkpoint": str(checkpoint),
    }  # fmt: skip
    atomic_write_json({"format": SCORE_FORMAT, "checkpoint_sha256": checkpoint_hash,
                       "gt_file": str(Path(gt_file).resolve()),
                       "gt_sha256": _file_sha256(gt_file), "row": row}, cell.out_dir / score_name)  # fmt: skip
    return row


def _table_entry(row: AblationRow, mine: pd.DataFrame, base: pd.DataFrame, metric: str, published: pd.DataFrame):
    """One row of Table 4 and the spread of its per-seed differences to the baseline (NaN for the baseline)."""
    entry = {
        "row": row.label, "HRFOV": "Y" if row.hrfov else "N", "LSW": "Y" if row.lsw else "N",
        "seeds": len(mine), f"{metric} mean": mine[metric].mean(),
        f"{metric} std": mine[metric].std(ddof=1) if len(mine) > 1 else float("nan"),
        "per seed": ", ".join(f"{v:.2f}" for v in mine[metric]),
    }  # fmt: skip
    diff_sd = float("nan")
    if row is not ABLATION_ROWS[0]:
        paired = mine.merge(base, on="seed", suffixes=("", "_base"))
        pair = significance.paired_difference(paired[metric].to_numpy(), paired[f"{metric}_base"].to_numpy())
        welch = significance.welch_difference(mine[metric].to_numpy(), base[metric].to_numpy())
        diff = paired[metric] - paired[f"{metric}_base"]
        if len(diff) > 1:
            diff_sd = float(diff.std(ddof=1))
        entry.update({
            "diff to baseline": pair.estimate, "95% CI low (paired)": pair.low, "95% CI high (paired)": pair.high,
            "p (paired t)": pair.p_value, "95% CI low (Welch)": welch.low, "95% CI high (Welch)": welch.high,
            "verdict": significance.verdict(row.label, pair, metric_unit(metric), len(paired),
                                            higher_is_better=higher_is_better(metric)),
        })  # fmt: skip
    else:
        entry["verdict"] = f"{row.label}: the reference row."
    # the paper reports PCKh@0.5 only: its numbers stand beside that statistic alone
    paper = published.loc[row.paper_row] if row.paper_row in published.index else None
    known = paper is not None and metric == METRIC and pd.notna(paper["mean"])
    entry["paper mean"] = float(paper["mean"]) if known else float("nan")
    entry["paper status"] = paper["status"] if paper is not None else "not in the paper"
    return entry, diff_sd


def table_at_a_glance(table: pd.DataFrame, *, metric: str = METRIC) -> pd.DataFrame:
    """The columns of :func:`ablation_table` a reader compares (row, seeds, mean ± std, the paired
    difference with its interval and p, the paper's mean); the per-seed values, the verdict
    sentences and Welch's interval stay in the written table and are shown elsewhere."""
    wanted = ["row", "seeds", f"{metric} mean", f"{metric} std", "diff to baseline", "95% CI low (paired)",
              "95% CI high (paired)", "p (paired t)", "paper mean"]  # fmt: skip
    return table[[c for c in wanted if c in table.columns]]


def ablation_table(per_seed: pd.DataFrame, *, metric: str = METRIC) -> tuple[pd.DataFrame, dict]:
    """Table 4 from per-seed scores: mean ± std per row, the paired difference to the baseline
    with its 95% interval (and Welch's), a computed sentence per row, and the design's power.

    ``metric`` is any per-seed statistic (PCKh@0.5 by default, the paper's; :data:`FINE_METRIC` is
    worded as lower-is-better). Returns the table and a summary dict (seed noise, evaluation noise,
    minimum detectable difference, the paper's +0.41 PCKh@0.5 beside our full-row gain)."""
    from mfvpose_lib.reference import load_reference

    published = load_reference("ablation_mpii").set_index("row")
    base = per_seed[per_seed["key"] == ABLATION_ROWS[0].key].sort_values("seed")
    rows, diff_sds = [], []
    for row in ABLATION_ROWS:
        mine = per_seed[per_seed["key"] == row.key].sort_values("seed")
        if mine.empty:
            continue
        entry, diff_sd = _table_entry(row, mine, base, metric, published)
        rows.append(entry)
        if np.isfinite(diff_sd):
            diff_sds.append(diff_sd)
    table = pd.DataFrame(rows)
    return table, _table_summary(per_seed, table, metric, int(base["seed"].nunique()), diff_sds)


def _table_summary(per_seed: pd.DataFrame, table: pd.DataFrame, metric: str, n: int, diff_sds: list[float]) -> dict:
    seed_sd = float(np.nanmean([per_seed[per_seed["key"] == r.key][metric].std(ddof=1) for r in ABLATION_ROWS])) \
        if n > 1 else float("nan")  # fmt: skip
    diff_sd = float(np.mean(diff_sds)) if diff_sds else float("nan")
    se_column = eval_se_column(metric)
    full = table[table["row"] == FULL_ROW.label]
    return {
        "metric": metric, "unit": metric_unit(metric), "higher_is_better": higher_is_better(metric),
        "seeds": n, "val_people": int(per_seed["val_people"].iloc[0]) if len(per_seed) else 0,
        "seed_std": seed_sd, "paired_diff_std": diff_sd,
        "eval_se": float(per_seed[se_column].mean()) if se_column in per_seed else float("nan"),
        "minimum_detectable_difference": significance.minimum_detectable_difference(diff_sd, n),
        "paper_gain": PAPER_GAIN if metric == METRIC else float("nan"),  # the paper's gain is in PCKh@0.5
        "our_gain": float(full["diff to baseline"].iloc[0]) if len(full) and "diff to baseline" in full else float("nan"),
    }  # fmt: skip


def power_statement(summary: dict) -> str:
    """The design's sensitivity in one computed sentence."""
    mdd, unit = summary["minimum_detectable_difference"], summary.get("unit", "PCKh")
    if not np.isfinite(mdd):
        return f"With {summary['seeds']} seed(s) per row no interval or power can be computed."
    evaluation = (f" (evaluation noise {summary['eval_se']:.2f} {unit}, bootstrap)"
                  if np.isfinite(summary["eval_se"]) else "")  # fmt: skip
    paper = (f"the paper's gain is +{summary['paper_gain']:.2f}, ours {summary['our_gain']:+.2f}"
             if np.isfinite(summary["paper_gain"]) else f"our full-row difference is {summary['our_gain']:+.2f}")
    direction = "" if summary.get("higher_is_better", True) else f" ({unit}: lower is better)"
    return (
        f"With {summary['seeds']} paired seeds per row, a spread of {summary['paired_diff_std']:.2f} {unit} in the "
        f"per-seed differences and {summary['val_people']} validation people{evaluation}, this design detects a "
        f"true difference of {mdd:.2f} {unit} with 80% power at the 5% level; {paper}{direction}."
    )


def learned_layer_scales(cells: list[AblationCell]) -> pd.DataFrame:
    """Learned LayerScale weights λ of the LSW rows' final weights (for the visual analysis): the
    rows of :func:`~mfvpose_lib.analysis.layerscale.layer_scale_table` with the ablation row and seed."""
    from mfvpose_lib.analysis.layerscale import layer_scale_table
    from mfvpose_lib.models.factory import load_model

    frames = []
    for cell in cells:
        if not cell.row.lsw:
            continue
        table = layer_scale_table(load_model(cell.out_dir / LAST_NAME))
        frames.append(table.assign(row=cell.row.label, seed=cell.seed))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
