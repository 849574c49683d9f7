"""The evaluation pipeline scored with an oracle that returns the ground-truth heatmaps:
decoding, flip-back with pairs, the image-space transform, rescoring, OKS-NMS and the
metrics together must give (near) perfect COCO AP and MPII PCKh."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from mfvpose_lib.codecs.heatmap import HeatmapCodec, flip_back
from mfvpose_lib.engine.data_access import build_split
from mfvpose_lib.engine.evaluate import EvalSettings, evaluate_model, per_joint_table, write_eval_outputs


@dataclass(frozen=True)
class OracleConfig:
    num_keypoints: int
    input_size: tuple[int, int]
    heatmap_size: tuple[int, int]


class Oracle(torch.nn.Module):
    """Returns the data set's target heatmaps in loader order; with ``flip_pairs`` every second
    call is answered as a perfect model would answer the mirrored crop."""

    def __init__(self, targets: torch.Tensor, cfg: OracleConfig, flip_pairs=None) -> None:
        super().__init__()
        self.cfg, self.targets, self.flip_pairs = cfg, targets, flip_pairs
        self.position, self.calls = 0, 0

    def forward(self, images):
        self.calls += 1
        if self.flip_pairs is not None and self.calls % 2 == 0:
            return flip_back(self.targets[self.position - len(images) : self.position], self.flip_pairs)
        out = self.targets[self.position : self.position + len(images)]
        self.position += len(images)
        return out


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory):
    from mfvpose_lib.data.synth import ensure_synthetic

    root = tmp_path_factory.mktemp("synth_eval")
    ensure_synthetic(root, 4, 6, seed=1)
    return root


def _oracle(root, dataset, cfg, flip):
    codec = HeatmapCodec(input_size=cfg.input_size, heatmap_size=cfg.heatmap_size)
    data = build_split(root, dataset, "val", cfg, train=False, boxes="gt", codec=codec)
    targets = torch.stack([data[i]["target"] for i in range(len(data))])
    return data, Oracle(targets, cfg, data.meta.flip_pairs if flip else None)


@pytest.mark.parametrize("flip", [False, True])
@pytest.mark.parametrize("decode", ["dark", "quarter"])
def test_ground_truth_heatmaps_score_near_perfect_coco_ap(synth_root, flip, decode, tmp_path):
    cfg = OracleConfig(17, (128, 96), (32, 24))
    data, oracle = _oracle(synth_root, "coco", cfg, flip)
    settings = EvalSettings(dataset="coco", boxes="gt", flip=flip, decode=decode)
    result = evaluate_model(oracle, data, settings, batch_size=4, progress=False)
    assert result.metrics["AP"] > 0.95
    assert len(result.results) == len(data)  # distinct people survive OKS-NMS
    written = write_eval_outputs(result, tmp_path)
    assert written["results"].is_file() and written["metrics"].is_file()


def test_ground_truth_heatmaps_score_full_pckh(synth_root):
    cfg = OracleConfig(16, (128, 128), (32, 32))
    data, oracle = _oracle(synth_root, "mpii", cfg, flip=True)
    result = evaluate_model(
        oracle, data, EvalSettings(dataset="mpii", flip=True), batch_size=4, progress=False
    )
    assert result.metrics["PCKh@0.5"]["Mean"] == pytest.approx(100.0)
    table = per_joint_table(result)
    assert list(table.index) == ["Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "Mean"]
    # a model that outputs nothing useful scores (almost) zero
    blank = Oracle(torch.zeros(len(data), 16, 32, 32), cfg)
    assert (
        evaluate_model(blank, data, EvalSettings(dataset="mpii", flip=False), progress=False).metrics[
            "PCKh@0.5"
        ]["Mean"]
        < 20.0
    )


def test_a_grid_of_settings_in_one_pass_equals_each_setting_alone(synth_root):
    from mfvpose_lib.engine.evaluate import (
        RunOptions,
        evaluate_settings,
        inference_settings_effects,
        inference_settings_grid,
    )
    from mfvpose_lib.models import create_model
    from mfvpose_lib.models.codec import model_codec

    torch.manual_seed(0)
    model = create_model("mfvpose_tiny", input_size=(64, 48)).eval()
    data = build_split(synth_root, "coco", "val", model.cfg, train=False, boxes="gt", codec=model_codec(model))
    grid = inference_settings_grid("coco")
    calls = []
    model.register_forward_hook(lambda *_: calls.append(1))
    together = evaluate_settings(model, data, grid, RunOptions(batch_size=4, progress=False))
    batches = len(calls)
    assert batches == 2 * -(-len(data) // 4)  # each batch once, and once mirrored
    for settings, result in zip(grid, together):
        alone = evaluate_model(model, data, settings, batch_size=4, progress=False)
        assert alone.metrics == result.metrics
        assert (alone.predictions.coords == result.predictions.coords).all()
    coords = [r.predictions.coords for r in together]
    assert not (coords[0] == coords[1]).all() and not (coords[2] == coords[4]).all()  # the settings differ
    table = inference_settings_effects(model, "coco", {"gt": data}, RunOptions(batch_size=4, progress=False))
    assert list(table["flip test"]) == ["off", "off", "exact", "exact", "hrnet_1px", "hrnet_1px"]
    assert list(table["AP"]) == [r.metrics["AP"] for r in together]
