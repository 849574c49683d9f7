"""COCO and MPII readers on small files written here in the real formats, and bad input."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from PIL import Image

from mfvpose_lib.codecs.heatmap import HeatmapCodec
from mfvpose_lib.data import build_dataset, load_mpii_gt_valid
from mfvpose_lib.data.mpii import write_mpii_gt_valid


def _kps(rng, n_visible, k=17):
    kp = np.zeros((k, 3))
    idx = rng.choice(k, n_visible, replace=False)
    kp[idx, 0] = rng.uniform(20, 100, n_visible)
    kp[idx, 1] = rng.uniform(20, 100, n_visible)
    kp[idx, 2] = rng.choice([1, 2], n_visible)
    return kp.reshape(-1).round(1).tolist()


def _write_coco(root, rng, corrupt_image=False):
    coco = root / "coco"
    (coco / "images" / "val2017").mkdir(parents=True)
    (coco / "annotations").mkdir()
    (coco / "person_detection_results").mkdir()
    images, anns = [], []
    for i in range(1, 4):
        name = f"{i:012d}.jpg"
        Image.fromarray(rng.integers(0, 255, (120, 128, 3), dtype=np.uint8)).save(
            coco / "images" / "val2017" / name
        )
        images.append({"id": i, "file_name": name, "width": 128, "height": 120})
    if corrupt_image:
        (coco / "images" / "val2017" / images[0]["file_name"]).write_bytes(b"not a jpeg at all")

    def ann(aid, image_id, kps, bbox, **extra):
        n = int(sum(1 for v in kps[2::3] if v > 0)) if len(kps) == 51 else 0
        base = {"id": aid, "image_id": image_id, "category_id": 1, "iscrowd": 0, "bbox": bbox,
                "area": float(bbox[2] * bbox[3]), "keypoints": kps, "num_keypoints": n}  # fmt: skip
        base.update(extra)
        return base

    anns += [
        ann(1, 1, _kps(rng, 12), [10, 10, 60, 90]),
        ann(2, 1, _kps(rng, 5), [50, 20, 40, 80]),
        ann(3, 2, _kps(rng, 9), [5, 5, 100, 100], iscrowd=1),  # crowd: dropped
        ann(4, 2, [0] * 51, [5, 5, 30, 30]),  # no labelled keypoints: dropped
        ann(5, 2, _kps(rng, 8), [20, 20, 0, 50]),  # zero-width box: dropped
        ann(6, 3, _kps(rng, 7)[:48], [20, 20, 40, 50]),  # 16 keypoints: dropped
        ann(7, 3, _kps(rng, 17), [30, 10, 50, 100]),
    ]
    data = {"images": images, "annotations": anns,
            "categories": [{"id": 1, "name": "person", "supercategory": "person"}]}  # fmt: skip
    (coco / "annotations" / "person_keypoints_val2017.json").write_text(json.dumps(data))
    dets = [
        {"image_id": 1, "category_id": 1, "bbox": [10, 12, 58, 88], "score": 0.95},
        {"image_id": 1, "category_id": 1, "bbox": [80, 10, 20, 30], "score": 0.1},
        {"image_id": 2, "category_id": 1, "bbox": [3, 4, 0, 10], "score": 0.9},  # degenerate
        {"image_id": 3, "category_id": 1, "bbox": [28, 9, 52, 101], "score": 0.8},
    ]
    det_file = coco / "person_detection_results" / "COCO_val2017_detections_AP_H_56_person.json"
    det_file.write_text(json.dumps(dets))
    return coco


def test_coco_reader_counts_the_people_pycocotools_sees(tmp_path, caplog):
    from pycocotools.coco import COCO

    coco_dir = _write_coco(tmp_path, np.random.default_rng(0))
    ann_file = coco_dir / "annotations" / "person_keypoints_val2017.json"
    ref = COCO(str(ann_file))
    expected = [
        a for a in ref.loadAnns(ref.getAnnIds(catIds=[1], iscrowd=False))
        if len(a["keypoints"]) == 51 and max(a["keypoints"]) > 0 and a["bbox"][2] > 0 and a["bbox"][3] > 0
    ]  # fmt: skip
    with caplog.at_level(logging.WARNING):
        ds = build_dataset(tmp_path, "coco", "val", input_size=(64, 48), heatmap_size=(16, 12), boxes="gt")
    assert len(ds) == len(expected) == 3
    assert sorted(r["ann_id"] for r in ds.records) == sorted(a["id"] for a in expected)
    log = caplog.text
    for reason in (
        "1 crowd",
        "1 no labelled keypoints",
        "1 box of zero or negative size",
        "1 keypoints not of length 51",
    ):
        assert reason in log
    item = ds[0]
    assert item["image"].shape == (3, 64, 48) and item["target"].shape == (17, 16, 12)
    assert item["meta"]["score"] == 1.0 and ds.coco is not None


def test_coco_detection_boxes_with_threshold(tmp_path, caplog):
    _write_coco(tmp_path, np.random.default_rng(1))
    with caplog.at_level(logging.INFO):
        ds = build_dataset(tmp_path, "coco", "val", input_size=(64, 48), heatmap_size=(16, 12),
                           boxes="det", det_score_thr=0.2)  # fmt: skip
    assert [r["image_id"] for r in ds.records] == [1, 3]
    assert "1 box of zero or negative size" in caplog.text and "score below 0.2" in caplog.text
    # the default codec takes TokenPose's geometry: box centre x + (w - 1)/2; HRNet's is x + w/2
    np.testing.assert_allclose(ds.records[0]["center"], [38.5, 55.5])
    hrnet = build_dataset(tmp_path, "coco", "val", boxes="det", det_score_thr=0.2,
                          codec=HeatmapCodec(input_size=(64, 48), heatmap_size=(16, 12), geometry="hrnet"))  # fmt: skip
    np.testing.assert_allclose(hrnet.records[0]["center"], [39.0, 56.0])
    assert ds[0]["meta"]["score"] == pytest.approx(0.95)


def test_coco_test_dev_from_image_info_and_detections(tmp_path):
    coco = tmp_path / "coco"
    (coco / "images" / "test2017").mkdir(parents=True)
    (coco / "annotations").mkdir()
    (coco / "person_detection_results").mkdir()
    Image.new("RGB", (64, 64)).save(coco / "images" / "test2017" / "000000000042.jpg")
    info = {"images": [{"id": 42, "file_name": "000000000042.jpg", "width": 64, "height": 64}],
            "categories": [{"id": 1, "name": "person"}]}  # fmt: skip
    (coco / "annotations" / "image_info_test-dev2017.json").write_text(json.dumps(info))
    dets = [{"image_id": 42, "category_id": 1, "bbox": [5, 5, 30, 50], "score": 0.7}]
    (coco / "person_detection_results" / "COCO_test-dev2017_detections_AP_H_609_person.json").write_text(
        json.dumps(dets)
    )
    ds = build_dataset(tmp_path, "coco", "test", input_size=(64, 48), heatmap_size=(16, 12), boxes="det")
    assert len(ds) == 1 and ds[0]["target_weight"].sum() == 0
    with pytest.raises(ValueError, match="test-dev"):
        build_dataset(tmp_path, "coco", "test", boxes="gt")


def _write_mpii(root, rng, n=3, bad=None):
    mpii = root / "mpii"
    (mpii / "images").mkdir(parents=True)
    (mpii / "annot").mkdir()
    entries = []
    for i in range(n):
        name = f"{i:09d}.jpg"
        Image.fromarray(rng.integers(0, 255, (100, 100, 3), dtype=np.uint8)).save(mpii / "images" / name)
        joints = rng.uniform(10, 90, (16, 2))
        vis = (rng.random(16) > 0.2).astype(int)
        joints[vis == 0] = -1
        entries.append({"joints_vis": vis.tolist(), "joints": joints.round(2).tolist(), "image": name,
                        "scale": 0.4, "center": [51.0, 46.0]})  # fmt: skip
    vis = np.array([e["joints_vis"] for e in entries])
    pos = np.array([e["joints"] for e in entries])
    write_mpii_gt_valid(mpii / "annot" / "gt_valid.mat", pos, vis, np.tile([[20, 10, 40, 30]], (n, 1)))
    if bad is not None:
        entries[1] = {**entries[1], **bad}
    for split in ("train.json", "valid.json"):
        (mpii / "annot" / split).write_text(json.dumps(entries))
    return entries


def test_mpii_reader_applies_hrnet_conventions(tmp_path):
    entries = _write_mpii(tmp_path, np.random.default_rng(2))
    ds = build_dataset(tmp_path, "mpii", "val", input_size=(64, 64), heatmap_size=(16, 16))
    assert len(ds) == 3 and ds.gt_valid_file is not None and ds.coco is None
    rec = ds.records[0]
    np.testing.assert_allclose(rec["center"], [51 - 1, 46 + 15 * 0.4 - 1])
    np.testing.assert_allclose(rec["scale"], [0.5, 0.5])
    vis = np.array(entries[0]["joints_vis"]) > 0
    np.testing.assert_allclose(rec["joints"][vis, :2], np.array(entries[0]["joints"])[vis] - 1, rtol=1e-6)
    assert (rec["joints"][~vis] == 0).all()
    gt = load_mpii_gt_valid(ds.gt_valid_file)
    assert gt["pos_gt_src"].shape == (16, 2, 3) and gt["headboxes_src"].shape == (2, 2, 3)
    assert list(gt["dataset_joints"][:2]) == ["rank", "rkne"]
    np.testing.assert_array_equal(gt["jnt_missing"][:, 0], 1 - np.array(entries[0]["joints_vis"]))
    np.testing.assert_allclose(gt["headboxes_src"][:, :, 2], [[20, 10], [40, 30]])
    assert ds[1]["image"].shape == (3, 64, 64)


def test_mpii_bad_entries_error_on_val_and_are_counted_on_train(tmp_path, caplog):
    _write_mpii(tmp_path, np.random.default_rng(3), bad={"joints": [[1.0, 2.0]] * 15})
    with pytest.raises(ValueError, match=r"valid\.json: entry 1 .*joints has shape \(15, 2\)"):
        build_dataset(tmp_path, "mpii", "val")
    with caplog.at_level(logging.WARNING):
        ds = build_dataset(tmp_path, "mpii", "train")
    assert len(ds) == 2 and "1 joints has shape (15, 2)" in caplog.text


def test_missing_and_corrupt_images_name_file_and_annotation(tmp_path):
    _write_coco(tmp_path, np.random.default_rng(4), corrupt_image=True)
    ds = build_dataset(tmp_path, "coco", "val", input_size=(64, 48), heatmap_size=(16, 12), boxes="gt")
    with pytest.raises(ValueError, match=r"000000000001\.jpg: cannot decode image .*image id 1"):
        ds[0]
    (tmp_path / "coco" / "images" / "val2017" / "000000000003.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=r"000000000003\.jpg: image file not found .*image id 3"):
        ds[len(ds) - 1]


def test_malformed_json_names_the_file_and_reason(tmp_path):
    _write_coco(tmp_path, np.random.default_rng(5))
    ann = tmp_path / "coco" / "annotations" / "person_keypoints_val2017.json"
    ann.write_text('{"images": [1, 2')
    with pytest.raises(ValueError, match=r"person_keypoints_val2017\.json: malformed JSON"):
        build_dataset(tmp_path, "coco", "val")
    ann.write_text(json.dumps({"images": []}))
    with pytest.raises(ValueError, match=r"missing top-level keys \['annotations', 'categories'\]"):
        build_dataset(tmp_path, "coco", "val")
    with pytest.raises(FileNotFoundError, match="no coco/ folder"):
        build_dataset(tmp_path / "nowhere", "coco", "val")


def test_people_without_labelled_keypoints_are_dropped_quietly_like_the_reference(caplog):
    from mfvpose_lib.data.coco import NO_KEYPOINTS, _DropLog

    quiet, loud = _DropLog(), _DropLog()
    quiet.add(NO_KEYPOINTS, 7)
    loud.add(NO_KEYPOINTS, 7)
    loud.add("crowd", 8)
    with caplog.at_level(logging.INFO, logger="mfvpose_lib.data.coco"):
        quiet.log("a.json", 3)
        loud.log("b.json", 3)
    levels = {r.getMessage().split(":")[0]: r.levelno for r in caplog.records}
    assert levels == {"a.json": logging.INFO, "b.json": logging.WARNING}
