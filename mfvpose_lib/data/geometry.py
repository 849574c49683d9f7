"""Box and crop geometry with the conventions of the HRNet/SimpleBaseline reference code.

A person is described by ``center`` (x, y) and ``scale`` (w, h) / ``PIXEL_STD``; the crop
transform is the similarity that sends ``center`` to the middle of the output and the box width
``scale[0] * 200`` to the output width, rotated by ``rot`` degrees. Pixel coordinates are
"centre of pixel i is at i" (OpenCV's convention), which is what keypoint annotations use.
Everything here is vectorised numpy; no OpenCV.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

PIXEL_STD = 200.0
BOX_PADDING = 1.25


def box_to_center_scale(
    box: Sequence[float] | np.ndarray,
    aspect_ratio: float,
    padding: float = BOX_PADDING,
    pixel_std: float = PIXEL_STD,
) -> tuple[np.ndarray, np.ndarray]:
    """COCO ``[x, y, w, h]`` box → (center, scale) as HRNet's ``_box2cs``.

    The shorter side is grown to the crop's ``aspect_ratio`` (= input width / height) so the
    crop is not distorted, then both sides are padded by ``padding`` for context.
    """
    x, y, w, h = (float(v) for v in box[:4])
    center = np.array([x + w * 0.5, y + h * 0.5], dtype=np.float32)
    if w > aspect_ratio * h:
        h = w / aspect_ratio
    elif w < aspect_ratio * h:
        w = h * aspect_ratio
    scale = np.array([w / pixel_std, h / pixel_std], dtype=np.float32) * padding
    return center, scale


def get_affine_transform(
    center: Sequence[float] | np.ndarray,
    scale: Sequence[float] | np.ndarray,
    rot: float,
    output_size: Sequence[int],
    shift: Sequence[float] = (0.0, 0.0),
    inv: bool = False,
    pixel_std: float = PIXEL_STD,
) -> np.ndarray:
    """2x3 matrix of HRNet's ``get_affine_transform`` (``output_size`` is (W, H)).

    HRNet builds it from three point pairs; the result is the similarity
    ``p -> s R(-rot) (p - c - shift*size) + (W/2, H/2)`` with ``s = W / (scale[0] * pixel_std)``,
    written here in closed form (tests check it against the three-point construction).
    """
    center = np.asarray(center, dtype=np.float64)
    src_w = float(np.asarray(scale, dtype=np.float64).reshape(-1)[0]) * pixel_std
    src_size = np.asarray(scale, dtype=np.float64).reshape(-1)[:2] * pixel_std
    dst_w, dst_h = float(output_size[0]), float(output_size[1])
    s = dst_w / src_w
    theta = np.deg2rad(rot)
    cs, sn = np.cos(theta), np.sin(theta)
    # R(-theta) in the y-down image frame, matching HRNet's get_dir rotation sign.
    rot_m = np.array([[cs, sn], [-sn, cs]])
    src_c = center + src_size * np.asarray(shift, dtype=np.float64)
    dst_c = np.array([dst_w * 0.5, dst_h * 0.5])
    lin = s * rot_m
    trans = np.concatenate([lin, (dst_c - lin @ src_c)[:, None]], axis=1)
    if inv:
        trans = invert_affine(trans)
    return trans


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
