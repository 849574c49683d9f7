"""Box and crop geometry of the public pose code bases, one named convention each.

A person is described by ``center`` (x, y) and ``scale`` (w, h) / ``PIXEL_STD``; the crop
transform sends ``center`` to the middle of the output and the box to the output, rotated by
``rot`` degrees. Pixel coordinates are "centre of pixel i is at i" (OpenCV's convention), which
is what keypoint annotations use. The conventions differ in what "middle" and "width" mean, and
that decides whether a flip test needs a shift. :func:`crop_to_heatmap_affine` says, for each,
which public function it reproduces.

``"hrnet"`` (HRNet / SimpleBaseline ``lib/utils/transforms.py`` ``get_affine_transform``)
    centre → (W/2, H/2), box width ``200·s`` → W; heatmap = crop · (w/W, h/H). Mirroring the
    W-wide crop and the w-wide heatmap disagree by (stride − 1)/stride heatmap pixels.
``"tokenpose"`` (TokenPose / DarkPose ``get_affine_transform``)
    centre → ((W−1)/2, (H−1)/2), ``200·s − 1`` → W − 1 on both axes; the same function with
    the heatmap size maps joints to the heatmap, so heatmap x = crop x · (w−1)/(W−1), heatmap y
    uses the same width-derived factor about the centres, and both mirrors agree. Boxes are
    cleaned with ``+1``, centred at ``x + (w−1)/2``; half-body boxes are max − min + 1.
``"udp"`` (unbiased data processing, MMPose's ``get_udp_warp_matrix`` / ``UDPHeatmap``)
    centre → ((W−1)/2, (H−1)/2), each axis by its own side: ``200·s_w`` → W − 1,
    ``200·s_h`` → H − 1; heatmap = crop · ((w−1)/(W−1), (h−1)/(H−1)).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

PIXEL_STD = 200.0
BOX_PADDING = 1.25
GEOMETRIES = ("hrnet", "tokenpose", "udp")


def check_geometry(geometry: str) -> str:
    if geometry not in GEOMETRIES:
        raise ValueError(f"unknown crop geometry {geometry!r}; choose one of {', '.join(GEOMETRIES)}")
    return geometry


def clean_box(box, width: float, height: float, geometry: str = "hrnet") -> list[float] | None:
    """Clip ``[x, y, w, h]`` to the image as the COCO loaders do; None when nothing is left.

    Both code bases clip to ``x2 = min(W − 1, x1 + max(0, w − 1))``; HRNet keeps ``x2 − x1``
    as the width, TokenPose ``x2 − x1 + 1`` (the inclusive pixel count).
    """
    x, y, w, h = (float(v) for v in box[:4])
    x1, y1 = max(0.0, x), max(0.0, y)
    x2 = min(width - 1.0, x1 + max(0.0, w - 1.0))
    y2 = min(height - 1.0, y1 + max(0.0, h - 1.0))
    if not (x2 >= x1 and y2 >= y1):
        return None
    extra = 1.0 if check_geometry(geometry) == "tokenpose" else 0.0
    return [x1, y1, x2 - x1 + extra, y2 - y1 + extra]


def box_to_center_scale(
    box: Sequence[float] | np.ndarray,
    aspect_ratio: float,
    padding: float = BOX_PADDING,
    pixel_std: float = PIXEL_STD,
    geometry: str = "hrnet",
) -> tuple[np.ndarray, np.ndarray]:
    """COCO ``[x, y, w, h]`` box → (center, scale) as the references' ``_box2cs``.

    The centre is ``x + w/2`` (HRNet, UDP) or ``x + (w − 1)/2`` (TokenPose). The shorter side is
    grown to the crop's ``aspect_ratio`` (= input width / height) so the crop is not distorted,
    then both sides are padded by ``padding`` for context.
    """
    x, y, w, h = (float(v) for v in box[:4])
    half = 0.5 if check_geometry(geometry) == "tokenpose" else 0.0
    center = np.array([x + (w - 2 * half) * 0.5, y + (h - 2 * half) * 0.5], dtype=np.float32)
    if w > aspect_ratio * h:
        h = w / aspect_ratio
    elif w < aspect_ratio * h:
        w = h * aspect_ratio
    scale = np.array([w / pixel_std, h / pixel_std], dtype=np.float32) * padding
    return center, scale


def crop_frame(
    scale, output_size: Sequence[int], geometry: str = "hrnet", pixel_std: float = PIXEL_STD
) -> tuple[np.ndarray, np.ndarray]:
    """Per-axis zoom ``k`` and destination centre ``(cx, cy)`` of the crop of a box ``scale``.

    ``scale`` is (..., 2); returns ``k`` (..., 2) and the centre (2,), so that an unrotated crop
    maps image point p to
    ``k · (p − center) + (cx, cy)``. ``hrnet`` and ``tokenpose`` are similarities: their zoom
    comes from the box width alone and serves both axes; ``udp`` zooms each axis by its own side.
    """
    out_w, out_h = float(output_size[0]), float(output_size[1])
    src = np.asarray(scale, dtype=np.float64) * pixel_std
    geometry = check_geometry(geometry)
    if geometry == "hrnet":
        k = out_w / src[..., 0]
        return np.stack([k, k], axis=-1), np.array([out_w * 0.5, out_h * 0.5])
    dst_c = np.array([(out_w - 1) * 0.5, (out_h - 1) * 0.5])
    if geometry == "tokenpose":
        k = (out_w - 1) / (src[..., 0] - 1)
        return np.stack([k, k], axis=-1), dst_c
    return np.stack([(out_w - 1) / src[..., 0], (out_h - 1) / src[..., 1]], axis=-1), dst_c


def rotation_matrix(rot_degrees) -> np.ndarray:
    """R(−rot) in the y-down image frame, the references' ``get_dir`` rotation sign; (..., 2, 2)."""
    theta = np.deg2rad(np.asarray(rot_degrees, dtype=np.float64))
    cs, sn = np.cos(theta), np.sin(theta)
    return np.stack([np.stack([cs, sn], axis=-1), np.stack([-sn, cs], axis=-1)], axis=-2)


