"""Keypoint-token statistics: similarity of the learned tokens and of their outputs per layer.

TokenPose learns one input token per keypoint; what each has become after every encoder
layer is read with forward hooks on the layers (the model's forward is unchanged). Orders
follow the data set's skeleton (:func:`skeleton_order`), so neighbouring joints sit side by
side in the similarity matrices.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn as nn

from mfvpose_lib.analysis.attention import layer_number
from mfvpose_lib.layers.transformer import EncoderLayer


def skeleton_order(num_keypoints: int, skeleton: Sequence[tuple[int, int]], start: int = 0) -> list[int]:
    """Keypoints in depth-first order over the skeleton from ``start``; joints the skeleton
    does not reach follow in index order. Every index appears once."""
    neighbours: dict[int, list[int]] = {k: [] for k in range(num_keypoints)}
    for a, b in skeleton:
        neighbours[a].append(b)
        neighbours[b].append(a)
    order: list[int] = []
    stack = [start]
    while stack:
        k = stack.pop()
        if k in order:
            continue
        order.append(k)
        stack.extend(sorted((n for n in neighbours[k] if n not in order), reverse=True))
    return order + [k for k in range(num_keypoints) if k not in order]


def cosine_matrix(vectors: torch.Tensor | np.ndarray) -> np.ndarray:
    """(K, D) -> (K, K) cosine similarity between rows."""
    v = torch.as_tensor(np.asarray(vectors), dtype=torch.float64)
    v = v / v.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return (v @ v.T).numpy()


def _encoder_layers(model: nn.Module) -> list[EncoderLayer]:
    layers = [m for m in model.modules() if isinstance(m, EncoderLayer)]
    if not layers:
        raise TypeError(f"{type(model).__name__} has no Transformer encoder layers")
    return layers


@torch.no_grad()
def keypoint_token_similarity(model: nn.Module, images: torch.Tensor) -> dict[str, np.ndarray]:
    """Cosine similarity (K, K) of the learned input keypoint tokens (``"input"``) and of the
    keypoint-token outputs of every encoder layer (``"layer 1"``, ..., by :func:`layer_number`), mean over ``images``
    (B, 3, H, W). Model order (keypoint index); reorder with :func:`skeleton_order`."""
    k = model.cfg.num_keypoints
    outputs: dict[int, list[torch.Tensor]] = {}
    layers = _encoder_layers(model)

    def hook(index: int):
        def record(_m, _args, out: torch.Tensor) -> None:
            outputs.setdefault(index, []).append(out[:, :k].detach().float().cpu())

        return record

    handles = [layer.register_forward_hook(hook(i)) for i, layer in enumerate(layers)]
    was_training = model.training
    model.eval()
    try:
        model(images.to(next(model.parameters()).device))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    result = {"input": cosine_matrix(model.transformer.keypoint_token.detach()[0].float().cpu())}
    for i in range(len(layers)):
        tokens = torch.cat(outputs[i])  # (B, K, D)
        result[f"layer {layer_number(i, len(layers))}"] = np.mean([cosine_matrix(t) for t in tokens], axis=0)
    return result


def similarity_summary(matrices: dict[str, np.ndarray], skeleton: Sequence[tuple[int, int]]) -> pd.DataFrame:
    """Per matrix: mean off-diagonal cosine similarity, over skeleton limbs and over the rest."""
    rows = []
    for label, sim in matrices.items():
        k = sim.shape[0]
        limb = np.zeros((k, k), dtype=bool)
        for a, b in skeleton:
            limb[a, b] = limb[b, a] = True
        off = ~np.eye(k, dtype=bool)
        rows.append(
            {
                "tokens": label,
                "mean cos (all pairs)": float(sim[off].mean()),
                "mean cos (limbs)": float(sim[limb].mean()),
                "mean cos (not limbs)": float(sim[off & ~limb].mean()),
            }
        )
    return pd.DataFrame(rows)


def order_text(order: Sequence[int], names: Sequence[str], width: int = 100) -> str:
    """The names in ``order`` joined by arrows, broken into lines between names, never inside one."""
    return textwrap.fill(" → ".join(names[k] for k in order), width, break_long_words=False, break_on_hyphens=False)
