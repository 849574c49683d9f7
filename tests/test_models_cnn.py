"""HRNet and SimpleBaseline: public key layouts, shapes, forward/backward, the stage-3 extractor."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from mfvpose_lib.analysis.complexity import build_on_meta
from mfvpose_lib.models import create_model, list_models
from mfvpose_lib.models.hrnet import HRNetConfig, HRNetStage3, PoseHRNet
from mfvpose_lib.models.simplebaseline import SimpleBaselineConfig
from mfvpose_lib.reference import load_state_dict_layout

CNN_MODELS = list_models("hrnet*") + list_models("simplebaseline*")
EXPECTED_SETTINGS = {
    "": (17, (256, 192), (64, 48)),
    "_384": (17, (384, 288), (96, 72)),
    "_mpii": (16, (256, 256), (64, 64)),
}
# A narrow, shallow HRNet that runs in milliseconds on CPU.
SMALL_TRUNK = {"width": 8, "stem_channels": 16, "layer1_planes": 8, "layer1_blocks": 1, "num_blocks": 1}


def _layout(name: str, strip: str = "") -> dict[str, tuple[int, ...]]:
    table = load_state_dict_layout(name)
    return {k[len(strip) :]: s for k, s in zip(table["key"], table["shape"]) if k.startswith(strip)}


def _shapes(module: nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def test_every_family_and_setting_is_registered():
    for base in (
        "hrnet_w32",
        "hrnet_w48",
        "simplebaseline_r50",
        "simplebaseline_r101",
        "simplebaseline_r152",
    ):
        for suffix in EXPECTED_SETTINGS:
            assert base + suffix in CNN_MODELS


@pytest.mark.parametrize("name", CNN_MODELS)
def test_registered_model_config_and_full_size_shapes_on_meta(name):
    """Full-size forward and backward on the meta device: shapes and gradients, no arithmetic."""
    suffix = next((s for s in ("_384", "_mpii") if name.endswith(s)), "")
    keypoints, input_size, heatmap_size = EXPECTED_SETTINGS[suffix]
    model = build_on_meta(name)
    assert (model.cfg.num_keypoints, model.cfg.input_size, model.cfg.heatmap_size) == (
        keypoints,
        input_size,
        heatmap_size,
    )
    assert model.model_name == name
    out = model(torch.zeros(2, 3, *input_size, device="meta"))
    assert out.shape == (2, keypoints, *heatmap_size)
    out.sum().backward()
    assert all(p.grad is not None and p.grad.shape == p.shape for p in model.parameters())
    decay_free = model.no_weight_decay()
    assert decay_free and decay_free <= {n for n, _ in model.named_parameters()}
    assert "final_layer.weight" not in decay_free


@pytest.mark.parametrize(
    "name", ["hrnet_w32", "hrnet_w48", "simplebaseline_r50", "simplebaseline_r101", "simplebaseline_r152"]
)
def test_forward_backward_on_cpu_at_small_input(name):
    """Real arithmetic for each architecture (the _384 / _mpii names differ only in settings)."""
    torch.manual_seed(0)
    model = create_model(name, input_size=(32, 32))
    assert model.cfg.heatmap_size == (8, 8)
    x = torch.randn(2, 3, 32, 32)
    out = model(x)
    assert out.shape == (2, 17, 8, 8)
    out.square().mean().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert model.final_layer.weight.grad.abs().sum() > 0


def test_pose_hrnet_keys_and_shapes_equal_the_public_checkpoint():
    with torch.device("meta"):
        model = create_model("hrnet_w32")
    assert _shapes(model) == _layout("pose_hrnet_w32_coco_256x192")


def test_simplebaseline_keys_and_shapes_equal_the_public_checkpoint():
    with torch.device("meta"):
        model = create_model("simplebaseline_r50")
    assert _shapes(model) == _layout("pose_resnet50_coco_256x192")


@pytest.mark.parametrize(
    "width, layout", [(32, "tokenpose_b_coco_256x192"), (48, "tokenpose_l_d24_coco_256x192")]
)
def test_stage3_extractor_keys_equal_tokenpose_pre_feature(width, layout):
    with torch.device("meta"):
        backbone = HRNetStage3(width)
    assert _shapes(backbone) == _layout(layout, strip="pre_feature.")
    # Only branch 0 is fused at the last stage-3 module (multi_scale_output=False).
    last = backbone.stage3[-1]
    assert len(last.fuse_layers) == 1 and not last.multi_scale_output
    assert all(m.multi_scale_output for m in backbone.stage3[:-1])


def test_stage3_extractor_outputs_layer1_and_branch0():
    backbone = HRNetStage3(**SMALL_TRUNK, stage3_modules=2)
    x = torch.randn(2, 3, 64, 48)
    low, high = backbone.forward_with_layer1(x)
    assert low.shape == (2, backbone.layer1_channels, 16, 12) and backbone.layer1_channels == 32
    assert high.shape == (2, backbone.out_channels, 16, 12) and backbone.out_channels == 8
    assert backbone.stride == 4
    torch.testing.assert_close(backbone(x), high)
    torch.testing.assert_close(backbone.forward_layer1(x), low)


def test_stage3_extractor_computes_the_pose_hrnet_stage3_branch0():
    """Same weights, same function: the extractor is the pose HRNet cut after stage 3."""
    torch.manual_seed(0)
    cfg = HRNetConfig(
        **SMALL_TRUNK, stage3_modules=2, stage4_modules=1, input_size=(64, 64), heatmap_size=(16, 16)
    )
    full = PoseHRNet(cfg).eval()
    for p in full.parameters():  # non-trivial weights so every path matters
        nn.init.normal_(p, std=0.2)
    backbone = HRNetStage3.from_config(cfg).eval()
    own = backbone.state_dict()
    missing = backbone.load_state_dict({k: v for k, v in full.state_dict().items() if k in own}, strict=False)
    assert not missing.missing_keys
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = full.forward_stage3(full.forward_layer1(x))[0]
        torch.testing.assert_close(backbone(x), expected)


def test_batchnorm_settings_match_the_public_code():
    model = PoseHRNet(HRNetConfig(**SMALL_TRUNK, stage3_modules=1, stage4_modules=1))
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms and all(m.eps == 1e-5 and m.momentum == 0.1 and m.affine for m in norms)


def test_configs_reject_inconsistent_sizes_and_unknown_overrides():
    with pytest.raises(ValueError, match="divisible by 32"):
        HRNetConfig(input_size=(64, 48), heatmap_size=(16, 12))
    with pytest.raises(ValueError, match="heatmap_size"):
        HRNetConfig(heatmap_size=(32, 24))
    with pytest.raises(ValueError, match="depth"):
        SimpleBaselineConfig(depth=34)
    with pytest.raises(TypeError, match="no_such_field"):
        create_model("hrnet_w32", no_such_field=1)
    model = build_on_meta("hrnet_w32", num_keypoints=5, width=16)
    assert model.final_layer.weight.shape == (5, 16, 1, 1)


def test_feature_shapes_trace_every_stage():
    from mfvpose_lib.models.hrnet import feature_shapes

    full = build_on_meta("hrnet_w32")
    records = feature_shapes(full, (256, 192))
    by_stage = {}
    for r in records:
        by_stage.setdefault(r["stage"], []).append((r["channels"], r["height"], r["width"], r["stride"]))
    assert by_stage["stem"] == [(64, 64, 48, 4)]
    assert by_stage["layer1"] == [(256, 64, 48, 4)]
    assert by_stage["stage3"] == [(32, 64, 48, 4), (64, 32, 24, 8), (128, 16, 12, 16)]
    assert by_stage["head"] == [(17, 64, 48, 4)]
    backbone = HRNetStage3(**SMALL_TRUNK)
    traced = feature_shapes(backbone, (64, 48))
    assert traced[-1] == {
        "stage": "stage3",
        "branch": 0,
        "channels": 8,
        "height": 16,
        "width": 12,
        "stride": 4,
    }
    assert not any(r["stage"] in ("stage4", "head") for r in traced)
    assert next(backbone.parameters()).device.type == "cpu"  # traced on a copy


def test_registered_names_read_as_architectures_with_their_task_variants():
    from mfvpose_lib.models import list_models
    from mfvpose_lib.models.registry import variants_by_architecture

    rows = variants_by_architecture(["hrnet_w32", "hrnet_w32_384", "hrnet_w32_mpii", "mfvpose_tiny_mpii"])
    assert rows == [
        {"architecture": "hrnet_w32", "COCO 256x192": "✓", "COCO 384x288": "✓", "MPII 256x256": "✓"},
        {"architecture": "mfvpose_tiny", "COCO 256x192": "", "COCO 384x288": "", "MPII 256x256": "✓"},
    ]
    names = list_models()
    table = variants_by_architecture(names)
    assert sum(v == "✓" for row in table for v in row.values()) == len(names) > len(table)
