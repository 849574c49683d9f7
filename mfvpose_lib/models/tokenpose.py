"""TokenPose (Li et al., ICCV 2021), built as the public code (leeyegy/TokenPose) builds it.

TokenPose-B and TokenPose-L are a CNN feature extractor followed by a Transformer over
patch tokens plus one learnable token per keypoint:

* ``pre_feature``: HRNet truncated after stage 3, branch 0 only (1/4 resolution, ``width``
  channels; :class:`~mfvpose_lib.models.hrnet.HRNetStage3`).
* ``transformer``: the map is cut into ``patch_size`` patches, each flattened in
  ``(row-in-patch, col-in-patch, channel)`` order (channel fastest) and projected by
  ``patch_to_embedding`` to ``dim``; the frozen 2D sine position embedding is added and the
  ``K`` keypoint tokens are prepended. Encoder stacks follow; within each stack the position
  embedding is added again to the visual tokens before every layer but the stack's first
  (TokenPose's "sine-full"). ``mlp_head`` maps each keypoint token to an ``H' x W'`` heatmap.
* TokenPose-B: HRNet-W32, one stack of 12 layers, 8 heads, head
  LN(192) -> Linear(192, 384) -> LN(384) -> Linear(384, H'W').
* TokenPose-L: HRNet-W48, three stacks run one after the other (D24 = 3 x 8 layers with 12
  heads, D6 = 3 x 2 layers with 8 heads); the keypoint tokens after each stack are
  concatenated (576) -> LN(576) -> Linear(576, H'W').

The head rule is the public one: the hidden layer is used when the concatenated token width
is at most half of ``hidden_heatmap_dim`` (384). Module names equal the public state-dict
keys, so the released checkpoints load directly (no key map needed).

:class:`TokenPose` also accepts the two additions of MfvPose (an HRFOV module between the
backbone and the patches, and LayerScale in every residual branch); with both off it is
exactly TokenPose. :mod:`mfvpose_lib.models.mfvpose` registers that family.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from mfvpose_lib.layers.layer_scale import layer_scale_param_names
from mfvpose_lib.layers.position_embedding import frozen_sine_position_embedding
from mfvpose_lib.layers.transformer import TransformerEncoder
from mfvpose_lib.models.config import (
    COCO_256,
    COCO_384,
    MPII_256,
    build_config,
    task_preset,
    with_implied_heatmap,
)
from mfvpose_lib.models.hrfov import HRFOV, HRFOVConfig
from mfvpose_lib.models.hrnet import HRNetStage3, HRNetTrunkConfig
from mfvpose_lib.models.registry import register_family, register_model

# --------------------------------------------------------------------------------------------
# Config
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenPoseConfig(HRNetTrunkConfig):
    """TokenPose hyper-parameters. Defaults are TokenPose-B at 256x192 on COCO.

    ``depth`` is the number of layers per encoder stack and ``num_stacks`` the number of
    stacks (1 for B, 3 for L); the model has ``depth * num_stacks`` layers in sequence.
    The task and backbone fields come from :class:`~mfvpose_lib.models.hrnet.HRNetTrunkConfig`.
    """

    # tokens and Transformer
    patch_size: tuple[int, int] = (4, 3)
    dim: int = 192
    depth: int = 12
    num_stacks: int = 1
    heads: int = 8
    mlp_ratio: float = 3.0
    hidden_heatmap_dim: int = 384
    dropout: float = 0.0

    def __post_init__(self) -> None:
        for name in ("input_size", "heatmap_size", "patch_size"):
            value = tuple(int(v) for v in getattr(self, name))
            if len(value) != 2 or min(value) < 1:
                raise ValueError(f"{type(self).__name__}: {name} must be two positive ints, got {value}")
            object.__setattr__(self, name, value)
        h, w = self.input_size
        ph, pw = self.patch_size
        if h % 16 or w % 16:
            raise ValueError(
                f"{type(self).__name__}: input_size {self.input_size} must have sides divisible by 16 "
                "(the stage-3 extractor fuses maps at 1/4, 1/8 and 1/16)"
            )
        if (h // 4) % ph or (w // 4) % pw:
            raise ValueError(
                f"{type(self).__name__}: the 1/4 feature map {(h // 4, w // 4)} is not divisible "
                f"by patch_size {self.patch_size}"
            )
        if self.dim % self.heads:
            raise ValueError(f"{type(self).__name__}: dim {self.dim} not divisible by heads {self.heads}")
        if self.dim % 4:
            raise ValueError(f"{type(self).__name__}: dim {self.dim} must be divisible by 4 (sine embedding)")
        if self.depth < 1 or self.num_stacks < 1 or self.num_keypoints < 1:
            raise ValueError(f"{type(self).__name__}: depth, num_stacks and num_keypoints must be >= 1")

    @property
    def feature_size(self) -> tuple[int, int]:
        """Size of the 1/4-resolution map the patches are cut from."""
        return self.input_size[0] // 4, self.input_size[1] // 4

    @property
    def patch_grid(self) -> tuple[int, int]:
        fh, fw = self.feature_size
        return fh // self.patch_size[0], fw // self.patch_size[1]

    @property
    def num_patches(self) -> int:
        gh, gw = self.patch_grid
        return gh * gw

    @property
    def total_depth(self) -> int:
        return self.depth * self.num_stacks


# --------------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------------


def patchify(x: torch.Tensor, patch_size: tuple[int, int]) -> torch.Tensor:
    """(B, C, H, W) -> (B, (H/ph)(W/pw), ph*pw*C), rows of patches first, channel fastest.

    The order inside a patch vector is TokenPose's ``(p1 p2 c)``, which its
    ``patch_to_embedding`` weights assume.
    """
    b, c, h, w = x.shape
    ph, pw = patch_size
    x = x.reshape(b, c, h // ph, ph, w // pw, pw).permute(0, 2, 4, 3, 5, 1)
    return x.reshape(b, (h // ph) * (w // pw), ph * pw * c)


def make_heatmap_head(in_dim: int, hidden_dim: int, heatmap_dim: int) -> nn.Sequential:
    """TokenPose's ``mlp_head``: with a hidden layer when ``in_dim <= hidden_dim / 2``."""
    if in_dim <= hidden_dim * 0.5:
        return nn.Sequential(
            nn.LayerNorm(in_dim),
            nn.Linear(in_dim, hidden_dim),
            nn.LayerNorm(hidden_dim),
            nn.Linear(hidden_dim, heatmap_dim),
        )
    return nn.Sequential(nn.LayerNorm(in_dim), nn.Linear(in_dim, heatmap_dim))


