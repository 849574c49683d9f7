"""Checkpoints: our format round trip, public layouts in every container form, ImageNet HRNet."""

from __future__ import annotations

import pytest
import torch

from mfvpose_lib.models import create_model, is_model, load_model
from mfvpose_lib.models.checkpoint import (
    CheckpointMismatchError,
    load_weights,
    save_model_checkpoint,
)
from mfvpose_lib.models.hrnet import HRNetConfig, HRNetStage3, PoseHRNet
from mfvpose_lib.reference import layout_state_dict

SMALL = {
    "width": 8,
    "stem_channels": 16,
    "layer1_planes": 8,
    "layer1_blocks": 1,
    "num_blocks": 1,
    "stage3_modules": 2,
    "stage4_modules": 1,
    "input_size": (64, 64),
}


def _small_hrnet(**overrides) -> PoseHRNet:
    return create_model("hrnet_w32", **{**SMALL, **overrides})


def _assert_loaded(model: torch.nn.Module, state_dict: dict[str, torch.Tensor], prefix: str = "") -> None:
    own = model.state_dict()
    for key, value in state_dict.items():
        torch.testing.assert_close(own[prefix + key], value, msg=key)


# --------------------------------------------------------------------------------------------
# Public layouts
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("container", ["plain", "state_dict", "model", "module_prefix"])
def test_public_hrnet_checkpoint_in_every_container(tmp_path, container):
    state = layout_state_dict("pose_hrnet_w32_coco_256x192", seed=1)
    if container == "module_prefix":
        obj = {"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 140}
    elif container == "plain":
        obj = state
    else:
        obj = {container: state, "perf": 0.74}
    path = tmp_path / "pose_hrnet_w32_256x192.pth"
    torch.save(obj, path)
    model = create_model("hrnet_w32")
    report = load_weights(model, path)
    assert report.ok and report.layout == "public" and len(report.loaded) == len(state)
    _assert_loaded(model, state)


@pytest.mark.parametrize(
    "name, layout",
    [
        ("simplebaseline_r50", "pose_resnet50_coco_256x192"),
        ("tokenpose_b", "tokenpose_b_coco_256x192"),
        ("tokenpose_l_d24", "tokenpose_l_d24_coco_256x192"),
    ],
)
def test_public_checkpoints_load_into_their_models(tmp_path, name, layout):
    if not is_model(name):
        pytest.skip(f"{name} is not registered")
    state = layout_state_dict(layout, seed=2)
    path = tmp_path / f"{layout}.pth"
    torch.save(state, path)
    model = create_model(name)
    report = load_weights(model, path)
    assert report.ok
    mapped = model.public_key_map(state) if hasattr(model, "public_key_map") else state
    _assert_loaded(model, mapped)


def test_create_model_loads_a_checkpoint_path(tmp_path):
    source = _small_hrnet()
    path = tmp_path / "weights.pth"
    torch.save(source.state_dict(), path)
    model = create_model("hrnet_w32", checkpoint_path=str(path), **SMALL)
    _assert_loaded(model, source.state_dict())


# --------------------------------------------------------------------------------------------
# Mismatches fail loudly
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("problem", ["missing", "unexpected", "shape"])
def test_mismatched_checkpoint_fails_with_a_report_naming_file_and_key(tmp_path, problem):
    state = _small_hrnet().state_dict()
    if problem == "missing":
        del state["stage3.1.branches.0.0.conv1.weight"]
        key = "stage3.1.branches.0.0.conv1.weight"
    elif problem == "unexpected":
        state["stage5.0.weight"] = torch.zeros(3)
        key = "stage5.0.weight"
    else:
        state["final_layer.weight"] = torch.zeros(16, 8, 1, 1)
        key = "final_layer.weight: (16, 8, 1, 1) vs (17, 8, 1, 1)"
    path = tmp_path / "broken.pth"
    torch.save({"state_dict": state}, path)
    model = _small_hrnet()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointMismatchError) as info:
        load_weights(model, path)
    message = str(info.value)
    assert str(path) in message and key in message
    assert {"missing": "missing", "unexpected": "unexpected", "shape": "shape mismatch"}[problem] in message
    _assert_loaded(model, before)  # strict: nothing was loaded

    report = load_weights(model, path, strict=False)
    assert not report.ok and len(report.loaded) >= len(before) - 1


