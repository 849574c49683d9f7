"""Heatmap codec: keypoints → Gaussian target heatmaps, heatmaps → keypoints.

:class:`HeatmapCodec` is the one object that converts between pixels and heatmaps. Every model
carries one (``models.codec.model_codec``) and saves it in its checkpoints; training targets,
evaluation, prediction, the pictures, the explorers, attributions and TensorBoard all go
through it. Its coordinate contract, as MMPose's codecs have it:

- ``encode(joints in crop pixels)`` → target heatmaps and weights;
- ``decode(heatmaps)`` → keypoints in **crop pixels** (``locate`` gives the heatmap pixels);
- ``crop_to_image`` / ``image_to_crop`` map crop ↔ original image for each person;
- ``crop_to_heatmap`` / ``heatmap_to_crop`` are exact inverses, defined per crop **geometry**
  (:mod:`mfvpose_lib.codecs.geometry`), from which the flip-test alignment is derived too.

Encoding follows the reference code's ``generate_target``: a Gaussian of ``sigma`` in heatmap
pixels, peak 1, cut to a (6σ+1)-wide window (HRNet) or over the whole map (TokenPose), and a
target weight that is the joint's visibility (0 when the window falls entirely outside the
heatmap). The centre is rounded to an integer heatmap pixel (HRNet / SimpleBaseline) or kept at
the exact sub-pixel location (TokenPose / DARK).

Decoding: argmax with HRNet's quarter-pixel step towards the larger neighbour, or DARK
(Gaussian blur of the heatmap, log, second-order Taylor step). All functions are vectorised over
samples and joints; there is no Python loop per joint.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np
from scipy.ndimage import convolve1d, map_coordinates
from scipy.ndimage import shift as subpixel_shift

from mfvpose_lib.codecs.geometry import (
    BOX_PADDING,
    box_extent,
    box_to_center_scale,
    check_geometry,
    crop_frame,
    crop_to_heatmap_affine,
    flip_misalignment,
    get_affine_transform,
    rotation_matrix,
)


def gaussian_targets(
    joints_hm: np.ndarray,
    heatmap_size: Sequence[int],
    *,
    sigma: float = 2.0,
    integer_centre: bool = False,
    window: bool = True,
    joint_weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian targets for joints already in heatmap pixels ((K, 3) or (N, K, 3)).

    ``integer_centre`` rounds the centre as HRNet's ``int(x + 0.5)``; ``window`` cuts the
    Gaussian to the (6σ+1)² square of HRNet (TokenPose draws it over the whole map). The
    weight is 0 for invisible joints and for joints whose window lies off the map, either way.
    """
    joints = np.asarray(joints_hm, dtype=np.float32)
    single = joints.ndim == 2
    if single:
        joints = joints[None]
    if joints.ndim != 3 or joints.shape[-1] < 3:
        raise ValueError(f"joints must be (K, 3) or (N, K, 3), got {joints.shape}")
    hm_h, hm_w = heatmap_size
    tmp_size = sigma * 3

    exact = joints[..., :2]
    mu = np.trunc(exact + 0.5) if integer_centre else exact  # int(x + 0.5) of the reference code
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
    gy = np.exp(-((ys - mu[..., 1:2]) ** 2) / two_s2)
    if window:
        gx *= (xs >= ul[..., 0:1]) & (xs < br[..., 0:1])
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


TARGET_KINDS = ("integer", "subpixel")
DECODERS = ("dark", "quarter", "argmax")
FLIP_ALIGNMENTS = ("exact", "hrnet_1px", "none")