def get_affine_transform(
    center: Sequence[float] | np.ndarray,
    scale: Sequence[float] | np.ndarray,
    rot: float,
    output_size: Sequence[int],
    shift: Sequence[float] = (0.0, 0.0),
    inv: bool = False,
    pixel_std: float = PIXEL_STD,
    geometry: str = "hrnet",
) -> np.ndarray:
    """2x3 matrix of the references' ``get_affine_transform`` (``output_size`` is (W, H)).

    They build it from three point pairs; the result is
    ``p -> diag(k) R(-rot) (p - c - shift*size) + dst_c`` with ``k`` and ``dst_c`` of
    :func:`crop_frame`, written here in closed form (tests check it against the three-point
    construction of each geometry).
    """
    center = np.asarray(center, dtype=np.float64)
    scale_arr = np.asarray(scale, dtype=np.float64).reshape(-1)
    scale_wh = scale_arr[:2] if scale_arr.size >= 2 else np.repeat(scale_arr[:1], 2)
    k, dst_c = crop_frame(scale_wh, output_size, geometry, pixel_std)
    src_c = center + scale_wh * pixel_std * np.asarray(shift, dtype=np.float64)
    lin = k[:, None] * rotation_matrix(rot)
    trans = np.concatenate([lin, (dst_c - lin @ src_c)[:, None]], axis=1)
    if inv:
        trans = invert_affine(trans)
    return trans


