"""analysis/: receptive fields, footprints, token statistics, LayerScale, attributions, logging."""

from __future__ import annotations

import csv
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn as nn

from mfvpose_lib.analysis.attention import AttentionRecorder, attention_distance, keypoint_block
from mfvpose_lib.analysis.attribution import (
    attribution_across_models,
    disc_share,
    keypoint_attribution,
    labelled_point,
    mass_within,
)
from mfvpose_lib.analysis.dilation import branch_field_boxes
from mfvpose_lib.analysis.layerscale import layer_scale_table
from mfvpose_lib.analysis.receptive_field import (
    effective_receptive_field,
    erf_holes,
    erf_table,
    model_erf_maps,
)
from mfvpose_lib.analysis.tokens import keypoint_token_similarity, similarity_summary, skeleton_order
from mfvpose_lib.codecs.heatmap import HeatmapCodec
from mfvpose_lib.data.spec import get_meta
from mfvpose_lib.engine.callbacks import LayerScaleLogger
from mfvpose_lib.models import create_model
from mfvpose_lib.models.dilation import dilation_footprint_info
from mfvpose_lib.viz.widgets import dilation_explorer

pytestmark = pytest.mark.usefixtures("close_figures")


def _ones_conv(dilation: int) -> nn.Conv2d:
    conv = nn.Conv2d(1, 1, 3, padding=dilation, dilation=dilation, bias=False)
    nn.init.ones_(conv.weight)
    return conv


def test_erf_of_one_3x3_conv_is_its_3x3_extent():
    conv = nn.Conv2d(3, 4, 3, padding=1)
    erf = effective_receptive_field(conv, (15, 15), num_samples=2)
    support = np.argwhere(erf > 0)
    assert support.min(0).tolist() == [6, 6] and support.max(0).tolist() == [8, 8]


def test_erf_of_a_dilated_chain_has_holes_exactly_where_the_footprint_has():
    rates = (2, 2, 2)
    chain = nn.Sequential(nn.Conv2d(3, 1, 1, bias=False), *[_ones_conv(r) for r in rates])
    nn.init.ones_(chain[0].weight)
    erf = effective_receptive_field(chain, (31, 31), num_samples=1)
    info = dilation_footprint_info(rates, "cascade")
    assert info.holes > 0
    check = erf_holes(erf, info.footprint)
    assert check["holes reached"] == 0 and check["read cells at zero"] == 0
    assert check["holes kept empty"] == info.holes


def test_dilation_footprint_info_topologies():
    hdc = dilation_footprint_info((1, 2, 5, 9), "cascade")
    assert hdc.field == 35 and hdc.holes == 0
    aspp = dilation_footprint_info((6, 12), "parallel")
    assert aspp.field == 25 and aspp.holes == 25 * 25 - 17
    with pytest.raises(ValueError, match="topology"):
        dilation_footprint_info((1,), "ring")


def test_branch_boxes_are_centred_and_scaled():
    boxes = branch_field_boxes((1, 2), "cascade", (128, 96))
    assert boxes["field (px)"].tolist() == [12, 28]
    assert boxes["x0"].iloc[0] == (96 - 12) / 2


def test_model_erf_table_and_no_parameter_grads(model):
    maps = model_erf_maps(model, trained=False, num_samples=1)
    assert "backbone + HRFOV" in maps and len(maps) == 2 + len(model.hrfov.cfg.rates)
    table = erf_table({"untrained": maps})
    assert (table["radius @ 90% (px)"] >= table["radius @ 50% (px)"]).all()
    assert all(p.grad is None for p in model.parameters())


def test_attention_rows_sum_to_one_and_distances(model):
    with AttentionRecorder(model) as rec:
        model(torch.randn(2, 3, *model.cfg.input_size))
    for layer_map in rec.maps:
        assert torch.allclose(layer_map.sum(-1), torch.ones(layer_map.shape[:-1]), atol=1e-5)
    k, grid = model.cfg.num_keypoints, model.cfg.patch_grid
    table = attention_distance(rec.maps, k, grid)
    assert len(table) == len(rec.maps) * rec.maps[0].shape[1] and table["layer"].min() == 1
    assert (table["distance"] >= 0).all() and (table["distance"] <= np.hypot(*grid)).all()
    block = keypoint_block(rec.maps, k)
    assert block.shape == (k, k) and (block.sum(1) <= 1 + 1e-5).all()