@dataclass(frozen=True)
class HeatmapCodec:
    """Crop geometry, target encoding, decoding and flip alignment of one model, in one place.

    ``input_size`` and ``heatmap_size`` are (H, W). ``target``: ``"integer"`` (HRNet's rounded
    centre) or ``"subpixel"``; ``target_window`` cuts the Gaussian to 6σ+1 (HRNet) or not
    (TokenPose). ``decoder``: ``"dark"`` (with ``blur_kernel``), ``"quarter"`` or ``"argmax"``.
    ``flip_alignment``: ``"exact"`` moves the flipped-back heatmap by the misalignment the
    geometry implies (0.75 px at stride 4 for HRNet's geometry, 0 for TokenPose's and UDP's);
    ``"hrnet_1px"`` is HRNet's ``SHIFT_HEATMAP`` (for reproducing its published rows);
    ``"none"`` mirrors only.
    """

    input_size: tuple[int, int]
    heatmap_size: tuple[int, int]
    sigma: float = 2.0
    geometry: str = "tokenpose"
    target: str = "subpixel"
    target_window: bool = False
    decoder: str = "dark"
    blur_kernel: int = 11
    flip_alignment: str = "exact"

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_size", tuple(int(v) for v in self.input_size))
        object.__setattr__(self, "heatmap_size", tuple(int(v) for v in self.heatmap_size))
        check_geometry(self.geometry)
        for name, value, allowed in (("target", self.target, TARGET_KINDS), ("decoder", self.decoder, DECODERS),
                                     ("flip_alignment", self.flip_alignment, FLIP_ALIGNMENTS)):  # fmt: skip
            if value not in allowed:
                raise ValueError(f"codec {name} must be one of {', '.join(allowed)}, got {value!r}")
        if not self.sigma > 0 or self.blur_kernel < 3 or self.blur_kernel % 2 == 0:
            raise ValueError(f"codec needs sigma > 0 and an odd blur kernel ≥ 3, got {self.sigma}, {self.blur_kernel}")

    # --- coordinates: crop pixels are the codec's currency ----------------------------------
    @property
    def input_wh(self) -> tuple[int, int]:
        return self.input_size[1], self.input_size[0]

    def crop_transform(self, center, scale, rotation: float = 0.0) -> np.ndarray:
        """2x3 image → crop matrix of this geometry."""
        return get_affine_transform(center, scale, rotation, self.input_wh, geometry=self.geometry)

    def box_to_center_scale(self, box, padding: float = BOX_PADDING) -> tuple[np.ndarray, np.ndarray]:
        aspect = self.input_size[1] / self.input_size[0]
        return box_to_center_scale(box, aspect, padding=padding, geometry=self.geometry)

    def half_body_extent(self, points: np.ndarray) -> np.ndarray:
        """(w, h) of the box around (n, 2) joints, by this geometry's reference half-body rule."""
        return box_extent(points, self.geometry)

    def crop_to_heatmap(self, points) -> np.ndarray:
        """(..., 2) crop pixels → heatmap pixels (the reference's joint → heatmap map)."""
        a, b = crop_to_heatmap_affine(self.input_size, self.heatmap_size, self.geometry)
        return np.asarray(points, dtype=np.float64) * a + b

    def heatmap_to_crop(self, points) -> np.ndarray:
        """(..., 2) heatmap pixels → crop pixels; the exact inverse of :meth:`crop_to_heatmap`."""
        a, b = crop_to_heatmap_affine(self.input_size, self.heatmap_size, self.geometry)
        return (np.asarray(points, dtype=np.float64) - b) / a

    def heatmap_extent(self) -> tuple[float, float, float, float]:
        """(left, right, bottom, top) in crop pixels for ``imshow(heatmap, extent=...)``, so that
        each heatmap pixel is drawn where :meth:`heatmap_to_crop` puts it."""
        hm_h, hm_w = self.heatmap_size
        (left, top), (right, bottom) = self.heatmap_to_crop(np.array([[-0.5, -0.5], [hm_w - 0.5, hm_h - 0.5]]))
        return float(left), float(right), float(bottom), float(top)

    def heatmaps_on_crop(self, heatmaps) -> np.ndarray:
        """(..., h, w) heatmaps resampled (bilinear) onto the crop's (..., H, W) pixel grid by
        :meth:`crop_to_heatmap`, for pictures that blend them with the crop."""
        maps = np.asarray(_host_array(heatmaps), dtype=np.float32)
        lead, (hm_h, hm_w) = maps.shape[:-2], maps.shape[-2:]
        in_h, in_w = self.input_size
        grid = np.stack(np.meshgrid(np.arange(in_w), np.arange(in_h)), axis=-1)
        hx, hy = np.moveaxis(self.crop_to_heatmap(grid), -1, 0)
        flat = maps.reshape(-1, hm_h, hm_w)
        out = [map_coordinates(m, (hy, hx), order=1, mode="nearest") for m in flat]
        return np.stack(out).reshape(*lead, in_h, in_w) if out else np.zeros((*lead, in_h, in_w), np.float32)

    def crop_to_image(self, points, center, scale, rotation=0.0) -> np.ndarray:
        """(N, K, 2) crop pixels of N people → original image pixels, inverting
        :meth:`crop_transform` (``center``, ``scale`` (N, 2), ``rotation`` degrees, scalar or (N,))."""
        lin, offset = self._crop_frames(center, scale, rotation)
        crop = np.asarray(points, dtype=np.float64) - offset[:, None, :]
        # lin = diag(k) R with R orthonormal: lin⁻¹ = Rᵀ diag(1/k)
        return np.einsum("nij,nkj->nki", np.linalg.inv(lin), crop) + self._centers(center)[:, None, :]

    def image_to_crop(self, points, center, scale, rotation=0.0) -> np.ndarray:
        """(N, K, 2) image pixels → crop pixels of each person (:meth:`crop_transform` applied)."""
        lin, offset = self._crop_frames(center, scale, rotation)
        image = np.asarray(points, dtype=np.float64) - self._centers(center)[:, None, :]
        return np.einsum("nij,nkj->nki", lin, image) + offset[:, None, :]

    @staticmethod
    def _centers(center) -> np.ndarray:
        return np.asarray(center, dtype=np.float64).reshape(-1, 2)

    def _crop_frames(self, center, scale, rotation) -> tuple[np.ndarray, np.ndarray]:
        """Per person the linear part of the crop transform and where the box centre lands."""
        scale = np.asarray(scale, dtype=np.float64).reshape(-1, 2)
        k, dst_c = crop_frame(scale, self.input_wh, self.geometry)
        rot = np.broadcast_to(np.asarray(rotation, dtype=np.float64), (len(scale),))
        lin = k[:, :, None] * rotation_matrix(rot)
        return lin, np.broadcast_to(dst_c, (len(scale), 2))

    # --- encoding / decoding ------------------------------------------------------------
    def encode(self, joints_crop: np.ndarray, joint_weights: np.ndarray | None = None):
        """Targets (…, K, h, w) and weights (…, K, 1) for (K, 3) or (N, K, 3) joints in crop pixels."""
        joints = np.array(joints_crop, dtype=np.float32, copy=True)
        joints[..., :2] = self.crop_to_heatmap(joints[..., :2])
        return gaussian_targets(joints, self.heatmap_size, sigma=self.sigma, integer_centre=self.target == "integer",
                                window=self.target_window, joint_weights=joint_weights)  # fmt: skip

    def decode(self, heatmaps, decoder: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints (N, K, 2) in crop pixels and heatmap peaks (N, K, 1) of (N, K, h, w) maps."""
        coords, peaks = self.locate(heatmaps, decoder)
        return self.heatmap_to_crop(coords).astype(np.float32), peaks

    def locate(self, heatmaps, decoder: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The decoder's answer in heatmap pixels (for heatmap-grid pictures and tolerances)."""
        return decode_heatmaps(heatmaps, method=decoder or self.decoder, blur_kernel=self.blur_kernel)

    def labelled_points(self, target, target_weight=None) -> np.ndarray:
        """(K, 2) labelled (x, y) in crop pixels decoded from a data set item's (K, h, w) targets,
        so they sit where predictions are drawn; NaN where ``target_weight`` is 0. Arrays or
        tensors on any device."""
        target = _host_array(target).astype(np.float32, copy=False)
        points = self.decode(target[None])[0][0]
        if target_weight is not None:
            points[_host_array(target_weight).reshape(-1) <= 0] = np.nan
        return points

    def flip_back(self, heatmaps, flip_pairs, alignment: str | None = None) -> np.ndarray:
        """Heatmaps of the mirrored crop → heatmaps aligned with the unmirrored one (numpy)."""
        alignment = alignment or self.flip_alignment
        if alignment not in FLIP_ALIGNMENTS:
            raise ValueError(f"flip alignment must be one of {', '.join(FLIP_ALIGNMENTS)}, got {alignment!r}")
        heatmaps = _host_array(heatmaps.detach().float() if hasattr(heatmaps, "detach") else heatmaps)
        out = flip_back(np.asarray(heatmaps, dtype=np.float32), flip_pairs, shift=alignment == "hrnet_1px")
        offset = self.flip_offset if alignment == "exact" else 0.0
        if offset:
            # cubic-spline resampling keeps a Gaussian's mode within ~0.005 heatmap px
            out = subpixel_shift(out, (0, 0, 0, offset), order=3, mode="grid-constant", cval=0.0, prefilter=True)
        return out.astype(np.float32, copy=False)

    @property
    def flip_offset(self) -> float:
        """Heatmap pixels the exact alignment moves a flipped-back map to the right."""
        return flip_misalignment(self.input_size, self.heatmap_size, self.geometry)

    # --- bookkeeping --------------------------------------------------------------------
    def replace(self, **changes) -> HeatmapCodec:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["input_size"] = list(self.input_size)
        out["heatmap_size"] = list(self.heatmap_size)
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "codec") -> HeatmapCodec:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"{source}: unknown codec field(s) {', '.join(unknown)}")
        return cls(**values)

    def describe(self) -> str:
        target = f"{self.target} σ={self.sigma:g}" + (" windowed" if self.target_window else " full-map")
        decoder = self.decoder + (f" (blur {self.blur_kernel})" if self.decoder == "dark" else "")
        return (f"{self.geometry} geometry, {self.input_size[0]}x{self.input_size[1]} → "
                f"{self.heatmap_size[0]}x{self.heatmap_size[1]}, {target} targets, {decoder}, "
                f"flip alignment {self.flip_alignment} ({self.flip_offset:+.2f} hm px exact)")  # fmt: skip




