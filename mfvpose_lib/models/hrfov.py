"""HRFOV: atrous (dilated) convolution pyramids that widen the field of view at full 1/4 resolution.

MfvPose (Section 3 of the paper) feeds two maps of the HRNet stage-3 extractor into HRFOV:
the ``layer1`` output ("ResNet block", 256 channels, low-level) and the stage-3 branch-0
output ("HRModule", ``width`` channels). Each goes through four 3x3 atrous branches whose
dilation rates increase; nothing pools or strides, so the 64x48 grid (at 256x192) is kept,
and the branches are fused into one map with the stage-3 width, which the Transformer cuts
into patches exactly as TokenPose does.

The paper fixes neither the rates, nor the topology, nor the fusion; it calls the module
"cascaded", builds on ASPP and WASP and cites HDC for the rates. This module makes each a
field of :class:`HRFOVConfig`:

``topology``
    ``"parallel"`` is ASPP (DeepLab, Chen et al.): every branch is one dilated conv on the
    same input, so branch ``i`` sees a ``1 + 2 r_i`` window but reads only a sparse 3x3 grid
    of it. ``"cascade"`` (default) is WASP's waterfall (Artacho & Savakis, 2019/2020): branch
    ``i`` takes branch ``i-1``'s output, so fields grow as the sum of the rates and the small
    rates fill the holes the large ones leave, while every intermediate output is still
    kept for the fusion, as in ASPP. The paper's own word for the module is "cascaded".
``rates``
    Default ``(1, 2, 5, 9)``. In a cascade the rates act as one stack of dilated convs, which
    grids (reads only a sub-lattice) when the rates share a factor > 1, e.g. WASP's
    (6, 12, 18, 24) or (2, 2, 2). HDC (Wang et al., 2018) asks for a first rate of 1, no
    common factor and ``M_2 <= 3``; (1, 2, 5, 9) meets all three (``M_2 = 2``, every
    input offset inside the field is read, see :mod:`mfvpose_lib.models.dilation`) and gives
    branch fields of 3, 7, 17 and 35 cells of the 1/4 map -- the last spans 140 input pixels,
    most of a 192-wide person crop, while (1, 2, 5, 9, 17) would already outgrow the 48-cell
    wide map. The paper's (unstated) rates "increase", which this satisfies.
``branch_channels``
    Width of every branch; ``None`` uses the stage-3 width (32 or 48). Each input is first
    reduced to this width by a 1x1 conv (ASPP/WASP do the same), so the 256-channel
    ``layer1`` map costs little.
``fusion``
    ``"concat_1x1"`` (default) concatenates the eight branch outputs (four per input) and
    projects them with a 1x1 conv + BN to the stage-3 width: each branch keeps its own
    weight per output channel, as in ASPP. ``"sum"`` adds the eight branch outputs and
    projects the sum with a 1x1 conv + BN (cheaper; branches share the projection).
``residual``
    Add the stage-3 map itself to the fused output (default ``True``), so HRFOV refines the
    backbone's features rather than replacing them and a pretrained backbone keeps its
    meaning when HRFOV is inserted.
``use_low_level``
    Process the ``layer1`` map too (default ``True``; the paper names this as what sets its
    design apart). ``False`` applies HRFOV to the stage-3 map only, for the ablation.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn as nn

from mfvpose_lib.models.dilation import TOPOLOGIES, atrous_branch_receptive_fields, has_gridding

FUSIONS = ("concat_1x1", "sum")


@dataclass(frozen=True)
class HRFOVConfig:
    """Design choices of the HRFOV module (see the module docstring for the reasons)."""

    topology: str = "cascade"
    rates: tuple[int, ...] = (1, 2, 5, 9)
    branch_channels: int | None = None
    fusion: str = "concat_1x1"
    residual: bool = True
    use_low_level: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "rates", tuple(int(r) for r in self.rates))
        if self.topology not in TOPOLOGIES:
            raise ValueError(f"HRFOVConfig: topology must be one of {TOPOLOGIES}, got {self.topology!r}")
        if self.fusion not in FUSIONS:
            raise ValueError(f"HRFOVConfig: fusion must be one of {FUSIONS}, got {self.fusion!r}")
        if not self.rates or any(r < 1 for r in self.rates):
            raise ValueError(f"HRFOVConfig: rates must be positive integers, got {self.rates}")
        if self.branch_channels is not None and self.branch_channels < 1:
            raise ValueError(f"HRFOVConfig: branch_channels must be positive, got {self.branch_channels}")

    @classmethod
    def coerce(cls, value: HRFOVConfig | dict | None) -> HRFOVConfig | None:
        """Accept a config, the dict ``dataclasses.asdict`` made of one (checkpoints), or None."""
        if value is None or isinstance(value, cls):
            return value
        if isinstance(value, dict):
            names = {f.name for f in dataclasses.fields(cls)}
            unknown = sorted(set(value) - names)
            if unknown:
                raise TypeError(f"HRFOVConfig: unknown field(s) {', '.join(unknown)}; valid: {sorted(names)}")
            return cls(**value)
        raise TypeError(f"hrfov must be an HRFOVConfig, a dict or None, got {type(value).__name__}")

    def branch_receptive_fields(self) -> list[int]:
        """Receptive field of each branch in cells of the 1/4-resolution map."""
        return atrous_branch_receptive_fields(self.rates, self.topology)

    @property
    def grids(self) -> bool:
        """Whether the cascade of these rates leaves unread holes (irrelevant for "parallel")."""
        return self.topology == "cascade" and has_gridding(self.rates)


def conv_bn_relu(in_ch: int, out_ch: int, *, kernel: int = 1, dilation: int = 1) -> nn.Sequential:
    """Conv (no bias; 'same' padding, stride 1) -> BatchNorm -> ReLU."""
    pad = dilation * (kernel - 1) // 2
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, kernel, padding=pad, dilation=dilation, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.ReLU(inplace=True),
    )


class AtrousPyramid(nn.Module):
    """A 1x1 reduction followed by 3x3 atrous branches, cascaded (WASP) or parallel (ASPP).

    Returns the list of branch outputs, each ``(B, branch_channels, H, W)``.
    """

    def __init__(self, in_channels: int, branch_channels: int, rates: tuple[int, ...], topology: str) -> None:
        super().__init__()
        if topology not in TOPOLOGIES:
            raise ValueError(f"unknown topology {topology!r}; expected one of {TOPOLOGIES}")
        self.topology = topology
        self.rates = tuple(rates)
        self.reduce = conv_bn_relu(in_channels, branch_channels)
        self.branches = nn.ModuleList(
            conv_bn_relu(branch_channels, branch_channels, kernel=3, dilation=r) for r in rates
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.reduce(x)
        outs = []
        for branch in self.branches:
            y = branch(x)
            outs.append(y)
            if self.topology == "cascade":
                x = y
        return outs


class HRFOV(nn.Module):
    """Atrous pyramids over the ``layer1`` map and the stage-3 map, fused to ``high_channels``.

    ``forward(low, high)``: ``low`` (B, low_channels, H, W), ``high`` (B, high_channels, H, W)
    -> (B, high_channels, H, W). Resolution is unchanged.
    """

    def __init__(self, low_channels: int, high_channels: int, cfg: HRFOVConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.out_channels = high_channels
        bc = cfg.branch_channels or high_channels
        self.low = AtrousPyramid(low_channels, bc, cfg.rates, cfg.topology) if cfg.use_low_level else None
        self.high = AtrousPyramid(high_channels, bc, cfg.rates, cfg.topology)
        num_maps = len(cfg.rates) * (2 if cfg.use_low_level else 1)
        fuse_in = bc * num_maps if cfg.fusion == "concat_1x1" else bc
        self.fuse = nn.Sequential(
            nn.Conv2d(fuse_in, high_channels, kernel_size=1, bias=False),
            nn.BatchNorm2d(high_channels),
        )

    def branch_outputs(self, low: torch.Tensor, high: torch.Tensor) -> list[torch.Tensor]:
        """Every branch output: the ``layer1`` pyramid's first (when used), then the stage-3 one's."""
        if low.shape[-2:] != high.shape[-2:]:
            raise ValueError(
                f"HRFOV: layer1 map {tuple(low.shape[-2:])} and stage-3 map {tuple(high.shape[-2:])} "
                "must have the same resolution"
            )
        outs = self.low(low) if self.low is not None else []
        return outs + self.high(high)

    def forward(self, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        outs = self.branch_outputs(low, high)
        fused = torch.cat(outs, dim=1) if self.cfg.fusion == "concat_1x1" else torch.stack(outs).sum(0)
        fused = self.fuse(fused)
        return high + fused if self.cfg.residual else fused
