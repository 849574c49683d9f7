"""Pre-norm Transformer encoder (TokenPose layout) with optional LayerScale.

One encoder layer is::

    x = x + ls1(MSA(LN(x)))
    x = x + ls2(FFN(LN(x)))

with ``ls`` a :class:`~mfvpose_lib.layers.layer_scale.LayerScale` (MfvPose's learnable
scalar weights) or the identity (TokenPose). The module tree mirrors the public TokenPose
code -- ``layers.<i>.0`` is the attention block, ``layers.<i>.1`` the feed-forward block,
each a residual around ``fn.norm`` and ``fn.fn`` -- so public checkpoints load by name; the
LayerScale vector, when present, is the extra ``layers.<i>.<j>.ls.gamma``.

The attention maps of every layer are recorded outside the model, by
:class:`mfvpose_lib.analysis.attention.AttentionRecorder` (forward hooks on ``Attention.attend``,
which switches the attention to its explicit path only while recording).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from mfvpose_lib.layers.attention import Attention
from mfvpose_lib.layers.layer_scale import make_layer_scale


class PreNorm(nn.Module):
    """``fn(LayerNorm(x))``."""

    def __init__(self, dim: int, fn: nn.Module) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(self.norm(x))


class Residual(nn.Module):
    """``x + ls(fn(x))``: a residual branch scaled by LayerScale (or not, when ``ls`` is Identity)."""

    def __init__(self, fn: nn.Module, ls: nn.Module) -> None:
        super().__init__()
        self.fn = fn
        self.ls = ls

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        """The scaled residual branch alone; used to measure its size against the stream."""
        return self.ls(self.fn(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.branch(x)


class FeedForward(nn.Module):
    """Linear -> GELU -> Linear (TokenPose's FFN; ``net.0`` and ``net.3`` hold the weights)."""

    def __init__(self, dim: int, hidden_dim: int, *, dropout: float = 0.0) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(dim, hidden_dim),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_dim, dim),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class EncoderLayer(nn.Sequential):
    """One pre-norm layer: the attention residual (index 0), then the FFN residual (index 1)."""

    def __init__(
        self,
        dim: int,
        *,
        heads: int,
        mlp_ratio: float = 3.0,
        dropout: float = 0.0,
        layer_scale_init: float | None = None,
    ) -> None:
        attn = Residual(
            PreNorm(dim, Attention(dim, heads=heads, dropout=dropout)),
            make_layer_scale(dim, layer_scale_init),
        )
        ffn = Residual(
            PreNorm(dim, FeedForward(dim, int(dim * mlp_ratio), dropout=dropout)),
            make_layer_scale(dim, layer_scale_init),
        )
        super().__init__(attn, ffn)


class TransformerEncoder(nn.Module):
    """A stack of :class:`EncoderLayer` over ``[keypoint tokens; visual tokens]``.

    As in TokenPose's "sine-full" setting, the position embedding ``pos`` (one row per
    visual token) is added again to the visual tokens before every layer but the first
    of the stack -- the caller adds it once before the first layer.
    """

    def __init__(
        self,
        dim: int,
        depth: int,
        *,
        heads: int,
        mlp_ratio: float = 3.0,
        dropout: float = 0.0,
        layer_scale_init: float | None = None,
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            EncoderLayer(
                dim, heads=heads, mlp_ratio=mlp_ratio, dropout=dropout, layer_scale_init=layer_scale_init
            )
            for _ in range(depth)
        )

    def forward(self, x: torch.Tensor, pos: torch.Tensor | None = None, num_prefix: int = 0) -> torch.Tensor:
        """``x``: (B, num_prefix + N, D); ``pos``: (1, N, D) added to the last N tokens."""
        for idx, layer in enumerate(self.layers):
            if idx > 0 and pos is not None:
                x = add_to_visual_tokens(x, pos, num_prefix)
            x = layer(x)
        return x


def add_to_visual_tokens(x: torch.Tensor, pos: torch.Tensor, num_prefix: int) -> torch.Tensor:
    """``x`` with ``pos`` added to every token after the first ``num_prefix`` (out of place)."""
    return torch.cat((x[:, :num_prefix], x[:, num_prefix:] + pos), dim=1)