# Public code of each family: HRNet/SimpleBaseline (integer targets, quarter offset, 1-px flip
# shift on their geometry) and TokenPose (its geometry, full-map sub-pixel targets, DARK, no
# shift). MfvPose is a TokenPose descendant and takes TokenPose's choice.
FAMILY_CODECS: dict[str, dict[str, Any]] = {
    "hrnet": dict(geometry="hrnet", target="integer", target_window=True, decoder="quarter",
                  flip_alignment="hrnet_1px"),
    "tokenpose": dict(geometry="tokenpose", target="subpixel", target_window=False, decoder="dark",
                      flip_alignment="exact"),
}  # fmt: skip


def default_sigma(input_size: Sequence[int]) -> float:
    """The references' σ: 2 heatmap px, 3 at 384x288 (their 384 configs)."""
    return 3.0 if int(input_size[0]) >= 384 else 2.0


def family_codec(family: str, input_size: Sequence[int], heatmap_size: Sequence[int], **overrides) -> HeatmapCodec:
    """The codec of a code base ``family`` (a key of :data:`FAMILY_CODECS`) at these sizes;
    ``overrides`` that are not None win."""
    if family not in FAMILY_CODECS:
        raise KeyError(f"no codec for model family {family!r}; known: {', '.join(FAMILY_CODECS)}")
    values: dict[str, Any] = dict(FAMILY_CODECS[family])
    values.update(input_size=tuple(input_size), heatmap_size=tuple(heatmap_size), sigma=default_sigma(input_size))
    values.update({k: v for k, v in overrides.items() if v is not None})
    return HeatmapCodec(**values)


def _host_array(value) -> np.ndarray:
    return value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)  # torch without importing it
