"""Synthetic people written in the real COCO and MPII layouts: the built-in default data set.

``write_synthetic(out, n_train, n_val, seed)`` renders scenes of one to three procedurally
posed people (:mod:`synth_body`, :mod:`synth_render`) and writes::

    out/coco/images/{train2017,val2017}/000000xxxxxx.jpg
    out/coco/annotations/person_keypoints_{train2017,val2017}.json
    out/coco/person_detection_results/COCO_val2017_detections_AP_H_56_person.json
    out/mpii/images/xxxxxxxxx.jpg
    out/mpii/annot/{train,valid}.json, out/mpii/annot/gt_valid.mat
    out/synthetic_manifest.json   (parameters; written last, marks the set complete)

The detection file keeps the name of the HRNet release's val detections, so real data dropped
in the same place is read the same way. Its boxes are the ground-truth boxes jittered, with
scores that fall with occlusion, a few misses, duplicates and false positives.

Everything is deterministic given ``seed``: every image has its own generator seeded by
(seed, layout, split, index). Labels are honest: a joint hidden by an object, another person or
its own body is ``v=1``; a joint outside the image is ``v=0`` with zero coordinates; ``area``
and ``bbox`` are those of the visible body mask.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from mfvpose_lib.data import synth_body as sb
from mfvpose_lib.data.meta import COCO_META
from mfvpose_lib.data.mpii import write_mpii_gt_valid
from mfvpose_lib.data.synth_render import (
    HAIR_COLORS,
    SKIN_TONES,
    Canvas,
    Material,
    random_background,
    random_material,
    random_occluder_mask,
)
from mfvpose_lib.io_utils import atomic_write_json, read_json

log = logging.getLogger(__name__)

MANIFEST = "synthetic_manifest.json"
FORMAT_VERSION = 3
DET_FILE_NAME = "COCO_val2017_detections_AP_H_56_person.json"
COCO_IMAGE_SIZES = (256, 288, 320)
MPII_IMAGE_SIZE = 256
VAL_IMAGE_ID_OFFSET = 1_000_000
_SPLIT_CODES = {("coco", "train"): 0, ("coco", "val"): 1, ("mpii", "train"): 2, ("mpii", "val"): 3, ("coco", "test"): 4}
TEST_DET_FILE_NAME = "COCO_test-dev2017_detections_AP_H_609_person.json"
TEST_IMAGE_ID_OFFSET = 2_000_000


@dataclass
class RenderedPerson:
    """Per-person labels of one rendered image (image pixels, 0-based)."""

    joints: np.ndarray  # (len(sb.JOINTS), 3): x, y, v with v in {0, 1, 2}
    mask: np.ndarray  # visible body pixels (H, W) bool
    head_box: np.ndarray  # x1, y1, x2, y2 of the head


@dataclass
class PersonPlacement:
    x: float  # image position of the pelvis
    y: float
    height_px: float  # pixels per body unit (standing height)
    yaw: float
    roll: float


def _camera_rotation(yaw: float, roll: float, pitch: float) -> np.ndarray:
    return sb.rotation(sb.FORWARD, roll) @ sb.rotation(sb.LEFT, pitch) @ sb.rotation(sb.UP, yaw)


def _person_materials(rng: np.random.Generator, height: int, width: int) -> dict[str, Material]:
    skin_base = SKIN_TONES[rng.integers(len(SKIN_TONES))] * rng.uniform(0.9, 1.05)
    skin = Material(np.clip(skin_base, 0, 255), skin_base, "solid")
    hair_base = HAIR_COLORS[rng.integers(len(HAIR_COLORS))]
    hair = Material(hair_base, hair_base * 0.7, "stripes", period=2.5, angle=float(rng.uniform(0, np.pi)))
    shirt = random_material(rng, height, width)
    pants = random_material(rng, height, width)
    shoes = Material(
        np.clip(rng.normal(60, 40, 3), 0, 255).astype(np.float32), np.zeros(3, np.float32), "solid"
    )
    return {"skin": skin, "hair": hair, "shirt": shirt, "pants": pants, "shoes": shoes}


def _draw_person(
    canvas: Canvas, body: sb.Body, place: PersonPlacement, owner: int, depth_offset: float, mats
) -> dict:
    """Project the body and rasterise its parts; returns image-space joints, depths and the head."""
    rot = _camera_rotation(place.yaw, place.roll, 0.0)
    cam = body.joints @ rot.T  # x right, y up, z towards the viewer (body units)
    s = place.height_px
    img = np.empty_like(cam)
    img[:, 0] = place.x + s * cam[:, 0]
    img[:, 1] = place.y - s * cam[:, 1]
    img[:, 2] = depth_offset + s * cam[:, 2]
    r = {k: (np.asarray(v) * s) for k, v in body.limb_radius.items()}
    j = sb.J
    p = lambda name: img[j[name]]  # noqa: E731 - short accessor

    sleeve = mats["shirt"] if body.long_sleeves else mats["skin"]
    leg = mats["pants"] if body.long_pants else mats["skin"]
    shirt, pants = mats["shirt"], mats["pants"]
    # torso as a union of capsules (spine, sides, shoulder and hip lines)
    canvas.capsule(p("pelvis"), p("thorax"), r["spine"] * 1.05, r["spine"], shirt, owner)
    for side in ("left", "right"):
        canvas.capsule(p(f"{side}_hip"), p(f"{side}_shoulder"), r["hip_line"], r["torso_side"], shirt, owner)
    canvas.capsule(
        p("left_shoulder"), p("right_shoulder"), r["shoulder_line"], r["shoulder_line"], shirt, owner
    )
    canvas.capsule(p("left_hip"), p("right_hip"), r["hip_line"], r["hip_line"], pants, owner)
    canvas.capsule(p("thorax"), p("head"), r["neck"], r["neck"], mats["skin"], owner)
    for side in ("left", "right"):
        canvas.capsule(p(f"{side}_shoulder"), p(f"{side}_elbow"), *r["upper_arm"], shirt, owner)
        canvas.capsule(p(f"{side}_elbow"), p(f"{side}_wrist"), *r["forearm"], sleeve, owner)
        canvas.capsule(p(f"{side}_hand"), p(f"{side}_hand"), r["hand"], r["hand"], mats["skin"], owner)
        canvas.capsule(p(f"{side}_hip"), p(f"{side}_knee"), *r["thigh"], pants, owner)
        canvas.capsule(p(f"{side}_knee"), p(f"{side}_ankle"), *r["shin"], leg, owner)
        canvas.capsule(p(f"{side}_ankle"), p(f"{side}_toe"), *r["foot"], mats["shoes"], owner)
    axes_cam = body.head_axes @ rot.T
    head_r = body.head_radius * s
    canvas.head(p("head"), head_r, axes_cam, mats["skin"], mats["hair"], owner)
    hc = p("head")
    head_box = np.array([hc[0] - head_r, hc[1] - head_r, hc[0] + head_r, hc[1] + head_r * 1.15])
    surface_normal_z = np.zeros(len(sb.JOINTS))
    for name in sb.FACE_POINTS:
        surface_normal_z[j[name]] = (img[j[name], 2] - hc[2]) / max(head_r, 1e-6)
    return {"img": img, "normal_z": surface_normal_z, "head_box": head_box, "scale": s}


# How much body may lie in front of a joint before it counts as hidden: the joint's own limb
# radius plus about one limb thickness (a shoulder sits under the torso's side, a hip under the
# pelvis), in body units. An arm crossing the torso or a far-side limb is well beyond it.
SELF_COVER_TOLERANCE = 0.05


def _visibility(canvas: Canvas, body: sb.Body, drawn: dict, owner: int) -> np.ndarray:
    """(len(JOINTS), 3) labels: v=2 visible, v=1 inside the image but hidden, v=0 outside.

    A body joint is visible when its own person owns its pixel and the nearest surface there is
    not more than its limb radius plus ``SELF_COVER_TOLERANCE`` in front of it. A face point is
    visible when the head surface faces the camera there and the head is not covered; it is
    probed slightly inside the head, since the nose stands out of the head's outline.
    """
    img = drawn["img"]
    s = drawn["scale"]
    head = img[sb.J["head"]]
    out = np.zeros((len(sb.JOINTS), 3), dtype=np.float32)
    for idx, name in enumerate(sb.JOINTS):
        x, y, z = img[idx]
        if not (0 <= x <= canvas.width - 1 and 0 <= y <= canvas.height - 1):
            continue
        if name in sb.FACE_POINTS:
            probe = head + 0.8 * (img[idx] - head)
            px = int(np.clip(round(probe[0]), 0, canvas.width - 1))
            py = int(np.clip(round(probe[1]), 0, canvas.height - 1))
            threshold = -0.2 if name.endswith("ear") or name == "head_top" else 0.15
            uncovered = canvas.depth[py, px] <= head[2] + body.head_radius * s + 1.0
            visible = canvas.owner[py, px] == owner and drawn["normal_z"][idx] > threshold and uncovered
        else:
            px, py = int(round(x)), int(round(y))
            front = z + (sb.joint_radius(body, idx) + SELF_COVER_TOLERANCE) * s + 1.0
            visible = canvas.owner[py, px] == owner and canvas.depth[py, px] <= front
        out[idx] = (x, y, 2.0 if visible else 1.0)
    return out


FRONT_FACING_PROB = 0.7
# Difficulty knobs: horizontal gap between people (fraction of their mean height) that placement
# tries to keep, and the chance of an object in front of each person.
MIN_SEPARATION = 0.35
OCCLUDER_PROB = 0.15


def _sample_yaw(rng: np.random.Generator) -> float:
    """Which way a person faces: mostly towards the camera (σ = 35°), as in photo collections
    such as COCO, otherwise any direction, so back and profile views are common too."""
    if rng.random() < FRONT_FACING_PROB:
        return float(rng.normal(0.0, np.deg2rad(35.0)))
    return float(rng.uniform(0, 2 * np.pi))


def _place_people(
    rng: np.random.Generator, width: int, height: int, count: int, mpii: bool
) -> list[PersonPlacement]:
    """Positions and sizes: people mostly ≥ 64 px tall, some cut by the border, little pile-up."""
    places: list[PersonPlacement] = []
    for k in range(count):
        main = mpii and k == 0
        if main:
            size = rng.uniform(0.58, 0.82) * height
        else:
            size = rng.uniform(0.38, 0.85 if count == 1 else 0.7) * min(height, 1.25 * width)
        for _attempt in range(12):
            if main:
                x = width / 2 + rng.normal(0, 0.04) * width
                y = height / 2 + rng.normal(0.02, 0.04) * height
            else:
                margin = 0.12 if rng.random() < 0.8 else -0.05  # some people cut by a border
                x = rng.uniform(margin, 1 - margin) * width
                y_lo, y_hi = 0.05 + 0.5 * size / height, 0.95 - 0.45 * size / height
                y = rng.uniform(min(y_lo, y_hi), max(y_lo, y_hi)) * height
                if rng.random() < 0.12:
                    y += rng.uniform(0.1, 0.35) * size  # feet below the bottom border
            if all(abs(x - q.x) > MIN_SEPARATION * (size + q.height_px) / 2 for q in places):
                break
        places.append(
            PersonPlacement(
                x=float(x),
                y=float(y),
                height_px=float(size),
                yaw=_sample_yaw(rng),
                roll=float(rng.normal(0, 0.1) if rng.random() < 0.95 else rng.normal(0, 0.5)),
            )
        )
    return places


def render_scene(
    rng: np.random.Generator, width: int, height: int, count: int, mpii: bool = False
) -> tuple[np.ndarray, list[RenderedPerson]]:
    """One image of ``count`` people; with ``mpii`` the first is the centred main person."""
    background = random_background(rng, height, width)
    light = np.array([rng.uniform(-0.6, 0.6), rng.uniform(0.3, 1.0), rng.uniform(0.5, 1.0)])
    canvas = Canvas(background, light)
    places = _place_people(rng, width, height, count, mpii)
    # nearer people are drawn in front: order depth by size (bigger = nearer), main person nearest
    order = np.argsort([(-1e9 if (mpii and i == 0) else -p.height_px) for i, p in enumerate(places)])
    depth_rank = np.empty(count, dtype=np.int64)
    depth_rank[order] = np.arange(count)
    bodies, drawn = [], []
    for i, place in enumerate(places):
        body = sb.sample_body(rng)
        mats = _person_materials(rng, height, width)
        bodies.append(body)
        drawn.append(_draw_person(canvas, body, place, i, float((count - depth_rank[i]) * 10_000), mats))
    # occluding objects in front of some people
    for i, place in enumerate(places):
        if rng.random() < OCCLUDER_PROB:
            joint = drawn[i]["img"][rng.integers(len(sb.JOINTS)), :2]
            mask = random_occluder_mask(rng, height, width, joint, place.height_px * rng.uniform(0.12, 0.3))
            canvas.occluder(mask, random_material(rng, height, width))
    people = []
    for i, body in enumerate(bodies):
        joints = _visibility(canvas, body, drawn[i], i)
        people.append(RenderedPerson(joints=joints, mask=canvas.owner == i, head_box=drawn[i]["head_box"]))
    noise_sd = rng.uniform(2, 5)
    grain = rng.standard_normal((height, width, 1), dtype=np.float32) * np.float32(noise_sd)  # sensor noise
    image = canvas.color + grain
    return np.clip(image + 0.5, 0, 255).astype(np.uint8), people


# ---------------------------------------------------------------- COCO layout


def _coco_person(person: RenderedPerson, ann_id: int, image_id: int) -> dict | None:
    from pycocotools import mask as mask_utils

    joints = person.joints[list(sb.COCO_FROM_BODY)].copy()
    joints[joints[:, 2] == 0, :2] = 0.0
    area = int(person.mask.sum())
    if area == 0:
        return None
    ys, xs = np.nonzero(person.mask)
    x0, y0, x1, y1 = int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())
    rle = mask_utils.encode(np.asfortranarray(person.mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    kps = [round(float(v), 2) for v in joints.reshape(-1)]
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": 1,
        "iscrowd": 0,
        "bbox": [float(x0), float(y0), float(x1 - x0 + 1), float(y1 - y0 + 1)],
        "area": float(area),
        "segmentation": rle,
        "keypoints": kps,
        "num_keypoints": int((joints[:, 2] > 0).sum()),
    }


def _people_count(rng: np.random.Generator) -> int:
    return int(rng.choice([1, 2, 3], p=[0.55, 0.3, 0.15]))


def _save_jpeg(image: np.ndarray, path: Path, quality: int = 90) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            Image.fromarray(image).save(fh, format="JPEG", quality=quality)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _rng(seed: int, layout: str, split: str, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, _SPLIT_CODES[(layout, split)], index])


def _coco_categories() -> list[dict]:
    return [
        {
            "supercategory": "person",
            "id": 1,
            "name": "person",
            "keypoints": list(COCO_META.keypoint_names),
            "skeleton": [[a + 1, b + 1] for a, b in COCO_META.skeleton],
        }
    ]


def write_coco_split(coco_root: Path, split: str, n_images: int, seed: int) -> list[dict]:
    """Render ``n_images`` COCO-layout images and their annotation file; returns annotations.

    The ``test`` split is written as COCO test-dev is: ``image_info_test-dev2017.json`` holds the
    images and categories only, and a detection file gives the person boxes."""
    folder = {"train": "train2017", "val": "val2017", "test": "test2017"}[split]
    images, anns = [], []
    id_offset = {"train": 0, "val": VAL_IMAGE_ID_OFFSET, "test": TEST_IMAGE_ID_OFFSET}[split]
    for i in range(n_images):
        rng = _rng(seed, "coco", split, i)
        width, height = (int(rng.choice(COCO_IMAGE_SIZES)) for _ in range(2))
        image, people = render_scene(rng, width, height, _people_count(rng))
        image_id = id_offset + i + 1
        file_name = f"{image_id:012d}.jpg"
        _save_jpeg(image, coco_root / "images" / folder / file_name)
        images.append({"id": image_id, "file_name": file_name, "width": width, "height": height})
        for k, person in enumerate(people):
            ann = _coco_person(person, ann_id=image_id * 10 + k + 1, image_id=image_id)
            if ann is not None:
                anns.append(ann)
    data = {
        "info": {
            "description": "MfvPose synthetic people (COCO keypoint layout)",
            "version": str(FORMAT_VERSION),
        },
        "licenses": [],
        "images": images,
        "annotations": anns,
        "categories": _coco_categories(),
    }
    if split == "test":
        del data["annotations"]  # test-dev ships no annotations; the detections stand in for them
        atomic_write_json(data, coco_root / "annotations" / "image_info_test-dev2017.json", indent=None)
        dets = synthetic_detections(anns, {im["id"]: (im["width"], im["height"]) for im in images}, seed)
        atomic_write_json(dets, coco_root / "person_detection_results" / TEST_DET_FILE_NAME, indent=None)
        return anns
    atomic_write_json(data, coco_root / "annotations" / f"person_keypoints_{folder}.json", indent=None)
    return anns


def synthetic_detections(anns: list[dict], images: dict[int, tuple[int, int]], seed: int) -> list[dict]:
    """A person detector's output imitated from ground truth: jittered boxes, scores falling
    with occlusion and size, about 3% misses, some duplicates and false positives."""
    rng = np.random.default_rng([seed, 99])
    dets: list[dict] = []
    for ann in anns:
        if ann["num_keypoints"] == 0 and rng.random() < 0.7:
            continue
        x, y, w, h = ann["bbox"]
        visible_frac = ann["num_keypoints"] / 17.0
        if rng.random() < 0.03 * (2.0 - visible_frac):
            continue  # missed
        copies = 2 if rng.random() < 0.08 else 1
        for c in range(copies):
            jit = 0.05 if c == 0 else 0.15
            cx = x + w / 2 + rng.normal(0, jit) * w
            cy = y + h / 2 + rng.normal(0, jit) * h
            bw, bh = w * np.exp(rng.normal(0, jit * 1.2)), h * np.exp(rng.normal(0, jit * 1.2))
            score = np.clip(0.5 + 0.45 * visible_frac + rng.normal(0, 0.06) - 0.3 * c, 0.05, 0.999)
            dets.append(_det(ann["image_id"], cx, cy, bw, bh, score, images))
    for image_id, (width, height) in images.items():
        for _ in range(rng.poisson(0.5)):
            bw, bh = rng.uniform(0.1, 0.4) * width, rng.uniform(0.2, 0.7) * height
            cx, cy = rng.uniform(0, width), rng.uniform(0, height)
            dets.append(_det(image_id, cx, cy, bw, bh, rng.uniform(0.03, 0.45), images))
    dets.sort(key=lambda d: (d["image_id"], -d["score"]))
    return dets


def _det(image_id: int, cx: float, cy: float, w: float, h: float, score: float, images) -> dict:
    width, height = images[image_id]
    x0, y0 = max(0.0, cx - w / 2), max(0.0, cy - h / 2)
    x1, y1 = min(width - 1.0, cx + w / 2), min(height - 1.0, cy + h / 2)
    return {
        "image_id": int(image_id),
        "category_id": 1,
        "bbox": [round(x0, 2), round(y0, 2), round(max(x1 - x0, 1.0), 2), round(max(y1 - y0, 1.0), 2)],
        "score": round(float(score), 4),
    }


# ---------------------------------------------------------------- MPII layout


def write_mpii_split(mpii_root: Path, split: str, n_images: int, seed: int) -> list[dict]:
    """Single-person-centred images with HRNet-json entries (1-based MATLAB pixels)."""
    entries, heads, joints_all, vis_all = [], [], [], []
    for i in range(n_images):
        rng = _rng(seed, "mpii", split, i)
        size = MPII_IMAGE_SIZE
        count = 1 if rng.random() < 0.65 else 2
        image, people = render_scene(rng, size, size, count, mpii=True)
        name = f"{split[0]}{i:08d}.jpg"
        _save_jpeg(image, mpii_root / "images" / name)
        main = people[0]
        joints = main.joints[list(sb.MPII_FROM_BODY)].copy()
        inside = joints[:, 2] > 0  # MPII labels occluded joints too; only off-image ones are missing
        ext = main.joints[:, :2]
        lo, hi = ext.min(axis=0), ext.max(axis=0)
        scale = float(max(hi[1] - lo[1], hi[0] - lo[0]) / 200.0)
        centre = (lo + hi) / 2
        centre[1] -= 15 * scale  # the reader adds 15·scale back (MPII centres sit high)
        joints_1b = np.where(inside[:, None], np.round(joints[:, :2] + 1, 2), -1.0)
        entries.append(
            {
                "joints_vis": [int(v) for v in inside],
                "joints": [[round(float(a), 2), round(float(b), 2)] for a, b in joints_1b],
                "image": name,
                "scale": round(scale, 4),
                "center": [round(float(centre[0] + 1), 2), round(float(centre[1] + 1), 2)],
            }
        )
        heads.append(np.round(main.head_box + 1, 2))
        joints_all.append(joints_1b)
        vis_all.append(inside.astype(np.float64))
    ann_name = {"train": "train.json", "val": "valid.json"}[split]
    atomic_write_json(entries, mpii_root / "annot" / ann_name, indent=None)
    if split == "val":
        write_mpii_gt_valid(
            mpii_root / "annot" / "gt_valid.mat",
            np.asarray(joints_all).reshape(-1, 16, 2),
            np.asarray(vis_all).reshape(-1, 16),
            np.asarray(heads).reshape(-1, 4),
        )
    return entries


# ---------------------------------------------------------------- entry points


def _manifest(n_train: int, n_val: int, seed: int, n_test: int = 0) -> dict:
    return {"format": "mfvpose-synthetic", "version": FORMAT_VERSION, "n_train": int(n_train),
            "n_val": int(n_val), "n_test": int(n_test), "seed": int(seed)}  # fmt: skip


def write_synthetic(
    out_root: str | Path, n_train: int, n_val: int, seed: int = 0, verbose: bool = False, n_test: int = 0
) -> dict:
    """Render and write the whole synthetic set; returns timing and counts.

    Refuses empty counts, and a folder that holds anything this function did not write (no
    manifest of ours): a user's data is never overwritten. The manifest is written first, marked
    incomplete, so a killed write can be redone in place.
    """
    out = Path(out_root)
    if int(n_train) < 1 or int(n_val) < 1:
        raise ValueError(f"{out}: the synthetic set needs at least one train and one val image, got {n_train}/{n_val}")
    check_writable_synthetic_root(out)
    manifest_path = out / MANIFEST
    atomic_write_json({**_manifest(n_train, n_val, seed, n_test), "complete": False}, manifest_path)
    start = time.perf_counter()
    coco_root, mpii_root = out / "coco", out / "mpii"
    write_coco_split(coco_root, "train", n_train, seed)
    val_anns = write_coco_split(coco_root, "val", n_val, seed)
    val_images = read_json(coco_root / "annotations" / "person_keypoints_val2017.json")["images"]
    dets = synthetic_detections(val_anns, {im["id"]: (im["width"], im["height"]) for im in val_images}, seed)
    atomic_write_json(dets, coco_root / "person_detection_results" / DET_FILE_NAME, indent=None)
    write_mpii_split(mpii_root, "train", n_train, seed)
    write_mpii_split(mpii_root, "val", n_val, seed)
    if n_test > 0:
        write_coco_split(coco_root, "test", n_test, seed)
    elapsed = time.perf_counter() - start
    n_images = 2 * (n_train + n_val) + max(int(n_test), 0)
    stats = {**_manifest(n_train, n_val, seed, n_test), "complete": True, "images": n_images, "seconds": round(elapsed, 2),
             "images_per_s": round(n_images / max(elapsed, 1e-9), 1), "detections": len(dets)}  # fmt: skip
    atomic_write_json(stats, manifest_path)
    if verbose:
        print(f"wrote {n_images} images to {out} in {elapsed:.1f} s ({stats['images_per_s']} images/s)")
    log.info("synthetic set at %s: %s", out, stats)
    return stats


def is_synthetic_root(folder: str | Path) -> bool:
    """True when ``folder`` holds a manifest of ours (complete or not)."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return False
    try:
        return read_json(path).get("format") == "mfvpose-synthetic"
    except (ValueError, AttributeError):
        return False


