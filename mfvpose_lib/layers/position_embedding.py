"""The fixed 2D sine position embedding of TokenPose (after DETR).

Half of the ``dim`` channels encode the row and half the column of a patch, each as
sines and cosines of the normalised coordinate at geometrically spaced frequencies.
TokenPose stores it as a frozen ``nn.Parameter`` (``requires_grad=False``): it sits in
the state dict, is counted in the published "#Params", and is never trained.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn


def sine_position_embedding(
    height: int, width: int, dim: int, *, temperature: float = 10000.0, scale: float = 2 * math.pi
) -> torch.Tensor:
    """``(1, height*width, dim)`` embedding of a row-major patch grid.

    Channels ``[0, dim/2)`` encode the row (y) and ``[dim/2, dim)`` the column (x); within
    each half, even channels are sines and odd channels cosines of
    ``coord / temperature ** (2 * (i // 2) / (dim / 2))``, with ``coord`` running from
    ``1/size`` to 1 times ``scale``. This reproduces TokenPose's tensor value for value.
    """
    if dim % 4 != 0:
        raise ValueError(f"sine position embedding needs dim divisible by 4, got {dim}")
    if height <= 0 or width <= 0:
        raise ValueError(f"patch grid must be non-empty, got {height}x{width}")
    half = dim // 2
    eps = 1e-6
    y = torch.arange(1, height + 1, dtype=torch.float32) / (height + eps) * scale
    x = torch.arange(1, width + 1, dtype=torch.float32) / (width + eps) * scale
    freq = temperature ** (2 * (torch.arange(half, dtype=torch.float32) // 2) / half)

    def encode(coord: torch.Tensor) -> torch.Tensor:  # (L,) -> (L, half), sin/cos interleaved
        phase = coord[:, None] / freq
        return torch.stack((phase[:, 0::2].sin(), phase[:, 1::2].cos()), dim=2).flatten(1)

    pos_y = encode(y)[:, None, :].expand(height, width, half)
    pos_x = encode(x)[None, :, :].expand(height, width, half)
    return torch.cat((pos_y, pos_x), dim=2).reshape(1, height * width, dim)


def frozen_sine_position_embedding(height: int, width: int, dim: int) -> nn.Parameter:
    """The embedding as a non-trainable parameter, as TokenPose registers it."""
    return nn.Parameter(sine_position_embedding(height, width, dim), requires_grad=False)
