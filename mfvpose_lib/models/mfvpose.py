"""MfvPose: TokenPose with an HRFOV module before the patches and LayerScale in the encoder.

MfvPose (Journal of Intelligent & Fuzzy Systems, 2024) = HRNet stage-3 extractor
(``pre_feature``) -> HRFOV (``hrfov``, :mod:`mfvpose_lib.models.hrfov`) -> TokenPose's
keypoint-token Transformer whose every residual branch is multiplied by a learnable
per-channel vector, ``x = x + diag(lambda) * F(LN(x))`` (the paper's "learnable scalar
weights", LSW: CaiT's LayerScale) -> TokenPose's heatmap head. The code is
:class:`~mfvpose_lib.models.tokenpose.TokenPose`'s: with ``hrfov=None`` and
``layer_scale_init=None`` an MfvPose model is TokenPose, parameter for parameter and
output for output.

Decisions the paper leaves open (each a config field, so ablations can vary them):

``layer_scale_init``
    CaiT's depth rule (:func:`~mfvpose_lib.layers.layer_scale.cait_layer_scale_init`):
    0.1 for the 6-, 8- and 12-layer models, 1e-5 for the 24-layer one. The paper cites
    CaiT for LSW and claims better training dynamics; CaiT found that a deeper residual
    stream needs smaller initial branch weights to start near the identity, while 1e-5 at
    shallow depth only slows the start. ``None`` switches LSW off.
``hrfov``
    :class:`~mfvpose_lib.models.hrfov.HRFOVConfig` defaults: a WASP-style cascade of rates
    (1, 2, 5, 9) on both the ``layer1`` and the stage-3 maps, concatenated and projected
    back to the stage-3 width, with a residual to the stage-3 map. ``None`` removes it.
"D8"
    The paper compares "D8" and "D24" encoders (8 and 24 layers) with the W48 backbone.
    TokenPose-L/D24 is three stacks of 8 layers with 12 heads; D8 here is one such stack
    alone: HRNet-W48 + 8 layers, 12 heads, and (one stack, 192 <= 384/2) TokenPose-B's
    two-layer heatmap head. It is the only 8-layer reading that keeps TokenPose-L's
    per-stack settings, and it is the one consistent with the paper's MPII claim of fewer
    parameters than TokenPose-L/D24 despite the added HRFOV.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mfvpose_lib.layers.layer_scale import cait_layer_scale_init
from mfvpose_lib.models.config import build_config
from mfvpose_lib.models.hrfov import HRFOVConfig
from mfvpose_lib.models.registry import register_family, register_model
from mfvpose_lib.models.tokenpose import (
    ARCH_B,
    ARCH_L_D6,
    ARCH_L_D24,
    ARCH_TINY,
    DATA_COCO,
    DATA_COCO_384,
    DATA_MPII,
    DATA_TINY_COCO,
    DATA_TINY_MPII,
    TokenPose,
    TokenPoseConfig,
    resolve_overrides,
)


@dataclass(frozen=True)
class MfvPoseConfig(TokenPoseConfig):
    """TokenPose's fields plus the two MfvPose additions (``None`` switches either off)."""

    hrfov: HRFOVConfig | None = HRFOVConfig()
    layer_scale_init: float | None = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        # A checkpoint stores the config as dataclasses.asdict(...): hrfov comes back as a dict.
        object.__setattr__(self, "hrfov", HRFOVConfig.coerce(self.hrfov))
        if self.layer_scale_init is not None and self.layer_scale_init <= 0:
            raise ValueError(
                f"MfvPoseConfig: layer_scale_init must be > 0 or None, got {self.layer_scale_init}"
            )


@register_family(MfvPoseConfig, codec="tokenpose")
class MfvPose(TokenPose):
    """TokenPose built with ``cfg.hrfov`` and ``cfg.layer_scale_init``."""

    config_class = MfvPoseConfig

    def __init__(self, cfg: MfvPoseConfig) -> None:
        super().__init__(cfg, hrfov=cfg.hrfov, layer_scale_init=cfg.layer_scale_init)


# Eight layers in one stack with the per-stack settings of TokenPose-L/D24 (see module docstring).
ARCH_L_D8 = {"width": 48, "depth": 8, "num_stacks": 1, "heads": 12}


def _create_mfvpose(arch: dict, data: dict, overrides: dict) -> MfvPose:
    depth = arch["depth"] * arch["num_stacks"]
    base = MfvPoseConfig(**arch, **data, layer_scale_init=cait_layer_scale_init(depth))
    return MfvPose(
        build_config(MfvPoseConfig, base, resolve_overrides(overrides, arch, data), source="mfvpose overrides")
    )