def check_writable_synthetic_root(folder: str | Path) -> None:
    """Raise unless ``folder`` is missing, empty, or a synthetic set of ours."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(f"{folder}: is a file, not a folder for the synthetic set")
    if not folder.is_dir() or is_synthetic_root(folder):
        return
    entries = sorted(p.name for p in folder.iterdir())
    if entries:
        shown = ", ".join(entries[:5]) + (" …" if len(entries) > 5 else "")
        raise FileExistsError(
            f"{folder}: holds files the synthetic-data writer did not write ({shown}); refusing to "
            f"write over them. Point the synthetic set at an empty folder."
        )


def synthetic_set_name(n_train: int, n_val: int, seed: int = 0, n_test: int = 0) -> str:
    """The folder name of one generation setting, so sets of different sizes live side by side."""
    counts = f"{int(n_train)}x{int(n_val)}" + (f"x{int(n_test)}" if n_test else "")
    return f"synth_v{FORMAT_VERSION}_{counts}_seed{int(seed)}"


def is_complete(out_root: str | Path, n_train: int, n_val: int, seed: int = 0, n_test: int = 0) -> bool:
    out = Path(out_root)
    manifest_path = out / MANIFEST
    if not manifest_path.is_file():
        return False
    try:
        manifest = read_json(manifest_path)
    except ValueError:
        return False
    wanted = {**_manifest(n_train, n_val, seed, n_test), "complete": True}
    defaults = {"complete": True, "n_test": 0}  # manifests older than these fields
    if any(manifest.get(k, defaults.get(k)) != v for k, v in wanted.items()):
        return False
    needed = [
        out / "coco" / "annotations" / "person_keypoints_train2017.json",
        out / "coco" / "annotations" / "person_keypoints_val2017.json",
        out / "coco" / "person_detection_results" / DET_FILE_NAME,
        out / "mpii" / "annot" / "train.json",
        out / "mpii" / "annot" / "valid.json",
        out / "mpii" / "annot" / "gt_valid.mat",
    ]
    if n_test:
        needed += [out / "coco" / "annotations" / "image_info_test-dev2017.json",
                   out / "coco" / "person_detection_results" / TEST_DET_FILE_NAME]  # fmt: skip
    return all(p.is_file() for p in needed)


def ensure_synthetic(
    out_root: str | Path, n_train: int, n_val: int, seed: int = 0, verbose: bool = False, n_test: int = 0
) -> Path:
    """Write the synthetic set unless a complete one with these parameters is already there."""
    out = Path(out_root)
    if not is_complete(out, n_train, n_val, seed, n_test):
        write_synthetic(out, n_train, n_val, seed, verbose=verbose, n_test=n_test)
    return out
