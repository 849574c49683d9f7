"""Top-down prediction on images the user brings: person boxes in, COCO results and pictures out.

The crops go through the same test pipeline as evaluation (``data.transforms.build_pipeline``
with ``train=False``, inside a ``data.dataset.PoseDataset``) and the same batched inference,
flip test, decoding and OKS-NMS (``engine.evaluate.predict`` / ``data.coco.coco_results``), so a
prediction on ground-truth boxes scores exactly what ``evaluate_model`` scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch.nn as nn

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def test_settings_for(model: nn.Module, dataset: str):
    """Flip test on detection boxes; the decoder and the flip alignment come from the model's
    codec, which carries its family's published test settings (``models.codec.model_codec``)."""
    from mfvpose_lib.engine.evaluate import EvalSettings

    return EvalSettings(dataset=dataset, boxes="det", flip=True)


test_settings_for.__test__ = False  # a library function, not a pytest test


def dataset_for_model(model: nn.Module) -> str:
    """The registered layout a model predicts, by its keypoint count (17: COCO, 16: MPII)."""
    from mfvpose_lib.data.spec import dataset_for_keypoints

    k = model.cfg.num_keypoints
    try:
        return dataset_for_keypoints(k)
    except KeyError:
        raise ValueError(f"model predicts {k} keypoints; no registered data set has that layout") from None


def load_any_model(checkpoint: str | Path, model_name: str | None = None, map_location="cpu") -> nn.Module:
    """One of our checkpoints (its config rebuilds the model), or with ``model_name`` a public
    state dict loaded strictly into the registered model of that name."""
    from mfvpose_lib.models import create_model
    from mfvpose_lib.models.factory import load_model

    if model_name:
        model = create_model(model_name, checkpoint_path=str(checkpoint))
        model.model_name = model_name
        return model.to(map_location).eval()
    return load_model(checkpoint, map_location=map_location)


