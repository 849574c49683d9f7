"""Heatmap codec: keypoints → Gaussian target heatmaps, heatmaps → keypoints.

Encoding follows the reference code's ``generate_target``: a Gaussian of ``sigma`` in heatmap
pixels, cut to a (6σ+1)-wide window, peak 1, and a target weight that is the joint's visibility
(0 when the window falls entirely outside the heatmap). Two centrings exist:
``unbiased=False`` rounds the centre to an integer heatmap pixel (HRNet / SimpleBaseline);
``unbiased=True`` centres it at the exact sub-pixel location (TokenPose / DARK), which removes a
quantisation error of up to half a heatmap pixel (two input pixels at stride 4).

Decoding: argmax with HRNet's quarter-pixel step towards the larger neighbour, or DARK
(Gaussian blur of the heatmap, log, second-order Taylor step). All functions are vectorised over
samples and joints; there is no Python loop per joint.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.ndimage import convolve1d

from mfvpose_lib.data.geometry import PIXEL_STD


def encode_heatmaps(
    joints: np.ndarray,
    *,
    input_size: Sequence[int],
    heatmap_size: Sequence[int],
    sigma: float = 2.0,
    unbiased: bool = False,
    joint_weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian targets for joints given in input-crop pixel coordinates.

    ``joints``: (K, 3) or (N, K, 3) of x, y, visibility; ``input_size`` and ``heatmap_size``
    are (H, W). Returns ``target`` float32 (…, K, h, w) and ``target_weight`` float32 (…, K, 1).
    ``joint_weights`` (K,) multiplies the weights (HRNet's per-joint weighting).
    """
    joints = np.asarray(joints, dtype=np.float32)
    single = joints.ndim == 2
    if single:
        joints = joints[None]
    if joints.ndim != 3 or joints.shape[-1] < 3:
        raise ValueError(f"joints must be (K, 3) or (N, K, 3), got {joints.shape}")
    in_h, in_w = input_size
    hm_h, hm_w = heatmap_size
    stride = np.array([in_w / hm_w, in_h / hm_h], dtype=np.float32)
    tmp_size = sigma * 3

    exact = joints[..., :2] / stride  # (N, K, 2) in heatmap pixels
    rounded = np.trunc(exact + 0.5)  # int(x + 0.5) of the reference code
    mu = exact if unbiased else rounded
    # Window bounds as the reference: ul = int(mu - 3σ), br = int(mu + 3σ + 1) (exclusive)
    ul = np.trunc(mu - tmp_size)
    br = np.trunc(mu + tmp_size + 1)
    weight = (joints[..., 2] > 0).astype(np.float32)
    outside = (ul[..., 0] >= hm_w) | (ul[..., 1] >= hm_h) | (br[..., 0] < 0) | (br[..., 1] < 0)
    weight = np.where(outside, 0.0, weight).astype(np.float32)

    xs = np.arange(hm_w, dtype=np.float32)
    ys = np.arange(hm_h, dtype=np.float32)
    two_s2 = 2.0 * sigma * sigma
    # Separable: exp(-(dx²+dy²)/2σ²) = gx · gy, and the square window is a product of 1-D boxes.
    gx = np.exp(-((xs - mu[..., 0:1]) ** 2) / two_s2)
    gx *= (xs >= ul[..., 0:1]) & (xs < br[..., 0:1])
    gy = np.exp(-((ys - mu[..., 1:2]) ** 2) / two_s2)
    gy *= (ys >= ul[..., 1:2]) & (ys < br[..., 1:2])
    gy *= (weight > 0.5)[..., None]
    target = (gy[..., :, None] * gx[..., None, :]).astype(np.float32)

    if joint_weights is not None:
        weight = weight * np.asarray(joint_weights, dtype=np.float32)
    weight = weight[..., None]
    if single:
        return target[0], weight[0]
    return target, weight


