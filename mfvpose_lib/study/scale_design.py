"""The noise study carried to the gpu profile: how many paired seeds and epochs a Table 4 of the
paper-size rows would need to resolve the paper's +0.41 PCKh, and what that costs.

The only measured input is how the paired spread of the per-seed differences fell with the schedule
length on the cpu profile (:class:`ScheduleScaling`, two lever rows of the same recipe: 8 and 16
epochs). It is extrapolated as a power law in epochs to other models, data and lengths, which is an
assumption, not a measurement: every number here is a prediction and is labelled so. GPU time per
epoch is assumed from the model's multiply-adds at a stated sustained rate
(:func:`assumed_epoch_seconds`), since no GPU timing of the full training step is at hand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from mfvpose_lib.study import significance

#: The paper's only ablation number (MfvPose over TokenPose-L/D6, PCKh@0.5).
PAPER_TARGET = 0.41
#: Sustained training throughput assumed for one GPU (FLOP/s of the forward + backward pass): about
#: 5% of an H100's dense bf16 peak, a deliberately modest rate for HRNet's many small convolutions.
ASSUMED_GPU_FLOPS = 50e12


@dataclass(frozen=True)
class ScheduleScaling:
    """Paired spread s(E) = s₀ · (E / E₀)^(−exponent), fitted through two schedule lengths."""

    epochs: tuple[int, int]
    spreads: tuple[float, float]

    @property
    def exponent(self) -> float:
        (e0, e1), (s0, s1) = self.epochs, self.spreads
        return math.log(s0 / s1) / math.log(e1 / e0)

    def spread_at(self, epochs: float) -> float:
        return self.spreads[0] * (epochs / self.epochs[0]) ** (-self.exponent)

    def epochs_for(self, spread: float) -> float:
        if self.exponent <= 0:
            return math.inf  # a longer schedule did not narrow the spread: no length reaches it
        return self.epochs[0] * (self.spreads[0] / spread) ** (1.0 / self.exponent)


def schedule_scaling(levers: pd.DataFrame, short: str = "profile", long: str = "epochs16") -> ScheduleScaling:
    """The scaling between two lever rows of :func:`~mfvpose_lib.study.noise_levers.lever_table`
    (final weights) that differ in the schedule length only."""
    final = levers[levers["weights"] == "final"].set_index("lever")
    epochs = tuple(int(final.loc[key, "recipe"].split(" epochs")[0]) for key in (short, long))
    return ScheduleScaling(epochs, tuple(float(final.loc[key, "paired diff std"]) for key in (short, long)))


def assumed_epoch_seconds(model: str, images: int, *, flops: float = ASSUMED_GPU_FLOPS) -> float:
    """Seconds per training epoch of ``images`` crops at the model's input size, from its forward
    multiply-adds × 2 FLOPs × 3 (forward + backward) at ``flops`` sustained: an assumption."""
    from mfvpose_lib.analysis.complexity import build_on_meta, complexity

    gmacs = complexity(build_on_meta(model)).gmacs
    return images * gmacs * 1e9 * 2 * 3 / flops


def scaled_designs(
    scaling: ScheduleScaling, epoch_seconds: float, *, target: float = PAPER_TARGET, seeds=range(3, 13),
    rows: int = 4,
) -> pd.DataFrame:  # fmt: skip
    """For each number of paired seeds: the epochs at which the predicted spread lets that many seeds
    detect ``target`` (80% power, 5% level), the predicted spread and minimum detectable difference
    there, and the hours of one GPU for ``rows`` rows at ``epoch_seconds`` per epoch."""
    out = []
    for n in seeds:
        per_unit = significance.minimum_detectable_difference(1.0, n)  # the MDD scales with the spread
        epochs = math.ceil(scaling.epochs_for(target / per_unit))
        spread = scaling.spread_at(epochs)
        out.append({
            "paired seeds": n, "epochs": epochs, "predicted paired spread": spread,
            "predicted minimum detectable difference": per_unit * spread,
            "GPU-hours (assumed rate)": rows * n * epochs * epoch_seconds / 3600.0,
        })  # fmt: skip
    return pd.DataFrame(out)
