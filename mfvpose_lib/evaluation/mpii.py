"""MPII PCKh, computed the way HRNet's ``mpii.py`` evaluates against ``gt_valid.mat``.

A joint is correct when its distance to the ground truth is at most ``threshold`` × head
size, head size being 0.6 × the diagonal of the annotated head box (``SC_BIAS``). "Mean"
averages the 14 joints other than pelvis and thorax, weighted by how many of each are
visible. HRNet's code labels its second mean "Mean@0.1" but reads the row for threshold
0.11 of its 0.00..0.50 grid; both 0.1 and that 0.11 value are reported here, labelled.
"""

from __future__ import annotations

import numpy as np

# Abbreviations used by MPII's gt_valid.mat ``dataset_joints`` (the order of ``data.meta.MPII_META``).
MPII_JOINT_ABBREVIATIONS = (
    "rank", "rkne", "rhip", "lhip", "lkne", "lank", "pelv", "thor",
    "neck", "head", "rwri", "relb", "rsho", "lsho", "lelb", "lwri",
)  # fmt: skip
SC_BIAS = 0.6
PCKH_GROUPS = {
    "Head": ("head",),
    "Shoulder": ("lsho", "rsho"),
    "Elbow": ("lelb", "relb"),
    "Wrist": ("lwri", "rwri"),
    "Hip": ("lhip", "rhip"),
    "Knee": ("lkne", "rkne"),
    "Ankle": ("lank", "rank"),
}
EXCLUDED_FROM_MEAN = ("pelv", "thor")
HRNET_MEAN_AT_0_11 = "Mean@0.1 as HRNet reports it (threshold 0.11)"


def _scaled_errors(preds: np.ndarray, gt: dict[str, np.ndarray], zero_based: bool):
    """Head-normalised errors (16, N), visibility (16, N), joint index and the mean's joint mask."""
    preds = np.asarray(preds, dtype=np.float64)[:, :, :2]
    pos_gt = gt["pos_gt_src"]
    if preds.shape[0] != pos_gt.shape[2] or preds.shape[1] != pos_gt.shape[0]:
        raise ValueError(
            f"predictions have shape {preds.shape[:2]} but gt_valid.mat holds {pos_gt.shape[2]} people × "
            f"{pos_gt.shape[0]} joints; predict every validation record, in file order"
        )
    if zero_based:
        preds = preds + 1.0
    names = [str(n) for n in gt["dataset_joints"]]
    index = {name: names.index(name) for name in MPII_JOINT_ABBREVIATIONS}
    visible = 1 - gt["jnt_missing"]
    errors = np.linalg.norm(np.transpose(preds, [1, 2, 0]) - pos_gt, axis=1)  # (16, N)
    head_sizes = np.linalg.norm(gt["headboxes_src"][1] - gt["headboxes_src"][0], axis=0) * SC_BIAS
    scaled = errors / head_sizes[None, :] * visible
    mask = np.ones(len(names), dtype=bool)
    for name in EXCLUDED_FROM_MEAN:
        mask[index[name]] = False
    return scaled, visible, index, mask


def pckh(
    preds: np.ndarray,
    gt: dict[str, np.ndarray],
    *,
    zero_based: bool = True,
    thresholds: tuple[float, ...] = (0.5, 0.1),
) -> dict:
    """PCKh of ``preds`` (N, 16, 2+) image coordinates against ``gt`` from ``load_mpii_gt_valid`` (gt_valid.mat).

    ``zero_based`` predictions get +1 first (gt_valid.mat holds MATLAB 1-based pixels), as in
    HRNet. Returns per-group and mean values (percent) for each threshold, the HRNet 0.11
    mean, and per-joint values at 0.5.
    """
    scaled, visible, index, mask = _scaled_errors(preds, gt, zero_based)
    counts = visible.sum(axis=1).astype(np.float64)
    ratio = np.where(mask, counts, 0.0) / counts[mask].sum()

    def per_joint(threshold: float) -> np.ndarray:
        correct = ((scaled <= threshold) * visible).sum(axis=1)
        return 100.0 * correct / np.maximum(counts, 1)

    out: dict = {}
    for threshold in thresholds:
        values = per_joint(threshold)
        table = {
            group: float(np.mean([values[index[j]] for j in joints])) for group, joints in PCKH_GROUPS.items()
        }
        table["Mean"] = float(np.sum(values * ratio))
        out[f"PCKh@{threshold:g}"] = table
    # the exact float HRNet compares against: row 11 of np.arange(0, 0.51, 0.01)
    hrnet_threshold = float(np.arange(0, 0.5 + 0.01, 0.01)[11])
    out[HRNET_MEAN_AT_0_11] = float(np.sum(per_joint(hrnet_threshold) * ratio))
    at_half = per_joint(0.5)
    out["per_joint@0.5"] = {name: float(at_half[index[name]]) for name in MPII_JOINT_ABBREVIATIONS}
    return out


def pckh_hits(preds: np.ndarray, gt: dict[str, np.ndarray], threshold: float = 0.5, *, zero_based: bool = True):
    """Per person: joints within ``threshold`` head sizes and joints counted, over the joints of the
    mean (so ``100 * correct.sum() / counted.sum()`` is the PCKh mean); for resampling people."""
    scaled, visible, _, mask = _scaled_errors(preds, gt, zero_based)
    keep = visible[mask]
    return ((scaled[mask] <= threshold) * keep).sum(axis=0), keep.sum(axis=0)


def _errors_of_the_mean(preds, gt, zero_based: bool):
    """(14, N) normalised errors of the joints of the mean, NaN where invisible, and visibility."""
    scaled, visible, _, mask = _scaled_errors(preds, gt, zero_based)
    # a missing joint's label may be a placeholder (even NaN): mark it, do not multiply it by zero
    return np.where(visible[mask] > 0, scaled[mask], np.nan), visible[mask]


def normalised_errors(preds: np.ndarray, gt: dict[str, np.ndarray], *, zero_based: bool = True) -> np.ndarray:
    """(N, 14) distance of prediction to label in head sizes (PCKh's normaliser) for the joints of
    PCKh's mean, in ``MPII_JOINT_ABBREVIATIONS`` order without pelvis and thorax; NaN where invisible."""
    return _errors_of_the_mean(preds, gt, zero_based)[0].T


def normalised_error_sums(preds: np.ndarray, gt: dict[str, np.ndarray], *, zero_based: bool = True):
    """Per person: the summed normalised error of the visible joints of the mean and how many were
    summed (so ``100 * sums.sum() / counted.sum()`` is :func:`mean_normalised_error`); the same
    people and joints :func:`pckh_hits` counts, for resampling people."""
    errors, visible = _errors_of_the_mean(preds, gt, zero_based)
    # sum, not nansum, over the visible joints: a NaN prediction must show, as PCKh counts it a miss
    return np.where(visible > 0, errors, 0.0).sum(axis=0), visible.sum(axis=0)


def mean_normalised_error(preds: np.ndarray, gt: dict[str, np.ndarray], *, zero_based: bool = True) -> float:
    """Mean distance of prediction to label in percent of the head size PCKh uses (10.0 = 0.1 head
    sizes), lower is better: pooled over the visible joints of PCKh's mean, as that mean pools them.

    A joint is a PCKh@t hit exactly when its normalised error here is at most ``100 t``; unlike
    the hit rate it also moves with every shift that crosses no threshold. NaN with no visible joint."""
    sums, counted = normalised_error_sums(preds, gt, zero_based=zero_based)
    return float(100.0 * sums.sum() / counted.sum()) if counted.sum() else float("nan")
