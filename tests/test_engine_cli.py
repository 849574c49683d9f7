"""End to end on a tiny synthetic set: `mfvpose train` / `mfvpose evaluate`, test-dev
mode, and a training subprocess killed with SIGKILL and resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from mfvpose_lib.cli import main

# Small crops keep every run here to seconds on two cores.
SMALL = ["--input-size", "64", "48", "--no-progress", "--device", "cpu", "--workers", "0"]


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory):
    from mfvpose_lib.data.synth import ensure_synthetic

    root = tmp_path_factory.mktemp("synth")
    ensure_synthetic(root, 16, 6, seed=0)
    return root


@pytest.fixture(scope="module")
def coco_run(synth_root, tmp_path_factory):
    """A one-epoch COCO-layout run shared by the evaluation tests."""
    run = tmp_path_factory.mktemp("coco_run")
    assert main(_train_args(synth_root, run, "--epochs", "1")) == 0
    return run


def _train_args(root, out, *extra):
    return ["train", "--data", str(root), "--dataset", "coco", "--profile", "smoke", "--out", str(out),
            "--batch-size", "4", *SMALL, *extra]  # fmt: skip


def _weights(path):
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def test_train_and_evaluate_coco_results_rescore_to_the_same_ap(synth_root, coco_run, tmp_path, capsys):
    run = coco_run
    assert (run / "best.pt").is_file() and (run / "metrics.csv").is_file()
    out = tmp_path / "eval"
    code = main(["evaluate", "--checkpoint", str(run / "best.pt"), "--data", str(synth_root), "--dataset", "coco",
                 "--boxes", "det", "--decode", "quarter", "--shift", "--out", str(out), "--device", "cpu"])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "flip_test: True" in printed and "decode: quarter" in printed
    document = json.loads((out / "metrics.json").read_text())
    settings = document["settings"]
    assert (
        settings["boxes"] == "det" and settings["flip_shift"] is True and settings["input_size"] == [64, 48]
    )
    assert "detection_person_AP" in settings
    results = json.loads((out / "results.json").read_text())
    assert results and set(results[0]) == {"image_id", "category_id", "keypoints", "score"}

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt = COCO(str(synth_root / "coco" / "annotations" / "person_keypoints_val2017.json"))
    evaluator = COCOeval(gt, gt.loadRes(str(out / "results.json")), iouType="keypoints")
    evaluator.evaluate(), evaluator.accumulate(), evaluator.summarize()
    assert evaluator.stats[0] == document["metrics"]["AP"]
    assert evaluator.stats[5] == document["metrics"]["AR"]


def test_evaluate_mpii_reports_labelled_pckh(synth_root, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "--data", str(synth_root), "--dataset", "mpii", "--profile", "smoke", "--out", str(run),
            "--batch-size", "4", "--epochs", "1", "--input-size", "64", "64", *SMALL[3:]]  # fmt: skip
    assert main(args) == 0
    out = tmp_path / "eval"
    assert main(["evaluate", "--checkpoint", str(run / "best.pt"), "--data", str(synth_root), "--dataset", "mpii",
                 "--out", str(out), "--device", "cpu"]) == 0  # fmt: skip
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    assert set(metrics["PCKh@0.5"]) == {"Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "Mean"}
    assert "Mean@0.1 as HRNet reports it (threshold 0.11)" in metrics
    predictions = json.loads((out / "results.json").read_text())
    assert len(predictions[0]["joints"]) == 16
    # an MPII checkpoint is refused for the COCO layout, naming the problem
    assert main(["evaluate", "--checkpoint", str(run / "best.pt"), "--data", str(synth_root), "--dataset", "coco",
                 "--out", str(tmp_path / "wrong"), "--device", "cpu"]) == 2  # fmt: skip
    assert "predicts 16 keypoints" in capsys.readouterr().err


def test_test_dev_mode_writes_the_submission_only(synth_root, coco_run, tmp_path):
    import shutil

    # a test-dev layout: image list without annotations, detections under the test-dev name
    root = tmp_path / "testdev" / "coco"
    (root / "annotations").mkdir(parents=True)
    (root / "person_detection_results").mkdir()
    source = synth_root / "coco"
    val = json.loads((source / "annotations" / "person_keypoints_val2017.json").read_text())
    info = {"images": val["images"], "categories": val["categories"]}
    (root / "annotations" / "image_info_test-dev2017.json").write_text(json.dumps(info))
    shutil.copy(next((source / "person_detection_results").glob("*.json")),
                root / "person_detection_results" / "COCO_test-dev2017_detections_AP_H_609_person.json")  # fmt: skip
    shutil.copytree(source / "images" / "val2017", root / "images" / "test2017")
    out = tmp_path / "eval"
    assert main(["evaluate", "--checkpoint", str(coco_run / "best.pt"), "--data", str(root.parent), "--dataset",
                 "coco", "--split", "test", "--out", str(out), "--device", "cpu"]) == 0  # fmt: skip
    named = list(out.glob("person_keypoints_test-dev2017_*_results.json"))
    assert [p.name for p in named] == ["person_keypoints_test-dev2017_mfvpose_tiny_results.json"]
    submission = json.loads(named[0].read_text())
    assert submission == json.loads((out / "results.json").read_text()) and len(submission) > 0
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    assert metrics["scored"] is False and "AP" not in metrics


def test_resume_with_a_checkpoint_of_another_dataset_is_a_clear_error(synth_root, coco_run, tmp_path, capsys):
    run = coco_run
    mpii = ["train", "--data", str(synth_root), "--dataset", "mpii", "--model", "mfvpose_tiny_mpii", "--profile",
            "smoke", "--out", str(tmp_path / "other"), "--resume", str(run / "last.pt"), *SMALL]  # fmt: skip
    assert main(mpii) == 2
    assert "cannot resume from" in capsys.readouterr().err


@pytest.mark.subprocess
def test_killed_training_process_resumes_to_the_uninterrupted_weights(synth_root, tmp_path):
    # six epochs: the run cannot finish in the moment between seeing the first checkpoint and the kill
    epochs = ["--epochs", "6"]
    straight = tmp_path / "straight"
    assert main(_train_args(synth_root, straight, *epochs)) == 0

    killed = tmp_path / "killed"
    command = [sys.executable, "-m", "mfvpose_lib", *_train_args(synth_root, killed, *epochs)]
    env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())}
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while not (killed / "last.pt").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()
    done = torch.load(killed / "last.pt", map_location="cpu", weights_only=True)["epoch"]
    assert 1 <= done < 6, "the run ended before it could be killed"

    assert main(_train_args(synth_root, killed, *epochs, "--resume")) == 0
    resumed, reference = _weights(killed / "last.pt"), _weights(straight / "last.pt")
    assert resumed.keys() == reference.keys()
    for key in reference:
        assert torch.equal(resumed[key], reference[key]), key
    history = (killed / "metrics.csv").read_text().splitlines()
    assert len(history) == 1 + 6


def test_pretrained_weights_are_loaded_and_reported(synth_root, coco_run, tmp_path):
    run = tmp_path / "warm"
    assert main(_train_args(synth_root, run, "--epochs", "1", "--pretrained", str(coco_run / "best.pt"))) == 0
    log = (run / "train.log").read_text()
    assert f"pretrained weights from {coco_run / 'best.pt'}" in log and "tensors loaded" in log


def test_paper_profile_warns_without_an_imagenet_backbone(synth_root, tmp_path, capsys):
    args = _train_args(synth_root, tmp_path / "paper", "--epochs", "1", "--model", "mfvpose_tiny")
    args[args.index("smoke")] = "paper"
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "WARNING" in err and "ImageNet" in err
    assert json.loads((tmp_path / "paper" / "config.json").read_text())["config"]["pretrained"] is None


def test_evaluate_decides_its_precision_and_compares_both_paths(synth_root, coco_run, tmp_path, capsys):
    out = tmp_path / "eval"
    code = main(["evaluate", "--checkpoint", str(coco_run / "best.pt"), "--data", str(synth_root), "--dataset",
                 "coco", "--out", str(out), "--device", "cpu", "--compare-precision"])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    chosen = json.loads((out / "metrics.json").read_text())["settings"]["precision"]
    assert chosen["asked"] == "auto" and "reason" in chosen
    if chosen["path"].startswith("cpu: fp32 + contiguous"):  # the check kept the reference path
        assert not chosen["used_fast_path"]
    assert "compared: fp32" in printed and "AP: fp32" in printed and "fast path" in printed
    assert json.loads((out / "metrics.json").read_text())["settings"]["evaluation_seconds"] > 0


def test_precision_fast_is_the_hardware_path_unchecked():
    from mfvpose_lib.engine.fast_path import decide_precision, select_fast_path

    decision = decide_precision(torch.nn.Identity(), torch.zeros(1, 3, 4, 4), precision="fast")
    assert decision.path == select_fast_path("cpu") and decision.check_images == 0
