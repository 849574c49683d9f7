"""The straightforward side of the data benchmarks: the HRNet loader and TokenPose's DARK decoding
as a direct port writes them.

The port mirrors the whole image when flipping, warps with bilinear interpolation, builds each
joint's Gaussian in a Python loop and normalises with per-channel numpy arithmetic. It draws the
same random augmentation as the library's pipeline for the same sample, so the two must agree;
the codec's tests check it against these references too.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch

from mfvpose_lib.codecs.geometry import affine_points, get_affine_transform
from mfvpose_lib.codecs.heatmap import blur_heatmaps, get_max_preds
from mfvpose_lib.data.dataset import PoseDataset
from mfvpose_lib.data.transforms import IMAGENET_MEAN, IMAGENET_STD


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
