"""COCO keypoint metrics: HRNet's rescoring, OKS-NMS, results file and pycocotools scoring."""

from __future__ import annotations

import contextlib
import io
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from mfvpose_lib.evaluation.oks_nms import oks_nms

# The ten numbers COCOeval.summarize() prints for iouType="keypoints", in its order.
COCO_STAT_NAMES = ("AP", "AP50", "AP75", "APM", "APL", "AR", "AR50", "AR75", "ARM", "ARL")


def rescore(maxvals: np.ndarray, box_scores: np.ndarray, in_vis_thre: float = 0.2) -> np.ndarray:
    """Pose score = mean confidence of the joints above ``in_vis_thre`` × box score.

    HRNet's rule (``in_vis_thre`` 0.2): a pose whose joints are all below the threshold
    keeps a keypoint score of 0.
    """
    maxvals = np.asarray(maxvals, dtype=np.float64).reshape(len(box_scores), -1)
    confident = maxvals > in_vis_thre
    counts = confident.sum(axis=1)
    keypoint_score = np.where(counts > 0, (maxvals * confident).sum(axis=1) / np.maximum(counts, 1), 0.0)
    return keypoint_score * np.asarray(box_scores, dtype=np.float64)


def build_coco_results(
    coords: np.ndarray,
    maxvals: np.ndarray,
    image_ids: Sequence[int],
    box_scores: np.ndarray,
    areas: np.ndarray,
    sigmas: np.ndarray,
    *,
    in_vis_thre: float = 0.2,
    oks_thre: float = 0.9,
    category_id: int = 1,
) -> list[dict]:
    """Per-person predictions → COCO results list after rescoring and per-image OKS-NMS.

    ``coords`` (N, K, 2) are image coordinates, ``maxvals`` (N, K) or (N, K, 1) heatmap peaks,
    ``areas`` the box areas (scale of the OKS used by the NMS).
    """
    coords = np.asarray(coords, dtype=np.float64)
    n, k = coords.shape[:2]
    maxvals = np.asarray(maxvals, dtype=np.float64).reshape(n, k)
    box_scores = np.asarray(box_scores, dtype=np.float64).reshape(n)
    areas = np.asarray(areas, dtype=np.float64).reshape(n)
    scores = rescore(maxvals, box_scores, in_vis_thre)
    keypoints = np.concatenate([coords, maxvals[:, :, None]], axis=2)

    by_image: dict[int, list[int]] = defaultdict(list)
    for row, image_id in enumerate(image_ids):
        by_image[int(image_id)].append(row)

    results: list[dict] = []
    for image_id in sorted(by_image):
        rows = np.asarray(by_image[image_id])
        keep = oks_nms(keypoints[rows], scores[rows], areas[rows], sigmas, threshold=oks_thre)
        for local in keep:
            row = rows[local]
            results.append(
                {
                    "image_id": image_id,
                    "category_id": category_id,
                    "keypoints": [round(float(v), 3) for v in keypoints[row].reshape(-1)],
                    "score": float(scores[row]),
                }
            )
    return results


def coco_keypoint_eval(
    coco_gt, results: list[dict], *, sigmas: np.ndarray | None = None, verbose: bool = False
) -> dict:
    """Score ``results`` against the ground truth ``coco_gt`` (a pycocotools COCO) with
    ``COCOeval(iouType="keypoints")`` and return the ten summary numbers by name.

    An empty results list scores 0 everywhere (pycocotools cannot load an empty list).
    """
    from pycocotools.cocoeval import COCOeval

    if not results:
        return {name: 0.0 for name in COCO_STAT_NAMES}
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink):
        # loadRes adds area/bbox/id to the dicts it is given: hand it copies
        coco_dt = coco_gt.loadRes([dict(r) for r in results])
        evaluator = COCOeval(coco_gt, coco_dt, iouType="keypoints")
        if sigmas is not None:
            evaluator.params.kpt_oks_sigmas = np.asarray(sigmas, dtype=np.float64)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    if verbose:
        print(sink.getvalue())
    return {name: float(value) for name, value in zip(COCO_STAT_NAMES, evaluator.stats)}


def detection_box_ap(coco_gt, detections: list[dict]) -> float | None:
    """Person box AP of a detection list against ``coco_gt`` (None when it cannot be scored).

    Printed beside keypoint AP because a top-down model's AP with detected boxes depends on
    the detector (HRNet's COCO boxes have person AP 56.4).
    """
    from pycocotools.cocoeval import COCOeval

    person = [d for d in detections if int(d.get("category_id", 1)) == 1 and "bbox" in d]
    if not person:
        return None
    with contextlib.redirect_stdout(io.StringIO()):
        coco_dt = coco_gt.loadRes([dict(d) for d in person])
        evaluator = COCOeval(coco_gt, coco_dt, iouType="bbox")
        evaluator.params.catIds = [1]
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return float(evaluator.stats[0])


def submission_file_name(method: str) -> str:
    """The file name the COCO evaluation server expects for a test-dev keypoint submission."""
    return f"person_keypoints_test-dev2017_{method}_results.json"


def check_submission(results: list[dict], source: str) -> list[dict]:
    """Refuse a results list the evaluation server would reject (it names the first bad entry)."""
    for i, r in enumerate(results):
        keypoints = r.get("keypoints")
        if (not isinstance(r.get("image_id"), int) or r.get("category_id") != 1 or not isinstance(keypoints, list)
                or len(keypoints) != 51 or not isinstance(r.get("score"), float | int)):  # fmt: skip
            raise ValueError(f"{source}: entry {i} is not a COCO keypoint result (image_id, category_id 1, "
                             f"51 keypoint numbers, score): {str(r)[:120]}")  # fmt: skip
    return results