class KeypointTokenTransformer(nn.Module):
    """Patches + keypoint tokens -> encoder stack(s) -> one heatmap per keypoint token.

    Attribute names (``keypoint_token``, ``pos_embedding``, ``patch_to_embedding``,
    ``transformer`` or ``transformer1..N``, ``mlp_head``) are the public TokenPose ones.
    """

    def __init__(self, cfg: TokenPoseConfig, *, channels: int, layer_scale_init: float | None = None):
        super().__init__()
        self.num_keypoints = cfg.num_keypoints
        self.patch_size = cfg.patch_size
        self.heatmap_size = cfg.heatmap_size
        gh, gw = cfg.patch_grid
        self.keypoint_token = nn.Parameter(torch.zeros(1, cfg.num_keypoints, cfg.dim))
        self.pos_embedding = frozen_sine_position_embedding(gh, gw, cfg.dim)
        self.patch_to_embedding = nn.Linear(channels * cfg.patch_size[0] * cfg.patch_size[1], cfg.dim)
        self.stack_names = (
            ["transformer"] if cfg.num_stacks == 1 else [f"transformer{i + 1}" for i in range(cfg.num_stacks)]
        )
        for name in self.stack_names:
            encoder = TransformerEncoder(
                cfg.dim,
                cfg.depth,
                heads=cfg.heads,
                mlp_ratio=cfg.mlp_ratio,
                dropout=cfg.dropout,
                layer_scale_init=layer_scale_init,
            )
            self.add_module(name, encoder)
        heatmap_dim = cfg.heatmap_size[0] * cfg.heatmap_size[1]
        self.mlp_head = make_heatmap_head(cfg.dim * cfg.num_stacks, cfg.hidden_heatmap_dim, heatmap_dim)
        self._init_weights()

    def _init_weights(self) -> None:
        """TokenPose's init: truncated normal (std 0.02) for Linear weights and keypoint tokens."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.trunc_normal_(self.keypoint_token, std=0.02)

    @property
    def encoders(self) -> list[TransformerEncoder]:
        return [getattr(self, name) for name in self.stack_names]

    def embed(self, feature_map: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, K + N, dim): keypoint tokens, then position-embedded patch tokens."""
        x = self.patch_to_embedding(patchify(feature_map, self.patch_size))
        if x.shape[1] != self.pos_embedding.shape[1]:
            raise ValueError(
                f"feature map {tuple(feature_map.shape[-2:])} gives {x.shape[1]} patches, the model was "
                f"built for {self.pos_embedding.shape[1]}; build it with the matching input_size"
            )
        x = x + self.pos_embedding
        return torch.cat((self.keypoint_token.expand(x.shape[0], -1, -1), x), dim=1)

    def forward_tokens(self, feature_map: torch.Tensor) -> torch.Tensor:
        """Keypoint tokens after every stack, concatenated: (B, K, dim * num_stacks)."""
        x = self.embed(feature_map)
        outs = []
        for encoder in self.encoders:
            x = encoder(x, self.pos_embedding, self.num_keypoints)
            outs.append(x[:, : self.num_keypoints])
        return outs[0] if len(outs) == 1 else torch.cat(outs, dim=2)

    def forward_head(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, K, D) keypoint tokens -> (B, K, H', W') heatmaps."""
        b, k, _ = tokens.shape
        return self.mlp_head(tokens).reshape(b, k, *self.heatmap_size)

    def forward(self, feature_map: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_tokens(feature_map))


def init_hrfov_weights(module: nn.Module) -> None:
    """He-normal (fan-out) convolutions and identity BatchNorm, the usual ASPP/ResNet init."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------


