"""Multi-head self-attention with a fused default path and an explicit, inspectable one.

The default path calls :func:`torch.nn.functional.scaled_dot_product_attention`, which
picks a fused kernel (flash / memory-efficient on GPU) and never materialises the
``(B, heads, N, N)`` weights. Looking at attention maps needs those weights, so an
explicit path computes ``softmax(q k^T * scale)`` through the named submodule
``self.attend`` (an ``nn.Softmax``); forward hooks on ``attend`` can then record the maps
(:class:`mfvpose_lib.analysis.attention.AttentionRecorder` does). The path is chosen by the
``fused`` attribute, so the default forward pays nothing for the option.

Parameter names (``to_qkv``, ``to_out.0``) follow the public TokenPose code so its
checkpoints load without renaming.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class Attention(nn.Module):
    """Multi-head self-attention over ``(B, N, dim)`` tokens.

    The logits are scaled by ``(dim / heads) ** -0.5`` (TokenPose's ``scale_with_head``),
    i.e. by the head width as in the original Transformer.
    """

    def __init__(self, dim: int, *, heads: int = 8, dropout: float = 0.0, fused: bool = True) -> None:
        super().__init__()
        if dim % heads != 0:
            raise ValueError(f"attention dim {dim} is not divisible by heads={heads}")
        self.heads = heads
        self.head_dim = dim // heads
        self.scale = self.head_dim**-0.5
        self.fused = fused
        self.to_qkv = nn.Linear(dim, dim * 3, bias=False)
        self.attend = nn.Softmax(dim=-1)
        self.attn_drop = nn.Dropout(dropout)
        self.to_out = nn.Sequential(nn.Linear(dim, dim), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        # (B, N, 3*D) -> 3 x (B, heads, N, head_dim); channel order is (qkv, head, head_dim)
        qkv = self.to_qkv(x).reshape(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        if self.fused:
            drop = self.attn_drop.p if self.training else 0.0
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=drop, scale=self.scale)
        else:
            attn = self.attend((q @ k.transpose(-2, -1)) * self.scale)
            out = self.attn_drop(attn) @ v
        return self.to_out(out.transpose(1, 2).reshape(b, n, d))

    def extra_repr(self) -> str:
        return f"heads={self.heads}, head_dim={self.head_dim}, fused={self.fused}"
