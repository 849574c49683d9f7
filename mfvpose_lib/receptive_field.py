"""Receptive fields: theoretical sizes, dilation footprints (gridding) and the effective RF.

These are the evidence behind the HRFOV design choices (notebook 02):

* :func:`theoretical_receptive_field` -- the textbook size of a chain of convolutions.
* :func:`dilation_footprint` -- which input offsets a stack of dilated 3x3 convolutions
  actually reads, and how many paths reach each. A stack of equal rates (2, 2, 2) reads only
  every second pixel: the "gridding" problem described by HDC (Wang et al., 2018).
* :func:`hdc_max_gap` -- HDC's criterion on a rate sequence (``M_2 <= kernel``).
* :func:`effective_receptive_field` -- Luo et al. (2016): the gradient of one centre output
  unit with respect to the input, which is usually far smaller and more Gaussian than the
  theoretical one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager

import numpy as np
import pandas as pd
import torch
import torch.nn as nn


def theoretical_receptive_field(layers: Sequence[tuple[int, int, int]]) -> int:
    """Receptive field (in input pixels) of a chain of ``(kernel, dilation, stride)`` convolutions.

    Each layer widens the field by ``(kernel - 1) * dilation`` steps of the current input
    stride ("jump"), then multiplies the jump by its own stride.
    """
    rf, jump = 1, 1
    for kernel, dilation, stride in layers:
        if kernel < 1 or dilation < 1 or stride < 1:
            raise ValueError(f"bad layer (kernel={kernel}, dilation={dilation}, stride={stride})")
        rf += (kernel - 1) * dilation * jump
        jump *= stride
    return rf


def atrous_branch_receptive_fields(rates: Sequence[int], topology: str, kernel: int = 3) -> list[int]:
    """Receptive field of each branch of an atrous pyramid, in units of its input map.

    ``"parallel"`` (ASPP): branch ``i`` is one dilated conv of rate ``rates[i]``.
    ``"cascade"`` (WASP waterfall): branch ``i`` is the chain ``rates[0..i]``.
    """
    if topology == "parallel":
        return [theoretical_receptive_field([(kernel, r, 1)]) for r in rates]
    if topology == "cascade":
        return [
            theoretical_receptive_field([(kernel, r, 1) for r in rates[: i + 1]]) for i in range(len(rates))
        ]
    raise ValueError(f"unknown topology {topology!r}; expected 'cascade' or 'parallel'")


def dilation_footprint_1d(rates: Sequence[int], kernel: int = 3) -> np.ndarray:
    """Number of paths from each input offset to one output of a chain of dilated 1D convs.

    Centred: index ``len // 2`` is offset 0. A zero inside the array is an input the chain
    never reads (a hole of the grid).
    """
    if kernel % 2 != 1:
        raise ValueError(f"kernel must be odd, got {kernel}")
    counts = np.ones(1, dtype=np.int64)
    for r in rates:
        taps = np.zeros((kernel - 1) * r + 1, dtype=np.int64)
        taps[::r] = 1
        counts = np.convolve(counts, taps)
    return counts


def dilation_footprint(rates: Sequence[int], kernel: int = 3) -> np.ndarray:
    """2D version of :func:`dilation_footprint_1d` for square ``kernel x kernel`` convs.

    The kernels are separable in their support, so the 2D path count is the outer product
    of the 1D ones.
    """
    one_d = dilation_footprint_1d(rates, kernel)
    return np.outer(one_d, one_d)


def has_gridding(rates: Sequence[int], kernel: int = 3) -> bool:
    """True when a chain with these rates leaves input pixels unread inside its receptive field."""
    return bool((dilation_footprint_1d(rates, kernel) == 0).any())


def hdc_max_gap(rates: Sequence[int], kernel: int = 3) -> int:
    """HDC's ``M_2``: the largest gap between read inputs left for the first layer to fill.

    ``M_n = r_n`` and ``M_i = max(M_{i+1} - 2 r_i, M_{i+1} - 2 (M_{i+1} - r_i), r_i)``;
    HDC asks for ``M_2 <= kernel`` (with a first rate of 1 to fill the gaps).
    """
    if len(rates) < 2:
        return int(rates[0]) if rates else 0
    m = rates[-1]
    for r in reversed(rates[1:-1]):
        m = max(m - 2 * r, m - 2 * (m - r), r)
    return int(m)


def common_factor(rates: Sequence[int]) -> int:
    """Greatest common divisor of the rates; > 1 means a cascade can only read a sub-grid."""
    return math.gcd(*[int(r) for r in rates])


def effective_receptive_field(
    fn: Callable[[torch.Tensor], torch.Tensor],
    input_size: tuple[int, int],
    *,
    inputs: torch.Tensor | None = None,
    num_samples: int = 4,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """Mean absolute input gradient of the centre output unit (summed over channels).

    ``fn`` maps ``(1, 3, H, W)`` to a feature map ``(1, C, h, w)``. For each input image the
    gradient of ``sum_c out[0, c, h//2, w//2]`` with respect to the image is taken in
    absolute value and summed over the colour channels; the average over images is returned
    as an ``(H, W)`` array normalised to sum 1. ``inputs`` defaults to ``num_samples``
    standard-normal images. Images go through ``fn`` one at a time, so BatchNorm in train
    mode (see :func:`batch_statistics`) normalises each by its own statistics.
    """
    device = torch.device(device)
    if inputs is None:
        gen = torch.Generator().manual_seed(seed)
        inputs = torch.randn(num_samples, 3, *input_size, generator=gen)
    total = np.zeros(tuple(inputs.shape[-2:]), dtype=np.float64)
    for image in inputs:
        x = image[None].to(device).detach().clone().requires_grad_(True)
        out = fn(x)
        if out.dim() != 4:
            raise ValueError(
                f"effective_receptive_field expects a (B, C, h, w) output, got {tuple(out.shape)}"
            )
        h, w = out.shape[-2:]
        out[0, :, h // 2, w // 2].sum().backward()
        total += x.grad.detach().abs().sum(dim=(0, 1)).cpu().numpy().astype(np.float64)
    mass = total.sum()
    return total / mass if mass > 0 else total


@contextmanager
def batch_statistics(module: nn.Module) -> Iterator[nn.Module]:
    """BatchNorm layers normalise by the current batch, without touching their running stats.

    A randomly initialised network in eval mode divides by running variances of 1 that do
    not match its (tiny, with HRNet's std-0.001 init) activations, which makes its effective
    receptive field meaningless. Inside this context every BatchNorm is in train mode with
    momentum 0 (running statistics stay as they are); the previous state is restored on exit.
    """
    saved = [
        (m, m.training, m.momentum)
        for m in module.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm)
    ]
    for m, _, _ in saved:
        m.train()
        m.momentum = 0.0
    try:
        yield module
    finally:
        for m, training, momentum in saved:
            m.train(training)
            m.momentum = momentum


def erf_radius(erf: np.ndarray, mass: float = 0.9) -> float:
    """Half-size of the smallest square, centred on the ERF's centre pixel, holding ``mass`` of it.

    A one-number summary of an effective receptive field (in input pixels).
    """
    if not 0 < mass <= 1:
        raise ValueError(f"mass must be in (0, 1], got {mass}")
    h, w = erf.shape
    cy, cx = h // 2, w // 2
    total = erf.sum()
    for radius in range(max(h, w)):
        window = erf[max(cy - radius, 0) : cy + radius + 1, max(cx - radius, 0) : cx + radius + 1]
        if window.sum() >= mass * total - 1e-12:
            return float(radius)
    return float(max(h, w))


def rates_summary(rate_sets: Mapping[str, Sequence[int]], kernel: int = 3) -> pd.DataFrame:
    """One row per candidate rate sequence: common factor, HDC's ``M_2``, gridding, branch fields."""
    rows = []
    for label, rates in rate_sets.items():
        rates = tuple(int(r) for r in rates)
        rows.append(
            {
                "rates": label,
                "common factor": common_factor(rates),
                "HDC M2": hdc_max_gap(rates, kernel),
                "cascade grids": has_gridding(rates, kernel),
                "cascade RF per branch": atrous_branch_receptive_fields(rates, "cascade", kernel),
                "parallel RF per branch": atrous_branch_receptive_fields(rates, "parallel", kernel),
            }
        )
    return pd.DataFrame(rows)


def erf_summary(maps: Mapping[str, np.ndarray], masses: Sequence[float] = (0.5, 0.9)) -> pd.DataFrame:
    """Half-size (input pixels) of the centred square holding each fraction of every ERF."""
    return pd.DataFrame(
        [
            {"variant": label, **{f"radius @ {m:.0%}": erf_radius(erf, m) for m in masses}}
            for label, erf in maps.items()
        ]
    )
