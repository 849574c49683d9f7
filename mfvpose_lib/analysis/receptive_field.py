"""Receptive fields of a model's parts: effective (measured) and theoretical, plus footprints.

* :func:`erf_functions` -- the feature maps whose effective receptive field is measured: the
  backbone alone, backbone + HRFOV, and each HRFOV branch (stage-3 pyramid).
* :func:`model_erf_maps` -- Luo et al. (2016) on those maps, over real crops (or random
  inputs), trained (eval mode) or untrained (per-image batch statistics).
* :func:`erf_table` -- the radius holding 50% / 90% of the gradient mass, one row per map.
* :func:`branch_field_boxes` -- the theoretical field of each HRFOV branch in input pixels,
  centred on the crop, to draw at its true scale.
* :func:`dilation_footprint_info` -- rates, topology and kernel -> footprint, field, holes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn as nn

from mfvpose_lib.receptive_field import (
    atrous_branch_receptive_fields,
    batch_statistics,
    dilation_footprint,
    effective_receptive_field,
    erf_radius,
)

#: Stride of the 1/4-resolution map HRFOV works on, in input pixels.
FEATURE_STRIDE = 4
TOPOLOGIES = ("cascade", "parallel")


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


def branch_field_boxes(
    rates: Sequence[int],
    topology: str,
    input_size: tuple[int, int],
    *,
    stride: int = FEATURE_STRIDE,
    kernel: int = 3,
) -> pd.DataFrame:
    """Theoretical field each HRFOV branch adds, as a square in input pixels centred on the crop.

    The branch field is counted in cells of the 1/``stride`` map, so one cell is ``stride``
    input pixels. Columns: ``branch`` (1-based), ``rate``, ``field (cells)``, ``field (px)``,
    ``x0``, ``y0`` (top-left corner, crop pixels).
    """
    h, w = input_size
    rows = []
    for i, (rate, cells) in enumerate(zip(rates, atrous_branch_receptive_fields(rates, topology, kernel)), 1):
        px = cells * stride
        rows.append(
            {
                "branch": i,
                "rate": int(rate),
                "field (cells)": cells,
                "field (px)": px,
                "x0": (w - px) / 2,
                "y0": (h - px) / 2,
            }
        )
    return pd.DataFrame(rows)


def erf_functions(model: nn.Module) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """The feature maps of a TokenPose/MfvPose model whose ERF is measured, by label.

    ``"backbone"`` (HRNet stage 3), and with HRFOV ``"backbone + HRFOV"`` and one
    ``"HRFOV branch i (rate r)"`` per branch of the stage-3 pyramid.
    """
    if not hasattr(model, "pre_feature"):
        raise TypeError(f"{type(model).__name__} has no pre_feature backbone to measure")
    fns: dict[str, Callable] = {"backbone": model.pre_feature}
    hrfov = getattr(model, "hrfov", None)
    if hrfov is None:
        return fns
    fns["backbone + HRFOV"] = model.forward_feature_map
    offset = len(hrfov.cfg.rates) if hrfov.low is not None else 0

    def branch(i: int) -> Callable[[torch.Tensor], torch.Tensor]:
        def fn(x: torch.Tensor) -> torch.Tensor:
            low, high = model.pre_feature.forward_with_layer1(x)
            return hrfov.branch_outputs(low, high)[offset + i]

        return fn

    for i, rate in enumerate(hrfov.cfg.rates):
        fns[f"HRFOV branch {i + 1} (rate {rate})"] = branch(i)
    return fns


def model_erf_maps(
    model: nn.Module,
    *,
    images: torch.Tensor | None = None,
    trained: bool = True,
    num_samples: int = 4,
    seed: int = 0,
    only: Sequence[str] | None = None,
) -> dict[str, np.ndarray]:
    """ERF of every map of :func:`erf_functions` (label -> (H, W) map summing to 1).

    ``images`` (B, 3, H, W) are normalised crops; without them ``num_samples`` standard-normal
    inputs are used. A trained model runs in eval mode (its running BatchNorm statistics); an
    untrained one normalises each image by its own statistics (:func:`batch_statistics`), since
    its running statistics are placeholders. Parameter gradients are cleared afterwards.
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    fns = erf_functions(model)
    if only is not None:
        fns = {k: v for k, v in fns.items() if k in only}
    maps = {}
    try:
        for label, fn in fns.items():
            # untrained: per-image batch statistics, as a network at initialisation sees them
            with contextlib.nullcontext() if trained else batch_statistics(model):
                maps[label] = effective_receptive_field(
                    fn, tuple(model.cfg.input_size), inputs=images, num_samples=num_samples, seed=seed, device=device
                )
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    return maps


def erf_table(
    maps: Mapping[str, Mapping[str, np.ndarray]], masses: Sequence[float] = (0.5, 0.9)
) -> pd.DataFrame:
    """One row per (model, map): the half-size in input pixels of the centred square holding
    each fraction of the gradient mass. ``maps``: model label -> (map label -> ERF)."""
    rows = []
    for model_label, by_map in maps.items():
        for label, erf in by_map.items():
            rows.append(
                {
                    "model": model_label,
                    "map": label,
                    **{f"radius @ {m:.0%} (px)": erf_radius(erf, m) for m in masses},
                }
            )
    return pd.DataFrame(rows)


def erf_holes(
    erf: np.ndarray, footprint: np.ndarray, *, stride: int = 1, rel: float = 1e-6
) -> dict[str, int]:
    """Compare an ERF with a footprint centred on it: counts of footprint holes the ERF leaves
    at (near) zero, footprint holes it reaches, and read cells it leaves at zero."""
    size = footprint.shape[0] * stride
    h, w = erf.shape
    cy, cx = h // 2, w // 2
    r = size // 2
    window = erf[cy - r : cy + r + 1, cx - r : cx + r + 1]
    if stride > 1:
        window = window[: footprint.shape[0] * stride, : footprint.shape[0] * stride]
        window = window.reshape(footprint.shape[0], stride, footprint.shape[0], stride).sum(axis=(1, 3))
    zero = window <= rel * erf.max()
    holes = footprint == 0
    return {
        "holes kept empty": int((zero & holes).sum()),
        "holes reached": int((~zero & holes).sum()),
        "read cells at zero": int((zero & ~holes).sum()),
    }