def collect_images(inputs: Sequence[str | Path]) -> list[Path]:
    """Image files named, or found (sorted) in the folders named, that decode.

    A file that does not decode is skipped, listed on stderr with the reason and kept in the
    result's ``skipped`` (:class:`ImageFiles`); only when none decodes is it an error."""
    paths: list[Path] = []
    for item in inputs:
        item = Path(item)
        if item.is_dir():
            found = sorted(p for p in item.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise FileNotFoundError(f"{item}: folder holds no image ({', '.join(IMAGE_SUFFIXES)})")
            paths += found
        elif item.is_file():
            paths.append(item)
        else:
            raise FileNotFoundError(f"{item}: no such image file or folder")
    return _readable(paths)


def image_id_for(path: Path, position: int) -> int:
    """COCO's naming (``000000000139.jpg`` → 139), else the 1-based position in the list."""
    return int(path.stem) if path.stem.isdigit() else position + 1


@dataclass
class Box:
    image_id: int
    bbox: tuple[float, float, float, float]  # x, y, w, h
    score: float = 1.0


def boxes_from_detections(det_file: str | Path, score_threshold: float = 0.0) -> list[Box]:
    """Person boxes of a COCO detection-results file (``[{image_id, bbox, score, category_id}]``)."""
    from mfvpose_lib.io_utils import read_json

    det_file = Path(det_file)
    dets = read_json(det_file)
    if not isinstance(dets, list):
        raise ValueError(f"{det_file}: expected a JSON list of detections, got {type(dets).__name__}")
    boxes = []
    for i, det in enumerate(dets):
        if not isinstance(det, dict) or not {"image_id", "bbox", "score"} <= det.keys() or len(det["bbox"]) != 4:
            raise ValueError(f"{det_file}: entry {i} lacks image_id, bbox (4 numbers) or score")
        if det.get("category_id", 1) != 1 or float(det["score"]) < score_threshold:
            continue
        boxes.append(Box(int(det["image_id"]), tuple(float(v) for v in det["bbox"]), float(det["score"])))
    return boxes


def _records(images: list[Path], boxes: list[Box] | None, box: Sequence[float] | None,
             codec, num_keypoints: int) -> list[dict]:  # fmt: skip
    from PIL import Image, UnidentifiedImageError

    by_image: dict[int, list[Box]] = {}
    for b in boxes or []:
        by_image.setdefault(b.image_id, []).append(b)
    records = []
    for position, path in enumerate(images):
        try:
            with Image.open(path) as img:
                width, height = img.size
        except (UnidentifiedImageError, OSError) as err:
            raise ValueError(f"{path}: cannot read image: {err}") from None
        image_id = image_id_for(path, position)
        if boxes is not None:
            mine = by_image.get(image_id, [])
        elif box is not None:
            mine = [Box(image_id, tuple(float(v) for v in box))]
        else:
            mine = [Box(image_id, (0.0, 0.0, float(width), float(height)))]
        for b in mine:
            x, y, w, h = b.bbox
            if not (w > 0 and h > 0) or x >= width or y >= height or x + w <= 0 or y + h <= 0:
                raise ValueError(
                    f"{path}: box {list(b.bbox)} (x, y, w, h) lies outside the {width}x{height} image "
                    "or has no area"
                )
            center, scale = codec.box_to_center_scale(b.bbox)
            records.append({
                "image_path": str(path), "image_id": image_id, "ann_id": -1, "center": center,
                "scale": scale, "joints": np.zeros((num_keypoints, 3), dtype=np.float32),
                "score": b.score, "area": w * h, "bbox": np.asarray(b.bbox, dtype=np.float32),
            })  # fmt: skip
    return records


@dataclass
class PredictOutput:
    results: list[dict]  # COCO results format, after OKS-NMS
    settings: dict
    images: list[Path]
    image_ids: list[int]
    written: dict[str, Path]


def predict_images(
    model: nn.Module,
    images: Sequence[str | Path],
    *,
    boxes: list[Box] | None = None,
    box: Sequence[float] | None = None,
    out_dir: str | Path | None = None,
    device: str = "cpu",
    batch_size: int = 32,
    progress: bool = True,
    draw: bool = True,
    codec=None,
    precision: str = "auto",
) -> PredictOutput:
    """Predict every person of ``images``: detection ``boxes``, one ``box`` (x, y, w, h) per
    image, or (neither given) the whole image as one person. With ``out_dir`` writes
    ``results.json`` (COCO results) and one picture per image with the skeletons drawn.
    ``codec`` (default: the model's own) sets crop geometry, decoding and flip alignment.
    ``precision``: ``auto`` runs the hardware's fast path when, on the first batch of crops, it
    keeps the decoded keypoints within 0.1 heatmap px of fp32 and is faster
    (:func:`~mfvpose_lib.engine.fast_path.decide_precision`); ``fp32`` the reference path."""
    from mfvpose_lib.data.coco import coco_results
    from mfvpose_lib.data.dataset import PoseDataset
    from mfvpose_lib.data.spec import get_meta
    from mfvpose_lib.data.transforms import build_pipeline
    from mfvpose_lib.engine.evaluate import RunOptions, predict
    from mfvpose_lib.engine.fast_path import check_batch, decide_precision
    from mfvpose_lib.models.codec import model_codec

    dataset_name = dataset_for_model(model)
    meta = get_meta(dataset_name)
    codec = codec or model_codec(model)
    paths = collect_images(images)
    records = _records(paths, boxes, box, codec, meta.num_keypoints)
    pipeline = build_pipeline(meta, codec=codec, train=False)
    data = PoseDataset(records, meta, pipeline, ann_file=Path("<images>"), image_root=Path("."), split="predict",
                       codec=codec)  # fmt: skip
    settings = test_settings_for(model, dataset_name)
    info = {"model": getattr(model, "model_name", type(model).__name__), "layout": dataset_name,
            "flip_test": settings.flip, "flip_alignment": codec.flip_alignment, "decode": codec.decoder,
            "codec": codec.to_dict(), "people": len(records), "images": len(paths),
            "skipped_images": list(getattr(paths, "skipped", []))}  # fmt: skip
    results: list[dict] = []
    if records:
        decision = decide_precision(model, check_batch(data, batch_size, device), precision=precision,
                                    decode=codec.decoder)  # fmt: skip
        info["precision"] = {"path": decision.path.describe(), "used_fast_path": decision.used_fast,
                             "reason": decision.reason}  # fmt: skip
        options = RunOptions(device=device, batch_size=batch_size, progress=progress,
                             amp_dtype=decision.path.amp_dtype,
                             channels_last=decision.path.channels_last)  # fmt: skip
        preds = predict(decision.runner(model), data, flip_pairs=meta.flip_pairs, settings=settings,
                        options=options)  # fmt: skip
        results = coco_results(preds, meta.sigmas_array, settings)
    ids = [image_id_for(p, i) for i, p in enumerate(paths)]
    written: dict[str, Path] = {}
    if out_dir is not None:
        written = _write_outputs(Path(out_dir), results, info, paths, ids, meta, draw, progress)
    return PredictOutput(results=results, settings=info, images=paths, image_ids=ids, written=written)


def _write_outputs(out_dir, results, info, paths, ids, meta, draw, progress) -> dict[str, Path]:
    from PIL import Image

    from mfvpose_lib.data.dataset import load_image
    from mfvpose_lib.data.draw import draw_skeleton
    from mfvpose_lib.io_utils import atomic_write_json

    out_dir.mkdir(parents=True, exist_ok=True)
    written = {"results": atomic_write_json(results, out_dir / "results.json", indent=None),
               "settings": atomic_write_json(info, out_dir / "settings.json")}  # fmt: skip
    if draw:
        by_image: dict[int, list] = {}
        for r in results:
            by_image.setdefault(r["image_id"], []).append(np.asarray(r["keypoints"]).reshape(-1, 3))
        iterator = zip(paths, ids)
        if progress:
            from tqdm.auto import tqdm

            iterator = tqdm(list(iterator), desc="draw", leave=False)
        for path, image_id in iterator:
            picture = np.asarray(load_image(path))
            people = by_image.get(image_id)
            if people:
                picture = draw_skeleton(picture, np.stack(people), meta, min_visibility=0.2, hidden_style=False)
            target = out_dir / f"{path.stem}_pose.png"
            tmp = target.with_name(target.name + ".tmp.png")
            Image.fromarray(picture).save(tmp)
            tmp.replace(target)
    return written


class ImageFiles(list):
    """The image paths that decode, in order, with ``skipped``: ``{"path", "reason"}`` per file
    that does not."""

    def __init__(self, paths: Sequence[Path] = (), skipped: Sequence[dict] = ()) -> None:
        super().__init__(paths)
        self.skipped = list(skipped)


def _readable(paths: Sequence[Path]) -> ImageFiles:
    """``paths`` without the files that do not decode, each reported on stderr; an error naming
    them when none decodes."""
    import sys

    kept, skipped = [], []
    for path in paths:
        reason = decode_problem(path)
        if reason is None:
            kept.append(path)
            continue
        skipped.append({"path": str(path), "reason": reason})
        print(f"skipped {path}: {reason}", file=sys.stderr)
    if not kept:
        first = skipped[0]
        more = f", and {len(skipped) - 1} more listed above" if len(skipped) > 1 else ""
        raise ValueError(f"no image could be read: {first['path']}: {first['reason']}{more}")
    return ImageFiles(kept, skipped)


def decode_problem(path: str | Path) -> str | None:
    """Why ``path`` does not decode as an image, or None when it does. The whole file is decoded,
    as the crops will need it: a truncated file passes a header check."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
    except UnidentifiedImageError:
        return "not an image PIL can identify (unknown format or corrupt header)"
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        return f"cannot decode ({err})"
    return None

