"""Pictures of the Transformer side: patches, position embedding, LayerScale, attention maps.

The attention maps are recorded by :class:`~mfvpose_lib.analysis.attention.AttentionRecorder`,
and the readings drawn here (one layer's keypoint-token rows, the attention rollout of Abnar &
Zuidema, ACL 2020, across layers) are computed in :mod:`mfvpose_lib.analysis.attention`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from mfvpose_lib.viz.overlay import MAX_OPACITY, draw_over_image


def plot_patch_grid(image: np.ndarray, patch_pixels: tuple[int, int], *, title: str = "") -> Figure:
    """The crop with the borders of the patches (``patch_pixels`` = patch size x 4 in input pixels)."""
    h, w = image.shape[:2]
    ph, pw = patch_pixels
    fig, ax = plt.subplots(figsize=(3.2, 3.2 * h / w))
    ax.imshow(image)
    for y in range(0, h + 1, ph):
        ax.axhline(y - 0.5, color="white", lw=0.5, alpha=0.7)
    for x in range(0, w + 1, pw):
        ax.axvline(x - 0.5, color="white", lw=0.5, alpha=0.7)
    ax.set_title(title or f"{h // ph}x{w // pw} patches of {ph}x{pw} input pixels", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    return fig


def plot_position_embedding(
    pos: torch.Tensor, grid: tuple[int, int], *, channels: Sequence[int] | None = None
) -> Figure:
    """Top: some channels of the sine embedding over the patch grid (rows use the first half
    of the channels, columns the second). Bottom: cosine similarity of a few patches'
    embeddings to every patch -- the embedding makes near patches similar."""
    gh, gw = grid
    emb = pos.detach().reshape(gh * gw, -1).float().cpu()
    dim = emb.shape[1]
    channels = (
        list(channels) if channels is not None else [0, 1, dim // 4, dim // 2, dim // 2 + 1, 3 * dim // 4]
    )
    unit = emb / emb.norm(dim=1, keepdim=True)
    queries = [(0, 0), (gh // 2, gw // 2), (gh - 1, gw // 3)]
    cols = max(len(channels), len(queries))
    fig, axes = plt.subplots(2, cols, figsize=(1.9 * cols, 4.4), squeeze=False)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_visible(False)
    for ax, c in zip(axes[0], channels):
        ax.set_visible(True)
        ax.imshow(emb[:, c].reshape(gh, gw), cmap="coolwarm", vmin=-1, vmax=1)
        ax.set_title(f"channel {c} ({'row' if c < dim // 2 else 'col'})", fontsize=8)
    for ax, (qy, qx) in zip(axes[1], queries):
        ax.set_visible(True)
        sim = (unit @ unit[qy * gw + qx]).reshape(gh, gw)
        ax.imshow(sim, cmap="viridis")
        ax.plot(qx, qy, "r+", ms=8)
        ax.set_title(f"similarity to patch ({qy},{qx})", fontsize=8)
    fig.tight_layout()
    return fig


def plot_residual_ratios(ratios: Mapping[str, Sequence[tuple[str, float]]]) -> Figure:
    """``||branch|| / ||stream||`` of every residual branch, one line per model variant (log scale)."""
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    for label, values in ratios.items():
        ys = [v for _, v in values]
        ax.plot(range(1, len(ys) + 1), ys, marker="o", ms=3, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("residual branch (attention and FFN alternate)")
    ax.set_ylabel("branch norm / stream norm")
    ax.set_title("How much each residual branch moves the token stream at initialisation", fontsize=10)
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


#: A view of one or two panels is a close-up: drawn at grid size it would be a thumbnail.
CLOSE_UP = 1.6


def panel_grid(count: int, cols: int, panel_size: tuple[float, float]):
    """A figure of ``count`` tick-free panels in rows of at most ``cols``; unused cells hidden.
    One or two panels are drawn :data:`CLOSE_UP` times larger."""
    if count <= 2:
        panel_size = (panel_size[0] * CLOSE_UP, panel_size[1] * CLOSE_UP)
    cols = max(1, min(cols, count))
    rows = (count + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(panel_size[0] * cols, panel_size[1] * rows), squeeze=False)
    for i, ax in enumerate(axes.ravel()):
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_visible(i < count)
    return fig, list(axes.ravel()[:count])


SCALES = ("per panel", "shared")


def plot_keypoint_attention(
    attention: np.ndarray,
    *,
    image: np.ndarray | None = None,
    keypoint_names: Sequence[str] | None = None,
    keypoints: Sequence[int] | None = None,
    cols: int = 6,
    title: str = "",
    points: np.ndarray | None = None,
    notes: Sequence[str] | None = None,
    cmap: str = "viridis",
    alpha: float = MAX_OPACITY,
    scale: str = "per panel",
) -> Figure:
    """Attention of keypoint tokens to the patches, upsampled over the crop when ``image`` is given.

    ``scale="per panel"``: each panel has its own colour range (an untrained model's near-uniform
    maps look busy), each with a colour bar; ``"shared"``: one range over all panels and one
    colour bar, so panels compare. ``cmap`` should be perceptually uniform (viridis, magma);
    ``alpha`` is the opacity of the map where it is strongest (the crop, in grey, shows through
    where it is weak: :func:`~mfvpose_lib.viz.overlay.draw_over_image`). ``points`` (K, 2), (x, y)
    crop pixels, marks each keypoint's predicted location; ``notes`` (one per keypoint) go under
    the titles.
    """
    if scale not in SCALES:
        raise ValueError(f"unknown colour scale {scale!r}; choose one of {', '.join(SCALES)}")
    keypoints = list(keypoints) if keypoints is not None else list(range(attention.shape[0]))
    fig, panels = panel_grid(len(keypoints), cols, (2.1, 2.4))
    shared = (float(attention[keypoints].min()), float(attention[keypoints].max()))
    im = None
    for ax, k in zip(panels, keypoints):
        a = attention[k]
        vmin, vmax = shared if scale == "shared" else (float(a.min()), float(a.max()))
        if image is not None:
            h, w = image.shape[:2]
            im = draw_over_image(ax, image, a, cmap=cmap, vmin=vmin, vmax=vmax, alpha=alpha)
        else:
            im = ax.imshow(a, cmap=cmap, vmin=vmin, vmax=vmax)
        if scale == "per panel":
            bar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
            bar.ax.tick_params(labelsize=7)
            bar.ax.locator_params(nbins=3)  # a few readable ticks on a short bar
        if points is not None and image is not None:
            ax.plot(points[k, 0], points[k, 1], "w+", ms=9, mew=2)
            ax.set_xlim(-0.5, w - 0.5)  # a point on the border must not widen the panel
            ax.set_ylim(h - 0.5, -0.5)
        label = keypoint_names[k] if keypoint_names else f"keypoint {k}"
        if notes is not None:
            label = f"{label}\n{notes[k]}"
        ax.set_title(label, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    if scale == "shared" and im is not None:
        bar = fig.colorbar(im, ax=panels, fraction=0.02, pad=0.02)
        bar.set_label("attention (shared scale)", fontsize=8)
    return fig
