"""HRNet (Sun et al., CVPR 2019) for pose estimation, and the stage-3 extractor of TokenPose/MfvPose.

Two networks share one trunk (stem, ``layer1``, stage 2, stage 3):

* :class:`PoseHRNet` is the full four-stage pose network with a 1x1 ``final_layer`` head, built
  exactly like ``lib/models/pose_hrnet.py`` of the HRNet pose repository, so the public COCO/MPII
  checkpoints load without any key translation.
* :class:`HRNetStage3` stops after stage 3 and keeps only branch 0 (1/4 resolution) of its last
  module (``multi_scale_output=False``), as TokenPose's ``HRNET_base`` does. TokenPose and MfvPose
  build it as their ``pre_feature`` module; it also exposes the ``layer1`` output (the "low-level
  features" that MfvPose's HRFOV module reuses).

Module attribute names reproduce the public state-dict keys (``conv1``, ``bn1``, ``layer1.0.conv1``,
``transition1.1.0.0``, ``stage3.3.fuse_layers.0.2.1`` ...). BatchNorm keeps PyTorch's defaults
(eps 1e-5, momentum 0.1), as the public code does, so loaded weights compute the same function.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, fields

import torch
import torch.nn as nn

from mfvpose_lib.models.blocks import (
    BN_MOMENTUM,
    BasicBlock,
    Bottleneck,
    init_hrnet_weights,
    make_res_layer,
    one_dim_parameter_names,
)
from mfvpose_lib.models.config import (
    COCO_256,
    COCO_384,
    MPII_256,
    PoseTaskConfig,
    build_config,
    heatmap_size_for,
    with_implied_heatmap,
)
from mfvpose_lib.models.registry import register_family, register_model

# --------------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------------


class HighResolutionModule(nn.Module):
    """Parallel branches of BasicBlocks followed by all-to-all fusion across resolutions.

    Branch ``i`` runs at 1/2**i of the first branch's resolution with ``channels[i]`` channels.
    Fusion into output ``i`` sums every branch: lower resolutions go through a 1x1 conv + BN and a
    nearest upsample, higher resolutions through a chain of stride-2 3x3 convs. With
    ``multi_scale_output=False`` only output 0 (the highest resolution) is produced.
    """

    def __init__(self, channels: list[int], num_blocks: int, multi_scale_output: bool = True):
        super().__init__()
        self.num_branches = len(channels)
        self.channels = list(channels)
        self.multi_scale_output = multi_scale_output
        self.branches = nn.ModuleList(make_res_layer(BasicBlock, c, c, num_blocks) for c in channels)
        self.fuse_layers = self._make_fuse_layers() if self.num_branches > 1 else None
        self.relu = nn.ReLU(True)

    def _make_fuse_layers(self) -> nn.ModuleList:
        ch = self.channels
        fuse_layers = []
        for i in range(self.num_branches if self.multi_scale_output else 1):
            fuse_layer: list[nn.Module | None] = []
            for j in range(self.num_branches):
                if j > i:  # lower resolution: 1x1 conv to ch[i], then upsample
                    fuse_layer.append(
                        nn.Sequential(
                            nn.Conv2d(ch[j], ch[i], 1, 1, 0, bias=False),
                            nn.BatchNorm2d(ch[i]),
                            nn.Upsample(scale_factor=2 ** (j - i), mode="nearest"),
                        )
                    )
                elif j == i:
                    fuse_layer.append(None)
                else:  # higher resolution: i - j stride-2 3x3 convs, ReLU between them
                    steps = []
                    for k in range(i - j):
                        last = k == i - j - 1
                        out_ch = ch[i] if last else ch[j]
                        step = [nn.Conv2d(ch[j], out_ch, 3, 2, 1, bias=False), nn.BatchNorm2d(out_ch)]
                        if not last:
                            step.append(nn.ReLU(True))
                        steps.append(nn.Sequential(*step))
                    fuse_layer.append(nn.Sequential(*steps))
            fuse_layers.append(nn.ModuleList(fuse_layer))
        return nn.ModuleList(fuse_layers)

    def forward(self, x: list[torch.Tensor]) -> list[torch.Tensor]:
        if self.num_branches == 1:
            return [self.branches[0](x[0])]
        x = [branch(xi) for branch, xi in zip(self.branches, x)]
        out = []
        # Same summation order as the public code, so outputs agree bit for bit.
        for i, fuse in enumerate(self.fuse_layers):
            y = x[0] if i == 0 else fuse[0](x[0])
            for j in range(1, self.num_branches):
                y = y + (x[j] if i == j else fuse[j](x[j]))
            out.append(self.relu(y))
        return out


def make_transition(channels_pre: list[int], channels_cur: list[int]) -> nn.ModuleList:
    """Adapters between stages: a 3x3 conv where a branch changes width (``None`` when it does
    not), and stride-2 3x3 convs from the lowest-resolution branch to create each new branch."""
    layers: list[nn.Module | None] = []
    for i, c_cur in enumerate(channels_cur):
        if i < len(channels_pre):
            if c_cur != channels_pre[i]:
                layers.append(
                    nn.Sequential(
                        nn.Conv2d(channels_pre[i], c_cur, 3, 1, 1, bias=False),
                        nn.BatchNorm2d(c_cur),
                        nn.ReLU(inplace=True),
                    )
                )
            else:
                layers.append(None)
        else:
            steps = []
            for j in range(i + 1 - len(channels_pre)):
                c_in = channels_pre[-1]
                c_out = c_cur if j == i - len(channels_pre) else c_in
                steps.append(
                    nn.Sequential(
                        nn.Conv2d(c_in, c_out, 3, 2, 1, bias=False),
                        nn.BatchNorm2d(c_out),
                        nn.ReLU(inplace=True),
                    )
                )
            layers.append(nn.Sequential(*steps))
    return nn.ModuleList(layers)


def make_stage(
    channels: list[int], num_modules: int, num_blocks: int, multi_scale_output: bool = True
) -> nn.Sequential:
    """``num_modules`` HighResolutionModules; ``multi_scale_output`` applies to the last one only."""
    modules = [
        HighResolutionModule(channels, num_blocks, multi_scale_output or i < num_modules - 1)
        for i in range(num_modules)
    ]
    return nn.Sequential(*modules)


def _apply_transition(transition: nn.ModuleList, y_list: list[torch.Tensor]) -> list[torch.Tensor]:
    """Existing branches pass (or are re-widthed); new branches come from the last one."""
    out = []
    for i, t in enumerate(transition):
        if i < len(y_list):
            out.append(y_list[i] if t is None else t(y_list[i]))
        else:
            out.append(t(y_list[-1]))
    return out


# --------------------------------------------------------------------------------------------
# The trunk shared by both networks
# --------------------------------------------------------------------------------------------


class HRNetTrunk(nn.Module):
    """Stem (two stride-2 3x3 convs), ``layer1`` (bottlenecks), stage 2 and stage 3.

    Args:
        width: channels of the highest-resolution branch (HRNet-W32: 32, W48: 48); branch ``i``
            has ``width * 2**i`` channels.
        stem_channels: channels of the two stem convolutions (64 in HRNet).
        layer1_planes: bottleneck width of ``layer1``; its output has ``4 * layer1_planes``
            channels (256 in HRNet).
        layer1_blocks: bottlenecks in ``layer1`` (4 in HRNet).
        stage2_modules, stage3_modules: HighResolutionModules per stage (1 and 4 in HRNet).
        num_blocks: BasicBlocks per branch in every HighResolutionModule (4 in HRNet).
        stage3_multi_scale_output: keep all three stage-3 outputs (the full network needs them
            for stage 4); ``False`` keeps only branch 0 of the last module.
    """

    def __init__(
        self,
        width: int = 32,
        *,
        stem_channels: int = 64,
        layer1_planes: int = 64,
        layer1_blocks: int = 4,
        stage2_modules: int = 1,
        stage3_modules: int = 4,
        num_blocks: int = 4,
        stage3_multi_scale_output: bool = True,
    ):
        super().__init__()
        for name, value in [
            ("width", width),
            ("stem_channels", stem_channels),
            ("layer1_planes", layer1_planes),
            ("layer1_blocks", layer1_blocks),
            ("stage2_modules", stage2_modules),
            ("stage3_modules", stage3_modules),
            ("num_blocks", num_blocks),
        ]:
            if int(value) < 1:
                raise ValueError(f"HRNet: {name} must be a positive integer, got {value!r}")
        self.width = width
        self.layer1_channels = layer1_planes * Bottleneck.expansion
        self.stage2_channels = [width, 2 * width]
        self.stage3_channels = [width, 2 * width, 4 * width]

        self.conv1 = nn.Conv2d(3, stem_channels, kernel_size=3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(stem_channels, momentum=BN_MOMENTUM)
        self.conv2 = nn.Conv2d(stem_channels, stem_channels, kernel_size=3, stride=2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(stem_channels, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = make_res_layer(Bottleneck, stem_channels, layer1_planes, layer1_blocks)

        self.transition1 = make_transition([self.layer1_channels], self.stage2_channels)
        self.stage2 = make_stage(self.stage2_channels, stage2_modules, num_blocks)
        self.transition2 = make_transition(self.stage2_channels, self.stage3_channels)
        self.stage3 = make_stage(
            self.stage3_channels, stage3_modules, num_blocks, multi_scale_output=stage3_multi_scale_output
        )

    def forward_layer1(self, x: torch.Tensor) -> torch.Tensor:
        """Stem + ``layer1``: (B, 3, H, W) -> (B, layer1_channels, H/4, W/4)."""
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        return self.layer1(x)

    def forward_stage3(self, layer1_out: torch.Tensor) -> list[torch.Tensor]:
        """Stages 2 and 3 from the ``layer1`` output; returns the stage-3 branch outputs."""
        y_list = self.stage2(_apply_transition(self.transition1, [layer1_out]))
        return self.stage3(_apply_transition(self.transition2, y_list))


# Top-level module names of each stage (transitions belong to the stage they feed), for
# per-stage complexity: ``complexity(model, parts=HRNET_STAGE_PARTS)``.
HRNET_STAGE_PARTS: dict[str, list[str]] = {
    "stem": ["conv1", "bn1", "conv2", "bn2"],
    "layer1": ["layer1"],
    "stage2": ["transition1", "stage2"],
    "stage3": ["transition2", "stage3"],
    "stage4": ["transition3", "stage4"],
    "head": ["final_layer"],
}


def feature_shapes(model: HRNetTrunk, input_size: tuple[int, int], batch: int = 1) -> list[dict]:
    """Shape of every branch after each stage of an HRNet, from a shape-only (meta) forward.

    Returns one record per (stage, branch): ``stage, branch, channels, height, width, stride``.
    Works for :class:`HRNetStage3` (up to stage 3, branch 0 at the end) and :class:`PoseHRNet`
    (through stage 4 and the head). The model's own weights are not touched.
    """
    h, w = input_size
    x = torch.zeros(batch, 3, h, w, device="meta")
    records: list[dict] = []

    def add(stage: str, maps: list[torch.Tensor]) -> None:
        for i, m in enumerate(maps):
            records.append(
                {
                    "stage": stage,
                    "branch": i,
                    "channels": m.shape[1],
                    "height": m.shape[2],
                    "width": m.shape[3],
                    "stride": h // m.shape[2],
                }
            )

    meta = copy.deepcopy(model).to("meta").eval()
    with torch.no_grad():
        stem = meta.relu(meta.bn2(meta.conv2(meta.relu(meta.bn1(meta.conv1(x))))))
        add("stem", [stem])
        low = meta.layer1(stem)
        add("layer1", [low])
        y_list = meta.stage2(_apply_transition(meta.transition1, [low]))
        add("stage2", y_list)
        y_list = meta.stage3(_apply_transition(meta.transition2, y_list))
        add("stage3", y_list)
        if isinstance(meta, PoseHRNet):
            y_list = meta.stage4(_apply_transition(meta.transition3, y_list))
            add("stage4", y_list)
            add("head", [meta.final_layer(y_list[0])])
    return records


class HRNetStage3(HRNetTrunk):
    """HRNet truncated after stage 3: the feature extractor of TokenPose and MfvPose.

    Only branch 0 of the last stage-3 module is built (``multi_scale_output=False``), so the
    output is one map at 1/4 of the input resolution with ``width`` channels (32x64x48 for
    HRNet-W32 at 256x192). Its state-dict keys are those of TokenPose's ``pre_feature``.

    Usage::

        backbone = HRNetStage3(width=32)            # or HRNetStage3.from_config(cfg)
        feats = backbone(x)                         # (B, width, H/4, W/4): stage-3 branch 0
        low, feats = backbone.forward_with_layer1(x)  # plus layer1: (B, layer1_channels, H/4, W/4)

    ``backbone.out_channels`` (= width) and ``backbone.layer1_channels`` (256 by default) give
    the channel counts; both outputs have stride ``backbone.stride`` (= 4). Inputs must have
    sides divisible by 16 so the three resolutions line up when fused.
    Keyword arguments are those of :class:`HRNetTrunk` (smaller widths, fewer modules and blocks
    build the tiny CPU models).
    """

    stride = 4

    def __init__(self, width: int = 32, **kwargs):
        kwargs.pop("stage3_multi_scale_output", None)
        super().__init__(width, stage3_multi_scale_output=False, **kwargs)
        self.out_channels = width
        init_hrnet_weights(self)

    @classmethod
    def from_config(cls, cfg: HRNetConfig) -> HRNetStage3:
        """The stage-3 extractor with the trunk settings of a pose-HRNet config."""
        return cls(**cfg.trunk_kwargs())

    def forward_with_layer1(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(``layer1`` output, stage-3 branch-0 output), both at 1/4 resolution."""
        low = self.forward_layer1(x)
        return low, self.forward_stage3(low)[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_stage3(self.forward_layer1(x))[0]


# --------------------------------------------------------------------------------------------
# The pose network
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HRNetTrunkConfig(PoseTaskConfig):
    """A pose task on an HRNet trunk (stem, ``layer1``, stages 2 and 3): the fields that the
    full pose HRNet and the stage-3 extractor of TokenPose / MfvPose share."""

    width: int = 32
    stem_channels: int = 64
    layer1_planes: int = 64
    layer1_blocks: int = 4
    stage2_modules: int = 1
    stage3_modules: int = 4
    num_blocks: int = 4

    def trunk_kwargs(self) -> dict:
        """Keyword arguments of :class:`HRNetTrunk` (and :class:`HRNetStage3`)."""
        task_fields = PoseTaskConfig.__dataclass_fields__
        return {f.name: getattr(self, f.name) for f in fields(HRNetTrunkConfig) if f.name not in task_fields}


@dataclass(frozen=True)
class HRNetConfig(HRNetTrunkConfig):
    """Pose HRNet: four stages and a 1x1 conv head on the highest-resolution branch.

    Stage 4 keeps only branch 0 at its last module, as in the public pose network.
    """

    stage4_modules: int = 3
    final_conv_kernel: int = 1

    def __post_init__(self):
        h, w = self.input_size
        if h % 32 or w % 32:
            raise ValueError(
                f"HRNetConfig: input_size {self.input_size} must have sides divisible by 32 "
                "(four resolutions, the lowest at 1/32, are fused)"
            )
        expected = heatmap_size_for(self.input_size)
        if tuple(self.heatmap_size) != expected:
            raise ValueError(
                f"HRNetConfig: heatmap_size {self.heatmap_size} must be input_size / 4 = {expected}"
            )
        if self.final_conv_kernel not in (1, 3):
            raise ValueError(f"HRNetConfig: final_conv_kernel must be 1 or 3, got {self.final_conv_kernel}")


@register_family(HRNetConfig, codec="hrnet")
class PoseHRNet(HRNetTrunk):
    """The full pose HRNet of the HRNet repository (``pose_hrnet``), same keys, same function."""

    def __init__(self, cfg: HRNetConfig):
        super().__init__(**cfg.trunk_kwargs(), stage3_multi_scale_output=True)
        self.cfg = cfg
        self.stage4_channels = [cfg.width * 2**i for i in range(4)]
        self.transition3 = make_transition(self.stage3_channels, self.stage4_channels)
        self.stage4 = make_stage(
            self.stage4_channels, cfg.stage4_modules, cfg.num_blocks, multi_scale_output=False
        )
        self.final_layer = nn.Conv2d(
            cfg.width,
            cfg.num_keypoints,
            kernel_size=cfg.final_conv_kernel,
            stride=1,
            padding=1 if cfg.final_conv_kernel == 3 else 0,
        )
        init_hrnet_weights(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Stage-4 branch 0: (B, width, H/4, W/4)."""
        y_list = self.forward_stage3(self.forward_layer1(x))
        return self.stage4(_apply_transition(self.transition3, y_list))[0]

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.final_layer(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def no_weight_decay(self) -> set[str]:
        return one_dim_parameter_names(self)

    def complexity_parts(self) -> dict[str, list[str]]:
        """Module-name prefixes of each part, for the per-part complexity breakdown."""
        return {
            "backbone": [n for n, _ in self.named_children() if n != "final_layer"],
            "head": ["final_layer"],
        }


def _create_pose_hrnet(base: HRNetConfig, overrides: dict) -> PoseHRNet:
    """Apply ``overrides``; a new ``input_size`` alone brings its own ``heatmap_size`` (1/4)."""
    overrides = with_implied_heatmap(overrides)
    return PoseHRNet(build_config(HRNetConfig, base, overrides, source="hrnet overrides"))


@register_model
def hrnet_w32(**overrides) -> PoseHRNet:
    """HRNet-W32, COCO 256x192, 17 keypoints."""
    return _create_pose_hrnet(HRNetConfig(width=32, **COCO_256), overrides)


@register_model
def hrnet_w48(**overrides) -> PoseHRNet:
    """HRNet-W48, COCO 256x192, 17 keypoints."""
    return _create_pose_hrnet(HRNetConfig(width=48, **COCO_256), overrides)


@register_model
def hrnet_w32_384(**overrides) -> PoseHRNet:
    """HRNet-W32, COCO 384x288, 17 keypoints."""
    return _create_pose_hrnet(HRNetConfig(width=32, **COCO_384), overrides)


@register_model
def hrnet_w48_384(**overrides) -> PoseHRNet:
    """HRNet-W48, COCO 384x288, 17 keypoints."""
    return _create_pose_hrnet(HRNetConfig(width=48, **COCO_384), overrides)


@register_model
def hrnet_w32_mpii(**overrides) -> PoseHRNet:
    """HRNet-W32, MPII 256x256, 16 keypoints."""
    return _create_pose_hrnet(HRNetConfig(width=32, **MPII_256), overrides)


@register_model
def hrnet_w48_mpii(**overrides) -> PoseHRNet:
    """HRNet-W48, MPII 256x256, 16 keypoints."""
    return _create_pose_hrnet(HRNetConfig(width=48, **MPII_256), overrides)
