"""Heatmap codec: round trips, agreement with the per-joint reference, flip-back, coordinates."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mfvpose_lib.data.bench import reference_dark_decode, reference_encode_heatmaps
from mfvpose_lib.data.codec import decode_heatmaps, encode_heatmaps, flip_back, heatmap_to_image_coords
from mfvpose_lib.data.geometry import affine_points, get_affine_transform
from mfvpose_lib.data.meta import COCO_META

IN, HM = (256, 192), (64, 48)


def _random_joints(rng, n, k=17, margin=12.0):
    xy = np.stack(
        [rng.uniform(margin, IN[1] - margin, (n, k)), rng.uniform(margin, IN[0] - margin, (n, k))], -1
    )
    return np.concatenate([xy, np.ones((n, k, 1))], -1).astype(np.float32)


def test_vectorised_targets_equal_the_per_joint_reference():
    rng = np.random.default_rng(0)
    joints = _random_joints(rng, 6, margin=-30.0)  # some joints off the crop: weight rules matter
    joints[:, ::5, 2] = 0
    target, weight = encode_heatmaps(joints, input_size=IN, heatmap_size=HM, sigma=2.0)
    for j in range(len(joints)):
        ref_t, ref_w = reference_encode_heatmaps(joints[j], IN, HM, 2.0)
        np.testing.assert_allclose(target[j], ref_t, atol=1e-6)
        np.testing.assert_array_equal(weight[j], ref_w)
    assert (weight == 0).any() and (weight == 1).any()


def test_dark_round_trip_subpixel_below_a_tenth_of_a_pixel():
    rng = np.random.default_rng(1)
    # at least 7 heatmap pixels from the border, where DARK's zero-padded blur is unbiased
    joints = _random_joints(rng, 8, margin=28.0)
    target, _ = encode_heatmaps(joints, input_size=IN, heatmap_size=HM, sigma=2.0, unbiased=True)
    coords, maxvals = decode_heatmaps(target, method="dark")
    truth = joints[..., :2] / 4.0
    err = np.abs(coords - truth).max()
    assert err < 0.1, err
    assert (maxvals > 0.5).all()
    # the integer-centred target cannot do that: its peak sits on the rounded pixel
    biased, _ = encode_heatmaps(joints, input_size=IN, heatmap_size=HM, sigma=2.0, unbiased=False)
    assert np.abs(decode_heatmaps(biased, method="dark")[0] - truth).max() > 0.2


def test_vectorised_dark_matches_the_loop_and_quarter_offset_moves_towards_the_neighbour():
    rng = np.random.default_rng(2)
    joints = _random_joints(rng, 4)
    target, _ = encode_heatmaps(joints, input_size=IN, heatmap_size=HM, unbiased=True)
    np.testing.assert_allclose(decode_heatmaps(target, "dark")[0], reference_dark_decode(target), atol=1e-4)
    hm = np.zeros((1, 1, 16, 16), np.float32)
    hm[0, 0, 8, 8], hm[0, 0, 8, 9], hm[0, 0, 9, 8] = 1.0, 0.5, 0.2
    coords, _ = decode_heatmaps(hm, "quarter")
    np.testing.assert_allclose(coords[0, 0], [8.25, 8.25])


def test_flip_back_undoes_a_flip_for_numpy_and_torch():
    rng = np.random.default_rng(3)
    hm = rng.random((2, 17, 8, 6)).astype(np.float32)
    perm = COCO_META.flip_index
    flipped = hm[:, perm, :, ::-1]
    np.testing.assert_array_equal(flip_back(flipped, COCO_META.flip_pairs), hm)
    out = flip_back(torch.from_numpy(np.ascontiguousarray(flipped)), COCO_META.flip_pairs)
    np.testing.assert_array_equal(out.numpy(), hm)
    shifted = flip_back(flipped, COCO_META.flip_pairs, shift=True)
    np.testing.assert_array_equal(shifted[..., 1:], hm[..., :-1])


def test_heatmap_to_image_coords_inverts_the_crop_transform():
    center, scale = np.array([150.0, 120.0]), np.array([1.1, 1.1 * 4 / 3])
    trans = get_affine_transform(center, scale, 0.0, (HM[1], HM[0]))
    pts = np.array([[[100.0, 80.0], [170.5, 190.25]]])
    hm_pts = affine_points(pts, trans)
    back = heatmap_to_image_coords(hm_pts, center[None], scale[None], HM)
    np.testing.assert_allclose(back, pts, atol=1e-3)


def test_decode_rejects_bad_input():
    with pytest.raises(ValueError, match="unknown decoding method"):
        decode_heatmaps(np.zeros((1, 1, 8, 8)), "median")
    with pytest.raises(ValueError, match=r"\(N, K, h, w\)"):
        decode_heatmaps(np.zeros((8, 8)))