def test_token_similarity_and_skeleton_order(model):
    meta = get_meta("coco")
    order = skeleton_order(meta.num_keypoints, meta.skeleton)
    assert sorted(order) == list(range(meta.num_keypoints)) and order[0] == 0
    sims = keypoint_token_similarity(model, torch.randn(2, 3, *model.cfg.input_size))
    assert list(sims)[0] == "input" and len(sims) == 1 + 4
    assert np.allclose(np.diag(sims["layer 1"]), 1, atol=1e-5)
    assert len(similarity_summary(sims, meta.skeleton)) == len(sims)


def test_layer_scale_table_against_init(model):
    table = layer_scale_table(model)
    assert set(table["branch"]) == {"MSA", "FFN"} and table["layer"].max() == 4
    assert np.allclose(table["mean |λ| / init"], 1)
    assert layer_scale_table(create_model("tokenpose_tiny")).empty


def test_ig_completeness_matches_captums_delta(model):
    image = torch.randn(3, *model.cfg.input_size, generator=torch.Generator().manual_seed(3))
    result = keypoint_attribution(model, image, 1, method="integrated_gradients", n_steps=8)
    assert result.completeness_gap == pytest.approx(result.delta, abs=1e-4)


def test_occlusion_and_flat_model_warning(model):
    image = torch.randn(3, *model.cfg.input_size)
    result = keypoint_attribution(model, image, 0, method="occlusion")
    assert result.attribution.shape == tuple(image.shape[1:])

    class Flat(nn.Module):
        def __init__(self):
            super().__init__()
            self.cfg = SimpleNamespace(num_keypoints=1)
            self.bias = nn.Parameter(torch.ones(1))

        def forward(self, x):
            return self.bias.expand(x.shape[0], 1, 4, 4) + 0 * x[:, :1, :4, :4]

    flat = keypoint_attribution(Flat(), image, 0, method="saliency")
    assert flat.warning() is not None and "does not depend" in flat.warning()


def _ablation_like_models(input_size=(64, 48)) -> dict[str, nn.Module]:
    """Untrained small stand-ins for the Table 4 rows: HRFOV and LSW switched off and on."""
    torch.manual_seed(0)
    rows = {"baseline": {"hrfov": None, "layer_scale_init": None}, "+HRFOV": {"layer_scale_init": None},
            "+HRFOV +LSW": {}}  # fmt: skip
    return {
        label: create_model("mfvpose_tiny", input_size=input_size, **o).eval() for label, o in rows.items()
    }


def test_mass_within_a_disc_against_a_point_and_an_even_map():
    spike = np.zeros((20, 30))
    spike[5, 10] = -2.0  # a signed map: the magnitude counts
    assert mass_within(spike, (10, 5), 1) == 1.0
    assert mass_within(spike, (20, 15), 3) == 0.0
    assert np.isnan(mass_within(np.zeros((4, 4)), (1, 1), 1))
    assert disc_share((20, 30), (10, 10), 1) == pytest.approx(5 / 600)  # the centre and its 4 neighbours


def test_labelled_point_decodes_the_target_in_crop_pixels():
    h, w = 16, 12
    ys, xs = np.mgrid[0:h, 0:w]
    target = np.stack([np.exp(-((xs - 5.0) ** 2 + (ys - 7.0) ** 2) / 8.0)] * 2).astype(np.float32)
    item = {"image": torch.zeros(3, 64, 48), "target": torch.from_numpy(target),
            "target_weight": torch.tensor([[1.0], [0.0]])}  # fmt: skip
    hrnet = HeatmapCodec(input_size=(64, 48), heatmap_size=(h, w), geometry="hrnet")
    assert labelled_point(item, 0, hrnet) == pytest.approx((20.0, 28.0), abs=0.1)  # 4 crop px per heatmap px
    tokenpose = HeatmapCodec(input_size=(64, 48), heatmap_size=(h, w), geometry="tokenpose")
    a = 47 / 11  # TokenPose: (W − 1)/(w − 1) on both axes, about the centres
    assert labelled_point(item, 0, tokenpose) == pytest.approx((5 * a, 31.5 + (7 - 7.5) * a), abs=0.1)
    assert labelled_point(item, 1, hrnet) is None