def get_max_preds(heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer argmax (x, y) per heatmap and its value; coords are zeroed where the max is ≤ 0."""
    heatmaps = _as_4d(heatmaps)
    n, k, h, w = heatmaps.shape
    flat = heatmaps.reshape(n, k, h * w)
    idx = flat.argmax(axis=2)
    maxvals = np.take_along_axis(flat, idx[..., None], axis=2).astype(np.float32)
    coords = np.stack([idx % w, idx // w], axis=-1).astype(np.float32)
    coords *= maxvals > 0.0
    return coords, maxvals


def decode_heatmaps(
    heatmaps: np.ndarray,
    method: str = "dark",
    blur_kernel: int = 11,
) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints in heatmap pixel coordinates from (N, K, h, w) heatmaps.

    ``method="quarter"``: argmax moved a quarter pixel towards the larger neighbour (HRNet).
    ``method="dark"``: argmax refined by a Newton step on the log of the blurred heatmap
    (DARK, as TokenPose). Returns coords (N, K, 2) and maxvals (N, K, 1) (taken before refinement).
    """
    heatmaps = _as_4d(np.asarray(heatmaps, dtype=np.float32))
    coords, maxvals = get_max_preds(heatmaps)
    if method == "quarter":
        return _quarter_offset(heatmaps, coords), maxvals
    if method == "dark":
        return _dark_refine(heatmaps, coords, blur_kernel), maxvals
    if method == "argmax":
        return coords, maxvals
    raise ValueError(f"unknown decoding method {method!r}; use 'dark', 'quarter' or 'argmax'")


def _as_4d(heatmaps: np.ndarray) -> np.ndarray:
    if hasattr(heatmaps, "detach"):
        heatmaps = heatmaps.detach().cpu().numpy()
    heatmaps = np.asarray(heatmaps)
    if heatmaps.ndim != 4:
        raise ValueError(f"heatmaps must be (N, K, h, w), got shape {heatmaps.shape}")
    return heatmaps


def _quarter_offset(heatmaps: np.ndarray, coords: np.ndarray) -> np.ndarray:
    n, k, h, w = heatmaps.shape
    px = np.floor(coords[..., 0] + 0.5).astype(np.int64)
    py = np.floor(coords[..., 1] + 0.5).astype(np.int64)
    inside = (px > 1) & (px < w - 1) & (py > 1) & (py < h - 1)
    pxc = np.clip(px, 1, w - 2)
    pyc = np.clip(py, 1, h - 2)
    ni, ki = np.meshgrid(np.arange(n), np.arange(k), indexing="ij")
    dx = heatmaps[ni, ki, pyc, pxc + 1] - heatmaps[ni, ki, pyc, pxc - 1]
    dy = heatmaps[ni, ki, pyc + 1, pxc] - heatmaps[ni, ki, pyc - 1, pxc]
    offset = np.stack([np.sign(dx), np.sign(dy)], axis=-1) * 0.25
    return coords + offset * inside[..., None]


def gaussian_kernel_1d(kernel: int) -> np.ndarray:
    """OpenCV's ``getGaussianKernel(kernel, 0)``: σ = 0.3((k-1)/2 - 1) + 0.8, normalised."""
    sigma = 0.3 * ((kernel - 1) * 0.5 - 1) + 0.8
    x = np.arange(kernel, dtype=np.float64) - (kernel - 1) / 2
    g = np.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def blur_heatmaps(heatmaps: np.ndarray, kernel: int = 11) -> np.ndarray:
    """DARK's modulation: Gaussian blur with zero padding, rescaled to keep each map's maximum."""
    g = gaussian_kernel_1d(kernel)
    orig_max = heatmaps.max(axis=(2, 3), keepdims=True)
    out = convolve1d(heatmaps.astype(np.float64), g, axis=3, mode="constant", cval=0.0)
    out = convolve1d(out, g, axis=2, mode="constant", cval=0.0)
    new_max = out.max(axis=(2, 3), keepdims=True)
    scale = np.divide(orig_max, new_max, out=np.zeros_like(new_max), where=new_max != 0)
    return out * scale


def _dark_refine(heatmaps: np.ndarray, coords: np.ndarray, blur_kernel: int) -> np.ndarray:
    n, k, h, w = heatmaps.shape
    logh = np.log(np.maximum(blur_heatmaps(heatmaps, blur_kernel), 1e-10))
    px = coords[..., 0].astype(np.int64)
    py = coords[..., 1].astype(np.int64)
    inside = (px > 1) & (px < w - 2) & (py > 1) & (py < h - 2)
    px = np.clip(px, 2, w - 3)
    py = np.clip(py, 2, h - 3)
    ni, ki = np.meshgrid(np.arange(n), np.arange(k), indexing="ij")

    def at(dy: int, dx: int) -> np.ndarray:
        return logh[ni, ki, py + dy, px + dx]

    center = at(0, 0)
    dx = 0.5 * (at(0, 1) - at(0, -1))
    dy = 0.5 * (at(1, 0) - at(-1, 0))
    dxx = 0.25 * (at(0, 2) - 2 * center + at(0, -2))
    dxy = 0.25 * (at(1, 1) - at(-1, 1) - at(1, -1) + at(-1, -1))
    dyy = 0.25 * (at(2, 0) - 2 * center + at(-2, 0))
    det = dxx * dyy - dxy**2
    ok = inside & (det != 0)
    safe_det = np.where(ok, det, 1.0)
    # offset = -H^{-1} g with H^{-1} = [[dyy, -dxy], [-dxy, dxx]] / det
    off_x = -(dyy * dx - dxy * dy) / safe_det
    off_y = -(-dxy * dx + dxx * dy) / safe_det
    offset = np.stack([off_x, off_y], axis=-1) * ok[..., None]
    return (coords + offset).astype(np.float32)


def flip_back(heatmaps, flip_pairs: Sequence[tuple[int, int]], shift: bool = False):
    """Undo a horizontal flip on (N, K, h, w) heatmaps predicted from a flipped image.

    Mirrors the width axis and swaps each left/right channel pair. ``shift=True`` moves the
    maps one pixel right (HRNet's ``SHIFT_HEATMAP``, compensating the flip's off-by-one on even
    widths); TokenPose uses no shift. Works on numpy arrays and torch tensors.
    """
    k = heatmaps.shape[1]
    perm = list(range(k))
    for a, b in flip_pairs:
        perm[a], perm[b] = b, a
    if hasattr(heatmaps, "flip"):  # torch
        out = heatmaps.flip(3)[:, perm]
        if shift:
            out = out.clone()
            out[..., 1:] = out[..., :-1].clone()
        return out
    out = np.ascontiguousarray(np.asarray(heatmaps)[..., ::-1][:, perm])
    if shift:
        out[..., 1:] = out[..., :-1].copy()
    return out


def heatmap_to_image_coords(
    coords: np.ndarray,
    center: np.ndarray,
    scale: np.ndarray,
    heatmap_size: Sequence[int],
    pixel_std: float = PIXEL_STD,
) -> np.ndarray:
    """Heatmap (x, y) → original image pixels, as HRNet's ``transform_preds`` (no rotation).

    ``coords`` (N, K, 2); ``center``, ``scale`` (N, 2); ``heatmap_size`` (h, w). The heatmap
    centre maps to ``center`` and the heatmap width to ``scale[0] * 200`` pixels (both axes use
    the width factor, as the reference does).
    """
    coords = np.asarray(coords, dtype=np.float64)
    center = np.asarray(center, dtype=np.float64).reshape(-1, 1, 2)
    scale = np.asarray(scale, dtype=np.float64).reshape(-1, 1, 2)
    hm_h, hm_w = heatmap_size
    factor = scale[..., 0:1] * pixel_std / hm_w
    half = np.array([hm_w * 0.5, hm_h * 0.5])
    return ((coords - half) * factor + center).astype(np.float32)
