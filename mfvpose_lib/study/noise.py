"""How much seed noise each statistic of Table 4 carries, and how many paired seeds it would need.

PCKh@0.5 is a thresholded hit rate; at small inputs its tolerance is under one heatmap pixel, so
tiny shifts flip joints across it and the seeds of one row scatter. A finer statistic measured on
the same predictions (:data:`~mfvpose_lib.study.ablation.FINE_METRIC`, the mean normalised error)
may scatter less. :func:`noise_table` puts the statistics side by side on one scale: each one's
minimum detectable difference in units of the baseline row's seed spread, and the seeds it needs
for the same standardised target.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from mfvpose_lib.study import significance
from mfvpose_lib.study.ablation import (
    ABLATION_ROWS,
    FINE_METRIC,
    METRIC,
    ablation_table,
    higher_is_better,
    metric_unit,
)

#: The PCKh@0.5 difference the seed counts are sized for: several times the paper's +0.41, about
#: the size of a real architectural change.
PCKH_TARGET = 2.0
#: :func:`seeds_needed` stops searching here and answers ``inf`` ("more than this").
SEEDS_CAP = 1000
STATISTICS = (METRIC, "PCKh@0.1", FINE_METRIC)


def seeds_needed(diff_std: float, target: float, power: float = 0.8, alpha: float = 0.05, *,
                 cap: int = SEEDS_CAP) -> float:  # fmt: skip
    """Fewest paired seeds n (at least 2) with which a two-sided paired t-test at level ``alpha``
    detects a true mean difference ``target`` with probability ``power``, when the per-seed
    differences spread by ``diff_std``: n is raised one at a time until the non-central t power
    (:func:`significance.paired_t_power`) reaches ``power``.

    Returns ``math.inf`` when even ``cap`` seeds fall short (read: more than ``cap``), NaN when the
    spread is unknown."""
    if not (np.isfinite(diff_std) and np.isfinite(target)):
        return float("nan")
    if target <= 0 or diff_std < 0:
        raise ValueError(f"seeds_needed wants a positive target and a spread ≥ 0, not {target}, {diff_std}")
    if diff_std == 0:
        return 2  # no spread at all: the fewest pairs a t-test runs on
    for n in range(2, cap + 1):
        if significance.paired_t_power(target, diff_std, n, alpha) >= power:
            return n
    return math.inf


def _baseline_std(per_seed: pd.DataFrame, statistic: str) -> float:
    values = per_seed.loc[per_seed["key"] == ABLATION_ROWS[0].key, statistic]
    return float(values.std(ddof=1)) if len(values) > 1 else float("nan")


def noise_table(per_seed: pd.DataFrame, *, target: float = PCKH_TARGET, statistics=None) -> pd.DataFrame:
    """One row per statistic of the per-seed frame (as ``ablation.evaluate_cells`` returns it):
    seeds, mean seed std over the rows, the baseline's seed std, the spread of the per-seed paired
    differences to the baseline, the mean bootstrap evaluation error (where the frame has one), the
    minimum detectable difference (80% power, 5% level) at this many seeds, that difference in
    baseline seed stds ("detectable effect size"), and the paired seeds a target difference needs.

    The paired-difference spread is pooled as Table 4's summary pools it (the mean of the
    non-baseline rows' stds, :func:`ablation.ablation_table`), so PCKh@0.5's minimum detectable
    difference here is the one Table 4's power statement gives.

    The target is ``target`` PCKh for PCKh@0.5. Any other statistic gets the same *standardised*
    effect: ``target / (baseline seed std of PCKh@0.5) × (baseline seed std of the statistic)``, i.e.
    a change that moves each statistic by the same number of baseline seed stds. So the seeds needed
    compare the statistics' paired noise relative to their own between-seed spread, whatever their
    scales; the baseline std comes from the same few seeds, so the conversion is itself uncertain."""
    statistics = [s for s in (statistics or STATISTICS) if s in per_seed.columns]
    reference_std = _baseline_std(per_seed, METRIC) if METRIC in per_seed.columns else float("nan")
    rows = []
    for statistic in statistics:
        _, summary = ablation_table(per_seed, metric=statistic)
        base_std = _baseline_std(per_seed, statistic)
        own_target = target if statistic == METRIC else target / reference_std * base_std
        mdd = summary["minimum_detectable_difference"]
        rows.append({
            "statistic": statistic, "unit": metric_unit(statistic), "higher is better": higher_is_better(statistic),
            "seeds": summary["seeds"], "seed std (mean over rows)": summary["seed_std"],
            "baseline seed std": base_std, "paired diff std": summary["paired_diff_std"],
            "eval se": summary["eval_se"], "minimum detectable difference": mdd,
            "detectable effect size": mdd / base_std if base_std > 0 else float("nan"),
            "target": own_target, "target effect size": own_target / base_std if base_std > 0 else float("nan"),
            # a statistic that did not move across the baseline's seeds gets no standardised target
            "seeds needed": seeds_needed(summary["paired_diff_std"], own_target) if own_target != 0 else float("nan"),
        })  # fmt: skip
    return pd.DataFrame(rows)


def noise_statements(table: pd.DataFrame) -> list[str]:
    """One computed sentence per statistic of :func:`noise_table`."""
    sentences = []
    for _, row in table.iterrows():
        needed = row["seeds needed"]
        seeds = f"more than {SEEDS_CAP} (the search stops there)" if needed == math.inf else f"{needed:g}"
        better = "" if row["higher is better"] else " (lower is better)"
        sentences.append(
            f"{row['statistic']}{better}: with {row['seeds']} paired seeds this design detects "
            f"{row['minimum detectable difference']:.2f} {row['unit']} ({row['detectable effect size']:.2f} baseline "
            f"seed stds); a difference of {row['target']:.2f} {row['unit']} needs {seeds} paired seeds."
        )
    return sentences
