"""Loss, OKS-NMS, COCO scoring and MPII PCKh on small hand-made cases."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mfvpose_lib.data.mpii import load_mpii_gt_valid
from mfvpose_lib.engine.loss import JointsMSELoss
from mfvpose_lib.evaluation.coco import COCO_STAT_NAMES, build_coco_results, coco_keypoint_eval, rescore
from mfvpose_lib.evaluation.mpii import (
    HRNET_MEAN_AT_0_11,
    MPII_JOINT_ABBREVIATIONS,
    SC_BIAS,
    pckh,
)
from mfvpose_lib.evaluation.oks_nms import oks_iou, oks_nms

COCO_SIGMAS = (
    np.array(
        [0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87, 0.89, 0.89]
    )
    / 10.0
)


def test_joints_mse_matches_hrnet_formula_and_ignores_zero_weight_joints():
    torch.manual_seed(0)
    out, tgt = torch.rand(2, 3, 4, 5), torch.rand(2, 3, 4, 5)
    w = torch.tensor([[1.0], [0.0], [1.0]]).expand(2, 3, 1)
    expected = (
        sum(
            0.5 * torch.mean((out[:, j] * w[:, j, :1, None] - tgt[:, j] * w[:, j, :1, None]) ** 2)
            for j in range(3)
        )
        / 3
    )
    loss = JointsMSELoss()(out, tgt, w)
    assert torch.allclose(loss, expected)
    changed = out.clone()
    changed[:, 1] += 5.0  # joint 1 has weight 0: no effect
    assert torch.allclose(JointsMSELoss()(changed, tgt, w), loss)
    with pytest.raises(ValueError, match="heatmap shapes differ"):
        JointsMSELoss()(out, tgt[..., :4], w)


def _pose(offset=(0.0, 0.0), k=17, seed=0):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(20, 80, size=(k, 2)) + np.asarray(offset)
    return np.concatenate([xy, np.full((k, 1), 0.9)], axis=1)


def test_oks_iou_is_one_for_identical_and_small_for_distant_poses():
    pose = _pose()
    others = np.stack([pose, _pose((200.0, 0.0))])
    sim = oks_iou(pose, others, 2500.0, np.array([2500.0, 2500.0]), COCO_SIGMAS)
    assert sim[0] == pytest.approx(1.0)
    assert sim[1] < 1e-3
    # with a visibility threshold, joints below it in either pose are left out
    low = pose.copy()
    low[:5, 2] = 0.1
    moved = low.copy()
    moved[:5, :2] += 50.0  # only the invisible joints move
    assert oks_iou(low, moved[None], 2500.0, np.array([2500.0]), COCO_SIGMAS, in_vis_thre=0.2)[
        0
    ] == pytest.approx(1.0)


def test_oks_nms_drops_near_duplicates_and_keeps_distinct_people():
    a, b = _pose(seed=1), _pose((300.0, 0.0), seed=2)
    near_a = a.copy()
    near_a[:, :2] += 0.5
    keep = oks_nms(np.stack([near_a, a, b]), np.array([0.5, 0.9, 0.7]), np.full(3, 2500.0), COCO_SIGMAS, 0.9)
    assert keep == [1, 2]
    assert oks_nms(np.zeros((0, 17, 3)), np.zeros(0), np.zeros(0), COCO_SIGMAS) == []


def test_rescore_is_mean_confident_joint_score_times_box_score():
    maxvals = np.array([[0.1, 0.5, 0.9], [0.1, 0.15, 0.05]])
    np.testing.assert_allclose(rescore(maxvals, np.array([0.5, 1.0]), 0.2), [0.35, 0.0])


def _coco_gt(people: list[np.ndarray]):
    from pycocotools.coco import COCO

    anns = []
    for i, pose in enumerate(people):
        vis = np.where(pose[:, 2] > 0, 2, 0)
        x0, y0 = pose[:, :2].min(0)
        x1, y1 = pose[:, :2].max(0)
        anns.append({
            "id": i + 1, "image_id": 1 + i % 2, "category_id": 1, "iscrowd": 0,
            "keypoints": np.concatenate([pose[:, :2], vis[:, None]], 1).reshape(-1).tolist(),
            "num_keypoints": int((vis > 0).sum()), "bbox": [x0, y0, x1 - x0, y1 - y0],
            "area": float((x1 - x0) * (y1 - y0)),
        })  # fmt: skip
    coco = COCO()
    coco.dataset = {
        "images": [{"id": 1, "width": 640, "height": 480}, {"id": 2, "width": 640, "height": 480}],
        "annotations": anns,
        "categories": [{"id": 1, "name": "person"}],
    }
    coco.createIndex()
    return coco


def test_coco_eval_scores_perfect_predictions_one_and_noisy_ones_lower(tmp_path):
    people = [_pose(seed=3), _pose((150.0, 40.0), seed=4), _pose((300.0, 100.0), seed=5)]
    coco = _coco_gt(people)
    coords = np.stack([p[:, :2] for p in people])
    maxvals = np.full((3, 17), 0.9)
    image_ids = [1, 2, 1]
    areas = np.full(3, 3600.0)
    perfect = build_coco_results(coords, maxvals, image_ids, np.ones(3), areas, COCO_SIGMAS)
    stats = coco_keypoint_eval(coco, perfect)
    assert tuple(stats) == COCO_STAT_NAMES
    assert stats["AP"] == pytest.approx(1.0)
    noisy = coords + np.random.default_rng(0).normal(0, 6.0, coords.shape)
    worse = coco_keypoint_eval(
        coco, build_coco_results(noisy, maxvals, image_ids, np.ones(3), areas, COCO_SIGMAS)
    )
    assert worse["AP"] < 0.99
    # a duplicate of person 0 is removed by OKS-NMS, so it costs no precision
    dup = build_coco_results(
        np.concatenate([coords, coords[:1] + 0.2]), np.full((4, 17), 0.9), [1, 2, 1, 1], np.ones(4),
        np.full(4, 3600.0), COCO_SIGMAS,
    )  # fmt: skip
    assert len(dup) == 3
    # scores from the written file give exactly the same numbers
    path = tmp_path / "results.json"
    path.write_text(
        json.dumps(
            worse_results := build_coco_results(noisy, maxvals, image_ids, np.ones(3), areas, COCO_SIGMAS)
        )
    )
    assert coco_keypoint_eval(coco, json.loads(path.read_text())) == coco_keypoint_eval(coco, worse_results)
    assert coco_keypoint_eval(coco, []) == {name: 0.0 for name in COCO_STAT_NAMES}


def _mpii_gt(n=6, seed=0):
    rng = np.random.default_rng(seed)
    pos = rng.uniform(50, 400, size=(16, 2, n))
    missing = np.zeros((16, n), dtype=np.int64)
    missing[0, 0] = 1  # one invisible right ankle
    head_top_left = rng.uniform(50, 300, size=(2, n))
    boxes = np.stack([head_top_left, head_top_left + 30.0])  # 30x30 head box: diagonal 42.43
    return {"dataset_joints": np.asarray(MPII_JOINT_ABBREVIATIONS), "jnt_missing": missing,
            "pos_gt_src": pos, "headboxes_src": boxes}  # fmt: skip


def test_pckh_perfect_and_offset_predictions():
    gt = _mpii_gt()
    exact = np.transpose(gt["pos_gt_src"], [2, 0, 1]) - 1.0  # zero-based
    result = pckh(exact, gt)
    assert result["PCKh@0.5"]["Mean"] == pytest.approx(100.0)
    assert result[HRNET_MEAN_AT_0_11] == pytest.approx(100.0)
    head = np.sqrt(2) * 30.0 * SC_BIAS
    moved = exact.copy()
    moved[:3, 9, 0] += 0.3 * head  # head top of 3 of 6 people off by 0.3 head: right at 0.5, wrong at 0.1
    moved[:2, 13, 0] += 0.7 * head  # left shoulder of 2 people off by 0.7 head: wrong at 0.5
    moved[:, 6, 0] += 10 * head  # pelvis is excluded from the means
    result = pckh(moved, gt)
    assert result["PCKh@0.5"]["Head"] == pytest.approx(100.0)
    assert result["PCKh@0.1"]["Head"] == pytest.approx(50.0)
    assert result["PCKh@0.5"]["Shoulder"] == pytest.approx((100.0 + 4 / 6 * 100.0) / 2)
    visible = 14 * 6 - 1  # right ankle of person 0 is missing
    assert result["PCKh@0.5"]["Mean"] == pytest.approx(100.0 * (visible - 2) / visible)
    assert result["per_joint@0.5"]["pelv"] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="in file order"):
        pckh(exact[:3], gt)


def test_gt_valid_mat_round_trip(tmp_path):
    from scipy.io import savemat

    gt = _mpii_gt()
    names = np.empty((1, 16), dtype=object)
    for i, name in enumerate(MPII_JOINT_ABBREVIATIONS):
        names[0, i] = np.array([name])
    path = tmp_path / "gt_valid.mat"
    savemat(path, {"dataset_joints": names, "jnt_missing": gt["jnt_missing"], "pos_gt_src": gt["pos_gt_src"],
                   "headboxes_src": gt["headboxes_src"]})  # fmt: skip
    loaded = load_mpii_gt_valid(path)
    assert list(loaded["dataset_joints"]) == list(MPII_JOINT_ABBREVIATIONS)
    np.testing.assert_allclose(loaded["pos_gt_src"], gt["pos_gt_src"])
    with pytest.raises(FileNotFoundError, match="gt_missing.mat"):
        load_mpii_gt_valid(tmp_path / "gt_missing.mat")
    savemat(tmp_path / "bad.mat", {"something": np.zeros(3)})
    with pytest.raises(ValueError, match="bad.mat: missing variables"):
        load_mpii_gt_valid(tmp_path / "bad.mat")


def test_pckh_hits_per_person_pool_to_the_mean():
    from mfvpose_lib.evaluation.mpii import pckh_hits

    gt = _mpii_gt(n=9, seed=3)
    rng = np.random.default_rng(1)
    preds = np.transpose(gt["pos_gt_src"], [2, 0, 1]) - 1.0 + rng.normal(0, 8.0, size=(9, 16, 2))
    correct, counted = pckh_hits(preds, gt, 0.5)
    assert correct.shape == counted.shape == (9,)
    assert counted[0] == 13 and (counted[1:] == 14).all()  # pelvis and thorax are not in the mean
    assert 100.0 * correct.sum() / counted.sum() == pytest.approx(pckh(preds, gt)["PCKh@0.5"]["Mean"])


def test_mean_normalised_error_is_in_percent_of_the_pckh_head_size():
    from mfvpose_lib.evaluation.mpii import mean_normalised_error

    gt = _mpii_gt()
    exact = np.transpose(gt["pos_gt_src"], [2, 0, 1]) - 1.0  # zero-based
    assert mean_normalised_error(exact, gt) == 0.0
    head = np.sqrt(2) * 30.0 * SC_BIAS
    for k in (0.05, 0.3, 1.7):
        direction = np.array([0.6, -0.8])  # unit length: every joint exactly k head sizes off
        assert mean_normalised_error(exact + k * head * direction, gt) == pytest.approx(100.0 * k)
    hidden = exact.copy()
    hidden[0, 0] += 50 * head  # person 0's right ankle is invisible: no effect
    hidden[:, 6] += 50 * head  # pelvis is not in PCKh's mean: no effect
    assert mean_normalised_error(hidden, gt) == 0.0
    gt_placeholder = {**gt, "pos_gt_src": gt["pos_gt_src"].copy()}
    gt_placeholder["pos_gt_src"][0, :, 0] = np.nan  # a missing joint's label may be a placeholder
    assert mean_normalised_error(exact, gt_placeholder) == 0.0


def test_mean_normalised_error_pools_joints_as_pckh_does():
    from mfvpose_lib.evaluation.mpii import mean_normalised_error, normalised_error_sums

    gt = _mpii_gt()
    exact = np.transpose(gt["pos_gt_src"], [2, 0, 1]) - 1.0
    head = np.sqrt(2) * 30.0 * SC_BIAS
    moved = exact.copy()
    moved[1, 9, 1] += 0.83 * head  # one joint of the 14 * 6 - 1 visible ones
    visible = 14 * 6 - 1
    assert mean_normalised_error(moved, gt) == pytest.approx(83.0 / visible)
    sums, counted = normalised_error_sums(moved, gt)
    assert counted[0] == 13 and sums[1] == pytest.approx(0.83) and sums.sum() == pytest.approx(0.83)
    broken = exact.copy()
    broken[2, 3] = np.nan  # a NaN prediction of a visible joint is not silently dropped
    assert np.isnan(mean_normalised_error(broken, gt))


def test_normalised_error_below_a_half_is_exactly_a_pckh_hit():
    from mfvpose_lib.evaluation.mpii import normalised_errors, pckh_hits

    gt = _mpii_gt(n=40, seed=5)
    rng = np.random.default_rng(2)
    preds = np.transpose(gt["pos_gt_src"], [2, 0, 1]) - 1.0 + rng.normal(0, 12.0, size=(40, 16, 2))
    errors = normalised_errors(preds, gt)
    assert errors.shape == (40, 14) and np.isnan(errors[0]).sum() == 1  # the invisible right ankle
    correct, counted = pckh_hits(preds, gt, 0.5)
    assert 0 < correct.sum() < counted.sum()  # both hits and misses: the check is not vacuous
    np.testing.assert_array_equal((errors < 0.5).sum(axis=1), correct)
    np.testing.assert_array_equal(np.isfinite(errors).sum(axis=1), counted)
