"""Complexity: the published targets, the paper convention's quirks, parts, tables and the CLI."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from mfvpose_lib.analysis.complexity import TABLE_COLUMNS, complexity, complexity_of, complexity_table
from mfvpose_lib.cli import main
from mfvpose_lib.models import create_model, is_model
from mfvpose_lib.reference import complexity_comparison, load_reference

# Measured from the public code at 256x192 with a COCO head: params, paper GFLOPs, GMACs.
TARGETS = {
    "tokenpose_b": (13_514_368, 5.655, 6.276),
    "tokenpose_l_d6": (20_864_928, 9.064, 9.867),
    "tokenpose_l_d24": (27_531_552, 10.984, 12.193),
    "hrnet_w32": (28_536_113, 7.120, 7.645),
    "hrnet_w48": (63_595_745, 14.614, 15.692),
    "simplebaseline_r50": (33_999_697, 8.991, 5.426),
    "simplebaseline_r101": (52_991_825, 12.378, 9.063),
    "simplebaseline_r152": (68_635_473, 15.765, 12.699),
}


@pytest.mark.parametrize("name", TARGETS)
def test_complexity_matches_the_public_models(name):
    if not is_model(name):
        pytest.skip(f"{name} is not registered")
    params, gflops, gmacs = TARGETS[name]
    result = complexity_of(name)
    assert result.input_size == (256, 192)
    assert result.params == params
    assert result.gflops_paper == pytest.approx(gflops, rel=0.005)
    assert result.gmacs == pytest.approx(gmacs, rel=0.01)


@pytest.mark.parametrize("name", ["hrnet_w32", "simplebaseline_r50", "tokenpose_b"])
def test_parts_add_up_to_the_totals(name):
    if not is_model(name):
        pytest.skip(f"{name} is not registered")
    result = complexity_of(name)
    assert {"backbone", "head"} <= set(result.parts)
    assert sum(p["params"] for p in result.parts.values()) == result.params
    assert sum(p["gmacs"] for p in result.parts.values()) == pytest.approx(result.gmacs, rel=1e-9)
    assert sum(p["gflops_paper"] for p in result.parts.values()) == pytest.approx(
        result.gflops_paper, rel=1e-9
    )
    assert result.parts["backbone"]["gmacs"] > result.parts["head"]["gmacs"] > 0


class _Tokens(nn.Module):
    """Linear layers on (B, N, D) tokens plus an attention product that no module owns."""

    def __init__(self, dim: int = 8):
        super().__init__()
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        attn = (q @ k.transpose(-1, -2)).softmax(-1)
        return self.proj(attn @ v)


class _TokenModel(nn.Module):
    """Takes an image (as complexity() feeds) and runs ``_Tokens`` on a fixed (1, N, D) input."""

    def __init__(self, n: int, dim: int):
        super().__init__()
        self.n, self.dim = n, dim
        self.tokens = _Tokens(dim)

    def forward(self, img):
        return self.tokens(img.new_zeros(img.shape[0], self.n, self.dim))


def test_paper_convention_counts_tokens_for_linear_and_skips_attention():
    n, d = 5, 8
    result = complexity(_TokenModel(n, d), input_size=(4, 4))
    # HRNet tool: prod(output) * input.size(1) = N * D_out * N (not N * D_out * D_in).
    expected_paper = (n * 3 * d * n + n * d * n) / 2**30
    assert result.gflops_paper == pytest.approx(expected_paper)
    # True MACs: both Linear layers plus the two attention products.
    expected_macs = n * d * 3 * d + n * d * d + 2 * n * n * d
    assert result.gmacs == pytest.approx(expected_macs / 1e9)


def test_paper_convention_counts_transposed_convolutions_four_times():
    class _Deconv(nn.Module):
        def __init__(self):
            super().__init__()
            self.up = nn.ConvTranspose2d(3, 2, kernel_size=4, stride=2, padding=1, bias=False)

        def forward(self, x):
            return self.up(x)

    result = complexity(_Deconv(), input_size=(8, 8))
    real_macs = 3 * 2 * 4 * 4 * 8 * 8  # every input pixel meets the whole kernel once
    assert result.gmacs == pytest.approx(real_macs / 1e9)
    assert result.gflops_paper * 2**30 == pytest.approx(4 * real_macs)


def test_complexity_leaves_the_model_untouched():
    torch.manual_seed(0)
    model = create_model(
        "hrnet_w32", width=8, stage3_modules=1, stage4_modules=1, num_blocks=1, input_size=(64, 64)
    )
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = complexity(model)
    assert model.training and result.input_size == (64, 64)
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    frozen = complexity(model.requires_grad_(False))
    assert frozen.trainable_params == 0 and frozen.params == result.params


def test_complexity_table_and_csv_command(capsys):
    table = complexity_table(["hrnet_w32", "simplebaseline_r50"])
    assert list(table.columns) == TABLE_COLUMNS
    assert table["params"].tolist() == [28_536_113, 33_999_697]
    assert main(["complexity", "hrnet_w32", "simplebaseline_r5*", "--csv"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "model,input,params,trainable_params,gmacs,gflops_paper"
    rows = {line.split(",")[0]: line.split(",") for line in lines[1:]}
    assert set(rows) == {
        "hrnet_w32",
        "simplebaseline_r50",
        "simplebaseline_r50_384",
        "simplebaseline_r50_mpii",
    }
    assert rows["hrnet_w32"][1:4] == ["256x192", "28536113", "28536113"]
    assert float(rows["hrnet_w32"][5]) == pytest.approx(7.12, abs=1e-3)
    assert main(["complexity", "no_such_model"]) == 2


def test_models_command_lists_names_and_settings(capsys):
    assert main(["models", "hrnet_w48*"]) == 0
    out = capsys.readouterr().out
    assert "hrnet_w48_mpii" in out and "256x256" in out and "PoseHRNet" in out and "hrnet_w32" not in out
    assert main(["models", "zzz*"]) == 1


def test_published_complexity_agrees_with_ours():
    """Every row marked published that the study rebuilds: params within 0.1 M, GFLOPs within
    0.1 or 1% (the READMEs truncate to one decimal: 8.991 is published as 8.9)."""
    assert set(load_reference("coco").columns) >= {
        "method",
        "input",
        "params_M",
        "gflops",
        "status",
        "source",
    }
    for dataset in ("coco", "mpii"):
        table = complexity_comparison(dataset)
        checked = table[(table["model"] != "") & table["status"].str.startswith("published")]
        checked = checked[checked["model"].map(lambda m: m.startswith(("hrnet", "simplebaseline")))]
        assert len(checked) >= 4
        for row in checked.itertuples():
            assert abs(row.params_M_ours - row.params_M_published) <= 0.1, row
            assert abs(row.gflops_paper_ours - row.gflops_published) <= max(
                0.1, 0.01 * row.gflops_published
            ), row


def test_per_stage_parts_of_hrnet():
    from mfvpose_lib.analysis.complexity import build_on_meta
    from mfvpose_lib.models.hrnet import HRNET_STAGE_PARTS

    result = complexity(build_on_meta("hrnet_w32"), parts=HRNET_STAGE_PARTS)
    assert list(result.parts) == list(HRNET_STAGE_PARTS)  # nothing left over as "other"
    assert sum(p["params"] for p in result.parts.values()) == result.params
    assert result.parts["stage4"]["params"] > 0.7 * result.params  # why the extractor stops at stage 3
    assert result.parts["head"]["params"] == 17 * 32 + 17


def test_tables_of_parts_and_ratios():
    from mfvpose_lib.analysis.complexity import complexity_parts_table, relative_complexity

    parts = complexity_parts_table(["simplebaseline_r50"])
    assert list(parts.columns) == ["model", "part", "params", "gmacs", "gflops_paper"]
    assert set(parts["part"]) == {"backbone", "deconv", "head"}
    deconv = parts.set_index("part").loc["deconv"]
    assert deconv["gflops_paper"] * 2**30 == pytest.approx(4 * deconv["gmacs"] * 1e9, rel=1e-6)
    ratios = relative_complexity([("hrnet_w32", "simplebaseline_r50")]).iloc[0]
    assert ratios["fewer_params"] and ratios["fewer_gflops_paper"] and not ratios["fewer_gmacs"]
    assert ratios["params_ratio"] == pytest.approx(28_536_113 / 33_999_697)


def test_reference_tables_and_layouts_ship_with_the_package():
    from mfvpose_lib.reference import load_state_dict_layout, state_dict_layouts

    assert set(state_dict_layouts()) == {
        "pose_hrnet_w32_coco_256x192",
        "pose_resnet50_coco_256x192",
        "tokenpose_b_coco_256x192",
        "tokenpose_l_d24_coco_256x192",
    }
    layout = load_state_dict_layout("pose_resnet50_coco_256x192")
    row = layout.set_index("key").loc["deconv_layers.0.weight"]
    assert row["shape"] == (2048, 256, 4, 4) and row["dtype"] == "float32"
    assert layout.set_index("key").loc["bn1.num_batches_tracked", "shape"] == ()
    for table in ("coco", "mpii", "ablation_mpii"):
        assert {"status", "source"} <= set(load_reference(table).columns)
    with pytest.raises(KeyError, match="unknown reference table"):
        load_reference("lsp")
