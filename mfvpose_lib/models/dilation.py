"""Receptive-field arithmetic of dilated convolutions: sizes, footprints and gridding holes.

Pure arithmetic on rate sequences (numpy only), kept beside the models so that HRFOV can check
its own rates; :mod:`mfvpose_lib.analysis.dilation` builds the notebooks' tables on it.

* :func:`theoretical_receptive_field` -- the textbook size of a chain of convolutions.
* :func:`atrous_branch_receptive_fields` -- the field of each branch of a cascade or a parallel pyramid.
* :func:`dilation_footprint` -- which input offsets a stack of dilated 3x3 convolutions
  actually reads, and how many paths reach each. A stack of equal rates (2, 2, 2) reads only
  every second pixel: the "gridding" problem described by HDC (Wang et al., 2018).
* :func:`hdc_max_gap` -- HDC's criterion on a rate sequence (``M_2 <= kernel``).
* :func:`dilation_footprint_info` -- rates, topology and kernel -> footprint, field, holes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: How the branches of an atrous pyramid are wired: WASP's waterfall or ASPP's side by side.
TOPOLOGIES = ("cascade", "parallel")


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


@dataclass(frozen=True)
class DilationFootprint:
    """Which cells of its input one output of an atrous pyramid reads, and how often.

    ``footprint`` (S, S) counts the paths from each input cell to the centre output, summed
    over the branches (the fused output sees every branch); ``field`` is ``S``; ``holes`` the
    number of unread cells inside the ``S x S`` field (gridding).
    """

    rates: tuple[int, ...]
    topology: str
    kernel: int
    footprint: np.ndarray
    branch_fields: tuple[int, ...]

    @property
    def field(self) -> int:
        return int(self.footprint.shape[0])

    @property
    def holes(self) -> int:
        return int((self.footprint == 0).sum())

    def describe(self) -> str:
        return (
            f"{self.topology} rates {self.rates}, {self.kernel}x{self.kernel}: field {self.field} cells, "
            f"{self.holes} holes"
        )


def _centre_pad(array: np.ndarray, size: int) -> np.ndarray:
    pad = (size - array.shape[0]) // 2
    return np.pad(array, pad)


def dilation_footprint_info(
    rates: Sequence[int], topology: str = "cascade", kernel: int = 3
) -> DilationFootprint:
    """Footprint of the fused output of an atrous pyramid with these ``rates`` and ``topology``.

    ``"cascade"``: branch ``i`` is the chain ``rates[:i+1]``; ``"parallel"``: branch ``i`` is one
    conv of rate ``rates[i]``. The branch footprints are added on a common centred grid.
    """
    rates = tuple(int(r) for r in rates)
    if not rates or any(r < 1 for r in rates):
        raise ValueError(f"rates must be positive integers, got {rates}")
    if topology not in TOPOLOGIES:
        raise ValueError(f"unknown topology {topology!r}; expected one of {TOPOLOGIES}")
    if kernel < 1 or kernel % 2 != 1:
        raise ValueError(f"kernel must be a positive odd number, got {kernel}")
    if topology == "cascade":
        branches = [dilation_footprint(rates[: i + 1], kernel) for i in range(len(rates))]
    else:
        branches = [dilation_footprint((r,), kernel) for r in rates]
    size = max(b.shape[0] for b in branches)
    total = sum(_centre_pad(b, size) for b in branches)
    return DilationFootprint(
        rates=rates,
        topology=topology,
        kernel=kernel,
        footprint=total,
        branch_fields=tuple(atrous_branch_receptive_fields(rates, topology, kernel)),
    )