@register_family(TokenPoseConfig, codec="tokenpose")
class TokenPose(nn.Module):
    """HRNet stage-3 extractor (+ optional HRFOV) -> keypoint-token Transformer -> heatmaps.

    ``hrfov`` and ``layer_scale_init`` are MfvPose's additions; TokenPose passes neither.
    """

    config_class = TokenPoseConfig

    def __init__(
        self,
        cfg: TokenPoseConfig,
        *,
        hrfov: HRFOVConfig | None = None,
        layer_scale_init: float | None = None,
    ) -> None:
        super().__init__()
        self.cfg = cfg
        self.pre_feature = HRNetStage3(**cfg.trunk_kwargs())
        if hrfov is not None:
            self.hrfov = HRFOV(self.pre_feature.layer1_channels, self.pre_feature.out_channels, hrfov)
            init_hrfov_weights(self.hrfov)
        else:
            self.hrfov = None
        self.transformer = KeypointTokenTransformer(
            cfg, channels=self.pre_feature.out_channels, layer_scale_init=layer_scale_init
        )

    def forward_feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """The 1/4-resolution map the patches are cut from (backbone, then HRFOV if present)."""
        if self.hrfov is None:
            return self.pre_feature(x)
        low, high = self.pre_feature.forward_with_layer1(x)
        return self.hrfov(low, high)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, 3, H, W) -> keypoint tokens (B, K, dim * num_stacks)."""
        return self.transformer.forward_tokens(self.forward_feature_map(x))

    def forward_head(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.transformer.forward_head(tokens)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def no_weight_decay(self) -> set[str]:
        """Keypoint tokens, the (frozen) position embedding, LayerScale gammas, biases and norms."""
        names = {"transformer.keypoint_token", "transformer.pos_embedding"}
        names |= layer_scale_param_names(self)
        names |= {n for n, p in self.named_parameters() if p.ndim <= 1}
        return names

    def complexity_parts(self) -> dict[str, list[str]]:
        """Parameter/module-name prefixes of each part, for the per-part complexity breakdown.

        The head is ``transformer.mlp_head``; the rest of ``transformer`` (tokens, position
        embedding, patch projection, encoder stacks) is the Transformer part.
        """
        t = "transformer."
        parts = {"backbone": ["pre_feature"]}
        if self.hrfov is not None:
            parts["hrfov"] = ["hrfov"]
        parts["transformer"] = [t + n for n in ("keypoint_token", "pos_embedding", "patch_to_embedding")]
        parts["transformer"] += [t + n for n in self.transformer.stack_names]
        parts["head"] = [t + "mlp_head"]
        return parts


# --------------------------------------------------------------------------------------------
# Presets and registered models
# --------------------------------------------------------------------------------------------

# Transformer shapes of the public models.
ARCH_B = {"width": 32, "depth": 12, "num_stacks": 1, "heads": 8}
ARCH_L_D6 = {"width": 48, "depth": 2, "num_stacks": 3, "heads": 8}
ARCH_L_D24 = {"width": 48, "depth": 8, "num_stacks": 3, "heads": 12}
# A small member for CPU training: narrow, shallow HRNet and a 4-layer, 96-wide Transformer.
ARCH_TINY = {
    "width": 16,
    "stem_channels": 32,
    "layer1_planes": 16,
    "layer1_blocks": 1,
    "stage2_modules": 1,
    "stage3_modules": 1,
    "num_blocks": 1,
    "dim": 96,
    "depth": 4,
    "num_stacks": 1,
    "heads": 4,
    "hidden_heatmap_dim": 192,
}

# Input settings: the task preset and the patch; patches give a 16x16 (16x18 at 384) grid.
DATA_COCO = {**COCO_256, "patch_size": (4, 3)}
DATA_COCO_384 = {**COCO_384, "patch_size": (6, 4)}
DATA_MPII = {**MPII_256, "patch_size": (4, 4)}
DATA_TINY_COCO = {**task_preset(17, (128, 96)), "patch_size": (4, 3)}
DATA_TINY_MPII = {**task_preset(16, (128, 128)), "patch_size": (4, 4)}


def resolve_overrides(overrides: dict, arch: dict | None = None, data: dict | None = None) -> dict:
    """A new ``input_size`` without a ``heatmap_size`` brings its own 1/4-resolution heatmap;
    the paper-size members take TokenPose's head width H'·W'/8 at every heatmap size (384 at
    64x48, 864 at 96x72, 512 at 64x64) unless the architecture or the caller fixes it."""
    overrides = with_implied_heatmap(overrides)
    if arch is not None and "hidden_heatmap_dim" not in arch and "hidden_heatmap_dim" not in overrides:
        hm_h, hm_w = overrides.get("heatmap_size", (data or {}).get("heatmap_size", (64, 48)))
        overrides["hidden_heatmap_dim"] = int(hm_h) * int(hm_w) // 8
    return overrides


def _create_tokenpose(arch: dict, data: dict, overrides: dict) -> TokenPose:
    base = TokenPoseConfig(**arch, **data)
    return TokenPose(
        build_config(TokenPoseConfig, base, resolve_overrides(overrides, arch, data), source="tokenpose overrides")
    )


@register_model
def tokenpose_b(**overrides) -> TokenPose:
    """TokenPose-B: HRNet-W32 stage 3 + 12 layers, 8 heads; COCO 256x192."""
    return _create_tokenpose(ARCH_B, DATA_COCO, overrides)


@register_model
def tokenpose_b_384(**overrides) -> TokenPose:
    """TokenPose-B at COCO 384x288 (6x4 patches)."""
    return _create_tokenpose(ARCH_B, DATA_COCO_384, overrides)


@register_model
def tokenpose_b_mpii(**overrides) -> TokenPose:
    """TokenPose-B on MPII 256x256 (4x4 patches), 16 keypoints."""
    return _create_tokenpose(ARCH_B, DATA_MPII, overrides)


@register_model
def tokenpose_l_d6(**overrides) -> TokenPose:
    """TokenPose-L/D6: HRNet-W48 stage 3 + 3 stacks x 2 layers, 8 heads; COCO 256x192."""
    return _create_tokenpose(ARCH_L_D6, DATA_COCO, overrides)


@register_model
def tokenpose_l_d6_384(**overrides) -> TokenPose:
    """TokenPose-L/D6 at COCO 384x288."""
    return _create_tokenpose(ARCH_L_D6, DATA_COCO_384, overrides)


@register_model
def tokenpose_l_d6_mpii(**overrides) -> TokenPose:
    """TokenPose-L/D6 on MPII 256x256: the baseline of the paper's ablation (Table 4)."""
    return _create_tokenpose(ARCH_L_D6, DATA_MPII, overrides)


