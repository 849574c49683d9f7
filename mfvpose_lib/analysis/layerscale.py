"""Learned LayerScale weights (MfvPose's LSW): magnitudes per layer and branch against init."""

from __future__ import annotations

import re

import pandas as pd
import torch
import torch.nn as nn

from mfvpose_lib.layers.layer_scale import BRANCHES, layer_scale_magnitudes
from mfvpose_lib.layers.transformer import Residual

LAYER_SCALE_COLUMNS = ["layer", "branch", "mean |λ|", "min |λ|", "max |λ|", "init", "mean |λ| / init", "module"]


def layer_scale_table(model: nn.Module) -> pd.DataFrame:
    """One row per LayerScale: ``layer`` (1-based, counted over all stacks), ``branch``,
    mean / min / max of ``|λ|``, the init value and mean ``|λ|`` / init.

    An empty DataFrame (with the columns) for a model without LayerScale (TokenPose).
    """
    rows = [
        (m.layer, m.branch, m.mean_abs, m.min_abs, m.max_abs, m.init, m.mean_abs / m.init, m.module)
        for m in layer_scale_magnitudes(model)
    ]
    return pd.DataFrame(rows, columns=LAYER_SCALE_COLUMNS)


@torch.no_grad()
def residual_branch_ratios(model: nn.Module, *inputs: torch.Tensor) -> list[tuple[str, float]]:
    """``||branch|| / ||stream||`` for every :class:`Residual` block of ``model`` on ``inputs``.

    The ratio says how much one residual branch (attention or FFN, after LayerScale)
    changes the token stream it is added to. Without LayerScale a freshly initialised
    pre-norm layer adds a branch comparable to the stream; with LayerScale at ``init_values``
    the ratio shrinks by that factor, so the network starts near the identity (CaiT's aim).
    Returns ``(module name, ratio)`` in execution order.
    """
    names = {m: name for name, m in model.named_modules() if isinstance(m, Residual)}
    if not names:
        raise ValueError(f"{type(model).__name__} contains no Residual block")
    ratios: list[tuple[str, float]] = []

    def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
        stream = args[0]
        branch = output - stream
        ratios.append((names[module], float(branch.norm() / stream.norm().clamp_min(1e-12))))

    handles = [m.register_forward_hook(hook) for m in names]
    try:
        model(*inputs)
    finally:
        for h in handles:
            h.remove()
    return ratios


def residual_ratio_table(ratios: dict[str, list[tuple[str, float]]]) -> pd.DataFrame:
    """Ratios of several variants (label -> :func:`residual_branch_ratios` output) as a
    DataFrame, one row per residual block, one column per variant."""
    labels = list(ratios)
    index = [_block_label(name) for name, _ in ratios[labels[0]]]
    table = pd.DataFrame({label: [r for _, r in ratios[label]] for label in labels}, index=index)
    return table.rename_axis("residual block")


def _block_label(name: str) -> str:
    """``...layers.<i>.<0|1>`` as people read it ("layer 1 MSA"); any other name as it is."""
    slot = re.search(r"layers\.(\d+)\.([01])$", name)
    return f"layer {int(slot.group(1)) + 1} {BRANCHES[int(slot.group(2))]}" if slot else name
