"""A training sample equals the public code's sample, given the same random draws.

The functions below are this test's own transcription of the reference formulas, read from
HRNet's ``lib/utils/transforms.py`` / ``lib/dataset/JointsDataset.py`` and TokenPose's copies of
them (its ``get_affine_transform`` maps the box half-width (200·s − 1)/2 to (W − 1)/2, its
``__getitem__`` maps joints to the heatmap with a second affine of the heatmap size, its
half-body box is max − min + 1, its targets are sub-pixel Gaussians over the whole map). They use
nothing of the library. Both implementations consume one scripted sequence of draws: the
references' ``np.random.rand``/``random.random`` and ``np.random.randn`` calls map to
``random()`` and ``standard_normal()``.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from mfvpose_lib.codecs.heatmap import FAMILY_CODECS, HeatmapCodec
from mfvpose_lib.data.spec import get_dataset_spec
from mfvpose_lib.data.transforms import Normalize, build_pipeline

# --- the references, transcribed --------------------------------------------------------------


def ref_get_dir(src_point, rot_rad):
    sn, cs = np.sin(rot_rad), np.cos(rot_rad)
    return np.array([src_point[0] * cs - src_point[1] * sn, src_point[0] * sn + src_point[1] * cs])


def ref_get_3rd_point(a, b):
    direct = a - b
    return b + np.array([-direct[1], direct[0]], dtype=np.float32)


def ref_get_affine_transform(center, scale, rot, output_size, family):
    scale_tmp = np.asarray(scale, dtype=np.float64) * 200.0
    src_w = scale_tmp[0]
    dst_w, dst_h = output_size
    rot_rad = np.pi * rot / 180
    minus = 1.0 if family == "tokenpose" else 0.0  # TokenPose counts pixel centres: (n − 1)/2
    src_dir = ref_get_dir([0, (src_w - minus) * -0.5], rot_rad)
    dst_dir = np.array([0, (dst_w - minus) * -0.5], np.float32)
    src, dst = np.zeros((3, 2), np.float32), np.zeros((3, 2), np.float32)
    src[0, :] = center
    src[1, :] = center + src_dir
    dst[0, :] = [(dst_w - minus) * 0.5, (dst_h - minus) * 0.5]
    dst[1, :] = dst[0, :] + dst_dir
    src[2:, :] = ref_get_3rd_point(src[0, :], src[1, :])
    dst[2:, :] = ref_get_3rd_point(dst[0, :], dst[1, :])
    return cv2.getAffineTransform(np.float32(src), np.float32(dst))


def ref_affine_transform(pt, t):
    return (t @ np.array([pt[0], pt[1], 1.0]).T)[:2]


def ref_fliplr_joints(joints, joints_vis, width, matched_parts):
    joints[:, 0] = width - joints[:, 0] - 1
    for a, b in matched_parts:
        joints[a, :], joints[b, :] = joints[b, :], joints[a, :].copy()
        joints_vis[a, :], joints_vis[b, :] = joints_vis[b, :], joints_vis[a, :].copy()
    return joints * joints_vis, joints_vis


def ref_half_body(joints, joints_vis, upper_ids, aspect_ratio, draws, family):
    upper, lower = [], []
    for joint_id in range(len(joints)):
        if joints_vis[joint_id][0] > 0:
            (upper if joint_id in upper_ids else lower).append(joints[joint_id])
    if draws.standard_normal() < 0.5 and len(upper) > 2:
        selected = upper
    else:
        selected = lower if len(lower) > 2 else upper
    if len(selected) < 2:
        return None, None
    selected = np.array(selected, dtype=np.float32)
    center = selected.mean(axis=0)[:2]
    plus = 1 if family == "tokenpose" else 0
    w = np.amax(selected, axis=0)[0] - np.amin(selected, axis=0)[0] + plus
    h = np.amax(selected, axis=0)[1] - np.amin(selected, axis=0)[1] + plus
    if w > aspect_ratio * h:
        h = w * 1.0 / aspect_ratio
    elif w < aspect_ratio * h:
        w = h * aspect_ratio
    return center, np.array([w / 200.0, h / 200.0], dtype=np.float32) * 1.5


def ref_target_hrnet(joints, joints_vis, image_size, heatmap_size, sigma):
    k = len(joints)
    weight = np.ones((k, 1), np.float32)
    weight[:, 0] = joints_vis[:, 0]
    target = np.zeros((k, heatmap_size[1], heatmap_size[0]), np.float32)
    tmp_size = sigma * 3
    for j in range(k):
        feat_stride = image_size / heatmap_size
        mu_x = int(joints[j][0] / feat_stride[0] + 0.5)
        mu_y = int(joints[j][1] / feat_stride[1] + 0.5)
        ul = [int(mu_x - tmp_size), int(mu_y - tmp_size)]
        br = [int(mu_x + tmp_size + 1), int(mu_y + tmp_size + 1)]
        if ul[0] >= heatmap_size[0] or ul[1] >= heatmap_size[1] or br[0] < 0 or br[1] < 0:
            weight[j] = 0
            continue
        size = 2 * tmp_size + 1
        x = np.arange(0, size, 1, np.float32)
        y = x[:, np.newaxis]
        x0 = y0 = size // 2
        g = np.exp(-((x - x0) ** 2 + (y - y0) ** 2) / (2 * sigma**2))
        g_x = max(0, -ul[0]), min(br[0], heatmap_size[0]) - ul[0]
        g_y = max(0, -ul[1]), min(br[1], heatmap_size[1]) - ul[1]
        img_x = max(0, ul[0]), min(br[0], heatmap_size[0])
        img_y = max(0, ul[1]), min(br[1], heatmap_size[1])
        if weight[j] > 0.5:
            target[j][img_y[0] : img_y[1], img_x[0] : img_x[1]] = g[int(g_y[0]) : int(g_y[1]), int(g_x[0]) : int(g_x[1])]
    return target, weight


def ref_target_tokenpose(joints_heatmap, joints_vis, heatmap_size, sigma):
    k = len(joints_heatmap)
    weight = np.ones((k, 1), np.float32)
    weight[:, 0] = joints_vis[:, 0]
    target = np.zeros((k, heatmap_size[1], heatmap_size[0]), np.float32)
    tmp_size = sigma * 3
    for j in range(k):
        mu_x, mu_y = joints_heatmap[j][0], joints_heatmap[j][1]
        ul = [int(mu_x - tmp_size), int(mu_y - tmp_size)]
        br = [int(mu_x + tmp_size + 1), int(mu_y + tmp_size + 1)]
        if ul[0] >= heatmap_size[0] or ul[1] >= heatmap_size[1] or br[0] < 0 or br[1] < 0:
            weight[j] = 0
        if weight[j] == 0:
            continue
        x = np.arange(0, heatmap_size[0], 1, np.float32)
        y = np.arange(0, heatmap_size[1], 1, np.float32)[:, np.newaxis]
        target[j] = np.exp(-((x - mu_x) ** 2 + (y - mu_y) ** 2) / (2 * sigma**2))
    return target, weight


def reference_sample(image, joints_3d, c, s, draws, *, family, meta, aug, image_size, heatmap_size, sigma):
    """``JointsDataset.__getitem__`` at training time (image_size, heatmap_size as (W, H))."""
    joints = joints_3d[:, :2].astype(np.float32).copy()
    joints_vis = np.repeat(joints_3d[:, 2:3], 3, axis=1).astype(np.float32)
    joints = np.concatenate([joints, np.zeros((len(joints), 1), np.float32)], axis=1)
    c, s = np.array(c, np.float64), np.array(s, np.float64)
    aspect_ratio = image_size[0] / image_size[1]
    if np.sum(joints_vis[:, 0]) > aug.num_joints_half_body and draws.random() < aug.half_body_prob:
        c_hb, s_hb = ref_half_body(joints, joints_vis, meta.upper_body_ids, aspect_ratio, draws, family)
        if c_hb is not None:
            c, s = c_hb, s_hb
    sf, rf = aug.scale_factor, aug.rotation_factor
    s = s * np.clip(draws.standard_normal() * sf + 1, 1 - sf, 1 + sf)
    r = np.clip(draws.standard_normal() * rf, -rf * 2, rf * 2) if draws.random() <= aug.rotation_prob else 0
    if draws.random() <= aug.flip_prob:
        image = image[:, ::-1, :]
        joints, joints_vis = ref_fliplr_joints(joints, joints_vis, image.shape[1], meta.flip_pairs)
        c[0] = image.shape[1] - c[0] - 1
    joints_heatmap = joints.copy()
    trans = ref_get_affine_transform(c, s, r, image_size, family)
    trans_heatmap = ref_get_affine_transform(c, s, r, heatmap_size, family)
    crop = cv2.warpAffine(np.ascontiguousarray(image), trans, (int(image_size[0]), int(image_size[1])),
                          flags=cv2.INTER_LINEAR)  # fmt: skip
    for i in range(len(joints)):
        if joints_vis[i, 0] > 0.0:
            joints[i, 0:2] = ref_affine_transform(joints[i, 0:2], trans)
            joints_heatmap[i, 0:2] = ref_affine_transform(joints_heatmap[i, 0:2], trans_heatmap)
    if family == "tokenpose":
        target, weight = ref_target_tokenpose(joints_heatmap, joints_vis, heatmap_size, sigma)
    else:
        target, weight = ref_target_hrnet(joints, joints_vis, np.array(image_size), np.array(heatmap_size), sigma)
    return {"trans": trans, "image": crop, "joints": joints, "target": target, "target_weight": weight}


# --- the same draws for both ------------------------------------------------------------------


class ScriptedDraws:
    """Replays fixed uniform and normal draws, each in its own order; runs dry loudly."""

    def __init__(self, uniform, normal) -> None:
        self.uniform, self.normal = list(uniform), list(normal)

    def random(self) -> float:
        return self.uniform.pop(0)

    def standard_normal(self) -> float:
        return self.normal.pop(0)


DRAWS = {
    # (uniform: half-body, rotation, flip), (normal: half-body upper/lower, scale, rotation)
    "half body (upper), rotated, flipped": ([0.1, 0.3, 0.2], [0.2, 0.5, 0.4]),
    "half body (lower), rotated, kept": ([0.05, 0.1, 0.8], [1.3, -0.4, -0.9]),
    "no half body, no rotation, flipped": ([0.9, 0.95, 0.1], [0.7]),
    "no half body, rotated, kept": ([0.7, 0.2, 0.6], [-1.2, 1.5]),
}
SIZES = {"coco": [(256, 192), (384, 288), (64, 48)], "mpii": [(256, 256), (64, 64)]}
CASES = [(family, dataset, size, name) for family in FAMILY_CODECS for dataset, sizes in SIZES.items()
         for size in sizes for name in DRAWS]  # fmt: skip


def _person(dataset: str, seed: int = 0):
    """A smooth random image, one person's joints (a few unlabelled) and its box's centre/scale."""
    rng = np.random.default_rng(seed)
    image = cv2.GaussianBlur(rng.integers(0, 256, (360, 480, 3), dtype=np.uint8), (7, 7), 2.0)
    k = get_dataset_spec(dataset).meta.num_keypoints
    joints = np.zeros((k, 3), np.float32)
    joints[:, 0] = rng.uniform(170, 300, k)
    joints[:, 1] = np.linspace(60, 300, k) + rng.normal(0, 8, k)
    joints[:, 2] = 1.0
    joints[[3, 12], 2] = 0.0  # unlabelled joints carry no position
    joints[joints[:, 2] == 0, :2] = 0.0
    return image, joints


@pytest.mark.parametrize("family,dataset,input_size,draws", CASES,
                         ids=[f"{f}-{d}-{h}x{w}-{n}" for f, d, (h, w), n in CASES])  # fmt: skip
def test_our_training_sample_is_the_references(family, dataset, input_size, draws):
    spec = get_dataset_spec(dataset)
    heatmap_size = (input_size[0] // 4, input_size[1] // 4)
    sigma = 3.0 if input_size[0] >= 384 else 2.0
    codec = HeatmapCodec(input_size=input_size, heatmap_size=heatmap_size, sigma=sigma, **FAMILY_CODECS[family])
    aug = spec.augmentation
    if dataset == "mpii":  # the MPII recipes turn half-body off; switch it on to test the rule on both
        from dataclasses import replace

        aug = replace(aug, half_body_prob=0.3)
    image, joints = _person(dataset)
    box = [150.0, 40.0, 170.0, 280.0]
    center, scale = codec.box_to_center_scale(box)
    uniform, normal = DRAWS[draws]

    ours_pipeline = build_pipeline(spec.meta, codec=codec, train=True, augmentation=aug)
    sample = {"image": Image.fromarray(image), "joints": joints.copy(), "center": center.copy(),
              "scale": scale.copy(), "rotation": 0.0, "flipped": False}  # fmt: skip
    ours_draws = ScriptedDraws(uniform, normal)
    for step in ours_pipeline.steps:
        if not isinstance(step, Normalize):
            sample = step(sample, ours_draws)
    ref = reference_sample(image, joints, center, scale, ScriptedDraws(uniform, normal), family=family,
                           meta=spec.meta, aug=aug, image_size=(input_size[1], input_size[0]),
                           heatmap_size=(heatmap_size[1], heatmap_size[0]), sigma=sigma)  # fmt: skip

    assert not ours_draws.uniform and not ours_draws.normal, "our pipeline drew fewer numbers than scripted"
    np.testing.assert_allclose(sample["trans"], ref["trans"], rtol=1e-4, atol=1e-3)
    assert np.abs(sample["image"].astype(int) - ref["image"].astype(int)).max() <= 1
    visible = ref["target_weight"][:, 0] > 0
    np.testing.assert_allclose(sample["joints_input"][visible, :2], ref["joints"][visible, :2], atol=2e-3)
    np.testing.assert_array_equal(sample["target_weight"], ref["target_weight"])
    np.testing.assert_allclose(sample["target"], ref["target"], atol=2e-4)