def crop_to_heatmap_affine(
    input_size: Sequence[int], heatmap_size: Sequence[int], geometry: str = "hrnet"
) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) with heatmap point = a · crop point + b, per axis; sizes are (H, W).

    It is the joint → heatmap map of each reference composed with the inverse of its crop, which
    does not depend on the box:

    - ``hrnet``: HRNet ``lib/dataset/JointsDataset.py`` ``generate_target`` divides by
      ``feat_stride = image_size / heatmap_size``: a = (w/W, h/H), b = 0 (its ``transform_preds``
      inverts with w/W on both axes, the same map whenever both sizes share one aspect ratio).
    - ``tokenpose``: TokenPose ``lib/dataset/JointsDataset.py`` ``__getitem__`` builds
      ``trans_heatmap = get_affine_transform(c, s, r, heatmap_size)``, whose zoom comes from the
      width alone: a = (w−1)/(W−1) on both axes, and the box centre goes to the heatmap centre,
      so b = 0 in x and b = (h−1)/2 − a·(H−1)/2 in y (not zero on a non-square crop).
    - ``udp``: MMPose ``UDPHeatmap`` scales each axis by its own size: a = ((w−1)/(W−1),
      (h−1)/(H−1)), b = 0.
    """
    in_h, in_w = (float(v) for v in input_size)
    hm_h, hm_w = (float(v) for v in heatmap_size)
    geometry = check_geometry(geometry)
    if geometry == "hrnet":
        return np.array([hm_w / in_w, hm_h / in_h]), np.zeros(2)
    if geometry == "tokenpose":
        a = (hm_w - 1) / (in_w - 1)
        return np.array([a, a]), np.array([0.0, (hm_h - 1) * 0.5 - a * (in_h - 1) * 0.5])
    return np.array([(hm_w - 1) / (in_w - 1), (hm_h - 1) / (in_h - 1)]), np.zeros(2)


def flip_misalignment(input_size: Sequence[int], heatmap_size: Sequence[int], geometry: str = "hrnet") -> float:
    """Heatmap pixels by which a mirrored heatmap of the mirrored crop lies left of the truth.

    Mirroring the crop sends input x to W − 1 − x, i.e. heatmap a·(W − 1 − x) + b; mirroring
    that heatmap gives w − 1 − a·(W − 1) + a·x − b, so the flipped-back map sits at the true
    location minus ``a·(W − 1) − (w − 1) + 2b``: (stride − 1)/stride for ``"hrnet"``, 0 for the
    others.
    """
    a, b = crop_to_heatmap_affine(input_size, heatmap_size, geometry)
    return float(a[0] * (float(input_size[1]) - 1) - (float(heatmap_size[1]) - 1) + 2 * b[0])


def box_extent(points: np.ndarray, geometry: str = "hrnet") -> np.ndarray:
    """(w, h) of the box around (n, 2) points as the half-body augmentation of each reference
    computes it: max − min (HRNet ``JointsDataset.half_body_transform``) or max − min + 1
    (TokenPose's copy of it counts pixels inclusively)."""
    points = np.asarray(points, dtype=np.float64)
    extra = 1.0 if check_geometry(geometry) == "tokenpose" else 0.0
    return points.max(axis=0) - points.min(axis=0) + extra


def invert_affine(trans: np.ndarray) -> np.ndarray:
    lin_inv = np.linalg.inv(trans[:, :2])
    return np.concatenate([lin_inv, (-lin_inv @ trans[:, 2])[:, None]], axis=1)


def affine_points(points: np.ndarray, trans: np.ndarray) -> np.ndarray:
    """Apply a 2x3 matrix to (..., 2) points."""
    points = np.asarray(points, dtype=np.float64)
    return points @ trans[:, :2].T + trans[:, 2]


def fliplr_joints(joints: np.ndarray, image_width: int, flip_pairs: Sequence[tuple[int, int]]) -> np.ndarray:
    """Mirror (K, 3) joints horizontally in an image ``image_width`` wide and swap left/right.

    As HRNet's ``fliplr_joints``: x -> W - 1 - x, pairs swapped, invisible joints zeroed.
    """
    out = np.array(joints, dtype=np.float32, copy=True)
    out[:, 0] = image_width - 1 - out[:, 0]
    perm = np.arange(len(out))
    for a, b in flip_pairs:
        perm[a], perm[b] = b, a
    out = out[perm]
    out[:, :2] *= (out[:, 2:3] > 0).astype(np.float32)
    return out
