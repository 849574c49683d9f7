"""The evaluation benchmark: people/s of decoding + OKS-NMS + COCOeval on synthetic predictions,
the straightforward side decoding with the per-joint reference loop."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Sequence

import numpy as np
import torch

from mfvpose_lib.benchmarks.reference_pipeline import reference_dark_decode
from mfvpose_lib.benchmarks.results import row
from mfvpose_lib.benchmarks.timing import median_seconds
from mfvpose_lib.codecs.heatmap import HeatmapCodec
from mfvpose_lib.data.spec import get_meta
from mfvpose_lib.evaluation.coco import build_coco_results, coco_keypoint_eval


def _synthetic_coco(people: int, per_image: int, heatmap_size: Sequence[int], seed: int = 0):
    """A pycocotools ground truth, matching noisy heatmaps (COCO layout, 17 joints) and the
    codec (HRNet's) that made them; the crop is the whole image."""
    from pycocotools.coco import COCO

    rng = np.random.default_rng(seed)
    hm_h, hm_w = heatmap_size
    in_h, in_w = 4 * hm_h, 4 * hm_w
    codec = HeatmapCodec(input_size=(in_h, in_w), heatmap_size=(hm_h, hm_w), geometry="hrnet", target="integer",
                         target_window=True, decoder="dark")  # fmt: skip
    xy = codec.heatmap_to_crop(rng.uniform(3, [hm_w - 4, hm_h - 4], (people, 17, 2)))
    joints = np.concatenate([xy, np.ones((people, 17, 1))], axis=-1)
    heatmaps = codec.encode(joints)[0]
    heatmaps += rng.normal(0, 0.02, heatmaps.shape).astype(np.float32)
    image_ids = np.arange(people) // per_image
    anns = []
    for i in range(people):
        kp = np.concatenate([joints[i, :, :2], np.full((17, 1), 2.0)], axis=1)
        anns.append({"id": i + 1, "image_id": int(image_ids[i]), "category_id": 1, "iscrowd": 0,
                     "keypoints": kp.reshape(-1).tolist(), "num_keypoints": 17,
                     "bbox": [0.0, 0.0, float(in_w), float(in_h)], "area": float(in_w * in_h)})  # fmt: skip
    gt = COCO()
    gt.dataset = {"images": [{"id": int(i), "width": in_w, "height": in_h} for i in np.unique(image_ids)],
                  "annotations": anns, "categories": [{"id": 1, "name": "person"}]}  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
    return gt, heatmaps, image_ids, np.full(people, float(in_w * in_h)), codec


def eval_rows(*, quick: bool, repeats: int, log: Callable[[str], None] = print) -> list[dict]:
    """People/s of decode + OKS-NMS + COCOeval on synthetic predictions; the straightforward
    side decodes with the per-joint reference loop."""
    people = 64 if quick else 512
    heatmap_size = (64, 48)
    gt, heatmaps, image_ids, areas, codec = _synthetic_coco(people, 4, heatmap_size)
    sigmas = get_meta("coco").sigmas_array
    scores = np.ones(people)

    def evaluate(decode):
        coords, maxvals = decode(heatmaps)
        results = build_coco_results(coords, maxvals, image_ids, scores, areas, sigmas)
        return coco_keypoint_eval(gt, results)

    def ref_decode(h):
        return codec.heatmap_to_crop(reference_dark_decode(h)), codec.locate(h, "argmax")[1]

    cpu = torch.device("cpu")
    t_ref = median_seconds(lambda: evaluate(ref_decode), cpu, warmup=0, repeats=repeats)
    t_fast = median_seconds(lambda: evaluate(codec.decode), cpu, warmup=0, repeats=repeats)
    label = f"{people} people, {heatmap_size[0]}x{heatmap_size[1]} heatmaps"
    log(f"  {'evaluation':<24} {label:<28} {people / t_ref:8.1f} -> {people / t_fast:8.1f} people/s")
    return [row("evaluation", label, "cpu", people, people / t_ref, people / t_fast, "people/s")]
