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
from functools import partial
from pathlib import Path

import numpy as np

from mfvpose_lib.codecs.geometry import PIXEL_STD, box_to_center_scale, clean_box
from mfvpose_lib.data.meta import COCO_META, DatasetMeta
from mfvpose_lib.data.spec import DatasetSpec, register_dataset
from mfvpose_lib.data.transforms import AugmentationConfig
from mfvpose_lib.evaluation.coco import (
    build_coco_results,
    coco_keypoint_eval,
    detection_box_ap,
    submission_file_name,
)
from mfvpose_lib.io_utils import read_json

log = logging.getLogger(__name__)
#: The drop reason the reference loaders (HRNet, TokenPose) apply silently: a person with no labelled joint.
NO_KEYPOINTS = "no labelled keypoints"

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
    coco,
    image_root: str | Path,
    aspect_ratio: float,
    source: str = "",
    geometry: str = "hrnet",
    num_keypoints: int = COCO_META.num_keypoints,
) -> list[dict]:
    """One record per usable ground-truth person, HRNet's filtering with logged counts; boxes
    are cleaned and centred in the convention of the crop ``geometry``."""
    drops = _DropLog()
    records: list[dict] = []
    for image_id in sorted(coco.imgs):
        info = coco.imgs[image_id]
        path = image_file(coco, image_id, image_root)
        for ann in coco.imgToAnns.get(image_id, []):
            usable = _usable_person(ann, num_keypoints, info.get("width"), info.get("height"), geometry)
            if isinstance(usable, str):
                drops.add(usable, ann.get("id"))
                continue
            keypoints, box = usable
            records.append(_person_record(ann, keypoints, box, path, image_id, aspect_ratio, geometry))
    drops.log(source or "COCO annotations", len(records))
    return records


class _DropLog:
    """Dropped annotations counted by reason, with the first few ids of each as examples."""

    EXAMPLES = 3

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.examples: dict[str, list] = {}

    def add(self, reason: str, ann_id) -> None:
        self.counts[reason] += 1
        examples = self.examples.setdefault(reason, [])
        if len(examples) < self.EXAMPLES:
            examples.append(ann_id)

    def log(self, source: str, kept: int) -> None:
        if not self.counts:
            log.info("%s: kept %d people", source, kept)
            return
        details = "; ".join(
            f"{n} {reason} (e.g. ann ids {self.examples[reason]})" for reason, n in self.counts.items()
        )
        # people without labelled keypoints are skipped by the reference loaders too: no warning for them
        expected = set(self.counts) <= {NO_KEYPOINTS}
        log.log(logging.INFO if expected else logging.WARNING, "%s: kept %d people, dropped %s", source, kept, details)


def _usable_person(
    ann: dict, num_k: int, width, height, geometry: str
) -> tuple[np.ndarray, list[float]] | str:
    """The annotation's (K, 3) keypoints and cleaned box, or the reason it is dropped (checked in
    HRNet's order, so the first failing rule names it)."""
    if ann.get("iscrowd", 0):
        return "crowd"
    if ann.get("category_id", PERSON_CATEGORY_ID) != PERSON_CATEGORY_ID:
        return "not a person"
    kps = ann.get("keypoints")
    if kps is None or len(kps) != 3 * num_k:
        return f"keypoints not of length {3 * num_k}"
    kps = np.asarray(kps, dtype=np.float32).reshape(num_k, 3)
    if not np.isfinite(kps).all():
        return "non-finite keypoints"
    box = ann.get("bbox")
    if box is None or len(box) != 4:
        return "bbox missing or not of length 4"
    clean = _clean_box(box, width, height, geometry)
    if clean is None or float(ann.get("area", 1.0)) <= 0:
        return "box of zero or negative size"
    if kps[:, 2].max() <= 0:
        return NO_KEYPOINTS
    return kps, clean


def _person_record(ann: dict, kps: np.ndarray, clean: list[float], path: Path, image_id, aspect_ratio: float,
                   geometry: str) -> dict:  # fmt: skip
    """A ground-truth person: visibility clipped to 0/1, unlabelled joints zeroed, box as centre/scale."""
    joints = kps.copy()
    joints[:, 2] = np.minimum(joints[:, 2], 1.0)
    joints[joints[:, 2] <= 0, :2] = 0.0
    center, scale = box_to_center_scale(clean, aspect_ratio, geometry=geometry)
    return {
        "image_path": str(path),
        "image_id": int(image_id),
        "ann_id": ann.get("id"),
        "center": center,
        "scale": scale,
        "joints": joints,
        "score": 1.0,
        "area": float(ann.get("area", clean[2] * clean[3])),
        "bbox": np.asarray(clean, dtype=np.float32),
    }


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
    num_keypoints: int = COCO_META.num_keypoints,
) -> list[dict]:
    """One record per person detection with score ≥ ``score_threshold`` (HRNet ``image_thre``),
    centred in the convention of the crop ``geometry``."""
    det_file = Path(det_file)
    dets = read_json(det_file)
    if not isinstance(dets, list):
        raise ValueError(f"{det_file}: expected a JSON list of detections, got {type(dets).__name__}")
    num_k = num_keypoints
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


