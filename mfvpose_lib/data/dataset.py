"""The top-down pose dataset: person records + the transform pipeline → training/eval items.

``build_dataset(root, "coco"|"mpii", split, ...)`` reads the real HRNet/TokenPose layouts
(``root/coco/...``, ``root/mpii/...``; ``root`` may also be the ``coco`` or ``mpii`` folder
itself), or any data set registered with a :class:`~mfvpose_lib.data.spec.DatasetSpec`. Items are dicts ``{image, target, target_weight, meta}`` that torch's default collate
batches. Randomness comes from torch's generator (one draw per item), so DataLoader workers get
different augmentations and ``torch.manual_seed`` makes an epoch reproducible.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from mfvpose_lib.codecs.heatmap import HeatmapCodec
from mfvpose_lib.data.meta import DatasetMeta
from mfvpose_lib.data.spec import get_dataset_spec
from mfvpose_lib.data.transforms import AugmentationConfig, Compose, build_pipeline

log = logging.getLogger(__name__)


def load_image(path: str | Path, context: str = "") -> Image.Image:
    """RGB image; a missing or unreadable file raises an error naming it and its annotation."""
    where = f" (needed by {context})" if context else ""
    try:
        with Image.open(path) as img:
            img.load()
            return img.convert("RGB")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: image file not found{where}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ValueError(f"{path}: cannot decode image{where}: {err}") from None


class PoseDataset(Dataset):
    """Person crops with Gaussian targets; see the module docstring for the item layout."""

    def __init__(
        self,
        records: list[dict],
        meta: DatasetMeta,
        pipeline: Compose,
        *,
        ann_file: Path,
        image_root: Path,
        coco=None,
        gt_valid_file: Path | None = None,
        det_file: Path | None = None,
        split: str = "",
        codec: HeatmapCodec | None = None,
        cache_images: bool = False,
    ) -> None:
        self.records = records
        self.meta = meta
        self.pipeline = pipeline
        self.ann_file = Path(ann_file)
        self.image_root = Path(image_root)
        self.coco = coco
        self.gt_valid_file = gt_valid_file
        self.det_file = det_file  # the person detections cropped (None: ground-truth boxes)
        self.split = split
        self.codec = codec
        # opt-in: decoded images (uint8 arrays) kept in memory by path after their first load;
        # each DataLoader worker holds its own copy unless filled before the workers fork
        self.cache_images = bool(cache_images)
        self._image_cache: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.records)

    def __repr__(self) -> str:
        return f"PoseDataset({self.meta.name}, {self.split}, {len(self)} people, {self.pipeline!r})"

    def raw_sample(self, index: int) -> dict:
        """The untransformed sample (PIL image, joints in image pixels, box centre/scale)."""
        rec = self.records[index]
        image = self._load(rec)
        return {
            "image": image,
            "joints": np.array(rec["joints"], dtype=np.float32, copy=True),
            "center": np.array(rec["center"], dtype=np.float32, copy=True),
            "scale": np.array(rec["scale"], dtype=np.float32, copy=True),
            "rotation": 0.0,
            "flipped": False,
        }

    def _load(self, rec: dict) -> Image.Image:
        context = f"{self.ann_file.name}, image id {rec['image_id']}"
        if not self.cache_images:
            return load_image(rec["image_path"], context=context)
        key = str(rec["image_path"])
        pixels = self._image_cache.get(key)
        if pixels is None:
            pixels = np.asarray(load_image(key, context=context))
            self._image_cache[key] = pixels
        return Image.fromarray(pixels)

    def fill_cache(self, indices=None) -> int:
        """Decode the images of ``indices`` (default: all) into the cache now; returns how many
        images the cache holds. Needs ``cache_images=True``."""
        if not self.cache_images:
            raise ValueError(f"{self.ann_file}: dataset was built without cache_images=True")
        for i in range(len(self)) if indices is None else indices:
            self._load(self.records[i])
        return len(self._image_cache)

    def transform(self, sample: dict, rng: np.random.Generator) -> dict:
        return self.pipeline(sample, rng)

    def __getitem__(self, index: int) -> dict:
        rec = self.records[index]
        seed = int(torch.randint(0, 2**62, (1,)).item())
        sample = self.pipeline(self.raw_sample(index), np.random.default_rng(seed))
        meta = {
            "center": np.asarray(sample["center"], dtype=np.float32),
            "scale": np.asarray(sample["scale"], dtype=np.float32),
            "joints": np.asarray(rec["joints"], dtype=np.float32),
            "image_id": int(rec["image_id"]),
            "score": float(rec["score"]),
            "area": float(rec["area"]),
            "rotation": float(sample["rotation"]),
            "flipped": bool(sample.get("flipped", False)),
            "image_path": str(rec["image_path"]),
            "index": int(index),
        }
        return {
            "image": sample["image"],
            "target": torch.from_numpy(sample["target"]),
            "target_weight": torch.from_numpy(sample["target_weight"]),
            "meta": meta,
        }


def build_dataset(
    root: str | Path,
    dataset: str = "coco",
    split: str = "train",
    *,
    input_size: Sequence[int] = (256, 192),
    heatmap_size: Sequence[int] = (64, 48),
    train: bool | None = None,
    boxes: str = "gt",
    det_file: str | Path | None = None,
    det_score_thr: float = 0.0,
    codec: HeatmapCodec | None = None,
    augmentation: AugmentationConfig | None = None,
    use_joint_weights: bool = False,
    cache_images: bool = False,
) -> PoseDataset:
    """A :class:`PoseDataset` for ``dataset`` ``split`` under ``root``.

    ``train`` turns augmentation on (default: ``split == "train"``). COCO ``boxes="det"`` reads
    ``det_file`` (default ``person_detection_results/COCO_{val,test-dev}2017_detections_…json``)
    keeping scores ≥ ``det_score_thr``; the test-dev split has no keypoints and needs
    detections. ``codec`` (a :class:`HeatmapCodec`) decides crop geometry and targets; without
    one, the default codec of ``input_size`` and ``heatmap_size`` (H, W) is used. The data set
    keeps it as ``.codec`` for evaluation. ``cache_images`` keeps decoded
    images in memory after their first load (opt-in; see :meth:`PoseDataset.fill_cache`).
    """
    spec = get_dataset_spec(dataset)
    train = (split == "train") if train is None else bool(train)
    layout = spec.layout_root(root)
    codec = codec or HeatmapCodec(input_size=tuple(input_size), heatmap_size=tuple(heatmap_size))
    pipeline = build_pipeline(
        spec.meta, codec=codec, train=train, augmentation=augmentation or spec.augmentation,
        use_joint_weights=use_joint_weights,
    )  # fmt: skip
    parts = spec.read(
        layout, split, aspect_ratio=codec.input_size[1] / codec.input_size[0], boxes=spec.boxes_for(boxes),
        det_file=det_file, det_score_thr=det_score_thr, geometry=codec.geometry,
    )  # fmt: skip
    return PoseDataset(meta=spec.meta, pipeline=pipeline, split=split, codec=codec, cache_images=cache_images, **parts)
