"""Heatmap codec: round trips, agreement with the per-joint reference, flip-back, coordinates."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mfvpose_lib.benchmarks.reference_pipeline import reference_dark_decode, reference_encode_heatmaps
from mfvpose_lib.codecs.geometry import GEOMETRIES, affine_points, get_affine_transform
from mfvpose_lib.codecs.heatmap import HeatmapCodec, decode_heatmaps, flip_back
from mfvpose_lib.data.meta import COCO_META

IN, HM = (256, 192), (64, 48)
HRNET = HeatmapCodec(input_size=IN, heatmap_size=HM, geometry="hrnet", target="integer", target_window=True)


def _subpixel(geometry="hrnet", target="subpixel"):
    return HeatmapCodec(input_size=IN, heatmap_size=HM, geometry=geometry, target=target, target_window=True)


def _random_joints(rng, n, k=17, margin=12.0):
    xy = np.stack(
        [rng.uniform(margin, IN[1] - margin, (n, k)), rng.uniform(margin, IN[0] - margin, (n, k))], -1
    )
    return np.concatenate([xy, np.ones((n, k, 1))], -1).astype(np.float32)


def test_vectorised_targets_equal_the_per_joint_reference():
    rng = np.random.default_rng(0)
    joints = _random_joints(rng, 6, margin=-30.0)  # some joints off the crop: weight rules matter
    joints[:, ::5, 2] = 0
    target, weight = HRNET.encode(joints)
    for j in range(len(joints)):
        ref_t, ref_w = reference_encode_heatmaps(joints[j], IN, HM, 2.0)
        np.testing.assert_allclose(target[j], ref_t, atol=1e-6)
        np.testing.assert_array_equal(weight[j], ref_w)
    assert (weight == 0).any() and (weight == 1).any()


def test_dark_round_trip_subpixel_below_a_tenth_of_a_pixel():
    rng = np.random.default_rng(1)
    # at least 7 heatmap pixels from the border, where DARK's zero-padded blur is unbiased
    joints = _random_joints(rng, 8, margin=28.0)
    target, _ = _subpixel().encode(joints)
    coords, maxvals = _subpixel().decode(target, decoder="dark")
    err = np.abs(coords - joints[..., :2]).max()  # crop pixels
    assert err < 0.4, err
    assert (maxvals > 0.5).all()
    # the integer-centred target cannot do that: its peak sits on the rounded pixel
    biased, _ = _subpixel(target="integer").encode(joints)
    assert np.abs(_subpixel().decode(biased, decoder="dark")[0] - joints[..., :2]).max() > 0.8


def test_round_trip_table_shows_dark_exact_on_subpixel_targets_only():
    from mfvpose_lib.analysis.codec_round_trip import codec_round_trip_table

    table = codec_round_trip_table(samples=4).set_index(["geometry", "target", "decode"])
    assert len(table) == len(GEOMETRIES) * 2 * 3
    for geometry in GEOMETRIES:
        assert table.loc[(geometry, "subpixel", "dark"), "max error px"] < 0.01
        assert table.loc[(geometry, "integer", "dark"), "max error px"] > 0.5  # the peak sits on the rounded pixel


def test_vectorised_dark_matches_the_loop_and_quarter_offset_moves_towards_the_neighbour():
    rng = np.random.default_rng(2)
    joints = _random_joints(rng, 4)
    target, _ = _subpixel().encode(joints)
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


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_crop_image_and_heatmap_maps_are_exact_inverses(geometry):
    codec = _subpixel(geometry)
    rng = np.random.default_rng(4)
    center, scale = rng.uniform(80, 200, (3, 2)), rng.uniform(0.5, 1.5, (3, 1)) * [[1.0, 4 / 3]]
    rotation = np.array([0.0, 25.0, -60.0])
    image_pts = rng.uniform(0, 300, (3, 5, 2))
    crop = codec.image_to_crop(image_pts, center, scale, rotation)
    for n in range(3):  # the same matrix the crop step warps pixels with
        np.testing.assert_allclose(crop[n], affine_points(image_pts[n], codec.crop_transform(center[n], scale[n], rotation[n])),
                                   atol=1e-9)  # fmt: skip
    np.testing.assert_allclose(codec.crop_to_image(crop, center, scale, rotation), image_pts, atol=1e-9)
    np.testing.assert_allclose(codec.heatmap_to_crop(codec.crop_to_heatmap(crop)), crop, atol=1e-9)


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_heatmap_to_image_is_the_references_heatmap_affine_inverse(geometry):
    """Composed, heatmap → crop → image is ``get_affine_transform(c, s, 0, heatmap_size, inv=1)``
    of the family (the references' ``transform_preds``), in x and in y."""
    codec = _subpixel(geometry)
    center, scale = np.array([150.0, 120.0]), np.array([1.1, 1.1 * 4 / 3])
    to_heatmap = get_affine_transform(center, scale, 0.0, (HM[1], HM[0]), geometry=geometry)
    pts = np.array([[[100.0, 80.0], [170.5, 190.25], [60.0, 230.0]]])
    back = codec.crop_to_image(codec.heatmap_to_crop(affine_points(pts, to_heatmap)), center[None], scale[None])
    np.testing.assert_allclose(back, pts, atol=1e-6)


def test_heatmaps_are_drawn_where_the_codec_puts_them():
    codec = _subpixel("tokenpose")
    maps = np.zeros((1, *HM), np.float32)
    maps[0, 40, 30] = 1.0
    on_crop = codec.heatmaps_on_crop(maps)[0]
    y, x = np.unravel_index(on_crop.argmax(), on_crop.shape)
    np.testing.assert_allclose([x, y], codec.heatmap_to_crop([30.0, 40.0]), atol=0.5)
    left, right, bottom, top = codec.heatmap_extent()
    np.testing.assert_allclose([left + (right - left) * 30.5 / HM[1], top + (bottom - top) * 40.5 / HM[0]],
                               codec.heatmap_to_crop([30.0, 40.0]))  # fmt: skip


def test_decode_rejects_bad_input():
    with pytest.raises(ValueError, match="unknown decoding method"):
        decode_heatmaps(np.zeros((1, 1, 8, 8)), "median")
    with pytest.raises(ValueError, match=r"\(N, K, h, w\)"):
        decode_heatmaps(np.zeros((8, 8)))
