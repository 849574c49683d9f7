"""Prediction on users' images: same numbers as evaluation on the same boxes; public weights; errors."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from mfvpose_lib.cli import main
from mfvpose_lib.engine.data_access import build_split
from mfvpose_lib.engine.evaluate import evaluate_model
from mfvpose_lib.evaluation.coco import coco_keypoint_eval
from mfvpose_lib.inference import load_any_model, predict_images, test_settings_for
from mfvpose_lib.models import create_model
from mfvpose_lib.models.checkpoint import save_model_checkpoint
from mfvpose_lib.study.profiles import get_profile


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory):
    from mfvpose_lib.data.synth import ensure_synthetic

    root = tmp_path_factory.mktemp("synth_predict")
    ensure_synthetic(root, 4, 6, seed=3)
    return root


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = create_model(get_profile("smoke").for_dataset("coco").model)
    return save_model_checkpoint(tmp_path_factory.mktemp("ckpt") / "best.pt", model)


def test_predict_on_gt_boxes_scores_as_evaluation(synth_root, checkpoint, tmp_path):
    model = load_any_model(checkpoint)
    val = build_split(synth_root, "coco", "val", model.cfg, train=False, boxes="gt")
    expected = evaluate_model(model, val, replace(test_settings_for(model, "coco"), boxes="gt"), progress=False)
    dets = [{"image_id": int(r["image_id"]), "category_id": 1, "bbox": [float(v) for v in r["bbox"]], "score": 1.0}
            for r in val.records]
    det_file = tmp_path / "dets.json"
    det_file.write_text(json.dumps(dets))
    image_dir = val.image_root
    assert main(["predict", str(image_dir), "--checkpoint", str(checkpoint), "--boxes", str(det_file),
                 "--out", str(tmp_path / "out"), "--device", "cpu"]) == 0
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    scored = coco_keypoint_eval(val.coco, results)
    assert scored["AP"] == pytest.approx(expected.metrics["AP"], abs=1e-9)
    assert len(list((tmp_path / "out").glob("*_pose.png"))) == len(val.coco.imgs)


def test_whole_image_and_one_box(synth_root, checkpoint, tmp_path):
    model = load_any_model(checkpoint)
    images = sorted((synth_root / "coco" / "images" / "val2017").glob("*.jpg"))[:2]
    out = predict_images(model, images, progress=False)
    assert out.settings["people"] == 2 and len(out.results) == 2
    out = predict_images(model, images, box=(5, 5, 30, 60), out_dir=tmp_path, progress=False)
    kps = np.asarray(out.results[0]["keypoints"]).reshape(-1, 3)
    assert kps.shape == (17, 3) and np.isfinite(kps).all()


def test_clear_errors(synth_root, checkpoint, tmp_path):
    model = load_any_model(checkpoint)
    image = sorted((synth_root / "coco" / "images" / "val2017").glob("*.jpg"))[0]
    with pytest.raises(ValueError, match="outside"):
        predict_images(model, [image], box=(10_000, 10_000, 5, 5), progress=False)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    with pytest.raises(ValueError, match="broken.jpg"):
        predict_images(model, [broken], progress=False)
    mpii_model = create_model(get_profile("smoke").for_dataset("mpii").model)
    mpii_ckpt = save_model_checkpoint(tmp_path / "mpii.pt", mpii_model)
    # an MPII checkpoint loaded as a COCO model: the keypoint count does not fit
    with pytest.raises(Exception, match="mpii.pt"):
        load_any_model(mpii_ckpt, model_name=get_profile("smoke").for_dataset("coco").model)


def test_predict_with_public_state_dict(synth_root, tmp_path):
    from mfvpose_lib.reference import layout_state_dict

    path = tmp_path / "pose_hrnet_w32_256x192.pth"
    torch.save(layout_state_dict("pose_hrnet_w32_coco_256x192", seed=1), path)
    image = sorted((synth_root / "coco" / "images" / "val2017").glob("*.jpg"))[0]
    assert main(["predict", str(image), "--checkpoint", str(path), "--model", "hrnet_w32", "--whole-image",
                 "--out", str(tmp_path / "out"), "--device", "cpu", "--no-draw"]) == 0
    settings = json.loads((tmp_path / "out" / "settings.json").read_text())
    assert settings["decode"] == "quarter" and settings["flip_alignment"] == "hrnet_1px"
    assert settings["codec"]["geometry"] == "hrnet" and settings["codec"]["target"] == "integer"