@register_model
def mfvpose_b(**overrides) -> MfvPose:
    """MfvPose at TokenPose-B size: HRNet-W32 + HRFOV + 12 LSW layers, 8 heads; COCO 256x192."""
    return _create_mfvpose(ARCH_B, DATA_COCO, overrides)


@register_model
def mfvpose_b_384(**overrides) -> MfvPose:
    """MfvPose-B at COCO 384x288."""
    return _create_mfvpose(ARCH_B, DATA_COCO_384, overrides)


@register_model
def mfvpose_b_mpii(**overrides) -> MfvPose:
    """MfvPose-B on MPII 256x256."""
    return _create_mfvpose(ARCH_B, DATA_MPII, overrides)


@register_model
def mfvpose_l_d6(**overrides) -> MfvPose:
    """MfvPose at TokenPose-L/D6 size: HRNet-W48 + HRFOV + 3 x 2 LSW layers, 8 heads."""
    return _create_mfvpose(ARCH_L_D6, DATA_COCO, overrides)


@register_model
def mfvpose_l_d6_384(**overrides) -> MfvPose:
    """MfvPose-L/D6 at COCO 384x288."""
    return _create_mfvpose(ARCH_L_D6, DATA_COCO_384, overrides)


@register_model
def mfvpose_l_d6_mpii(**overrides) -> MfvPose:
    """MfvPose-L/D6 on MPII 256x256: the full model of the paper's ablation (Table 4)."""
    return _create_mfvpose(ARCH_L_D6, DATA_MPII, overrides)


@register_model
def mfvpose_l_d8(**overrides) -> MfvPose:
    """MfvPose-D8: HRNet-W48 + HRFOV + one stack of 8 LSW layers, 12 heads; COCO 256x192."""
    return _create_mfvpose(ARCH_L_D8, DATA_COCO, overrides)


@register_model
def mfvpose_l_d8_384(**overrides) -> MfvPose:
    """MfvPose-D8 at COCO 384x288."""
    return _create_mfvpose(ARCH_L_D8, DATA_COCO_384, overrides)


@register_model
def mfvpose_l_d8_mpii(**overrides) -> MfvPose:
    """MfvPose-D8 on MPII 256x256."""
    return _create_mfvpose(ARCH_L_D8, DATA_MPII, overrides)


@register_model
def mfvpose_l_d24(**overrides) -> MfvPose:
    """MfvPose-D24: HRNet-W48 + HRFOV + 3 x 8 LSW layers, 12 heads; COCO 256x192."""
    return _create_mfvpose(ARCH_L_D24, DATA_COCO, overrides)


@register_model
def mfvpose_l_d24_384(**overrides) -> MfvPose:
    """MfvPose-D24 at COCO 384x288."""
    return _create_mfvpose(ARCH_L_D24, DATA_COCO_384, overrides)


@register_model
def mfvpose_l_d24_mpii(**overrides) -> MfvPose:
    """MfvPose-D24 on MPII 256x256."""
    return _create_mfvpose(ARCH_L_D24, DATA_MPII, overrides)


@register_model
def mfvpose_tiny(**overrides) -> MfvPose:
    """CPU-sized MfvPose: ``tokenpose_tiny`` plus HRFOV and LSW; 128x96 -> 32x24 heatmaps."""
    return _create_mfvpose(ARCH_TINY, DATA_TINY_COCO, overrides)


@register_model
def mfvpose_tiny_mpii(**overrides) -> MfvPose:
    """CPU-sized MfvPose for the MPII layout: 128x128 -> 32x32 heatmaps, 16 keypoints."""
    return _create_mfvpose(ARCH_TINY, DATA_TINY_MPII, overrides)


def layer_scale_variants(name: str, inits: Mapping[str, float | None], **overrides) -> dict[str, MfvPose]:
    """The registered model ``name`` once per LayerScale init, all with the same other weights.

    ``inits`` maps a label to a ``layer_scale_init`` (``None``: no LSW). The first variant's
    weights are copied into the others, so they differ only in their LayerScale gammas --
    the comparison notebook 03 draws.
    """
    from mfvpose_lib.models.factory import create_model

    models: dict[str, MfvPose] = {}
    for label, init in inits.items():
        model = create_model(name, **{**overrides, "layer_scale_init": init})
        if models:
            source = next(iter(models.values())).state_dict()
            shared = {k: v for k, v in source.items() if not k.endswith(".ls.gamma")}
            model.load_state_dict(shared, strict=False)
        models[label] = model
    return models
