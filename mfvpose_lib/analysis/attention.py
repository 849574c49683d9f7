"""Readings of recorded attention maps: one layer's keypoint rows, the rollout, distances.

The maps come from :class:`~mfvpose_lib.layers.AttentionRecorder`: one
``(B, heads, K + N, K + N)`` tensor per encoder layer, keypoint tokens first.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch


def head_map(layer_map: torch.Tensor, head: int | None) -> torch.Tensor:
    """(heads, T, T) -> (T, T): one head, or the mean over heads when ``head`` is None."""
    if head is None:
        return layer_map.float().mean(dim=0)
    if not -layer_map.shape[0] <= head < layer_map.shape[0]:
        raise IndexError(f"head {head} out of range for a layer with {layer_map.shape[0]} heads")
    return layer_map[head].float()


def keypoint_attention(
    maps: Sequence[torch.Tensor],
    num_keypoints: int,
    grid: tuple[int, int],
    *,
    layer: int = -1,
    sample: int = 0,
    head: int | None = None,
) -> np.ndarray:
    """(K, gh, gw): how much each keypoint token attends to each patch in one layer (0-based
    ``layer`` index into ``maps``), for one head or averaged over heads (``head=None``)."""
    attn = head_map(maps[layer][sample], head)  # (K + N, K + N)
    gh, gw = grid
    return attn[:num_keypoints, num_keypoints:].reshape(num_keypoints, gh, gw).cpu().numpy()


def attention_rollout(
    maps: Sequence[torch.Tensor],
    *,
    sample: int = 0,
    head: int | None = None,
    last_layer: int | None = None,
    residual_weight: float = 0.5,
) -> torch.Tensor:
    """(T, T) attention rollout (Abnar & Zuidema, 2020) through layers ``0..last_layer`` (0-based).

    Each layer is modelled as ``r I + (1 - r) A`` (``r`` = ``residual_weight``, 0.5 in the
    paper), rows renormalised; the product of these matrices, later layers on the left, says
    how much of each input token ends up in each output token. Every row sums to 1.
    """
    if not maps:
        raise ValueError("attention_rollout needs at least one recorded attention map")
    if not 0.0 <= residual_weight <= 1.0:
        raise ValueError(f"residual_weight must be in [0, 1], got {residual_weight}")
    last = len(maps) - 1 if last_layer is None else range(len(maps))[last_layer]
    tokens = maps[0].shape[-1]
    eye = torch.eye(tokens)
    rollout = eye.clone()
    for layer_map in maps[: last + 1]:
        a = head_map(layer_map[sample].cpu(), head)
        a = residual_weight * eye + (1.0 - residual_weight) * a
        a = a / a.sum(dim=-1, keepdim=True)
        rollout = a @ rollout
    return rollout


def keypoint_rollout(rollout: torch.Tensor, num_keypoints: int, grid: tuple[int, int]) -> np.ndarray:
    """(K, gh, gw): the keypoint-token rows of a rollout matrix over the patch grid."""
    gh, gw = grid
    return rollout[:num_keypoints, num_keypoints:].reshape(num_keypoints, gh, gw).cpu().numpy()


def patch_distances(grid: tuple[int, int]) -> np.ndarray:
    """(N, N) Euclidean distance between patch centres, in patches, row-major over ``grid``."""
    gh, gw = grid
    ys, xs = np.divmod(np.arange(gh * gw), gw)
    return np.hypot(ys[:, None] - ys[None, :], xs[:, None] - xs[None, :])


def attention_distance(
    maps: Sequence[torch.Tensor], num_keypoints: int, grid: tuple[int, int]
) -> pd.DataFrame:
    """Mean attention distance (ViT, Dosovitskiy et al. 2021, Fig. 7) per layer and head.

    For every patch query, the distance (in patches) to every patch key weighted by the
    attention it pays to the patches (renormalised over the patches), averaged over the
    queries and the batch. Rows: ``layer`` (1-based), ``head`` (0-based), ``distance``.
    """
    dist = torch.as_tensor(patch_distances(grid), dtype=torch.float32)
    rows = []
    for layer, layer_map in enumerate(maps, start=1):
        patch = layer_map[:, :, num_keypoints:, num_keypoints:].float().cpu()  # (B, H, N, N)
        patch = patch / patch.sum(dim=-1, keepdim=True).clamp_min(1e-12)
        per_head = (patch * dist).sum(dim=-1).mean(dim=(0, 2))  # (H,)
        rows += [{"layer": layer, "head": h, "distance": float(d)} for h, d in enumerate(per_head)]
    return pd.DataFrame(rows)


def keypoint_block(
    maps: Sequence[torch.Tensor], num_keypoints: int, *, layer: int = -1, head: int | None = None
) -> np.ndarray:
    """(K, K): attention of keypoint tokens to keypoint tokens in one layer (0-based), mean over
    the batch (and heads when ``head`` is None). Rows do not sum to 1: the rest went to patches."""
    layer_map = maps[layer].float().cpu().mean(dim=0)  # (H, T, T)
    return head_map(layer_map, head)[:num_keypoints, :num_keypoints].numpy()