def test_public_layout_of_another_model_is_rejected(tmp_path):
    path = tmp_path / "resnet.pth"
    torch.save(layout_state_dict("pose_resnet50_coco_256x192"), path)
    with pytest.raises(CheckpointMismatchError, match="resnet.pth"):
        load_weights(create_model("hrnet_w32"), path)


def test_unreadable_files_give_clear_errors(tmp_path):
    model = _small_hrnet()
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        load_weights(model, tmp_path / "nope.pth")
    junk = tmp_path / "junk.pth"
    junk.write_text("not a checkpoint")
    with pytest.raises(ValueError, match="junk.pth"):
        load_weights(model, junk)
    listy = tmp_path / "list.pth"
    torch.save({"epoch": 3, "optimizer": {"lr": 0.1}}, listy)
    with pytest.raises(ValueError, match="no state dict found"):
        load_weights(model, listy)
    with pytest.raises(ValueError, match="not an mfvpose checkpoint"):
        torch.save(model.state_dict(), junk)
        load_model(junk)


# --------------------------------------------------------------------------------------------
# ImageNet HRNet checkpoints
# --------------------------------------------------------------------------------------------


def _imagenet_checkpoint(trunk_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A classification HRNet's layout: the trunk plus parts no pose model has."""
    state = dict(trunk_state)
    state.pop("final_layer.weight", None)
    state.pop("final_layer.bias", None)
    state["stage4.2.fuse_layers.1.0.0.0.weight"] = torch.zeros(64, 32, 3, 3)  # multi-scale last module
    state["incre_modules.0.0.conv1.weight"] = torch.zeros(32, 32, 1, 1)
    state["downsamp_modules.0.0.weight"] = torch.zeros(256, 128, 3, 3)
    state["final_layer.0.weight"] = torch.zeros(2048, 1024, 1, 1)
    state["classifier.weight"] = torch.zeros(1000, 2048)
    state["classifier.bias"] = torch.zeros(1000)
    return state


def test_imagenet_hrnet_loads_into_the_stage3_extractor(tmp_path):
    state = _imagenet_checkpoint(layout_state_dict("pose_hrnet_w32_coco_256x192", seed=3))
    path = tmp_path / "hrnetv2_w32_imagenet_pretrained.pth"
    torch.save(state, path)
    backbone = HRNetStage3(32)
    report = load_weights(backbone, path)
    assert report.ok and report.layout == "imagenet-hrnet"
    own = backbone.state_dict()
    assert sorted(report.loaded) == sorted(own)
    _assert_loaded(backbone, {k: state[k] for k in own})
    ignored = " ".join(report.ignored)
    for part in ("classifier", "incre_modules", "stage4", "transition3", "stage3.3.fuse_layers.1"):
        assert part in ignored
    assert "ImageNet" in str(report)


def test_imagenet_hrnet_loads_into_a_nested_backbone_only(tmp_path):
    if not is_model("tokenpose_b"):
        pytest.skip("tokenpose_b is not registered")
    state = _imagenet_checkpoint(layout_state_dict("pose_hrnet_w32_coco_256x192", seed=4))
    path = tmp_path / "imagenet.pth"
    torch.save(state, path)
    model = create_model("tokenpose_b")
    head_before = model.state_dict()["transformer.mlp_head.3.weight"].clone()
    report = load_weights(model, path)
    assert report.ok and all(k.startswith("pre_feature.") for k in report.loaded)
    assert any(k.startswith("transformer.") for k in report.not_loaded)
    _assert_loaded(model, {k: state[k] for k in model.pre_feature.state_dict()}, prefix="pre_feature.")
    torch.testing.assert_close(model.state_dict()["transformer.mlp_head.3.weight"], head_before)


def test_imagenet_hrnet_into_pose_hrnet_loads_stage4_and_keeps_the_head(tmp_path):
    source = _small_hrnet()
    for p in source.parameters():
        torch.nn.init.normal_(p)
    state = {k: v for k, v in source.state_dict().items() if not k.startswith("final_layer")}
    state["classifier.weight"] = torch.zeros(1000, 64)
    path = tmp_path / "imagenet_small.pth"
    torch.save(state, path)
    model = _small_hrnet()
    head = model.final_layer.weight.detach().clone()
    report = load_weights(model, path)
    assert report.ok and "final_layer.weight" in report.not_loaded
    assert any(k.startswith("stage4.") for k in report.loaded)
    torch.testing.assert_close(model.final_layer.weight.detach(), head)

    del state["stage2.0.branches.0.0.conv1.weight"]
    torch.save(state, path)
    with pytest.raises(CheckpointMismatchError, match="stage2.0.branches.0.0.conv1.weight"):
        load_weights(_small_hrnet(), path)


# --------------------------------------------------------------------------------------------
# Our own format
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["hrnet_w32", "simplebaseline_r50"])
def test_save_then_load_model_gives_the_same_function(tmp_path, name):
    torch.manual_seed(0)
    overrides = SMALL if name.startswith("hrnet") else {"input_size": (64, 64), "num_keypoints": 5}
    model = create_model(name, **overrides)
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.05)
    model.train()(torch.randn(4, 3, 64, 64))  # move BN running statistics off their defaults
    model.eval()
    path = tmp_path / "ckpt" / "model.pt"
    save_model_checkpoint(path, model, epoch=7)
    loaded = load_model(path)
    assert type(loaded) is type(model) and loaded.cfg == model.cfg
    assert loaded.model_name == name and not loaded.training
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)
    stored = torch.load(path, weights_only=True)
    assert stored["format"] == "mfvpose" and stored["epoch"] == 7
    assert stored["config_class"] == type(model.cfg).__name__
    assert not list(path.parent.glob(".*.tmp"))  # atomic write left no temporary file

    other = create_model(name, **overrides)
    assert load_weights(other, path).layout == "mfvpose"
    with torch.no_grad():
        torch.testing.assert_close(other.eval()(x), model(x), rtol=0, atol=0)


