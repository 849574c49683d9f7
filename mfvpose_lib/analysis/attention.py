"""Readings of recorded attention maps: one layer's keypoint rows, the rollout, distances.

The maps come from :class:`AttentionRecorder` (hooks on every attention of a model): one
``(B, heads, K + N, K + N)`` tensor per encoder layer, keypoint tokens first.

Layer and head indices -- the one rule for the analysis, the pictures and the explorers
---------------------------------------------------------------------------------------
A ``layer`` or ``head`` argument is a 0-based Python index, read as ``maps[layer][:, head]``:
``layer=0`` is the first encoder layer, ``layer=-1`` the last, ``head=-1`` the last head.
``head=None`` is the mean over the heads. Every function that takes one resolves it with
:func:`resolve_index`, which raises an IndexError naming the valid range. For people, layers
are numbered from 1 (titles, the explorer's layer slider, the ``layer`` column of tables):
:func:`layer_number` is the one place that adds the 1. Heads have no order, so their labels are
the index itself (:func:`head_label`).
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType

import numpy as np
import pandas as pd
import torch
import torch.nn as nn

from mfvpose_lib.layers.attention import Attention


def resolve_index(index: int, count: int, what: str) -> int:
    """``index`` of one of ``count`` layers or heads (``what``), as 0..count-1; negative counts
    from the end. An IndexError names the valid range."""
    if not -count <= index < count:
        raise IndexError(
            f"{what} {index} out of range: there are {count} {what}s, indices 0..{count - 1} "
            f"(or -{count}..-1 from the end)"
        )
    return index % count


def layer_number(layer: int, num_layers: int) -> int:
    """The number people read for a layer index: counted from 1."""
    return resolve_index(layer, num_layers, "layer") + 1


def head_label(head: int | None) -> str:
    """How titles and controls name a head choice (``None``: the mean over heads)."""
    return "mean over heads" if head is None else f"head {head}"


def head_map(layer_map: torch.Tensor, head: int | None) -> torch.Tensor:
    """(heads, T, T) -> (T, T): one head, or the mean over heads when ``head`` is None."""
    if head is None:
        return layer_map.float().mean(dim=0)
    return layer_map[resolve_index(head, layer_map.shape[0], "head")].float()


def layer_of(maps: Sequence[torch.Tensor], layer: int) -> torch.Tensor:
    """The recorded map of layer index ``layer``."""
    return maps[resolve_index(layer, len(maps), "layer")]


def keypoint_attention(
    maps: Sequence[torch.Tensor],
    num_keypoints: int,
    grid: tuple[int, int],
    *,
    layer: int = -1,
    sample: int = 0,
    head: int | None = None,
) -> np.ndarray:
    """(K, gh, gw): how much each keypoint token attends to each patch in one layer, for one
    head or averaged over heads."""
    attn = head_map(layer_of(maps, layer)[sample], head)  # (K + N, K + N)
    gh, gw = grid
    return attn[:num_keypoints, num_keypoints:].reshape(num_keypoints, gh, gw).cpu().numpy()


def attention_rollout(
    maps: Sequence[torch.Tensor],
    *,
    sample: int = 0,
    head: int | None = None,
    last_layer: int = -1,
    residual_weight: float = 0.5,
) -> torch.Tensor:
    """(T, T) attention rollout (Abnar & Zuidema, 2020) from the first layer through ``last_layer``.

    Each layer is modelled as ``r I + (1 - r) A`` (``r`` = ``residual_weight``, 0.5 in the
    paper), rows renormalised; the product of these matrices, later layers on the left, says
    how much of each input token ends up in each output token. Every row sums to 1.
    """
    if not maps:
        raise ValueError("attention_rollout needs at least one recorded attention map")
    if not 0.0 <= residual_weight <= 1.0:
        raise ValueError(f"residual_weight must be in [0, 1], got {residual_weight}")
    last = resolve_index(last_layer, len(maps), "layer")
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
    queries and the batch. Rows: ``layer`` (its :func:`layer_number`), ``head`` (index), ``distance``.
    """
    dist = torch.as_tensor(patch_distances(grid), dtype=torch.float32)
    rows = []
    for layer, layer_map in enumerate(maps):
        patch = layer_map[:, :, num_keypoints:, num_keypoints:].float().cpu()  # (B, H, N, N)
        patch = patch / patch.sum(dim=-1, keepdim=True).clamp_min(1e-12)
        per_head = (patch * dist).sum(dim=-1).mean(dim=(0, 2))  # (H,)
        number = layer_number(layer, len(maps))
        rows += [{"layer": number, "head": h, "distance": float(d)} for h, d in enumerate(per_head)]
    return pd.DataFrame(rows)


def keypoint_block(
    maps: Sequence[torch.Tensor], num_keypoints: int, *, layer: int = -1, head: int | None = None
) -> np.ndarray:
    """(K, K): attention of keypoint tokens to keypoint tokens in one layer, mean over the batch
    (and heads when ``head`` is None). Rows do not sum to 1: the rest went to patches."""
    layer_map = layer_of(maps, layer).float().cpu().mean(dim=0)  # (H, T, T)
    return head_map(layer_map, head)[:num_keypoints, :num_keypoints].numpy()


class AttentionRecorder:
    """Context manager that records the attention maps of every :class:`Attention` in a model.

    Usage::

        with AttentionRecorder(model) as rec:
            model(images)
        rec.maps  # list, one (B, heads, N, N) tensor per attention layer, in module order

    Each call of the model appends one map per layer; ``rec.maps`` holds the maps of the
    last call and ``rec.calls`` all of them. Maps are detached and moved to ``device``
    (CPU by default) as they are produced. On exit the hooks are removed and every
    attention's ``fused`` flag is restored.
    """

    def __init__(self, model: nn.Module, *, device: str | torch.device = "cpu") -> None:
        self.model = model
        self.device = torch.device(device)
        self.names = [name for name, m in model.named_modules() if isinstance(m, Attention)]
        if not self.names:
            raise ValueError(f"{type(model).__name__} contains no Attention module to record")
        self.calls: list[list[torch.Tensor]] = []
        self._handles: list[torch.utils.hooks.RemovableHandle] = []
        self._saved_fused: dict[str, bool] = {}
        self._pending: dict[int, torch.Tensor] = {}

    @property
    def maps(self) -> list[torch.Tensor]:
        """Maps of the last forward call, one per attention layer."""
        return self.calls[-1] if self.calls else []

    def _hook(self, index: int):
        def record(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
            self._pending[index] = output.detach().to(self.device)
            if len(self._pending) == len(self.names):
                self.calls.append([self._pending[i] for i in range(len(self.names))])
                self._pending = {}

        return record

    def __enter__(self) -> AttentionRecorder:
        modules = dict(self.model.named_modules())
        for index, name in enumerate(self.names):
            attn = modules[name]
            self._saved_fused[name] = attn.fused
            attn.fused = False
            self._handles.append(attn.attend.register_forward_hook(self._hook(index)))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
        if self._pending:  # a forward that ran only some of the layers
            self.calls.append([self._pending[i] for i in sorted(self._pending)])
            self._pending = {}
        modules = dict(self.model.named_modules())
        for name, fused in self._saved_fused.items():
            modules[name].fused = fused
        self._saved_fused = {}
