"""SimpleBaseline (Xiao et al., ECCV 2018): a ResNet, three transposed convolutions, a 1x1 head.

Built like ``lib/models/pose_resnet.py`` of the HRNet pose repository (stride on the 3x3 conv of
each bottleneck; deconvolutions of kernel 4, stride 2, padding 1, 256 channels, no bias, each
followed by BatchNorm and ReLU), with the same module names, so the public checkpoints load as
they are.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from mfvpose_lib.models.blocks import (
    BN_MOMENTUM,
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

# Bottleneck blocks per ResNet stage.
RESNET_DEPTHS: dict[int, tuple[int, int, int, int]] = {
    50: (3, 4, 6, 3),
    101: (3, 4, 23, 3),
    152: (3, 8, 36, 3),
}
# Deconvolution kernel -> (padding, output_padding) giving an exact 2x upsampling.
_DECONV_PADDING = {4: (1, 0), 3: (1, 1), 2: (0, 0)}


def heatmap_stride(num_deconv_layers: int) -> int:
    """Input pixels per heatmap pixel: the ResNet's 1/32 map upsampled 2x by each deconvolution."""
    return 32 // 2**num_deconv_layers


@dataclass(frozen=True)
class SimpleBaselineConfig(PoseTaskConfig):
    depth: int = 50
    num_deconv_layers: int = 3
    deconv_channels: int = 256
    deconv_kernel: int = 4
    final_conv_kernel: int = 1

    def __post_init__(self):
        if self.depth not in RESNET_DEPTHS:
            raise ValueError(
                f"SimpleBaselineConfig: depth must be one of {sorted(RESNET_DEPTHS)}, got {self.depth}"
            )
        if self.deconv_kernel not in _DECONV_PADDING:
            raise ValueError(
                f"SimpleBaselineConfig: deconv_kernel must be 2, 3 or 4, got {self.deconv_kernel}"
            )
        if self.final_conv_kernel not in (1, 3):
            raise ValueError(
                f"SimpleBaselineConfig: final_conv_kernel must be 1 or 3, got {self.final_conv_kernel}"
            )
        h, w = self.input_size
        if h % 32 or w % 32:
            raise ValueError(
                f"SimpleBaselineConfig: input_size {self.input_size} must have sides divisible by 32"
            )
        expected = heatmap_size_for(self.input_size, heatmap_stride(self.num_deconv_layers))
        if tuple(self.heatmap_size) != expected:
            raise ValueError(
                f"SimpleBaselineConfig: heatmap_size {self.heatmap_size} must be {expected} "
                f"(input / 32, upsampled {self.num_deconv_layers} times by 2)"
            )


