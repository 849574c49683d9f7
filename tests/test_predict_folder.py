"""`mfvpose predict DIR` on a folder with bad files in it; checkpoints that are not PyTorch files."""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from mfvpose_lib.cli import main
from mfvpose_lib.inference import collect_images, predict_images
from mfvpose_lib.models import create_model, load_model
from mfvpose_lib.models.checkpoint import load_weights, save_model_checkpoint

MODEL = "mfvpose_tiny"  # the smallest registered COCO-layout model
SMALL = {"input_size": (64, 48)}


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return create_model(MODEL, **SMALL).eval()


def _picture(path, seed):
    pixels = np.random.default_rng(seed).integers(0, 255, (40, 30, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


@pytest.fixture
def folder(tmp_path):
    """Two real PNGs, a JPEG cut short, random bytes named .jpg and a text file named .png."""
    images = tmp_path / "images"
    images.mkdir()
    _picture(images / "a.png", 1)
    _picture(images / "c.png", 2)
    _picture(tmp_path / "whole.jpg", 3)
    (images / "b_truncated.jpg").write_bytes((tmp_path / "whole.jpg").read_bytes()[:200])
    (images / "d_corrupt.jpg").write_bytes(os.urandom(512))
    (images / "e_text.png").write_text("this is not a picture\n")
    (images / "notes.txt").write_text("not an image suffix: never looked at\n")
    return images


BAD = {"b_truncated.jpg", "d_corrupt.jpg", "e_text.png"}


def test_unreadable_files_are_skipped_and_listed(folder, capsys):
    found = collect_images([folder])
    assert [p.name for p in found] == ["a.png", "c.png"]
    assert {os.path.basename(s["path"]) for s in found.skipped} == BAD
    assert all(s["reason"] for s in found.skipped)
    err = capsys.readouterr().err.splitlines()
    assert len(err) == len(BAD)
    for name in BAD:
        line = next(line for line in err if name in line)
        assert line.startswith("skipped ") and ": " in line.split(name, 1)[1]  # the reason follows the path


def test_predict_records_the_skipped_files(model, folder, tmp_path):
    out = predict_images(
        model, [folder], out_dir=tmp_path / "out", draw=False, progress=False, precision="fp32"
    )
    assert out.settings["images"] == 2 and out.settings["people"] == 2 and len(out.results) == 2
    assert out.settings["skipped_images"] == out.images.skipped
    settings = json.loads((tmp_path / "out" / "settings.json").read_text())
    assert {os.path.basename(s["path"]) for s in settings["skipped_images"]} == BAD
    assert "image" in next(
        s["reason"] for s in settings["skipped_images"] if s["path"].endswith("e_text.png")
    )


def test_a_clean_folder_records_no_skipped_file(model, folder, tmp_path):
    predict_images(model, [folder / "a.png"], out_dir=tmp_path / "out", draw=False, progress=False,
                   precision="fp32")  # fmt: skip
    assert json.loads((tmp_path / "out" / "settings.json").read_text())["skipped_images"] == []


def test_no_readable_image_is_an_error_naming_the_files(model, folder, tmp_path):
    for good in ("a.png", "c.png"):
        (folder / good).unlink()
    with pytest.raises(ValueError, match=r"no image could be read: .*b_truncated\.jpg.*2 more"):
        predict_images(model, [folder], draw=False, progress=False, precision="fp32")


def test_cli_skips_lists_and_fails_only_without_images(model, folder, tmp_path, capsys):
    checkpoint = save_model_checkpoint(tmp_path / "tiny.pt", model)
    common = ["--checkpoint", str(checkpoint), "--device", "cpu", "--no-draw", "--precision", "fp32"]
    assert main(["predict", str(folder), "--out", str(tmp_path / "out"), *common]) == 0
    captured = capsys.readouterr()
    assert sum(line.startswith("skipped ") for line in captured.err.splitlines()) == len(BAD)
    assert "skipped 3 unreadable image files" in captured.out
    settings = json.loads((tmp_path / "out" / "settings.json").read_text())
    assert len(settings["skipped_images"]) == len(BAD) and settings["images"] == 2
    assert main(["predict", str(folder / "e_text.png"), "--out", str(tmp_path / "none"), *common]) == 2
    assert "no image could be read: " in capsys.readouterr().err
    assert not (tmp_path / "none" / "results.json").exists()


@pytest.mark.parametrize("content", ["random", "zip", "text", "empty"])
def test_a_file_that_is_not_a_pytorch_checkpoint_says_so(tmp_path, content):
    path = tmp_path / f"{content}.pt"
    if content == "zip":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("weights/readme.txt", "a zip archive, but not torch.save's")
    else:
        path.write_bytes({"random": os.urandom(4096), "text": b"hello\n", "empty": b""}[content])
    for load in (load_model, lambda p: load_weights(create_model(MODEL, **SMALL), p)):
        with pytest.raises(ValueError) as info:
            load(path)
        assert str(info.value).startswith(f"{path}: not a PyTorch checkpoint file")
        assert "other than tensors" not in str(info.value)


def test_real_checkpoints_still_load_and_non_tensor_objects_are_still_refused(model, tmp_path):
    saved = save_model_checkpoint(tmp_path / "ok.pt", model)
    assert load_model(saved).cfg == model.cfg
    legacy = tmp_path / "legacy.pt"
    torch.save(model.state_dict(), legacy, _use_new_zipfile_serialization=False)
    load_weights(create_model(MODEL, **SMALL), legacy)  # the pre-1.6 format is a PyTorch file too
    objects = tmp_path / "objects.pt"
    torch.save(
        {"state_dict": model.state_dict(), "optimizer": torch.optim.SGD(model.parameters(), lr=0.1)}, objects
    )
    with pytest.raises(ValueError, match="other than tensors"):
        load_weights(create_model(MODEL, **SMALL), objects)
