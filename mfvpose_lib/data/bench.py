"""``mfvpose bench data``: samples/s of the training pipeline against a straightforward reference.

The reference does what a direct port of the HRNet loader does: mirror the whole image when
flipping, warp with bilinear interpolation, build each joint's Gaussian in a Python loop, and
normalise with per-channel numpy arithmetic. Both pipelines draw the same random augmentation for
the same sample, so their targets must agree; the benchmark checks that and prints the largest
difference beside the timings. Decoding (DARK) is timed the same way: vectorised against a
per-joint loop. Timings are one process with one torch thread, i.e. one DataLoader worker.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch

from mfvpose_lib.codecs.geometry import affine_points, get_affine_transform
from mfvpose_lib.codecs.heatmap import HeatmapCodec, blur_heatmaps, get_max_preds
from mfvpose_lib.data.dataset import PoseDataset, build_dataset
from mfvpose_lib.data.transforms import IMAGENET_MEAN, IMAGENET_STD

FEED_RATE = 2000.0  # samples/s a GPU training run of the paper's models consumes (order of magnitude)


def reference_encode_heatmaps(
    joints: np.ndarray, input_size: Sequence[int], heatmap_size: Sequence[int], sigma: float = 2.0
) -> tuple[np.ndarray, np.ndarray]:
    """HRNet's ``generate_target`` as written there: one Gaussian patch per joint, in a loop."""
    num_joints = joints.shape[0]
    in_h, in_w = input_size
    hm_h, hm_w = heatmap_size
    target_weight = np.ones((num_joints, 1), dtype=np.float32)
    target_weight[:, 0] = joints[:, 2] > 0
    target = np.zeros((num_joints, hm_h, hm_w), dtype=np.float32)
    tmp_size = sigma * 3
    for joint_id in range(num_joints):
        stride = (in_w / hm_w, in_h / hm_h)
        mu_x = int(joints[joint_id][0] / stride[0] + 0.5)
        mu_y = int(joints[joint_id][1] / stride[1] + 0.5)
        ul = [int(mu_x - tmp_size), int(mu_y - tmp_size)]
        br = [int(mu_x + tmp_size + 1), int(mu_y + tmp_size + 1)]
        if ul[0] >= hm_w or ul[1] >= hm_h or br[0] < 0 or br[1] < 0:
            target_weight[joint_id] = 0
            continue
        size = 2 * tmp_size + 1
        x = np.arange(0, size, 1, np.float32)
        y = x[:, np.newaxis]
        x0 = y0 = size // 2
        g = np.exp(-((x - x0) ** 2 + (y - y0) ** 2) / (2 * sigma**2))
        g_x = max(0, -ul[0]), min(br[0], hm_w) - ul[0]
        g_y = max(0, -ul[1]), min(br[1], hm_h) - ul[1]
        img_x = max(0, ul[0]), min(br[0], hm_w)
        img_y = max(0, ul[1]), min(br[1], hm_h)
        if target_weight[joint_id] > 0.5:
            target[joint_id][img_y[0] : img_y[1], img_x[0] : img_x[1]] = g[g_y[0] : g_y[1], g_x[0] : g_x[1]]
    return target, target_weight


def reference_dark_decode(heatmaps: np.ndarray, blur_kernel: int = 11) -> np.ndarray:
    """DARK decoding in the loop-per-joint form of the TokenPose code (for timing and checks)."""
    coords, _ = get_max_preds(heatmaps)
    hm = np.log(np.maximum(blur_heatmaps(heatmaps, blur_kernel), 1e-10))
    n, k, h, w = heatmaps.shape
    for i in range(n):
        for j in range(k):
            px, py = int(coords[i, j, 0]), int(coords[i, j, 1])
            if 1 < px < w - 2 and 1 < py < h - 2:
                m = hm[i, j]
                dx = 0.5 * (m[py][px + 1] - m[py][px - 1])
                dy = 0.5 * (m[py + 1][px] - m[py - 1][px])
                dxx = 0.25 * (m[py][px + 2] - 2 * m[py][px] + m[py][px - 2])
                dxy = 0.25 * (m[py + 1][px + 1] - m[py - 1][px + 1] - m[py + 1][px - 1] + m[py - 1][px - 1])
                dyy = 0.25 * (m[py + 2][px] - 2 * m[py][px] + m[py - 2][px])
                if dxx * dyy - dxy**2 != 0:
                    hess = np.array([[dxx, dxy], [dxy, dyy]])
                    coords[i, j] -= np.linalg.inv(hess) @ np.array([dx, dy])
    return coords