@register_family(SimpleBaselineConfig, codec="hrnet")
class SimpleBaseline(nn.Module):
    """ResNet-{50,101,152} at stride 32, upsampled to stride 4 by deconvolutions, 1x1 heatmap head."""

    def __init__(self, cfg: SimpleBaselineConfig):
        super().__init__()
        self.cfg = cfg
        blocks = RESNET_DEPTHS[cfg.depth]
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        inplanes = 64
        for i, (planes, n, stride) in enumerate(zip((64, 128, 256, 512), blocks, (1, 2, 2, 2)), start=1):
            setattr(self, f"layer{i}", make_res_layer(Bottleneck, inplanes, planes, n, stride))
            inplanes = planes * Bottleneck.expansion

        padding, output_padding = _DECONV_PADDING[cfg.deconv_kernel]
        deconv: list[nn.Module] = []
        for _ in range(cfg.num_deconv_layers):
            deconv += [
                nn.ConvTranspose2d(
                    inplanes,
                    cfg.deconv_channels,
                    kernel_size=cfg.deconv_kernel,
                    stride=2,
                    padding=padding,
                    output_padding=output_padding,
                    bias=False,
                ),
                nn.BatchNorm2d(cfg.deconv_channels, momentum=BN_MOMENTUM),
                nn.ReLU(inplace=True),
            ]
            inplanes = cfg.deconv_channels
        self.deconv_layers = nn.Sequential(*deconv)
        self.final_layer = nn.Conv2d(
            inplanes,
            cfg.num_keypoints,
            kernel_size=cfg.final_conv_kernel,
            stride=1,
            padding=1 if cfg.final_conv_kernel == 3 else 0,
        )
        init_hrnet_weights(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """ResNet features and deconvolutions: (B, deconv_channels, H/4, W/4)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.deconv_layers(x)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.final_layer(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def no_weight_decay(self) -> set[str]:
        return one_dim_parameter_names(self)

    def complexity_parts(self) -> dict[str, list[str]]:
        """Module-name prefixes of each part, for the per-part complexity breakdown."""
        return {
            "backbone": ["conv1", "bn1", "layer1", "layer2", "layer3", "layer4"],
            "deconv": ["deconv_layers"],
            "head": ["final_layer"],
        }


def _create_simplebaseline(base: SimpleBaselineConfig, overrides: dict) -> SimpleBaseline:
    """Apply ``overrides``; a new ``input_size`` alone brings its own ``heatmap_size`` (1/4 with
    the default three deconvolutions)."""
    stride = heatmap_stride(overrides.get("num_deconv_layers", base.num_deconv_layers))
    overrides = with_implied_heatmap(overrides, stride)
    return SimpleBaseline(
        build_config(SimpleBaselineConfig, base, overrides, source="simplebaseline overrides")
    )


@register_model
def simplebaseline_r50(**overrides) -> SimpleBaseline:
    """SimpleBaseline ResNet-50, COCO 256x192, 17 keypoints."""
    return _create_simplebaseline(SimpleBaselineConfig(depth=50, **COCO_256), overrides)


@register_model
def simplebaseline_r101(**overrides) -> SimpleBaseline:
    """SimpleBaseline ResNet-101, COCO 256x192, 17 keypoints."""
    return _create_simplebaseline(SimpleBaselineConfig(depth=101, **COCO_256), overrides)


@register_model
def simplebaseline_r152(**overrides) -> SimpleBaseline:
    """SimpleBaseline ResNet-152, COCO 256x192, 17 keypoints."""
    return _create_simplebaseline(SimpleBaselineConfig(depth=152, **COCO_256), overrides)


@register_model
def simplebaseline_r50_384(**overrides) -> SimpleBaseline:
    """SimpleBaseline ResNet-50, COCO 384x288, 17 keypoints."""
    return _create_simplebaseline(SimpleBaselineConfig(depth=50, **COCO_384), overrides)


@register_model
def simplebaseline_r101_384(**overrides) -> SimpleBaseline:
    """SimpleBaseline ResNet-101, COCO 384x288, 17 keypoints."""
    return _create_simplebaseline(SimpleBaselineConfig(depth=101, **COCO_384), overrides)


@register_model
def simplebaseline_r152_384(**overrides) -> SimpleBaseline:
    """SimpleBaseline ResNet-152, COCO 384x288, 17 keypoints."""
    return _create_simplebaseline(SimpleBaselineConfig(depth=152, **COCO_384), overrides)


@register_model
def simplebaseline_r50_mpii(**overrides) -> SimpleBaseline:
    """SimpleBaseline ResNet-50, MPII 256x256, 16 keypoints."""
    return _create_simplebaseline(SimpleBaselineConfig(depth=50, **MPII_256), overrides)


@register_model
def simplebaseline_r101_mpii(**overrides) -> SimpleBaseline:
    """SimpleBaseline ResNet-101, MPII 256x256, 16 keypoints."""
    return _create_simplebaseline(SimpleBaselineConfig(depth=101, **MPII_256), overrides)


@register_model
def simplebaseline_r152_mpii(**overrides) -> SimpleBaseline:
    """SimpleBaseline ResNet-152, MPII 256x256, 16 keypoints."""
    return _create_simplebaseline(SimpleBaselineConfig(depth=152, **MPII_256), overrides)
