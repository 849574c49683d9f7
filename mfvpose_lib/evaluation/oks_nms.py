"""Object keypoint similarity and OKS-based non-maximum suppression (numpy).

Top-down pipelines run one pose per detected box, so overlapping boxes yield near-duplicate
poses. HRNet removes them per image with NMS where the overlap measure is OKS instead of
box IoU; its threshold for COCO is 0.9.
"""

from __future__ import annotations

import numpy as np


def oks_iou(
    reference: np.ndarray,
    others: np.ndarray,
    reference_area: float,
    other_areas: np.ndarray,
    sigmas: np.ndarray,
    in_vis_thre: float | None = None,
) -> np.ndarray:
    """OKS between one pose ``reference`` (K, 3) and each of ``others`` (M, K, 3).

    The scale is the mean of the two areas (as in HRNet's ``oks_iou``); with ``in_vis_thre``
    only joints confident in both poses count.
    """
    reference = np.asarray(reference, dtype=np.float64).reshape(-1, 3)
    others = np.asarray(others, dtype=np.float64).reshape(len(other_areas), -1, 3)
    variances = (np.asarray(sigmas, dtype=np.float64) * 2) ** 2
    dx = others[:, :, 0] - reference[None, :, 0]
    dy = others[:, :, 1] - reference[None, :, 1]
    scale = (reference_area + np.asarray(other_areas, dtype=np.float64))[:, None] / 2 + np.spacing(1)
    e = (dx**2 + dy**2) / variances[None, :] / scale / 2
    similarity = np.exp(-e)
    if in_vis_thre is None:
        return similarity.mean(axis=1)
    valid = (reference[None, :, 2] > in_vis_thre) & (others[:, :, 2] > in_vis_thre)
    counts = valid.sum(axis=1)
    sums = (similarity * valid).sum(axis=1)
    return np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)


def oks_nms(
    keypoints: np.ndarray,
    scores: np.ndarray,
    areas: np.ndarray,
    sigmas: np.ndarray,
    threshold: float = 0.9,
    in_vis_thre: float | None = None,
) -> list[int]:
    """Indices of poses to keep, highest score first; a pose is dropped when its OKS with a
    kept, higher-scoring pose exceeds ``threshold``."""
    keypoints = np.asarray(keypoints, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    areas = np.asarray(areas, dtype=np.float64)
    if len(scores) == 0:
        return []
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size > 0:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        if rest.size == 0:
            break
        overlap = oks_iou(keypoints[i], keypoints[rest], areas[i], areas[rest], sigmas, in_vis_thre)
        order = rest[overlap <= threshold]
    return keep
