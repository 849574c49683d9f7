"""Building blocks: LayerScale, attention (fused vs explicit), sine embedding, encoder, Recorder."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn as nn

from mfvpose_lib.analysis.attention import AttentionRecorder
from mfvpose_lib.analysis.layerscale import residual_branch_ratios
from mfvpose_lib.layers import (
    Attention,
    EncoderLayer,
    LayerScale,
    TransformerEncoder,
    cait_layer_scale_init,
    frozen_sine_position_embedding,
    layer_scale_param_names,
    make_layer_scale,
    sine_position_embedding,
)
from mfvpose_lib.layers.layer_scale import layer_scale_magnitudes


def test_layer_scale_starts_at_its_init_value_and_scales_channels():
    ls = LayerScale(6, init_values=0.1)
    assert torch.equal(ls.gamma, torch.full((6,), 0.1))
    x = torch.randn(2, 5, 6)
    assert torch.allclose(ls(x), 0.1 * x)
    with torch.no_grad():
        ls.gamma.copy_(torch.arange(6.0))
    assert torch.allclose(ls(x), x * torch.arange(6.0))


def test_disabled_layer_scale_is_a_parameterless_identity():
    ls = make_layer_scale(8, None)
    assert isinstance(ls, nn.Identity)
    assert not list(ls.parameters())
    with pytest.raises(ValueError):
        LayerScale(8, init_values=0.0)


def test_layer_scale_gammas_are_named_for_no_weight_decay():
    enc = TransformerEncoder(16, 2, heads=2, layer_scale_init=0.5)
    names = layer_scale_param_names(enc)
    assert len(names) == 4
    params = dict(enc.named_parameters())
    assert all(name in params and name.endswith(".ls.gamma") for name in names)
    assert layer_scale_param_names(TransformerEncoder(16, 2, heads=2)) == set()


def test_layer_scale_magnitudes_count_layers_over_every_encoder_stack():
    model = nn.ModuleDict({"first": TransformerEncoder(4, 2, heads=1, layer_scale_init=0.1),
                           "second": TransformerEncoder(4, 1, heads=1, layer_scale_init=0.5)})  # fmt: skip
    with torch.no_grad():
        model["first"].layers[1][1].ls.gamma.mul_(-1)  # a learnt λ may turn negative: the magnitude counts
    found = layer_scale_magnitudes(model)
    assert [(m.layer, m.branch) for m in found] == [(1, "MSA"), (1, "FFN"), (2, "MSA"), (2, "FFN"), (3, "MSA"),
                                                    (3, "FFN")]  # fmt: skip
    assert [m.mean_abs for m in found] == pytest.approx([0.1, 0.1, 0.1, 0.1, 0.5, 0.5])
    assert found[3].module == "first.layers.1.1.ls" and found[3].min_abs == found[3].max_abs == pytest.approx(0.1)
    assert [m.init for m in found] == pytest.approx([0.1] * 4 + [0.5] * 2)
    assert layer_scale_magnitudes(TransformerEncoder(4, 2, heads=1)) == []
    with pytest.raises(ValueError, match="not inside an encoder layer"):
        layer_scale_magnitudes(nn.Sequential(LayerScale(4)))


def test_cait_rule():
    assert cait_layer_scale_init(12) == 0.1
    assert cait_layer_scale_init(24) == 1e-5
    assert cait_layer_scale_init(36) == 1e-6


def test_fused_and_explicit_attention_agree():
    torch.manual_seed(0)
    attn = Attention(32, heads=4)
    x = torch.randn(3, 11, 32)
    fused = attn(x)
    attn.fused = False
    explicit = attn(x)
    assert torch.allclose(fused, explicit, atol=1e-5)
    assert attn.scale == pytest.approx((32 / 4) ** -0.5)


def test_attention_explicit_path_matches_a_reference_computation():
    torch.manual_seed(1)
    attn = Attention(12, heads=3, fused=False)
    x = torch.randn(2, 5, 12)
    q, k, v = attn.to_qkv(x).chunk(3, dim=-1)  # TokenPose's (qkv, head, head_dim) channel order

    def heads(t):
        return t.reshape(2, 5, 3, 4).transpose(1, 2)

    w = torch.softmax(heads(q) @ heads(k).transpose(-1, -2) / 2.0, dim=-1)  # scale = 4 ** -0.5
    ref = attn.to_out((w @ heads(v)).transpose(1, 2).reshape(2, 5, 12))
    assert torch.allclose(attn(x), ref, atol=1e-6)


def test_attention_rejects_indivisible_heads():
    with pytest.raises(ValueError, match="divisible"):
        Attention(10, heads=4)


def test_sine_position_embedding_values_and_layout():
    h, w, d = 4, 3, 16
    pos = sine_position_embedding(h, w, d)
    assert pos.shape == (1, h * w, d)
    grid = pos.reshape(h, w, d)
    # first half encodes the row: equal along a row, different between rows
    assert torch.allclose(grid[:, 0, : d // 2], grid[:, 2, : d // 2])
    assert not torch.allclose(grid[0, :, : d // 2], grid[1, :, : d // 2])
    # second half encodes the column
    assert torch.allclose(grid[0, :, d // 2 :], grid[3, :, d // 2 :])
    # channel 0 is sin(2*pi*(row+1)/h), channel 1 its cosine (lowest frequency)
    rows = torch.arange(1, h + 1) / h * 2 * math.pi
    assert torch.allclose(grid[:, 0, 0], rows.sin(), atol=1e-5)
    assert torch.allclose(grid[:, 0, 1], rows.cos(), atol=1e-5)
    cols = torch.arange(1, w + 1) / w * 2 * math.pi
    assert torch.allclose(grid[0, :, d // 2], cols.sin(), atol=1e-5)


def test_frozen_position_embedding_is_a_counted_untrainable_parameter():
    p = frozen_sine_position_embedding(2, 2, 8)
    assert isinstance(p, nn.Parameter) and not p.requires_grad
    with pytest.raises(ValueError):
        sine_position_embedding(2, 2, 6)


def test_encoder_layer_keeps_public_key_names():
    keys = set(EncoderLayer(8, heads=2).state_dict())
    assert "0.fn.norm.weight" in keys and "0.fn.fn.to_qkv.weight" in keys
    assert "1.fn.fn.net.0.weight" in keys and "1.fn.fn.net.3.bias" in keys
    assert not any(".ls." in k for k in keys)
    assert "0.ls.gamma" in EncoderLayer(8, heads=2, layer_scale_init=0.1).state_dict()


def test_layer_scale_of_one_changes_nothing_and_of_zero_gives_identity():
    torch.manual_seed(0)
    plain = TransformerEncoder(16, 3, heads=4)
    scaled = TransformerEncoder(16, 3, heads=4, layer_scale_init=1.0)
    missing, unexpected = scaled.load_state_dict(plain.state_dict(), strict=False)
    assert unexpected == [] and all(k.endswith("ls.gamma") for k in missing) and len(missing) == 6
    x, pos = torch.randn(2, 7, 16), torch.randn(1, 5, 16)
    assert torch.allclose(plain(x, pos, 2), scaled(x, pos, 2), atol=1e-6)
    with torch.no_grad():
        for name, p in scaled.named_parameters():
            if name.endswith("ls.gamma"):
                p.zero_()
    out = scaled(x, None, 2)
    assert torch.equal(out, x)


def test_position_embedding_is_re_added_before_every_layer_but_the_first():
    enc = TransformerEncoder(8, 3, heads=2, layer_scale_init=1.0)
    with torch.no_grad():
        for name, p in enc.named_parameters():
            if name.endswith("ls.gamma"):
                p.zero_()  # layers become identities: only the position additions remain
    x, pos = torch.zeros(1, 4, 8), torch.ones(1, 3, 8)
    out = enc(x, pos, num_prefix=1)
    assert torch.equal(out[:, 0], x[:, 0])
    assert torch.equal(out[:, 1:], torch.full((1, 3, 8), 2.0))  # added before layers 1 and 2


def test_recorder_collects_row_stochastic_maps_and_restores_the_fused_path():
    torch.manual_seed(0)
    enc = TransformerEncoder(16, 3, heads=4).eval()
    x = torch.randn(2, 9, 16)
    default = enc(x)
    with AttentionRecorder(enc) as rec:
        recorded = enc(x)
        assert all(not m.fused for m in enc.modules() if isinstance(m, Attention))
    assert all(m.fused for m in enc.modules() if isinstance(m, Attention))
    assert torch.allclose(default, recorded, atol=1e-5)
    assert len(rec.maps) == 3 and len(rec.calls) == 1
    for m in rec.maps:
        assert m.shape == (2, 4, 9, 9)
        assert torch.allclose(m.sum(-1), torch.ones(2, 4, 9), atol=1e-5)
        assert (m >= 0).all()
    enc(x)  # hooks are gone after exit
    assert len(rec.calls) == 1


def test_recorder_needs_attention():
    with pytest.raises(ValueError, match="no Attention"):
        AttentionRecorder(nn.Linear(2, 2))


def test_layer_scale_shrinks_residual_branches_by_its_init_value():
    torch.manual_seed(0)
    plain = TransformerEncoder(16, 2, heads=4).eval()
    scaled = TransformerEncoder(16, 2, heads=4, layer_scale_init=1e-2).eval()
    scaled.load_state_dict(plain.state_dict(), strict=False)
    x = torch.randn(2, 6, 16)
    r_plain = residual_branch_ratios(plain, x)
    r_scaled = residual_branch_ratios(scaled, x)
    assert len(r_plain) == len(r_scaled) == 4
    # the first branch sees the same stream, so its ratio shrinks exactly by the init value
    assert r_scaled[0][1] == pytest.approx(1e-2 * r_plain[0][1], rel=1e-4)
    assert all(s < p for (_, s), (_, p) in zip(r_scaled, r_plain))


def test_keypoint_attention_extracts_keypoint_rows_over_patches():
    from mfvpose_lib.analysis.attention import keypoint_attention

    k, gh, gw, heads = 2, 3, 4, 2
    n = k + gh * gw
    maps = [torch.rand(1, heads, n, n).softmax(-1)]
    att = keypoint_attention(maps, k, (gh, gw))
    assert att.shape == (k, gh, gw)
    expected = maps[0][0].mean(0)[1, k:].reshape(gh, gw)
    assert np.allclose(att[1], expected.numpy())


def test_residual_ratio_table_has_one_column_per_variant():
    from mfvpose_lib.analysis.layerscale import residual_ratio_table

    table = residual_ratio_table({"a": [("x.0", 0.1), ("x.1", 0.2)], "b": [("x.0", 0.3), ("x.1", 0.4)]})
    assert list(table.columns) == ["a", "b"] and list(table.index) == ["x.0", "x.1"]
    assert table.loc["x.1", "b"] == 0.4
    named = residual_ratio_table({"a": [("transformer.layers.0.0", 0.1), ("transformer.layers.0.1", 0.2)]})
    assert list(named.index) == ["layer 1 MSA", "layer 1 FFN"]
