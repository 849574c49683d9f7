"""Crop geometry and augmentation steps: pixels and keypoints must move together."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from mfvpose_lib.codecs.geometry import (
    GEOMETRIES,
    box_to_center_scale,
    clean_box,
    fliplr_joints,
    get_affine_transform,
)
from mfvpose_lib.data.meta import COCO_META, MPII_META
from mfvpose_lib.data.transforms import (
    AffineCrop,
    AugmentationConfig,
    HalfBody,
    RandomFlip,
    build_pipeline,
    flip_sample,
)


def _udp_warp_matrix(center, scale, rot, size):
    """MMPose's ``get_udp_warp_matrix``: each axis zoomed by (size − 1)/box side, the box centre
    to (size − 1)/2. Its rotation turns the other way round; the library keeps one sense for
    every geometry, so the angle is negated here."""
    box = np.asarray(scale, dtype=np.float64) * 200.0
    sx, sy = (size[0] - 1) / box[0], (size[1] - 1) / box[1]
    r = np.deg2rad(-rot)
    cx, cy = center
    return np.array([
        [np.cos(r) * sx, -np.sin(r) * sx, sx * (-cx * np.cos(r) + cy * np.sin(r) + 0.5 * box[0])],
        [np.sin(r) * sy, np.cos(r) * sy, sy * (-cx * np.sin(r) - cy * np.cos(r) + 0.5 * box[1])],
    ])  # fmt: skip


def _three_point_transform(center, scale, rot, size, geometry="hrnet"):
    """The references' construction: centre, a point up the rotated box, and the perpendicular
    third. HRNet: centre → size/2, box width 200·s → W; TokenPose: centre → (size − 1)/2 and
    200·s − 1 → W − 1; UDP: MMPose's per-axis matrix."""
    if geometry == "udp":
        return _udp_warp_matrix(center, scale, rot, size)
    src_w = scale[0] * 200.0 - (1.0 if geometry == "tokenpose" else 0.0)
    dst_w = size[0] - (0.0 if geometry == "hrnet" else 1.0)
    cx, cy = ((size[0] * 0.5, size[1] * 0.5) if geometry == "hrnet" else ((size[0] - 1) * 0.5, (size[1] - 1) * 0.5))
    r = np.deg2rad(rot)
    src_dir = np.array(
        [0 * np.cos(r) - (-0.5 * src_w) * np.sin(r), 0 * np.sin(r) + (-0.5 * src_w) * np.cos(r)]
    )
    dst = np.array([[cx, cy], [cx, cy - dst_w * 0.5]])
    src = np.array([center, center + src_dir])

    def third(a, b):
        d = a - b
        return b + np.array([-d[1], d[0]])

    src = np.vstack([src, third(src[0], src[1])])
    dst = np.vstack([dst, third(dst[0], dst[1])])
    a = np.hstack([src, np.ones((3, 1))])
    return np.linalg.solve(a, dst).T


@pytest.mark.parametrize("geometry", GEOMETRIES)
@pytest.mark.parametrize("rot", [0.0, 30.0, -75.0])
def test_closed_form_affine_equals_the_three_point_construction(rot, geometry):
    c, s = np.array([140.0, 90.0]), np.array([0.9, 1.2])
    np.testing.assert_allclose(
        get_affine_transform(c, s, rot, (192, 256), geometry=geometry),
        _three_point_transform(c, s, rot, (192, 256), geometry),
        atol=1e-9,
    )


@pytest.mark.parametrize("geometry", GEOMETRIES)
@pytest.mark.parametrize("rot,flipped", [(0.0, False), (23.0, False), (-41.0, True)])
def test_crop_pixels_equal_the_references_warp(geometry, rot, flipped):
    """The references mirror the whole image first (``data_numpy[:, ::-1]``), then call
    ``cv2.warpAffine`` with the three-point matrix; our crop folds the mirror into one warp."""
    rng = np.random.default_rng(5)
    image = cv2.GaussianBlur(rng.integers(0, 256, (150, 210, 3), dtype=np.uint8), (5, 5), 1.5)
    joints = np.zeros((17, 3), np.float32)
    joints[:, :2] = rng.uniform(20, 140, (17, 2))
    joints[:, 2] = 1
    sample = {"image": Image.fromarray(image), "joints": joints, "center": np.array([101.3, 77.8]),
              "scale": np.array([0.61, 0.81]), "rotation": rot}  # fmt: skip
    pixels = image
    if flipped:
        sample = flip_sample(sample, COCO_META.flip_pairs)
        pixels = np.ascontiguousarray(image[:, ::-1])
    out = AffineCrop((256, 192), geometry=geometry)(dict(sample))
    trans = _three_point_transform(sample["center"], sample["scale"], rot, (192, 256), geometry)
    reference = cv2.warpAffine(pixels, trans, (192, 256), flags=cv2.INTER_LINEAR)
    assert np.abs(out["image"].astype(int) - reference.astype(int)).max() <= 1
    expected = sample["joints"][:, :2] @ trans[:, :2].T + trans[:, 2]
    np.testing.assert_allclose(out["joints_input"][:, :2], expected, atol=1e-3)


