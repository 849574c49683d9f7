"""TokenPose and MfvPose: registry, shapes, exact sizes, public layouts, and MfvPose == TokenPose when off."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from mfvpose_lib.analysis.attention import AttentionRecorder
from mfvpose_lib.layers.layer_scale import LayerScale
from mfvpose_lib.models import create_model, list_models
from mfvpose_lib.models.checkpoint import save_model_checkpoint
from mfvpose_lib.models.factory import load_model
from mfvpose_lib.models.mfvpose import MfvPose, MfvPoseConfig
from mfvpose_lib.models.tokenpose import TokenPose, patchify
from mfvpose_lib.reference import layout_state_dict, load_state_dict_layout

TINY = ["tokenpose_tiny", "tokenpose_tiny_mpii", "mfvpose_tiny", "mfvpose_tiny_mpii"]
FAMILY_NAMES = list_models("tokenpose_*") + list_models("mfvpose_*")
LARGE = [n for n in FAMILY_NAMES if n not in TINY]


def reduced_input(name: str) -> tuple[int, int]:
    """The smallest input the model's patch grid allows (1/4 map divisible by the patch, sides by 16)."""
    if name.endswith("_384"):
        return (96, 64)  # 6x4 patches
    if name.endswith("_mpii"):
        return (64, 64)
    return (64, 48)


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def part_params(model: torch.nn.Module) -> dict[str, int]:
    """Parameters per ``complexity_parts()`` entry; every parameter must fall in exactly one part."""
    parts = model.complexity_parts()
    counts = dict.fromkeys(parts, 0)
    for name, p in model.named_parameters():
        owners = [
            part
            for part, prefixes in parts.items()
            for pre in prefixes
            if name == pre or name.startswith(pre + ".")
        ]
        assert len(owners) == 1, f"{name} belongs to {owners}"
        counts[owners[0]] += p.numel()
    return counts


def test_registry_holds_every_family_member():
    expected = {
        f"{family}_{size}{suffix}"
        for family, sizes in (
            ("tokenpose", ("b", "l_d6", "l_d24")),
            ("mfvpose", ("b", "l_d6", "l_d8", "l_d24")),
        )
        for size in sizes
        for suffix in ("", "_mpii", "_384")
    } | set(TINY)
    assert expected <= set(FAMILY_NAMES)


