"""Context canvases for receptive fields (``study.trained.context_crops``): the person at the model's
pixel scale, the model's crop at the canvas centre."""

from __future__ import annotations

import pytest
import torch

from mfvpose_lib.data.synth import write_synthetic
from mfvpose_lib.models import create_model
from mfvpose_lib.study.trained import context_crops, val_crops


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    write_synthetic(root, 4, 3, seed=0, n_test=1)
    return root


@pytest.mark.parametrize(("name", "dataset"), [("mfvpose_tiny", "coco"), ("mfvpose_tiny_mpii", "mpii")])
def test_a_canvas_of_factor_one_is_the_crop_and_a_wider_one_holds_it_at_its_centre(root, name, dataset):
    model = create_model(name, input_size=(64, 48) if dataset == "coco" else (64, 64))
    crops, indices = val_crops(root, model, 2, dataset=dataset)
    same, same_indices = context_crops(root, model, 2, factor=1, dataset=dataset)
    assert indices == same_indices
    for crop, canvas in zip(crops, same, strict=True):
        assert torch.equal(crop["image"], canvas["image"])
    wide, _ = context_crops(root, model, 2, factor=2, dataset=dataset)
    h, w = model.cfg.input_size
    for crop, canvas in zip(crops, wide, strict=True):
        assert tuple(canvas["image"].shape) == (3, 2 * h, 2 * w)
        centre = canvas["image"][:, h // 2 : h // 2 + h, w // 2 : w // 2 + w]
        # the same pixels up to the geometry's sub-pixel offset and bilinear resampling
        assert (centre - crop["image"]).abs().mean() < 0.07 * crop["image"].abs().mean()  # 4 px off: 0.08–0.28
        assert canvas["image"].abs().sum() > crop["image"].abs().sum()  # it shows more than the crop
