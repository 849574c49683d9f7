"""Effective receptive fields (Luo et al., 2016) of a model's parts, measured on crops.

* :func:`effective_receptive_field` -- the gradient of one centre output unit with respect to
  the input, which is usually far smaller and more Gaussian than the theoretical field.
* :func:`batch_statistics` -- BatchNorm by the current batch, for networks at initialisation.

* :func:`erf_functions` -- the feature maps whose effective receptive field is measured: the
  backbone alone, backbone + HRFOV, and each HRFOV branch (stage-3 pyramid).
* :func:`model_erf_maps` -- Luo et al. (2016) on those maps, over real crops (or random
  inputs), trained (eval mode) or untrained (per-image batch statistics).
* :func:`erf_table` -- the radius holding 50% / 90% of the gradient mass, one row per map.

Theoretical fields and dilation footprints are in :mod:`mfvpose_lib.models.dilation`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext

import numpy as np
import pandas as pd
import torch
import torch.nn as nn


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
            with nullcontext() if trained else batch_statistics(model):
                maps[label] = effective_receptive_field(
                    fn,
                    tuple(model.cfg.input_size),
                    inputs=images,
                    num_samples=num_samples,
                    seed=seed,
                    device=device,
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


def erf_summary(maps: Mapping[str, np.ndarray], masses: Sequence[float] = (0.5, 0.9)) -> pd.DataFrame:
    """Half-size (input pixels) of the centred square holding each fraction of every ERF."""
    return pd.DataFrame(
        [
            {"variant": label, **{f"radius @ {m:.0%}": erf_radius(erf, m) for m in masses}}
            for label, erf in maps.items()
        ]
    )