def read_coco_split(
    layout: Path,
    split: str,
    *,
    meta: DatasetMeta = COCO_META,
    aspect_ratio: float,
    boxes: str = "gt",
    det_file: str | Path | None = None,
    det_score_thr: float = 0.0,
    geometry: str = "hrnet",
) -> dict:
    """The person records of one split of a COCO-format folder (see :class:`DatasetSpec`)."""
    paths = coco_paths(layout, split)
    if split == "test" and boxes == "gt":
        raise ValueError("the COCO test-dev split has no ground-truth boxes; use boxes='det'")
    coco = load_coco(paths["ann_file"], require_annotations=split != "test")
    parts = {"ann_file": paths["ann_file"], "image_root": paths["image_root"], "coco": coco}
    if boxes == "gt":
        parts["records"] = gt_records(
            coco, paths["image_root"], aspect_ratio, source=str(paths["ann_file"]), geometry=geometry,
            num_keypoints=meta.num_keypoints,
        )  # fmt: skip
    else:
        parts["det_file"] = Path(det_file or paths["det_file"])
        parts["records"] = detection_records(
            coco, parts["det_file"], paths["image_root"], aspect_ratio, det_score_thr, geometry=geometry,
            num_keypoints=meta.num_keypoints,
        )  # fmt: skip
    return parts


def coco_results(preds, sigmas: np.ndarray, settings) -> list[dict]:
    """COCO results list of per-person predictions: HRNet rescoring and per-image OKS-NMS, the
    NMS scale being the padded box area (scale × 200)², as in HRNet."""
    areas = np.prod(preds.scale * PIXEL_STD, axis=1)
    return build_coco_results(
        preds.coords, preds.maxvals, preds.image_id, preds.box_score, areas, sigmas,
        in_vis_thre=settings.in_vis_thre, oks_thre=settings.oks_thre,
    )  # fmt: skip


def score_coco_split(dataset, preds, settings) -> tuple[dict, list, dict]:
    """:func:`coco_results`, then pycocotools keypoint AP against the split's ground truth."""
    results = coco_results(preds, dataset.meta.sigmas_array, settings)
    info: dict = {"boxes": settings.boxes, "in_vis_thre": settings.in_vis_thre, "oks_nms_thre": settings.oks_thre}
    if settings.boxes == "det":
        det_file = getattr(dataset, "det_file", None)
        info["detection_file"] = str(det_file) if det_file else None
        info["detection_person_AP"] = detection_person_ap(dataset)
    info["results"] = len(results)
    coco = getattr(dataset, "coco", None)
    if settings.split == "test" or coco is None or not coco.getAnnIds():
        return {"scored": False, "note": "no ground truth for this split: results only"}, results, info
    return coco_keypoint_eval(coco, results, sigmas=dataset.meta.sigmas_array), results, info


def detection_person_ap(dataset) -> float | None:
    """Person box AP of the detections the dataset reads, computed against the split's
    ground truth with pycocotools (None without ground truth). For HRNet's COCO val2017
    boxes it reproduces the 56.4 in their file name."""
    det_file = getattr(dataset, "det_file", None)
    coco = getattr(dataset, "coco", None)
    if not det_file or coco is None or not Path(det_file).is_file() or not coco.getAnnIds():
        return None
    detections = read_json(det_file)
    if not isinstance(detections, list):
        return None
    image_ids = set(coco.getImgIds())
    return detection_box_ap(coco, [d for d in detections if d.get("image_id") in image_ids])


COCO_TABLE_METRICS = ("AP", "AP50", "AP75", "APM", "APL", "AR")


def coco_format_spec(name: str, meta: DatasetMeta, augmentation: AugmentationConfig | None = None) -> DatasetSpec:
    """A spec for a data set in COCO's files and folders (annotations/, images/, detections),
    scored by OKS AP with ``meta``'s sigmas: COCO itself, or another layout in the same format."""
    return DatasetSpec(
        name=name,
        meta=meta,
        marker="annotations",
        read=partial(read_coco_split, meta=meta),
        score=score_coco_split,
        primary_metric="AP",
        augmentation=augmentation or AugmentationConfig(),
        table_metrics=COCO_TABLE_METRICS,
        person_boxes=("det", "gt"),
        submission_name=submission_file_name,
    )


COCO_SPEC = register_dataset(coco_format_spec("coco", COCO_META))
