"""Heatmap codec: keypoints → Gaussian target heatmaps, heatmaps → keypoints.

:class:`HeatmapCodec` is the one object that training targets, evaluation, prediction, the
notebooks and the widgets share; it is saved in every checkpoint. It holds the input and
heatmap sizes, σ, the target kind, the decoder and the crop **geometry** (see
:mod:`mfvpose_lib.data.geometry`), from which the flip-test alignment is derived.
:func:`codec_for_model` gives each model family the settings of its public code.

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
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np
from scipy.ndimage import convolve1d
from scipy.ndimage import shift as subpixel_shift

from mfvpose_lib.data.geometry import (
    PIXEL_STD,
    check_geometry,
    crop_frame,
    flip_misalignment,
    get_affine_transform,
    heatmap_factor,
)


def encode_heatmaps(
    joints: np.ndarray,
    *,
    input_size: Sequence[int],
    heatmap_size: Sequence[int],
    sigma: float = 2.0,
    unbiased: bool = False,
    joint_weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian targets for joints given in input-crop pixel coordinates (HRNet geometry:
    heatmap = input / stride). ``joints``: (K, 3) or (N, K, 3) of x, y, visibility;
    ``input_size`` and ``heatmap_size`` are (H, W). Returns ``target`` float32 (…, K, h, w)
    and ``target_weight`` float32 (…, K, 1). ``joint_weights`` (K,) multiplies the weights.
    """
    joints = np.array(joints, dtype=np.float32, copy=True)
    if joints.ndim in (2, 3) and joints.shape[-1] >= 3:
        in_h, in_w = input_size
        hm_h, hm_w = heatmap_size
        joints[..., :2] /= np.array([in_w / hm_w, in_h / hm_h], dtype=np.float32)
    return gaussian_targets(joints, heatmap_size, sigma=sigma, integer_centre=not unbiased,
                            joint_weights=joint_weights)  # fmt: skip


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

    # --- geometry -----------------------------------------------------------------------
    @property
    def input_wh(self) -> tuple[int, int]:
        return self.input_size[1], self.input_size[0]

    def crop_transform(self, center, scale, rotation: float = 0.0) -> np.ndarray:
        """2x3 image → input-crop matrix of this geometry."""
        return get_affine_transform(center, scale, rotation, self.input_wh, geometry=self.geometry)

    def box_to_center_scale(self, box, padding: float = 1.25) -> tuple[np.ndarray, np.ndarray]:
        from mfvpose_lib.data.geometry import box_to_center_scale

        aspect = self.input_size[1] / self.input_size[0]
        return box_to_center_scale(box, aspect, padding=padding, geometry=self.geometry)

    def input_to_heatmap(self, points: np.ndarray) -> np.ndarray:
        """(..., 2) input-crop pixels → heatmap pixels."""
        return np.asarray(points, dtype=np.float64) * heatmap_factor(self.input_size, self.heatmap_size, self.geometry)

    def to_image(self, coords: np.ndarray, center: np.ndarray, scale: np.ndarray) -> np.ndarray:
        """Heatmap (x, y) (N, K, 2) → original image pixels, inverting the heatmap affine of this
        geometry (HRNet's / TokenPose's ``transform_preds``; no rotation at test time)."""
        coords = np.asarray(coords, dtype=np.float64)
        center = np.asarray(center, dtype=np.float64).reshape(-1, 1, 2)
        scale = np.asarray(scale, dtype=np.float64).reshape(-1, 1, 2)
        hm_h, hm_w = self.heatmap_size
        k, dst_c = crop_frame(scale[..., 0:1], (hm_w, hm_h), self.geometry)
        return ((coords - dst_c) / k + center).astype(np.float32)

    # --- encoding / decoding ------------------------------------------------------------
    def encode(self, joints_input: np.ndarray, joint_weights: np.ndarray | None = None):
        """Targets and weights for (K, 3) or (N, K, 3) joints in input-crop pixels."""
        joints = np.array(joints_input, dtype=np.float32, copy=True)
        joints[..., :2] = self.input_to_heatmap(joints[..., :2])
        return gaussian_targets(joints, self.heatmap_size, sigma=self.sigma, integer_centre=self.target == "integer",
                                window=self.target_window, joint_weights=joint_weights)  # fmt: skip

    def decode(self, heatmaps, decoder: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Heatmap-pixel coords (N, K, 2) and peaks (N, K, 1)."""
        return decode_heatmaps(heatmaps, method=decoder or self.decoder, blur_kernel=self.blur_kernel)

    def flip_back(self, heatmaps, flip_pairs, alignment: str | None = None) -> np.ndarray:
        """Heatmaps of the mirrored crop → heatmaps aligned with the unmirrored one (numpy)."""
        alignment = alignment or self.flip_alignment
        if alignment not in FLIP_ALIGNMENTS:
            raise ValueError(f"flip alignment must be one of {', '.join(FLIP_ALIGNMENTS)}, got {alignment!r}")
        if hasattr(heatmaps, "detach"):
            heatmaps = heatmaps.detach().float().cpu().numpy()
        out = flip_back(np.asarray(heatmaps, dtype=np.float32), flip_pairs, shift=alignment == "hrnet_1px")
        offset = self.flip_offset if alignment == "exact" else 0.0
        if offset:
            # cubic-spline resampling keeps a Gaussian's mode within ~0.005 heatmap px
            out = subpixel_shift(out, (0, 0, 0, offset), order=3, mode="constant", cval=0.0, prefilter=True)
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
CONFIG_FAMILY = {"HRNetConfig": "hrnet", "SimpleBaselineConfig": "hrnet", "TokenPoseConfig": "tokenpose",
                 "MfvPoseConfig": "tokenpose"}  # fmt: skip


def default_sigma(input_size: Sequence[int]) -> float:
    """The references' σ: 2 heatmap px, 3 at 384x288 (their 384 configs)."""
    return 3.0 if int(input_size[0]) >= 384 else 2.0


def codec_for_model(model_or_cfg, **overrides) -> HeatmapCodec:
    """The codec of a model's family at the model's sizes; ``overrides`` (not None) win."""
    cfg = getattr(model_or_cfg, "cfg", model_or_cfg)
    family = CONFIG_FAMILY.get(type(cfg).__name__, "tokenpose")
    values: dict[str, Any] = dict(FAMILY_CODECS[family])
    values.update(input_size=tuple(cfg.input_size), heatmap_size=tuple(cfg.heatmap_size),
                  sigma=default_sigma(cfg.input_size))  # fmt: skip
    values.update({k: v for k, v in overrides.items() if v is not None})
    return HeatmapCodec(**values)


def codec_from_checkpoint(payload: dict[str, Any], model, source: str = "checkpoint") -> HeatmapCodec:
    """The codec a checkpoint was trained with: its saved ``codec``; for our checkpoints written
    before codecs were saved, the settings they were trained with (HRNet geometry, windowed
    sub-pixel targets, DARK); for public weights, the family's own settings."""
    if isinstance(payload, dict) and isinstance(payload.get("codec"), dict):
        return HeatmapCodec.from_dict(payload["codec"], source=source)
    train_config = payload.get("train_config") if isinstance(payload, dict) else None
    if isinstance(train_config, dict):
        return codec_for_model(model, geometry="hrnet", target="subpixel", target_window=True, decoder="dark",
                               flip_alignment="exact", sigma=float(train_config.get("sigma", 2.0)))  # fmt: skip
    return codec_for_model(model)


def heatmap_to_crop(
    coords: np.ndarray, heatmap_size: tuple[int, int], input_size: tuple[int, int]
) -> np.ndarray:
    """(..., 2) heatmap (x, y) -> crop pixels, HRNet's convention (heatmap pixel i = crop pixel
    i * stride, the way targets are rendered from ``joints / feat_stride``)."""
    (h, w), (in_h, in_w) = heatmap_size, input_size
    return np.asarray(coords, dtype=np.float32) * np.array([in_w / w, in_h / h], dtype=np.float32)


def labelled_crop_points(target, target_weight=None, *, input_size: tuple[int, int], decode: str = "dark") -> np.ndarray:
    """(K, 2) labelled (x, y) in crop pixels, decoded from a data set item's (K, h, w) ``target``
    heatmaps (so they sit where the pictures mark predictions); NaN where ``target_weight`` is 0.
    Both may be arrays or tensors on any device."""
    target = _host_array(target).astype(np.float32, copy=False)
    coords, _ = decode_heatmaps(target[None], method=decode)
    points = heatmap_to_crop(coords[0], target.shape[-2:], input_size)
    if target_weight is not None:
        points[_host_array(target_weight).reshape(-1) <= 0] = np.nan
    return points


def _host_array(value) -> np.ndarray:
    return value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)  # torch without importing it