def reference_item(dataset: PoseDataset, index: int, seed: int) -> dict:
    """One training item the straightforward way, with the same random draws as ``dataset``."""
    rng = np.random.default_rng(seed)
    sample = dataset.raw_sample(index)
    # augmentation parameters only: run the fast pipeline's random steps on a copy
    for step in dataset.pipeline.steps:
        if type(step).__name__ in ("AffineCrop", "GenerateTarget", "Normalize"):
            break
        sample = step(sample, rng)
    image = np.asarray(sample["image"])
    flipped = sample.get("flipped", False)
    if flipped:  # the reference mirrors the pixels, then crops
        image = np.ascontiguousarray(image[:, ::-1])
    crop_step = dataset.pipeline.steps[-3]  # AffineCrop
    out_h, out_w = crop_step.input_size
    trans = get_affine_transform(sample["center"], sample["scale"], sample["rotation"], (out_w, out_h),
                                 geometry=crop_step.geometry)  # fmt: skip
    crop = cv2.warpAffine(image, trans, (out_w, out_h), flags=cv2.INTER_LINEAR)
    joints = np.array(sample["joints"], dtype=np.float32, copy=True)
    for j in range(len(joints)):
        if joints[j, 2] > 0:
            joints[j, :2] = affine_points(joints[j, :2], trans)
    codec = dataset.pipeline.steps[-2].codec
    target, weight = reference_encode_heatmaps(joints, codec.input_size, codec.heatmap_size, codec.sigma)
    chw = crop.astype(np.float32).transpose(2, 0, 1) / 255.0
    for c in range(3):
        chw[c] = (chw[c] - IMAGENET_MEAN[c]) / IMAGENET_STD[c]
    return {"image": torch.from_numpy(np.ascontiguousarray(chw)), "target": target, "target_weight": weight}


def _fast_item(dataset: PoseDataset, index: int, seed: int) -> dict:
    return dataset.pipeline(dataset.raw_sample(index), np.random.default_rng(seed))


