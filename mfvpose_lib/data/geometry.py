"""Box and crop geometry of the public pose code bases, one named convention each.

A person is described by ``center`` (x, y) and ``scale`` (w, h) / ``PIXEL_STD``; the crop
transform is the similarity that sends ``center`` to the middle of the output and the box width
to the output width, rotated by ``rot`` degrees. Pixel coordinates are "centre of pixel i is at
i" (OpenCV's convention), which is what keypoint annotations use. The conventions differ in
what "middle" and "width" mean, and that decides whether a flip test needs a shift:

``"hrnet"`` (HRNet / SimpleBaseline ``get_affine_transform``)
    centre → (W/2, H/2), box width ``200·s`` → W; heatmap x = input x · w/W. Mirroring the
    W-wide crop and the w-wide heatmap disagree by (stride − 1)/stride heatmap pixels.
``"tokenpose"`` (TokenPose / DarkPose ``get_affine_transform``)
    centre → ((W−1)/2, (H−1)/2), ``200·s − 1`` → W − 1; the same function with the heatmap size
    maps joints to the heatmap, so heatmap x = input x · (w−1)/(W−1) and both mirrors agree.
    Boxes are cleaned with ``+1`` and centred at ``x + (w−1)/2``.
``"udp"`` (unbiased data processing, MMPose's ``UDPHeatmap``)
    centre → ((W−1)/2, (H−1)/2), ``200·s`` → W − 1; heatmap x = input x · (w−1)/(W−1).
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
    scale_w, output_size: Sequence[int], geometry: str = "hrnet", pixel_std: float = PIXEL_STD
) -> tuple[np.ndarray, np.ndarray]:
    """Zoom ``k`` and destination centre ``(cx, cy)`` of the crop of a box ``scale_w`` wide.

    Vectorised over ``scale_w`` (any shape): returns ``k`` of that shape and the centre (2,),
    so that an unrotated crop maps image point p to ``k · (p − center) + (cx, cy)``.
    """
    out_w, out_h = float(output_size[0]), float(output_size[1])
    src_w = np.asarray(scale_w, dtype=np.float64) * pixel_std
    geometry = check_geometry(geometry)
    if geometry == "hrnet":
        return out_w / src_w, np.array([out_w * 0.5, out_h * 0.5])
    dst_c = np.array([(out_w - 1) * 0.5, (out_h - 1) * 0.5])
    if geometry == "tokenpose":
        return (out_w - 1) / (src_w - 1), dst_c
    return (out_w - 1) / src_w, dst_c


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

    They build it from three point pairs; the result is the similarity
    ``p -> k R(-rot) (p - c - shift*size) + dst_c`` with ``k`` and ``dst_c`` of
    :func:`crop_frame`, written here in closed form (tests check it against the three-point
    construction of each geometry).
    """
    center = np.asarray(center, dtype=np.float64)
    scale_arr = np.asarray(scale, dtype=np.float64).reshape(-1)
    src_size = scale_arr[:2] * pixel_std
    k, dst_c = crop_frame(scale_arr[0], output_size, geometry, pixel_std)
    theta = np.deg2rad(rot)
    cs, sn = np.cos(theta), np.sin(theta)
    # R(-theta) in the y-down image frame, matching the references' get_dir rotation sign.
    rot_m = np.array([[cs, sn], [-sn, cs]])
    src_c = center + src_size * np.asarray(shift, dtype=np.float64)
    lin = float(k) * rot_m
    trans = np.concatenate([lin, (dst_c - lin @ src_c)[:, None]], axis=1)
    if inv:
        trans = invert_affine(trans)
    return trans


def heatmap_factor(input_size: Sequence[int], heatmap_size: Sequence[int], geometry: str = "hrnet") -> np.ndarray:
    """(fx, fy) with heatmap point = input point · (fx, fy); sizes are (H, W).

    HRNet divides by the stride (w/W); TokenPose and UDP map pixel centres at both ends onto
    each other ((w−1)/(W−1)), which is what the heatmap affine of their loaders amounts to.
    """
    in_h, in_w = (float(v) for v in input_size)
    hm_h, hm_w = (float(v) for v in heatmap_size)
    if check_geometry(geometry) == "hrnet":
        return np.array([hm_w / in_w, hm_h / in_h])
    return np.array([(hm_w - 1) / (in_w - 1), (hm_h - 1) / (in_h - 1)])


def flip_misalignment(input_size: Sequence[int], heatmap_size: Sequence[int], geometry: str = "hrnet") -> float:
    """Heatmap pixels by which a mirrored heatmap of the mirrored crop lies left of the truth.

    Mirroring the crop sends input x to W − 1 − x, i.e. heatmap f·(W − 1 − x); mirroring that
    heatmap gives w − 1 − f·(W − 1) + f·x, so the flipped-back map sits at the true location
    minus ``f·(W − 1) − (w − 1)``: (stride − 1)/stride for ``"hrnet"``, 0 for the others.
    """
    fx = heatmap_factor(input_size, heatmap_size, geometry)[0]
    return float(fx * (float(input_size[1]) - 1) - (float(heatmap_size[1]) - 1))


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
