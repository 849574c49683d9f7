"""HRFOV module and the receptive-field tools behind its design."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn as nn

from mfvpose_lib.analysis.receptive_field import batch_statistics, effective_receptive_field, erf_radius
from mfvpose_lib.models.dilation import (
    atrous_branch_receptive_fields,
    common_factor,
    dilation_footprint,
    dilation_footprint_1d,
    has_gridding,
    hdc_max_gap,
    theoretical_receptive_field,
)
from mfvpose_lib.models.hrfov import HRFOV, AtrousPyramid, HRFOVConfig


@pytest.mark.parametrize("topology", ["cascade", "parallel"])
@pytest.mark.parametrize("fusion", ["concat_1x1", "sum"])
@pytest.mark.parametrize("use_low_level", [True, False])
def test_hrfov_keeps_resolution_and_stage3_width(topology, fusion, use_low_level):
    cfg = HRFOVConfig(topology=topology, fusion=fusion, use_low_level=use_low_level, branch_channels=8)
    m = HRFOV(64, 16, cfg)
    low, high = torch.randn(2, 64, 20, 15), torch.randn(2, 16, 20, 15, requires_grad=True)
    out = m(low, high)
    assert out.shape == high.shape
    out.sum().backward()
    assert high.grad is not None
    assert (m.low is None) == (not use_low_level)


def test_hrfov_rejects_mismatched_maps_and_bad_configs():
    m = HRFOV(64, 16, HRFOVConfig())
    with pytest.raises(ValueError, match="same resolution"):
        m(torch.randn(1, 64, 8, 8), torch.randn(1, 16, 4, 4))
    with pytest.raises(ValueError, match="topology"):
        HRFOVConfig(topology="tree")
    with pytest.raises(ValueError, match="fusion"):
        HRFOVConfig(fusion="max")
    with pytest.raises(ValueError, match="rates"):
        HRFOVConfig(rates=(1, 0))


def test_hrfov_residual_passes_the_stage3_map_when_the_fusion_is_silenced():
    m = HRFOV(32, 8, HRFOVConfig(branch_channels=4)).eval()
    nn.init.zeros_(m.fuse[1].weight)  # BN scale 0, shift 0 -> fused branch outputs 0
    high = torch.randn(1, 8, 6, 6)
    assert torch.equal(m(torch.randn(1, 32, 6, 6), high), high)


def test_config_round_trips_through_asdict():
    cfg = HRFOVConfig(rates=[1, 3, 5], topology="parallel")
    assert cfg.rates == (1, 3, 5)
    assert HRFOVConfig.coerce(dataclasses.asdict(cfg)) == cfg
    assert HRFOVConfig.coerce(None) is None
    with pytest.raises(TypeError, match="unknown"):
        HRFOVConfig.coerce({"rate": (1, 2)})


def test_theoretical_receptive_field_known_cases():
    assert theoretical_receptive_field([(3, 1, 1), (3, 1, 1)]) == 5
    # ResNet stem: 7x7 stride 2, then 3x3 max-pool stride 2 -> 11 pixels
    assert theoretical_receptive_field([(7, 1, 2), (3, 1, 2)]) == 11
    assert theoretical_receptive_field([(3, 4, 1)]) == 9
    assert atrous_branch_receptive_fields((1, 2, 5, 9), "cascade") == [3, 7, 17, 35]
    assert atrous_branch_receptive_fields((1, 2, 5, 9), "parallel") == [3, 5, 11, 19]
    assert HRFOVConfig().branch_receptive_fields() == [3, 7, 17, 35]


def test_gridding_detection_and_hdc_criterion():
    assert has_gridding((2, 2, 2)) and common_factor((2, 2, 2)) == 2
    assert has_gridding((6, 12, 18, 24))
    assert not has_gridding((1, 2, 5, 9)) and common_factor((1, 2, 5, 9)) == 1
    assert has_gridding((1, 2, 9))  # no common factor, but the jump from 2 to 9 leaves holes
    assert hdc_max_gap((1, 2, 5)) == 2 and hdc_max_gap((1, 2, 9)) == 5
    fp = dilation_footprint_1d((2, 2))
    assert fp.tolist() == [1, 0, 2, 0, 3, 0, 2, 0, 1]
    assert dilation_footprint((1, 2)).shape == (7, 7)
    assert not HRFOVConfig().grids and HRFOVConfig(rates=(2, 4)).grids


@pytest.mark.parametrize("rates", [(1, 2, 5, 9), (2, 2, 2)])
def test_gradient_of_a_positive_cascade_equals_its_dilation_footprint(rates):
    """With positive weights and inputs every ReLU is open, so the input gradient of the centre
    output counts the paths to each pixel: the measured field equals the computed footprint."""
    pyramid = AtrousPyramid(1, 1, rates, "cascade").eval()
    for m in pyramid.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.constant_(m.weight, 0.5)
    size = 2 * sum(rates) + 1 + 8
    erf = effective_receptive_field(
        lambda x: pyramid(x[:, :1])[-1], (size, size), inputs=torch.rand(1, 3, size, size) + 0.1
    )
    expected = dilation_footprint(rates).astype(np.float64)
    expected /= expected.sum()
    pad = (size - expected.shape[0]) // 2
    assert np.allclose(erf[pad : size - pad, pad : size - pad], expected, atol=1e-9)
    assert erf.sum() == pytest.approx(1.0)


def test_parallel_branches_do_not_feed_each_other():
    pyramid = AtrousPyramid(1, 1, (1, 9), "parallel").eval()
    for m in pyramid.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.constant_(m.weight, 0.5)
    erf = effective_receptive_field(
        lambda x: pyramid(x[:, :1])[1], (25, 25), inputs=torch.rand(1, 3, 25, 25) + 0.1
    )
    assert (erf > 0).sum() == 9  # one 3x3 kernel of rate 9 reads nine pixels


def test_erf_radius():
    delta = np.zeros((9, 9))
    delta[4, 4] = 1.0
    assert erf_radius(delta) == 0
    flat = np.ones((9, 9))
    assert erf_radius(flat, mass=1.0) == 4


def test_batch_statistics_context_leaves_running_stats_and_mode_unchanged():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)).eval()
    before = net[1].running_mean.clone()
    with batch_statistics(net):
        assert net[1].training
        out = net(torch.randn(2, 3, 8, 8) + 5.0)
    assert torch.allclose(out.mean(dim=(0, 2, 3)), torch.zeros(4), atol=1e-5)  # batch-normalised
    assert torch.equal(net[1].running_mean, before) and not net[1].training and net[1].momentum == 0.1


def test_rates_and_erf_summaries():
    from mfvpose_lib.analysis.dilation import rates_summary
    from mfvpose_lib.analysis.receptive_field import erf_summary

    table = rates_summary({"hdc": (1, 2, 5, 9), "equal": (2, 2, 2)})
    assert table["cascade grids"].tolist() == [False, True]
    assert table.loc[0, "cascade RF per branch"] == [3, 7, 17, 35]
    delta = np.zeros((5, 5))
    delta[2, 2] = 1
    assert erf_summary({"delta": delta})["radius @ 90%"].tolist() == [0.0]


def test_footprint_overlay_dims_unread_cells_only():
    from mfvpose_lib.viz.receptive_field import footprint_overlay

    image = np.full((16, 16, 3), 200, dtype=np.uint8)
    out = footprint_overlay(image, dilation_footprint((2,)), stride=2)  # 5x5 footprint, holes between taps
    cells = out[::2, ::2, 0]  # one pixel per 2x2 feature cell; centre cell (4, 4)
    assert cells[4, 4] == 200 and cells[2, 2] == 200 and cells[6, 6] == 200
    assert cells[3, 3] == 50 and cells[0, 0] == 50