@pytest.mark.parametrize("name", TINY)
def test_tiny_models_train_on_cpu_sized_inputs(name):
    model = create_model(name)
    h, w = model.cfg.input_size
    assert (h, w) == ((128, 96) if "mpii" not in name else (128, 128))
    x = torch.randn(2, 3, h, w)
    out = model(x)
    k = 16 if "mpii" in name else 17
    assert out.shape == (2, k, h // 4, w // 4) and tuple(model.cfg.heatmap_size) == (h // 4, w // 4)
    out.square().mean().backward()
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert all(p.grad is not None for p in trainable)
    assert model.model_name == name


@pytest.mark.parametrize("name", [n for n in LARGE if not n.endswith(("_mpii", "_384"))])
def test_large_models_run_forward_at_a_reduced_input(name):
    size = reduced_input(name)
    model = create_model(name, input_size=size).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, *size))
    assert out.shape == (1, model.cfg.num_keypoints, size[0] // 4, size[1] // 4)
    assert isinstance(model, MfvPose) == name.startswith("mfvpose")


@pytest.mark.parametrize("name", [n for n in LARGE if n.endswith(("_mpii", "_384"))])
def test_large_variants_build_with_native_shapes(name):
    """Built on the meta device (no memory, no init cost): sizes and output shape at native input."""
    with torch.device("meta"):
        model = create_model(name)
        out = model(torch.empty(1, 3, *model.cfg.input_size))
    k = 16 if name.endswith("_mpii") else 17
    assert out.shape == (1, k, *model.cfg.heatmap_size)
    assert model.cfg.num_patches == (256 if name.endswith("_mpii") else 288)
    assert model.transformer.pos_embedding.shape == (1, model.cfg.num_patches, model.cfg.dim)


def test_published_sizes_of_other_resolutions():
    with torch.device("meta"):
        assert n_params(create_model("tokenpose_l_d24_384")) == 29_863_968  # published 29.8M
        assert n_params(create_model("tokenpose_l_d24_mpii")) == 28_159_072  # published 28.1M


@pytest.mark.parametrize(
    "name, expected",
    [("tokenpose_b", 13_514_368), ("tokenpose_l_d6", 20_864_928), ("tokenpose_l_d24", 27_531_552)],
)
def test_tokenpose_parameter_counts_are_exact(name, expected):
    with torch.device("meta"):
        model = create_model(name)
    assert n_params(model) == expected
    parts = part_params(model)
    assert sum(parts.values()) == expected and set(parts) == {"backbone", "transformer", "head"}


@pytest.mark.parametrize(
    "name, layout",
    [("tokenpose_b", "tokenpose_b_coco_256x192"), ("tokenpose_l_d24", "tokenpose_l_d24_coco_256x192")],
)
def test_public_tokenpose_layout_loads_strictly(name, layout):
    """A state dict with the public keys, shapes and dtypes (random values) loads with strict=True.

    The model is built on the meta device and the tensors are assigned, which checks every
    key and shape without paying for two copies of the weights.
    """
    fake = layout_state_dict(layout)
    with torch.device("meta"):
        model = create_model(name)
    assert list(model.state_dict()) == list(load_state_dict_layout(layout)["key"])
    model.load_state_dict(fake, strict=True, assign=True)
    assert torch.equal(model.transformer.keypoint_token, fake["transformer.keypoint_token"])
    assert torch.equal(model.pre_feature.conv1.weight, fake["pre_feature.conv1.weight"])
    assert not model.transformer.pos_embedding.requires_grad  # stays a frozen parameter


def test_mfvpose_with_both_additions_off_is_tokenpose():
    torch.manual_seed(0)
    token = create_model("tokenpose_tiny").eval()
    mfv = create_model("mfvpose_tiny", hrfov=None, layer_scale_init=None).eval()
    assert list(mfv.state_dict()) == list(token.state_dict())
    mfv.load_state_dict(token.state_dict(), strict=True)
    x = torch.randn(2, 3, 128, 96)
    with torch.no_grad():
        assert torch.equal(mfv(x), token(x))


def test_layer_scale_starts_at_the_config_value_and_is_exempt_from_weight_decay():
    model = create_model("mfvpose_tiny")
    gammas = {n: m for n, m in model.named_modules() if isinstance(m, LayerScale)}
    assert len(gammas) == 2 * model.cfg.total_depth
    assert all(
        torch.equal(m.gamma, torch.full_like(m.gamma, model.cfg.layer_scale_init)) for m in gammas.values()
    )
    assert {f"{n}.gamma" for n in gammas} <= model.no_weight_decay()
    assert {"transformer.keypoint_token", "transformer.pos_embedding"} <= model.no_weight_decay()
    with torch.device("meta"):
        assert create_model("mfvpose_l_d24").cfg.layer_scale_init == 1e-5


def test_mfvpose_reduces_to_tokenpose_when_lsw_is_one_and_hrfov_silent():
    torch.manual_seed(0)
    # train mode: BatchNorm normalises by batch statistics, so the random-init backbone's
    # features are not vanishingly small and HRFOV visibly changes the output
    token = create_model("tokenpose_tiny").train()
    mfv = create_model("mfvpose_tiny", layer_scale_init=1.0).train()
    missing, unexpected = mfv.load_state_dict(token.state_dict(), strict=False)
    assert unexpected == []
    assert all(k.startswith("hrfov.") or k.endswith(".ls.gamma") for k in missing)
    x = torch.randn(2, 3, 128, 96)
    with torch.no_grad():
        differs = not torch.allclose(mfv(x), token(x), atol=1e-4)
        mfv.hrfov.fuse[1].weight.zero_()  # residual HRFOV with a silenced fusion passes stage 3 through
        assert torch.allclose(mfv(x), token(x), atol=1e-5)
    assert differs


def test_per_part_parameters_add_up_and_hrfov_is_small():
    with torch.device("meta"):
        token, mfv = create_model("tokenpose_b"), create_model("mfvpose_b")
    tp, mp = part_params(token), part_params(mfv)
    assert sum(mp.values()) == n_params(mfv)
    assert mp["backbone"] == tp["backbone"] and mp["head"] == tp["head"]
    assert mp["transformer"] - tp["transformer"] == 2 * 12 * 192  # one gamma per residual branch
    assert 0 < mp["hrfov"] < 0.01 * n_params(mfv)


def test_d8_is_one_stack_of_eight_layers_on_w48():
    with torch.device("meta"):
        cfg = create_model("mfvpose_l_d8").cfg
    assert (cfg.width, cfg.depth, cfg.num_stacks, cfg.total_depth) == (48, 8, 1, 8)


def test_patchify_order_is_row_col_channel_within_a_patch():
    c, h, w = 2, 4, 6
    x = torch.arange(c * h * w, dtype=torch.float32).reshape(1, c, h, w)
    patches = patchify(x, (2, 3))
    assert patches.shape == (1, 4, 12)
    # second patch of the first row: rows 0-1, cols 3-5; vector order (row, col, channel)
    expected = [x[0, ch, r, 3 + col].item() for r in range(2) for col in range(3) for ch in range(c)]
    assert patches[0, 1].tolist() == expected


def test_input_size_override_brings_its_heatmap_and_bad_sizes_fail():
    model = create_model("tokenpose_tiny", input_size=(192, 144))
    assert model.cfg.heatmap_size == (48, 36)
    assert model.transformer.pos_embedding.shape == (1, 12 * 12, 96)
    with pytest.raises(ValueError, match="divisible"):
        create_model("tokenpose_tiny", input_size=(130, 96))
    with pytest.raises(TypeError, match="unknown"):
        create_model("tokenpose_tiny", hrfov=None)


def test_recorder_on_a_stacked_model_returns_one_map_per_layer():
    model = create_model("mfvpose_tiny", num_stacks=3, depth=2).eval()
    n = model.cfg.num_keypoints + model.cfg.num_patches
    x = torch.randn(1, 3, 128, 96)
    with torch.no_grad():
        default = model(x)
        with AttentionRecorder(model) as rec:
            recorded = model(x)
    assert torch.allclose(default, recorded, atol=1e-5)
    assert len(rec.maps) == model.cfg.total_depth == 6
    assert all(m.shape == (1, 4, n, n) for m in rec.maps)


def test_checkpoint_round_trip_rebuilds_mfvpose_with_its_hrfov_config(tmp_path):
    model = create_model("mfvpose_tiny", hrfov={"rates": (1, 2, 3), "topology": "parallel"}).eval()
    assert model.cfg.hrfov.rates == (1, 2, 3)
    path = save_model_checkpoint(tmp_path / "m.pt", model)
    again = load_model(path)
    assert isinstance(again, MfvPose) and again.cfg == model.cfg
    x = torch.randn(1, 3, 128, 96)
    with torch.no_grad():
        assert torch.equal(again(x), model(x))


def test_configs_are_frozen_and_checked():
    cfg = MfvPoseConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.depth = 3
    with pytest.raises(ValueError):
        MfvPoseConfig(layer_scale_init=-1.0)
    assert isinstance(TokenPose(dataclasses.replace(create_model("tokenpose_tiny").cfg)), TokenPose)
    assert math.isclose(MfvPoseConfig().layer_scale_init, 0.1)


def test_layer_scale_variants_share_every_weight_but_the_gammas():
    from mfvpose_lib.models.mfvpose import layer_scale_variants

    variants = layer_scale_variants("mfvpose_tiny", {"off": None, "small": 1e-3, "one": 1.0})
    off, small, one = variants["off"], variants["small"], variants["one"]
    assert not any(k.endswith("ls.gamma") for k in off.state_dict())
    for key, value in off.state_dict().items():
        assert torch.equal(value, small.state_dict()[key]) and torch.equal(value, one.state_dict()[key])
    assert small.cfg.layer_scale_init == 1e-3
    x = torch.randn(2, 3, 128, 96)
    off.train()
    one.train()
    with torch.no_grad():
        assert torch.allclose(off(x), one(x), atol=1e-5)  # gamma = 1 is no scaling at all