def test_config_stored_with_unknown_fields_is_rejected(tmp_path):
    model = PoseHRNet(HRNetConfig(**SMALL, heatmap_size=(16, 16)))
    path = tmp_path / "model.pt"
    save_model_checkpoint(path, model)
    stored = torch.load(path, weights_only=True)
    stored["config"]["dilation"] = 2
    torch.save(stored, path)
    with pytest.raises(TypeError, match=r"model\.pt.*dilation"):
        load_model(path)


def test_reserved_extra_names_are_refused(tmp_path):
    with pytest.raises(ValueError, match="reserved"):
        save_model_checkpoint(tmp_path / "m.pt", _small_hrnet(), state_dict={})


def test_checkpoint_without_batchnorm_counters_loads_strictly(tmp_path):
    """Checkpoints saved before PyTorch 0.4.1 have no num_batches_tracked; that is no mismatch."""
    source = _small_hrnet()
    state = {k: v for k, v in source.state_dict().items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / "old.pth"
    torch.save(state, path)
    report = load_weights(_small_hrnet(), path)
    assert report.ok and "num_batches_tracked" in str(report)


def test_a_long_list_of_unfitting_keys_is_reported_by_module():
    from mfvpose_lib.models.checkpoint import LoadReport

    keys = [f"hrfov.low.w{i}" for i in range(20)] + [f"hrfov.high.w{i}" for i in range(5)]
    text = str(LoadReport("init.pt", "mfvpose", loaded=["a"], unexpected=keys))
    assert "unexpected in the checkpoint (25)" in text
    assert "hrfov.low.* (20 tensors)" in text and "hrfov.high.* (5 tensors)" in text and "w7" not in text
    short = str(LoadReport("init.pt", "mfvpose", loaded=["a"], unexpected=keys[:3]))
    assert all(k in short for k in keys[:3])
