"""COCO keypoints in the HRNet/TokenPose directory layout → person records for top-down crops.

Layout (``root`` is the ``coco`` folder)::

    images/{train2017,val2017,test2017}/*.jpg
    annotations/person_keypoints_{train2017,val2017}.json
    annotations/image_info_test-dev2017.json
    person_detection_results/COCO_val2017_detections_AP_H_56_person.json
    person_detection_results/COCO_test-dev2017_detections_AP_H_609_person.json

Ground-truth boxes (training, or evaluation with ``boxes="gt"``) are filtered as HRNet does:
crowd annotations, non-person categories, boxes of no area after clipping to the image,
people without labelled keypoints, and malformed keypoint arrays are dropped, and each count is
logged. Detection boxes (``boxes="det"``) come from a json list of ``{image_id, category_id,
bbox, score}`` with a score threshold.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections import Counter
from pathlib import Path

import numpy as np

from mfvpose_lib.data.geometry import box_to_center_scale, clean_box
from mfvpose_lib.data.meta import COCO_META
from mfvpose_lib.io_utils import read_json

log = logging.getLogger(__name__)

SPLIT_DIRS = {"train": "train2017", "val": "val2017", "test": "test2017"}
ANNOTATION_FILES = {
    "train": "person_keypoints_train2017.json",
    "val": "person_keypoints_val2017.json",
    "test": "image_info_test-dev2017.json",
}
DETECTION_FILES = {
    "val": "COCO_val2017_detections_AP_H_56_person.json",
    "test": "COCO_test-dev2017_detections_AP_H_609_person.json",
}
PERSON_CATEGORY_ID = 1


def coco_paths(root: str | Path, split: str) -> dict[str, Path]:
    """Annotation file, image folder and default detection file of ``split`` under ``root``."""
    if split not in SPLIT_DIRS:
        raise ValueError(f"unknown COCO split {split!r}; choose train, val or test")
    root = Path(root)
    return {
        "ann_file": root / "annotations" / ANNOTATION_FILES[split],
        "image_root": root / "images" / SPLIT_DIRS[split],
        "det_file": root / "person_detection_results" / DETECTION_FILES.get(split, "none.json"),
    }


def load_coco(ann_file: str | Path, require_annotations: bool = True):
    """pycocotools ``COCO`` of ``ann_file``, with errors that name the file and the problem."""
    from pycocotools.coco import COCO

    ann_file = Path(ann_file)
    data = read_json(ann_file)
    if not isinstance(data, dict):
        raise ValueError(f"{ann_file}: expected a JSON object with 'images', got {type(data).__name__}")
    required = ["images", "annotations", "categories"] if require_annotations else ["images"]
    missing = [k for k in required if k not in data]
    if missing:
        raise ValueError(f"{ann_file}: missing top-level keys {missing} (not a COCO annotation file)")
    for i, img in enumerate(data["images"]):
        if not isinstance(img, dict) or "id" not in img:
            raise ValueError(f"{ann_file}: images[{i}] has no 'id'")
    for i, ann in enumerate(data.get("annotations", [])):
        if not isinstance(ann, dict) or "image_id" not in ann or "id" not in ann:
            raise ValueError(f"{ann_file}: annotations[{i}] lacks 'id' or 'image_id'")
    data.setdefault("annotations", [])
    data.setdefault("categories", [{"id": PERSON_CATEGORY_ID, "name": "person"}])
    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def image_file(coco, image_id: int, image_root: Path) -> Path:
    info = coco.imgs[image_id]
    name = info.get("file_name") or f"{int(image_id):012d}.jpg"
    return Path(image_root) / name


def gt_records(
    coco, image_root: str | Path, aspect_ratio: float, source: str = "", geometry: str = "hrnet"
) -> list[dict]:
    """One record per usable ground-truth person, HRNet's filtering with logged counts; boxes
    are cleaned and centred in the convention of the crop ``geometry``."""
    num_k = COCO_META.num_keypoints
    dropped: Counter[str] = Counter()
    examples: dict[str, list[int]] = {}
    records: list[dict] = []

    def drop(reason: str, ann_id) -> None:
        dropped[reason] += 1
        examples.setdefault(reason, [])
        if len(examples[reason]) < 3:
            examples[reason].append(ann_id)

    for image_id in sorted(coco.imgs):
        info = coco.imgs[image_id]
        width, height = info.get("width"), info.get("height")
        path = image_file(coco, image_id, image_root)
        for ann in coco.imgToAnns.get(image_id, []):
            ann_id = ann.get("id")
            if ann.get("iscrowd", 0):
                drop("crowd", ann_id)
                continue
            if ann.get("category_id", PERSON_CATEGORY_ID) != PERSON_CATEGORY_ID:
                drop("not a person", ann_id)
                continue
            kps = ann.get("keypoints")
            if kps is None or len(kps) != 3 * num_k:
                drop(f"keypoints not of length {3 * num_k}", ann_id)
                continue
            kps = np.asarray(kps, dtype=np.float32).reshape(num_k, 3)
            if not np.isfinite(kps).all():
                drop("non-finite keypoints", ann_id)
                continue
            box = ann.get("bbox")
            if box is None or len(box) != 4:
                drop("bbox missing or not of length 4", ann_id)
                continue
            clean = _clean_box(box, width, height, geometry)
            if clean is None or float(ann.get("area", 1.0)) <= 0:
                drop("box of zero or negative size", ann_id)
                continue
            if kps[:, 2].max() <= 0:
                drop("no labelled keypoints", ann_id)
                continue
            joints = kps.copy()
            joints[:, 2] = np.minimum(joints[:, 2], 1.0)
            joints[joints[:, 2] <= 0, :2] = 0.0
            center, scale = box_to_center_scale(clean, aspect_ratio, geometry=geometry)
            records.append(
                {
                    "image_path": str(path),
                    "image_id": int(image_id),
                    "ann_id": ann_id,
                    "center": center,
                    "scale": scale,
                    "joints": joints,
                    "score": 1.0,
                    "area": float(ann.get("area", clean[2] * clean[3])),
                    "bbox": np.asarray(clean, dtype=np.float32),
                }
            )
    if dropped:
        details = "; ".join(
            f"{n} {reason} (e.g. ann ids {examples[reason]})" for reason, n in dropped.items()
        )
        log.warning("%s: kept %d people, dropped %s", source or "COCO annotations", len(records), details)
    else:
        log.info("%s: kept %d people", source or "COCO annotations", len(records))
    return records


def _clean_box(box, width, height, geometry: str) -> list[float] | None:
    """Clip ``[x, y, w, h]`` to the image (``geometry.clean_box``); None when nothing is left."""
    x, y, w, h = (float(v) for v in box)
    if not all(np.isfinite([x, y, w, h])) or w <= 0 or h <= 0:
        return None
    if width is None or height is None:
        return [x, y, w, h]
    return clean_box([x, y, w, h], width, height, geometry)


def detection_records(
    coco,
    det_file: str | Path,
    image_root: str | Path,
    aspect_ratio: float,
    score_threshold: float = 0.0,
    geometry: str = "hrnet",
) -> list[dict]:
    """One record per person detection with score ≥ ``score_threshold`` (HRNet ``image_thre``),
    centred in the convention of the crop ``geometry``."""
    det_file = Path(det_file)
    dets = read_json(det_file)
    if not isinstance(dets, list):
        raise ValueError(f"{det_file}: expected a JSON list of detections, got {type(dets).__name__}")
    num_k = COCO_META.num_keypoints
    dropped: Counter[str] = Counter()
    records: list[dict] = []
    for i, det in enumerate(dets):
        if not isinstance(det, dict) or not {"image_id", "bbox", "score"} <= det.keys():
            raise ValueError(f"{det_file}: entry {i} lacks image_id, bbox or score")
        if det.get("category_id", PERSON_CATEGORY_ID) != PERSON_CATEGORY_ID:
            dropped["not a person"] += 1
            continue
        score = float(det["score"])
        if score < score_threshold:
            dropped[f"score below {score_threshold}"] += 1
            continue
        image_id = det["image_id"]
        if image_id not in coco.imgs:
            dropped["image id not in the annotation file"] += 1
            continue
        box = det["bbox"]
        if len(box) != 4 or not (float(box[2]) > 0 and float(box[3]) > 0):
            dropped["box of zero or negative size"] += 1
            continue
        center, scale = box_to_center_scale(box, aspect_ratio, geometry=geometry)
        records.append(
            {
                "image_path": str(image_file(coco, image_id, image_root)),
                "image_id": int(image_id),
                "ann_id": -1,
                "center": center,
                "scale": scale,
                "joints": np.zeros((num_k, 3), dtype=np.float32),
                "score": score,
                "area": float(box[2]) * float(box[3]),
                "bbox": np.asarray(box, dtype=np.float32),
            }
        )
    details = "; ".join(f"{n} {reason}" for reason, n in dropped.items()) or "none"
    log.info("%s: %d person boxes kept of %d; dropped: %s", det_file, len(records), len(dets), details)
    return records