def test_box_to_center_scale_fixes_aspect_and_pads():
    center, scale = box_to_center_scale([10, 20, 30, 100], aspect_ratio=0.75)
    np.testing.assert_allclose(center, [25, 70])
    np.testing.assert_allclose(scale, [75 / 200 * 1.25, 100 / 200 * 1.25])
    # TokenPose centres the box at x + (w - 1)/2 and cleans it with +1
    center, _ = box_to_center_scale([10, 20, 30, 100], aspect_ratio=0.75, geometry="tokenpose")
    np.testing.assert_allclose(center, [24.5, 69.5])
    assert clean_box([10, 20, 30, 100], 640, 480, "tokenpose") == [10, 20, 30, 100]
    assert clean_box([10, 20, 30, 100], 640, 480, "hrnet") == [10, 20, 29, 99]


@pytest.mark.parametrize("geometry", GEOMETRIES)
@pytest.mark.parametrize("rot,flipped", [(0.0, False), (37.0, False), (-20.0, True)])
def test_affine_crop_puts_keypoints_where_the_pixels_go(geometry, rot, flipped):
    image = np.zeros((120, 160, 3), np.uint8)
    dot = (97, 41)  # x, y
    image[dot[1] - 1 : dot[1] + 2, dot[0] - 1 : dot[0] + 2] = 255
    joints = np.zeros((17, 3), np.float32)
    joints[9] = (dot[0], dot[1], 1)  # left wrist
    sample = {"image": Image.fromarray(image), "joints": joints, "center": np.array([85.0, 55.0]),
              "scale": np.array([0.5, 0.5 * 4 / 3]), "rotation": rot}  # fmt: skip
    if flipped:
        sample = flip_sample(sample, COCO_META.flip_pairs)
    out = AffineCrop((128, 96), geometry=geometry)(sample)
    crop = out["image"].astype(np.float32).sum(axis=2)
    ys, xs = np.mgrid[: crop.shape[0], : crop.shape[1]]
    found = np.array([(crop * xs).sum() / crop.sum(), (crop * ys).sum() / crop.sum()])
    k = 10 if flipped else 9  # a flip relabels the left wrist as the right one
    assert out["joints_input"][k, 2] == 1
    np.testing.assert_allclose(out["joints_input"][k, :2], found, atol=0.35)


def test_flip_then_flip_back_is_the_identity():
    rng = np.random.default_rng(0)
    joints = np.concatenate([rng.uniform(0, 100, (16, 2)), (rng.random((16, 1)) > 0.3)], 1).astype(np.float32)
    joints[joints[:, 2] == 0, :2] = 0
    twice = fliplr_joints(fliplr_joints(joints, 120, MPII_META.flip_pairs), 120, MPII_META.flip_pairs)
    np.testing.assert_allclose(twice, joints, atol=1e-4)
    img = Image.fromarray(rng.integers(0, 255, (40, 60, 3), dtype=np.uint8))
    sample = {"image": img, "joints": joints, "center": np.array([30.0, 20.0]), "scale": np.array([0.3, 0.3])}
    again = flip_sample(flip_sample(dict(sample), MPII_META.flip_pairs), MPII_META.flip_pairs)
    assert again["flipped"] is False
    np.testing.assert_allclose(again["joints"], joints, atol=1e-4)
    np.testing.assert_allclose(again["center"], sample["center"])
    # pixels: in HRNet's geometry the flipped crop is the mirrored image one pixel to the right,
    # because the flipped centre is W - 1 - x and the crop centre is W/2 (hence its flip shift);
    # in TokenPose's geometry, whose crop centre is (W - 1)/2, it is exactly the mirrored image
    a = AffineCrop((40, 60), "hrnet")(flip_sample(dict(sample), MPII_META.flip_pairs))["image"]
    b = np.asarray(img)[:, ::-1]
    np.testing.assert_array_equal(a[:, 1:], b[:, :-1])
    sample["scale"] = np.array([59 / 200 + 1 / 200, 0.3])  # a box 60 px wide: 200·s − 1 = W − 1
    t = AffineCrop((40, 60), "tokenpose")(flip_sample(dict(sample), MPII_META.flip_pairs))["image"]
    plain = AffineCrop((40, 60), "tokenpose")(dict(sample))["image"]
    np.testing.assert_array_equal(t, plain[:, ::-1])


def test_half_body_recentres_on_the_visible_half():
    rng = np.random.default_rng(3)
    joints = np.zeros((17, 3), np.float32)
    joints[:, :2] = np.linspace([50, 10], [60, 200], 17)
    joints[:, 2] = 1
    step = HalfBody(COCO_META, aspect_ratio=0.75, prob=1.0)
    out = step({"joints": joints, "center": np.array([55.0, 105.0]), "scale": np.array([1.0, 1.33])}, rng)
    assert out.get("half_body")
    assert out["scale"][1] < 1.33  # a half body is shorter than the whole person


def test_training_pipeline_is_reproducible_and_random_flip_relabels_sides():
    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (100, 80, 3), dtype=np.uint8))
    joints = np.zeros((17, 3), np.float32)
    joints[5] = (30, 40, 1)
    base = {"image": img, "joints": joints, "center": np.array([40.0, 50.0]), "scale": np.array([0.4, 0.53])}
    pipe = build_pipeline(
        COCO_META, input_size=(64, 48), heatmap_size=(16, 12), train=True, augmentation=AugmentationConfig()
    )
    a = pipe(dict(base), np.random.default_rng(7))
    b = pipe(dict(base), np.random.default_rng(7))
    assert (a["image"] == b["image"]).all() and np.array_equal(a["target"], b["target"])
    flipped = RandomFlip(COCO_META.flip_pairs, prob=1.0)(dict(base), np.random.default_rng(0))
    assert flipped["joints"][6, 2] == 1 and flipped["joints"][5, 2] == 0
    assert flipped["joints"][6, 0] == 80 - 1 - 30