@register_model
def tokenpose_l_d24(**overrides) -> TokenPose:
    """TokenPose-L/D24: HRNet-W48 stage 3 + 3 stacks x 8 layers, 12 heads; COCO 256x192."""
    return _create_tokenpose(ARCH_L_D24, DATA_COCO, overrides)


@register_model
def tokenpose_l_d24_384(**overrides) -> TokenPose:
    """TokenPose-L/D24 at COCO 384x288."""
    return _create_tokenpose(ARCH_L_D24, DATA_COCO_384, overrides)


@register_model
def tokenpose_l_d24_mpii(**overrides) -> TokenPose:
    """TokenPose-L/D24 on MPII 256x256."""
    return _create_tokenpose(ARCH_L_D24, DATA_MPII, overrides)


@register_model
def tokenpose_tiny(**overrides) -> TokenPose:
    """CPU-sized TokenPose: HRNet-W16 (one module per stage) + 4 layers of width 96; 128x96."""
    return _create_tokenpose(ARCH_TINY, DATA_TINY_COCO, overrides)


@register_model
def tokenpose_tiny_mpii(**overrides) -> TokenPose:
    """CPU-sized TokenPose for the MPII layout: 128x128 input, 16 keypoints."""
    return _create_tokenpose(ARCH_TINY, DATA_TINY_MPII, overrides)
