"""MPII in the HRNet json layout → person records, and the ``gt_valid.mat`` used by PCKh.

Layout (``root`` is the ``mpii`` folder)::

    images/*.jpg
    annot/{train,valid,test}.json   list of {image, center, scale, joints (16x2), joints_vis (16)}
    annot/gt_valid.mat              dataset_joints, jnt_missing, pos_gt_src, headboxes_src

MPII coordinates are MATLAB 1-based. As HRNet's ``mpii.py``: the centre moves down by 15·scale
pixels and the scale grows ×1.25 (the annotated centre sits high on the body and the scale is
tight), then centre and joints get −1 to become 0-based. ``scale`` is person height / 200.
The evaluation order of ``valid.json`` matches the columns of ``gt_valid.mat``, so validation
entries are never dropped: a malformed one is an error; training entries are filtered with a
logged count.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import numpy as np

from mfvpose_lib.data.meta import MPII_META
from mfvpose_lib.data.spec import DatasetSpec, register_dataset
from mfvpose_lib.data.transforms import AugmentationConfig
from mfvpose_lib.evaluation.mpii import MPII_JOINT_ABBREVIATIONS, pckh
from mfvpose_lib.io_utils import atomic_write_bytes, read_json

log = logging.getLogger(__name__)

ANNOTATION_FILES = {"train": "train.json", "val": "valid.json", "test": "test.json"}
GT_VALID_FILE = "gt_valid.mat"


def mpii_paths(root: str | Path, split: str) -> dict[str, Path]:
    if split not in ANNOTATION_FILES:
        raise ValueError(f"unknown MPII split {split!r}; choose train, val or test")
    root = Path(root)
    return {
        "ann_file": root / "annot" / ANNOTATION_FILES[split],
        "image_root": root / "images",
        "gt_valid_file": root / "annot" / GT_VALID_FILE,
    }


def mpii_records(
    ann_file: str | Path, image_root: str | Path, *, strict: bool, with_joints: bool = True
) -> list[dict]:
    """Records of an HRNet-layout MPII json. ``strict``: raise on a bad entry instead of dropping it."""
    ann_file = Path(ann_file)
    entries = read_json(ann_file)
    if not isinstance(entries, list):
        raise ValueError(f"{ann_file}: expected a JSON list of people, got {type(entries).__name__}")
    num_k = MPII_META.num_keypoints
    dropped: Counter[str] = Counter()
    records: list[dict] = []
    for i, entry in enumerate(entries):
        problem = _entry_problem(entry, num_k, with_joints)
        if problem is None and with_joints and strict is False:
            if not np.any(np.asarray(entry["joints_vis"], dtype=np.float32) > 0):
                problem = "no visible joints"
        if problem is not None:
            if strict:
                raise ValueError(f"{ann_file}: entry {i} ({_image_name(entry)}): {problem}")
            dropped[problem] += 1
            continue
        center = np.asarray(entry["center"], dtype=np.float32).reshape(2)
        s = float(entry["scale"])
        scale = np.array([s, s], dtype=np.float32)
        if center[0] != -1:
            center[1] = center[1] + 15 * scale[1]
            scale = scale * 1.25
        center = center - 1
        joints = np.zeros((num_k, 3), dtype=np.float32)
        if with_joints:
            vis = np.asarray(entry["joints_vis"], dtype=np.float32).reshape(num_k)
            joints[:, :2] = np.asarray(entry["joints"], dtype=np.float32).reshape(num_k, 2) - 1
            joints[:, 2] = (vis > 0).astype(np.float32)
            joints[vis <= 0, :2] = 0.0
        records.append(
            {
                "image_path": str(Path(image_root) / entry["image"]),
                "image_id": i,
                "ann_id": i,
                "center": center,
                "scale": scale.astype(np.float32),
                "joints": joints,
                "score": 1.0,
                "area": float(scale[0] * scale[1] * 200.0 * 200.0),
            }
        )
    if dropped:
        details = "; ".join(f"{n} {reason}" for reason, n in dropped.items())
        log.warning("%s: kept %d people, dropped %s", ann_file, len(records), details)
    else:
        log.info("%s: kept %d people", ann_file, len(records))
    return records


def _image_name(entry) -> str:
    return str(entry.get("image", "?")) if isinstance(entry, dict) else "?"


def _entry_problem(entry, num_k: int, with_joints: bool) -> str | None:
    if not isinstance(entry, dict):
        return "not a JSON object"
    needed = ["image", "center", "scale"] + (["joints", "joints_vis"] if with_joints else [])
    missing = [k for k in needed if k not in entry]
    if missing:
        return f"missing fields {missing}"
    try:
        center = np.asarray(entry["center"], dtype=np.float64)
        scale = float(entry["scale"])
    except (TypeError, ValueError):
        return "center or scale is not numeric"
    if center.shape != (2,):
        return f"center has shape {center.shape}, expected (2,)"
    if not scale > 0:
        return f"scale {scale} is not positive"
    if with_joints:
        try:
            joints = np.asarray(entry["joints"], dtype=np.float64)
            vis = np.asarray(entry["joints_vis"], dtype=np.float64)
        except (TypeError, ValueError):
            return "joints or joints_vis is not numeric"
        if joints.shape != (num_k, 2):
            return f"joints has shape {joints.shape}, expected ({num_k}, 2)"
        if vis.shape != (num_k,):
            return f"joints_vis has shape {vis.shape}, expected ({num_k},)"
    return None


def load_mpii_gt_valid(path: str | Path) -> dict[str, np.ndarray]:
    """Arrays of HRNet's ``gt_valid.mat``: ``dataset_joints`` (16 names), ``jnt_missing`` (16, N),
    ``pos_gt_src`` (16, 2, N, 1-based pixels), ``headboxes_src`` (2, 2, N: top-left, bottom-right)."""
    from scipy.io import loadmat

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: MPII ground-truth file not found")
    try:
        mat = loadmat(str(path))
    except Exception as err:  # scipy raises several exception types for a damaged file
        raise ValueError(f"{path}: not a readable MATLAB file ({err})") from None
    missing = [k for k in ("jnt_missing", "pos_gt_src", "headboxes_src") if k not in mat]
    if missing:
        raise ValueError(f"{path}: missing variables {missing}")
    pos = np.asarray(mat["pos_gt_src"], dtype=np.float64)
    jnt_missing = np.asarray(mat["jnt_missing"])
    heads = np.asarray(mat["headboxes_src"], dtype=np.float64)
    n = pos.shape[-1]
    if pos.shape[:2] != (16, 2) or jnt_missing.shape != (16, n) or heads.shape != (2, 2, n):
        raise ValueError(
            f"{path}: inconsistent shapes pos_gt_src {pos.shape}, jnt_missing {jnt_missing.shape}, "
            f"headboxes_src {heads.shape}"
        )
    names = _flatten_names(mat.get("dataset_joints"))
    return {
        "dataset_joints": np.asarray(names),
        "jnt_missing": jnt_missing,
        "pos_gt_src": pos,
        "headboxes_src": heads,
    }


def _flatten_names(raw) -> list[str]:
    names: list[str] = []

    def walk(item) -> None:
        if isinstance(item, str):
            names.append(item)
        elif isinstance(item, np.ndarray):
            if item.dtype.kind in "US":
                names.extend(str(x).strip() for x in item.reshape(-1))
            else:
                for sub in item.reshape(-1):
                    walk(sub)

    if raw is not None:
        walk(raw)
    return names if len(names) == 16 else list(MPII_JOINT_ABBREVIATIONS)


def write_mpii_gt_valid(
    path: str | Path, joints_1based: np.ndarray, visible: np.ndarray, head_boxes_1based: np.ndarray
) -> Path:
    """Write a ``gt_valid.mat`` with the real file's variables (atomically).

    ``joints_1based`` (N, 16, 2), ``visible`` (N, 16), ``head_boxes_1based`` (N, 4: x1, y1, x2, y2).
    """
    import io

    from scipy.io import savemat

    names = np.empty((1, 16), dtype=object)
    for i, abbr in enumerate(MPII_JOINT_ABBREVIATIONS):
        names[0, i] = abbr
    heads = np.asarray(head_boxes_1based, dtype=np.float64)
    content = {
        "dataset_joints": names,
        "jnt_missing": (1 - np.asarray(visible, dtype=np.float64)).T.astype(np.float64),
        "pos_gt_src": np.asarray(joints_1based, dtype=np.float64).transpose(1, 2, 0),
        "headboxes_src": np.stack([heads[:, :2], heads[:, 2:]], axis=0).transpose(0, 2, 1),
    }
    buffer = io.BytesIO()
    savemat(buffer, content)
    raw = bytearray(buffer.getvalue())
    # the 116-byte text header carries a creation time; a fixed one makes the file reproducible
    raw[:116] = b"MATLAB 5.0 MAT-file, written by mfvpose_lib (MPII gt_valid layout)".ljust(116)
    return atomic_write_bytes(bytes(raw), path)


def read_mpii_split(layout: Path, split: str, **_crop) -> dict:
    """The person records of one split of an HRNet-layout MPII folder (see :class:`DatasetSpec`):
    its annotated person boxes, so the crop settings do not change them."""
    paths = mpii_paths(layout, split)
    records = mpii_records(
        paths["ann_file"], paths["image_root"], strict=split != "train", with_joints=split != "test"
    )
    parts = {"records": records, "ann_file": paths["ann_file"], "image_root": paths["image_root"]}
    if split == "val":
        parts["gt_valid_file"] = paths["gt_valid_file"]
    return parts


def score_mpii_split(dataset, preds, settings) -> tuple[dict, None, dict]:
    """PCKh against ``gt_valid.mat``, as the MPII toolkit (and HRNet) computes it."""
    gt_file = getattr(dataset, "gt_valid_file", None)
    if settings.split == "test" or not gt_file:
        return {"scored": False}, None, {}
    gt = load_mpii_gt_valid(gt_file)
    n_gt = gt["pos_gt_src"].shape[2]
    if len(preds.index) != n_gt or not np.array_equal(preds.index, np.arange(n_gt)):
        raise ValueError(
            f"{gt_file}: holds {n_gt} people but the validation set gave {len(preds.index)} "
            "predictions (records must map one-to-one, in file order)"
        )
    return pckh(np.concatenate([preds.coords, preds.maxvals[..., None]], axis=2), gt), None, {"gt_file": str(gt_file)}


def mpii_predictions_json(result) -> list[dict]:
    """MPII predictions as JSON: one entry per validation person, 0-based image pixels."""
    preds = result.predictions
    return [
        {
            "index": int(preds.index[i]),
            "image": Path(preds.image_path[i]).name,
            "center": [float(v) for v in preds.center[i]],
            "scale": [float(v) for v in preds.scale[i]],
            "joints": [
                [round(float(x), 3), round(float(y), 3), round(float(s), 5)]
                for (x, y), s in zip(preds.coords[i], preds.maxvals[i])
            ],
        }  # fmt: skip
        for i in range(len(preds.index))
    ]


MPII_SPEC = register_dataset(
    DatasetSpec(
        name="mpii",
        meta=MPII_META,
        marker="annot",
        read=read_mpii_split,
        score=score_mpii_split,
        primary_metric="PCKh@0.5",
        # HRNet's MPII recipe: scale ±0.25, rotation ±30°, flip 0.5, no half-body
        augmentation=AugmentationConfig(scale_factor=0.25, rotation_factor=30.0, half_body_prob=0.0),
        table_metrics=("PCKh@0.5", "PCKh@0.1"),
        person_boxes=("gt",),
        predictions_json=mpii_predictions_json,
    )
)
