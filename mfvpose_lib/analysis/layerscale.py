"""Learned LayerScale weights (MfvPose's LSW): magnitudes per layer and branch against init."""

from __future__ import annotations

import re

import pandas as pd
import torch.nn as nn

from mfvpose_lib.layers.layer_scale import LayerScale

BRANCHES = ("MSA", "FFN")  # index 0 and 1 of an EncoderLayer
_NAME = re.compile(r"layers\.(\d+)\.([01])\.ls$")


def layer_scale_table(model: nn.Module) -> pd.DataFrame:
    """One row per LayerScale: ``layer`` (1-based, counted over all stacks), ``branch``,
    mean / min / max of ``|λ|``, the init value and mean ``|λ|`` / init.

    An empty DataFrame (with the columns) for a model without LayerScale (TokenPose).
    """
    rows = []
    layer_offset, last_stack = 0, None
    stack_depth = 0
    for name, module in model.named_modules():
        if not isinstance(module, LayerScale):
            continue
        match = _NAME.search(name)
        if match is None:
            raise ValueError(f"LayerScale {name!r} is not inside an encoder layer (layers.<i>.<0|1>.ls)")
        stack = name[: match.start()]
        if stack != last_stack:
            layer_offset += stack_depth
            stack_depth, last_stack = 0, stack
        index = int(match.group(1))
        stack_depth = max(stack_depth, index + 1)
        magnitude = module.gamma.detach().abs().float().cpu()
        rows.append(
            {
                "layer": layer_offset + index + 1,
                "branch": BRANCHES[int(match.group(2))],
                "mean |λ|": float(magnitude.mean()),
                "min |λ|": float(magnitude.min()),
                "max |λ|": float(magnitude.max()),
                "init": module.init_values,
                "mean |λ| / init": float(magnitude.mean()) / module.init_values,
                "module": name,
            }
        )
    columns = ["layer", "branch", "mean |λ|", "min |λ|", "max |λ|", "init", "mean |λ| / init", "module"]
    return pd.DataFrame(rows, columns=columns)
