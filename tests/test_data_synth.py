"""Synthetic people: real formats (pycocotools, loadmat), honest labels, determinism, resume."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json

import numpy as np
import pytest
from PIL import Image

from mfvpose_lib.data import build_dataset, ensure_synthetic, load_mpii_gt_valid, write_synthetic
from mfvpose_lib.data.synth import DET_FILE_NAME, MANIFEST, is_complete


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    write_synthetic(root, n_train=8, n_val=4, seed=3)
    return root


def test_coco_output_validates_with_pycocotools(synth_root):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    ann_file = synth_root / "coco" / "annotations" / "person_keypoints_val2017.json"
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(ann_file))
        anns = gt.loadAnns(gt.getAnnIds())
        assert anns and len(gt.getImgIds()) == 4
        for ann in anns:
            kps = np.array(ann["keypoints"]).reshape(17, 3)
            assert ann["num_keypoints"] == int((kps[:, 2] > 0).sum())
            assert (kps[kps[:, 2] == 0, :2] == 0).all()  # outside the image: v=0 and zeros
            img = gt.imgs[ann["image_id"]]
            inside = kps[:, 2] > 0
            assert (kps[inside, 0] <= img["width"] - 1).all() and (kps[inside, 1] <= img["height"] - 1).all()
            assert ann["area"] == pytest.approx(gt.annToMask(ann).sum())
            x, y, w, h = ann["bbox"]
            assert w > 0 and h > 0 and x + w <= img["width"] and y + h <= img["height"]
        # ground truth submitted as results scores AP 1: the file is a valid keypoint GT
        results = [{"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"], "score": 1.0}
                   for a in anns if a["num_keypoints"] > 0]  # fmt: skip
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, "keypoints")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0)
    dets = json.loads((synth_root / "coco" / "person_detection_results" / DET_FILE_NAME).read_text())
    assert dets and {d["category_id"] for d in dets} == {1}
    assert all(0 < d["score"] < 1 and d["bbox"][2] > 0 for d in dets)


def test_labels_include_occlusion_and_images_are_the_stated_size(synth_root):
    data = json.loads((synth_root / "coco" / "annotations" / "person_keypoints_train2017.json").read_text())
    flags = np.concatenate([np.array(a["keypoints"]).reshape(17, 3)[:, 2] for a in data["annotations"]])
    assert (flags == 2).mean() > 0.4 and (flags == 1).any()
    for img in data["images"][:3]:
        with Image.open(synth_root / "coco" / "images" / "train2017" / img["file_name"]) as im:
            assert im.size == (img["width"], img["height"]) and im.format == "JPEG"


def test_mpii_output_loads_with_scipy_and_the_reader(synth_root):
    from scipy.io import loadmat

    mat = loadmat(str(synth_root / "mpii" / "annot" / "gt_valid.mat"))
    for key in ("dataset_joints", "jnt_missing", "pos_gt_src", "headboxes_src"):
        assert key in mat
    gt = load_mpii_gt_valid(synth_root / "mpii" / "annot" / "gt_valid.mat")
    entries = json.loads((synth_root / "mpii" / "annot" / "valid.json").read_text())
    assert gt["pos_gt_src"].shape == (16, 2, len(entries))
    first = np.array(entries[0]["joints"])
    np.testing.assert_allclose(gt["pos_gt_src"][:, :, 0], first)
    heads = gt["headboxes_src"]
    assert (heads[1] > heads[0]).all()  # bottom-right beyond top-left
    ds = build_dataset(synth_root, "mpii", "val", input_size=(64, 64), heatmap_size=(16, 16))
    assert len(ds) == len(entries) and ds[0]["target_weight"].sum() > 8


def _digest(root) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != MANIFEST):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def test_determinism_by_seed(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for root, seed in ((a, 5), (b, 5), (c, 6)):
        write_synthetic(root, n_train=2, n_val=1, seed=seed)
    assert _digest(a) == _digest(b)
    assert _digest(a) != _digest(c)


def test_ensure_synthetic_writes_only_when_incomplete(tmp_path):
    root = tmp_path / "data"
    ensure_synthetic(root, 2, 1, seed=0)
    assert is_complete(root, 2, 1, seed=0) and not is_complete(root, 3, 1, seed=0)
    stamp = (root / "coco" / "annotations" / "person_keypoints_train2017.json").stat().st_mtime_ns
    ensure_synthetic(root, 2, 1, seed=0)
    assert (root / "coco" / "annotations" / "person_keypoints_train2017.json").stat().st_mtime_ns == stamp
    (root / "mpii" / "annot" / "gt_valid.mat").unlink()  # an interrupted or damaged set is redone
    ensure_synthetic(root, 2, 1, seed=0)
    assert is_complete(root, 2, 1, seed=0)


def test_training_items_from_the_synthetic_set(synth_root):
    import torch
    from torch.utils.data import DataLoader

    ds = build_dataset(synth_root, "coco", "train", input_size=(128, 96), heatmap_size=(32, 24))
    torch.manual_seed(0)
    batch = next(iter(DataLoader(ds, batch_size=4, shuffle=True)))
    assert batch["image"].shape == (4, 3, 128, 96) and batch["target"].shape == (4, 17, 32, 24)
    assert batch["target_weight"].sum() > 0 and 0.95 < batch["target"].max() <= 1.0
    val = build_dataset(synth_root, "coco", "val", input_size=(128, 96), heatmap_size=(32, 24), boxes="det")
    assert len(val) > 0 and all(r["score"] < 1 for r in val.records)


def test_synth_command_reports_speed(tmp_path, capsys):
    from mfvpose_lib.cli import main

    assert main(["synth", str(tmp_path / "s"), "--train", "1", "--val", "1", "--seed", "2"]) == 0
    assert "images/s" in capsys.readouterr().out
    assert main(["synth", str(tmp_path / "s"), "--train", "1", "--val", "1", "--seed", "2"]) == 0
    assert "already there" in capsys.readouterr().out


def test_benchmark_compares_equal_targets(synth_root):
    from mfvpose_lib.benchmarks.data_pipeline import benchmark_dataframe

    df = benchmark_dataframe(synth_root, samples=6, input_size=(64, 48), heatmap_size=(16, 12), repeats=1)
    assert list(df["what"])[:2] == ["pipeline (this library)", "pipeline (reference)"]
    assert (df["per_s"] > 0).all() and df.attrs["max_target_difference"] < 1e-5
    assert df.attrs["max_pixel_difference_grey_levels"] <= 1.0
    assert df["workers_for_2000_per_s"].iloc[0] >= 1


def test_cache_images_gives_same_items_and_loads_each_image_once(synth_root, monkeypatch):
    from mfvpose_lib.data import dataset as dataset_module

    plain = build_dataset(synth_root, "coco", "val", input_size=(64, 48), heatmap_size=(16, 12), train=False)
    cached = build_dataset(synth_root, "coco", "val", input_size=(64, 48), heatmap_size=(16, 12), train=False,
                           cache_images=True)  # fmt: skip
    calls = []
    real = dataset_module.load_image
    monkeypatch.setattr(
        dataset_module, "load_image", lambda p, context="": calls.append(p) or real(p, context)
    )
    for _ in range(2):
        for i in range(len(cached)):
            assert np.array_equal(
                np.asarray(cached.raw_sample(i)["image"]), np.asarray(plain.raw_sample(i)["image"])
            )
    paths = {r["image_path"] for r in cached.records}
    assert len(calls) == len(paths) + 2 * len(plain)  # cached: once per image; plain: every time
    with pytest.raises(ValueError, match="cache_images"):
        plain.fill_cache()