def test_attribution_across_models_one_map_and_one_row_per_model():
    models = _ablation_like_models()
    image = torch.randn(3, 64, 48, generator=torch.Generator().manual_seed(2))
    names = [f"joint{k}" for k in range(17)]
    comparison = attribution_across_models(models, image, "joint3", keypoint_names=names, method="saliency",
                                           point=(24.0, 30.0), radius=10)  # fmt: skip
    assert list(comparison.maps) == list(models) and comparison.keypoint == 3
    assert all(a.shape == (64, 48) for a in comparison.maps.values())
    table = comparison.table
    assert list(table["model"]) == list(models)
    alone = keypoint_attribution(models["+HRFOV"], image, 3, method="saliency").attribution
    np.testing.assert_allclose(comparison.maps["+HRFOV"], alone, rtol=1e-5)
    for label, row in table.set_index("model").iterrows():
        a = comparison.maps[label]
        assert row["max |attribution|"] == pytest.approx(np.abs(a).max())
        assert row["mass near label"] == pytest.approx(mass_within(a, (24.0, 30.0), 10))
        assert 0 <= row["peak x"] < 48 and 0 <= row["peak y"] < 64
    assert table["uniform share near label"].nunique() == 1  # one disc for all rows
    assert len(set(table["max |attribution|"].round(12))) == 3  # the rows are different models
    assert all(p.grad is None for m in models.values() for p in m.parameters())


def test_attribution_across_models_refuses_an_unknown_keypoint_or_a_wrong_crop():
    models = _ablation_like_models()
    image = torch.randn(3, 64, 48)
    with pytest.raises(ValueError, match="unknown keypoint 'tail'.*joint0"):
        attribution_across_models(
            models, image, "tail", keypoint_names=["joint0", "joint1"], method="saliency"
        )
    with pytest.raises(IndexError, match="out of range"):
        attribution_across_models(models, image, 17, method="saliency")
    with pytest.raises(ValueError, match="input_size"):
        attribution_across_models(models, torch.randn(3, 32, 32), 0, method="saliency")


def test_layer_scale_logger_writes_rows_and_replaces_resumed_epochs(model, tmp_path):
    logger = LayerScaleLogger(tmp_path / "layerscale.csv")
    for epoch in (1, 2, 2):
        logger.on_epoch_end(SimpleNamespace(model=model, epoch=epoch))
    rows = list(csv.DictReader(open(tmp_path / "layerscale.csv")))
    per_epoch = 2 * 4
    assert len(rows) == 2 * per_epoch
    assert {r["branch"] for r in rows} == {"MSA", "FFN"}
    assert float(rows[0]["mean_abs"]) == pytest.approx(float(rows[0]["init"]))


def test_dilation_explorer_redraws_and_marks_the_study():
    explorer = dilation_explorer()
    first = bytes(explorer.image.value)
    assert "study's choice" in explorer.figure.axes[0].get_title()
    explorer.controls["rates"].value = "2, 2, 2"
    assert bytes(explorer.image.value) != first and explorer.error is None
    assert "holes" in explorer.figure.axes[0].get_title()
    explorer.controls["rates"].value = "a, b"
    assert isinstance(explorer.error, ValueError)


def test_field_sizes_of_a_seeded_untrained_model_repeat_exactly():
    from mfvpose_lib.analysis.receptive_field import batch_statistics, effective_receptive_field
    from mfvpose_lib.engine.run_state import isolated_run_state
    from mfvpose_lib.models import create_model

    maps = []
    for _ in range(2):
        with isolated_run_state(seed=0):
            model = create_model("mfvpose_tiny")
        with batch_statistics(model):
            maps.append(effective_receptive_field(model.forward_feature_map, model.cfg.input_size, num_samples=2))
    assert np.array_equal(maps[0], maps[1])
