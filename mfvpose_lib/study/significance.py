"""Is a difference between ablation rows larger than seed noise? Confidence intervals and power.

The rows of the ablation are trained with paired seeds (seed ``s`` gives every row the same data
order and the same initial weights wherever the architectures agree), so the natural test is the
paired t-test on per-seed differences; Welch's t-test, which ignores the pairing, is given beside
it. With three seeds both are blunt instruments, which is why :func:`minimum_detectable_difference`
states, next to the table, the smallest difference the design could have detected.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float
    p_value: float
    method: str

    @property
    def excludes_zero(self) -> bool:
        return bool(self.low > 0 or self.high < 0)


def paired_difference(values: np.ndarray, baseline: np.ndarray, confidence: float = 0.95) -> Interval:
    """Mean of ``values - baseline`` (same seeds, same order) with a t interval; needs ≥ 2 pairs."""
    diff = np.asarray(values, float) - np.asarray(baseline, float)
    n = diff.size
    if n < 2:
        return Interval(float(diff.mean()) if n else float("nan"), float("nan"), float("nan"), float("nan"), "paired t")
    sd = diff.std(ddof=1)
    if sd == 0:  # identical differences on every seed: no spread to test against
        return Interval(float(diff.mean()), float(diff.mean()), float(diff.mean()), 0.0 if diff.mean() else 1.0, "paired t")
    half = stats.t.ppf(0.5 + confidence / 2, n - 1) * sd / np.sqrt(n)
    p = stats.ttest_rel(values, baseline).pvalue
    return Interval(float(diff.mean()), float(diff.mean() - half), float(diff.mean() + half), float(p), "paired t")


def welch_difference(values: np.ndarray, baseline: np.ndarray, confidence: float = 0.95) -> Interval:
    """Difference of means with Welch's t interval (unequal variances, pairing ignored)."""
    a, b = np.asarray(values, float), np.asarray(baseline, float)
    if a.size < 2 or b.size < 2:
        return Interval(float(a.mean() - b.mean()), float("nan"), float("nan"), float("nan"), "Welch t")
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = np.sqrt(va + vb)
    if se == 0:
        d = float(a.mean() - b.mean())
        return Interval(d, d, d, 0.0 if d else 1.0, "Welch t")
    dof = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    half = stats.t.ppf(0.5 + confidence / 2, dof) * se
    p = stats.ttest_ind(a, b, equal_var=False).pvalue
    d = float(a.mean() - b.mean())
    return Interval(d, d - half, d + half, float(p), "Welch t")


def paired_t_power(difference: float, sd: float, n: int, alpha: float = 0.05) -> float:
    """Probability that a two-sided paired t-test at level ``alpha`` on ``n`` pairs whose
    differences spread by ``sd`` rejects when the true mean difference is ``difference`` (non-central t)."""
    dof = n - 1
    crit = stats.t.ppf(1 - alpha / 2, dof)
    nc = difference / (sd / np.sqrt(n))
    # scipy's non-central t gives NaN deep in a tail (few pairs, a huge effect), where the mass is ~0
    tails = np.nan_to_num([stats.nct.sf(crit, dof, nc), stats.nct.cdf(-crit, dof, nc)], nan=0.0)
    return float(tails.sum())


def minimum_detectable_difference(sd: float, n: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest true mean difference a two-sided paired t-test on ``n`` pairs with difference
    spread ``sd`` detects with probability ``power`` at level ``alpha`` (non-central t)."""
    if n < 2 or not np.isfinite(sd):
        return float("nan")
    if sd == 0:
        return 0.0
    dof = n - 1
    if dof >= 100:  # the non-central t is numerically unstable there and the t approximation exact enough
        return float((stats.t.ppf(1 - alpha / 2, dof) + stats.t.ppf(power, dof)) * sd / np.sqrt(n))

    def shortfall(delta: float) -> float:
        return paired_t_power(delta, sd, n, alpha) - power

    upper = sd
    while shortfall(upper) < 0:
        upper *= 2
    return float(optimize.brentq(shortfall, 0.0, upper))


def bootstrap_standard_error(correct: np.ndarray, counted: np.ndarray, *, resamples: int = 1000, seed: int = 0) -> float:
    """Standard error of a pooled rate (100·Σcorrect/Σcounted) when the evaluated people are
    resampled: the evaluation's own sampling noise, apart from any training noise. Any pooled ratio
    works: per-person error sums in place of ``correct`` give a pooled mean error's."""
    correct, counted = np.asarray(correct, float), np.asarray(counted, float)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, correct.size, size=(resamples, correct.size))
    rates = 100.0 * correct[picks].sum(axis=1) / np.maximum(counted[picks].sum(axis=1), 1.0)
    return float(rates.std(ddof=1))


def verdict(label: str, interval: Interval, unit: str, n: int, *, higher_is_better: bool = True) -> str:
    """One computed sentence: the difference, its interval and whether it exceeds seed noise.

    For a statistic where lower is better the unit says so ("-0.80 mean normalised error (lower is
    better)") and a resolved difference is called better or worse accordingly."""
    if not higher_is_better:
        unit = f"{unit} (lower is better)"
    if not np.isfinite(interval.low):
        return f"{label}: {interval.estimate:+.2f} {unit} over the baseline from {n} seed(s); too few seeds for an interval."
    exceeds = "exceeds" if interval.excludes_zero else "does not exceed"
    direction = ""
    if interval.excludes_zero and not higher_is_better:  # a sign alone would read backwards here
        direction = ": better than the baseline" if interval.high < 0 else ": worse than the baseline"
    return (
        f"{label}: {interval.estimate:+.2f} {unit} over the baseline (95% CI {interval.low:+.2f} to "
        f"{interval.high:+.2f}, {interval.method} over {n} seeds, p = {interval.p_value:.3f}): the difference "
        f"{exceeds} seed noise{direction}."
    )