def benchmark_dataframe(
    data_root: str | Path | None = None,
    samples: int = 200,
    input_size: Sequence[int] = (256, 192),
    heatmap_size: Sequence[int] = (64, 48),
    repeats: int = 3,
):
    """Measure both pipelines and both decoders; returns a pandas DataFrame (one row each)."""
    import pandas as pd

    from mfvpose_lib.data.synth import ensure_synthetic

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    tmp = None
    if data_root is None:
        tmp = tempfile.TemporaryDirectory(prefix="mfvpose_bench_")
        data_root = tmp.name
    try:
        if not (Path(data_root) / "coco" / "annotations" / "person_keypoints_train2017.json").is_file():
            ensure_synthetic(data_root, 48, 4, seed=0)
        # the reference is HRNet's loader: its geometry and integer-centred, windowed targets
        codec = HeatmapCodec(input_size=tuple(input_size), heatmap_size=tuple(heatmap_size), geometry="hrnet",
                             target="integer", target_window=True, decoder="quarter")  # fmt: skip
        ds = build_dataset(data_root, "coco", "train", codec=codec, train=True)
        n = min(samples, 10 * len(ds))
        indices = [i % len(ds) for i in range(n)]
        seeds = list(range(n))
        # agreement: same draws → same targets and the same pixels (both cut with cv2.warpAffine)
        max_diff = max_pixel_diff = 0.0
        for i, s in zip(indices[:20], seeds[:20]):
            a, b = _fast_item(ds, i, s), reference_item(ds, i, s)
            max_diff = max(max_diff, float(np.abs(a["target"] - b["target"]).max()))
            max_pixel_diff = max(max_pixel_diff, float(np.abs(a["image"] - b["image"]).max() * 255 * max(IMAGENET_STD)))
            assert np.array_equal(a["target_weight"] > 0, b["target_weight"] > 0)
        rows = []
        for name, fn in (("pipeline (this library)", _fast_item), ("pipeline (reference)", reference_item)):
            best = math.inf
            for _ in range(repeats):
                start = time.perf_counter()
                for i, s in zip(indices, seeds):
                    fn(ds, i, s)
                best = min(best, time.perf_counter() - start)
            rows.append({"what": name, "items": n, "seconds": best, "per_s": n / best})
        # decoding
        rng = np.random.default_rng(0)
        joints = np.concatenate([rng.uniform(4, 40, (64, 17, 2)) * [input_size[1] / 48, input_size[0] / 64],
                                 np.ones((64, 17, 1))], axis=-1)  # fmt: skip
        hm = np.stack([reference_encode_heatmaps(j, input_size, heatmap_size)[0] for j in joints])
        for name, fn in (
            ("DARK decode (this library)", lambda h: codec.locate(h, "dark")[0]),
            ("DARK decode (reference loop)", reference_dark_decode),
        ):
            best = math.inf
            for _ in range(repeats):
                start = time.perf_counter()
                fn(hm)
                best = min(best, time.perf_counter() - start)
            rows.append({"what": name, "items": len(hm), "seconds": best, "per_s": len(hm) / best})
        df = pd.DataFrame(rows)
        ours, ref = df.loc[0, "per_s"], df.loc[1, "per_s"]
        df["speedup_vs_reference"] = [ours / ref, 1.0, df.loc[2, "per_s"] / df.loc[3, "per_s"], 1.0]
        df["workers_for_2000_per_s"] = pd.array(
            [math.ceil(FEED_RATE / v) if "pipeline" in w else None for w, v in zip(df["what"], df["per_s"])],
            dtype="Int64",
        )
        df.attrs["max_target_difference"] = max_diff
        df.attrs["max_pixel_difference_grey_levels"] = max_pixel_diff
        return df
    finally:
        torch.set_num_threads(threads)
        if tmp is not None:
            tmp.cleanup()


def codec_round_trip_table(
    samples: int = 64,
    input_size: Sequence[int] = (256, 192),
    heatmap_size: Sequence[int] = (64, 48),
    seed: int = 0,
):
    """Error (crop pixels, per axis) of the codec's encode → decode for each geometry, target
    centring and decoder.

    Points are uniform inside the crop but at least 7 heatmap pixels from its border, so the
    table isolates quantisation and decoding bias from border effects.
    """
    import pandas as pd

    from mfvpose_lib.codecs.geometry import GEOMETRIES

    rng = np.random.default_rng(seed)
    rows = []
    for geometry in GEOMETRIES:
        for target in ("integer", "subpixel"):
            codec = HeatmapCodec(input_size=tuple(input_size), heatmap_size=tuple(heatmap_size), geometry=geometry,
                                 target=target)  # fmt: skip
            hm_xy = rng.uniform(7, np.array([heatmap_size[1], heatmap_size[0]]) - 8, (samples, 17, 2))
            xy = codec.heatmap_to_crop(hm_xy)
            targets, _ = codec.encode(np.concatenate([xy, np.ones((samples, 17, 1))], axis=-1))
            for decoder in ("argmax", "quarter", "dark"):
                err = np.abs(codec.decode(targets, decoder=decoder)[0] - xy)
                rows.append({"geometry": geometry, "target": target, "decode": decoder,
                             "mean |dx| px": float(err[..., 0].mean()), "mean |dy| px": float(err[..., 1].mean()),
                             "max error px": float(np.linalg.norm(err, axis=-1).max())})  # fmt: skip
    return pd.DataFrame(rows)
