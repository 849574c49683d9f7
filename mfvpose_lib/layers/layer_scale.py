"""LayerScale: a learnable per-channel weight on the output of a residual branch.

CaiT (Touvron et al., 2021) multiplies each residual branch of a ViT by ``diag(gamma)``
with ``gamma`` initialised to a small constant, so that a deep pre-norm encoder starts
close to the identity and every layer can grow its contribution at its own pace. The
MfvPose paper calls this "learnable scalar weights" (LSW). ``init_values=None`` turns it
into an :class:`~torch.nn.Identity` with no parameters, so a model without LSW keeps the
exact parameter set (and checkpoint layout) of TokenPose.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
import torch.nn as nn

#: Name of the LayerScale parameter, used to keep it out of weight decay.
LAYER_SCALE_PARAM = "gamma"
#: The residual branches of an encoder layer, by their index in it (``layers.transformer.EncoderLayer``).
BRANCHES = ("MSA", "FFN")
_ENCODER_SLOT = re.compile(r"layers\.(\d+)\.([01])\.ls$")


class LayerScale(nn.Module):
    """``x * gamma`` with ``gamma`` a learnable vector of length ``dim``."""

    def __init__(self, dim: int, *, init_values: float = 1e-5) -> None:
        super().__init__()
        if init_values <= 0:
            raise ValueError(f"LayerScale init_values must be > 0, got {init_values}")
        self.init_values = float(init_values)
        self.gamma = nn.Parameter(torch.full((dim,), self.init_values))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma

    def extra_repr(self) -> str:
        return f"dim={self.gamma.numel()}, init_values={self.init_values:g}"


def make_layer_scale(dim: int, init_values: float | None) -> nn.Module:
    """A :class:`LayerScale`, or an ``Identity`` when ``init_values`` is ``None`` (LSW off)."""
    return nn.Identity() if init_values is None else LayerScale(dim, init_values=init_values)


def layer_scale_param_names(model: nn.Module) -> set[str]:
    """Full names of every LayerScale ``gamma`` in ``model`` (for ``no_weight_decay``).

    Weight decay pulls ``gamma`` towards zero, i.e. towards switching the layer off, which
    is not what a per-channel gain should be regularised to; CaiT exempts it too.
    """
    return {
        f"{name}.{LAYER_SCALE_PARAM}" if name else LAYER_SCALE_PARAM
        for name, module in model.named_modules()
        if isinstance(module, LayerScale)
    }


def cait_layer_scale_init(depth: int) -> float:
    """CaiT's rule for the LayerScale init as a function of the number of layers.

    CaiT uses 0.1 up to depth 18, 1e-5 at depth 24 and 1e-6 beyond: the deeper the
    residual stream, the smaller each branch must start for the sum to stay near identity.
    """
    if depth <= 0:
        raise ValueError(f"depth must be positive, got {depth}")
    if depth <= 18:
        return 0.1
    if depth <= 24:
        return 1e-5
    return 1e-6


@dataclass(frozen=True)
class LayerScaleMagnitude:
    """How large the learnt ``|λ|`` of one LayerScale is, and where it sits in the encoder."""

    module: str  # the module's name in the model
    layer: int  # 1-based, counted over every encoder stack of the model in order
    branch: str  # one of BRANCHES
    mean_abs: float
    min_abs: float
    max_abs: float
    init: float


def layer_scale_magnitudes(model: nn.Module) -> list[LayerScaleMagnitude]:
    """``|λ|`` of every LayerScale in ``model`` (a DDP wrapper is looked through), in module order;
    empty for a model without LayerScale (LSW off).

    Raises ``ValueError`` for a LayerScale outside an encoder layer (``layers.<i>.<0|1>.ls``),
    whose layer and branch would be unknown.
    """
    model = getattr(model, "module", model)
    found = []
    layer_offset, stack_depth, last_stack = 0, 0, None
    for name, module in model.named_modules():
        if not isinstance(module, LayerScale):
            continue
        slot = _ENCODER_SLOT.search(name)
        if slot is None:
            raise ValueError(f"LayerScale {name!r} is not inside an encoder layer (layers.<i>.<0|1>.ls)")
        stack = name[: slot.start()]
        if stack != last_stack:  # a new encoder stack continues the layer count of the last one
            layer_offset += stack_depth
            stack_depth, last_stack = 0, stack
        index = int(slot.group(1))
        stack_depth = max(stack_depth, index + 1)
        magnitude = module.gamma.detach().abs().float().cpu()
        found.append(
            LayerScaleMagnitude(
                module=name,
                layer=layer_offset + index + 1,
                branch=BRANCHES[int(slot.group(2))],
                mean_abs=float(magnitude.mean()),
                min_abs=float(magnitude.min()),
                max_abs=float(magnitude.max()),
                init=module.init_values,
            )
        )
    return found
