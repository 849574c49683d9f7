"""One rule for layer and head indices (mfvpose_lib.analysis.attention): every function that takes
them reads the same layer and head for the same arguments, and names the valid range when refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from mfvpose_lib.analysis.attention import (
    attention_rollout,
    head_map,
    keypoint_attention,
    keypoint_block,
    layer_number,
    resolve_index,
)
from mfvpose_lib.analysis.inspection import CropInspection
from mfvpose_lib.codecs.heatmap import HeatmapCodec
from mfvpose_lib.viz.keypoint_tokens import plot_token_attention, plot_token_rollout
from mfvpose_lib.viz.widgets import attention_explorer, render_attention

pytestmark = pytest.mark.usefixtures("close_figures")

LAYERS, HEADS, KEYPOINTS, GRID = 3, 4, 2, (2, 3)
MEAN_HEAD = (HEADS - 1) / 2  # the mean of the head values 0..HEADS-1


def _stack() -> list[torch.Tensor]:
    """A recorded stack whose every entry tells where it came from: 10 * layer + head."""
    tokens = KEYPOINTS + GRID[0] * GRID[1]
    value = 10 * torch.arange(LAYERS)[:, None] + torch.arange(HEADS)[None, :]  # (layer, head)
    return [
        value[layer][None, :, None, None].float().expand(1, HEADS, tokens, tokens) for layer in range(LAYERS)
    ]


def _expected(layer: int, head: int | None) -> float:
    return 10 * (layer % LAYERS) + (MEAN_HEAD if head is None else head % HEADS)


@pytest.fixture(scope="module")
def inspection() -> CropInspection:
    input_size = (8, 12)
    return CropInspection(
        image=np.zeros((*input_size, 3), np.uint8),
        heatmaps=np.zeros((KEYPOINTS, *GRID), np.float32),
        points=np.zeros((KEYPOINTS, 2)),
        peaks=np.zeros(KEYPOINTS),
        attention=_stack(),
        patch_grid=GRID,
        keypoint_names=("left", "right"),
        codec=HeatmapCodec(input_size=input_size, heatmap_size=GRID),
    )


class _OneCrop:
    """What render_attention and attention_explorer read of a CropInspector, for one crop."""

    def __init__(self, inspection: CropInspection) -> None:
        self.inspection = inspection
        self.keypoint_names = inspection.keypoint_names
        self.num_keypoints = inspection.num_keypoints
        self.num_layers = inspection.num_layers
        self.num_heads = inspection.num_heads

    def __len__(self) -> int:
        return 1

    def __getitem__(self, sample: int) -> CropInspection:
        return self.inspection

    def order(self, by: str) -> list[int]:
        return [0]


def _drawn(fig: Figure) -> tuple[float, str]:
    """The value a figure of constant maps shows (the foot of its shared colour bar) and its title."""
    return fig.axes[-1].get_ylim()[0], fig._suptitle.get_text()


def _readings(inspection: CropInspection, layer: int, head: int | None) -> dict[str, float]:
    """What each public function reads for (layer, head), as one number (the maps are constant)."""
    maps, crop = inspection.attention, _OneCrop(inspection)
    explorer = attention_explorer(crop, layer=layer, head=head, scale="shared", static=True)
    return {
        # head_map takes one layer's map, picked here as the rule says: as Python indexes the list
        "head_map": float(head_map(maps[layer][0], head).mean()),
        "keypoint_attention": float(keypoint_attention(maps, KEYPOINTS, GRID, layer=layer, head=head).mean()),
        "keypoint_block": float(keypoint_block(maps, KEYPOINTS, layer=layer, head=head).mean()),
        "CropInspection.layer_attention": float(inspection.layer_attention(layer, head).mean()),
        "plot_token_attention": _drawn(
            plot_token_attention(inspection, layer=layer, head=head, scale="shared")
        )[0],
        "render_attention": _drawn(render_attention(crop, layer=layer, head=head, scale="shared"))[0],
        "attention_explorer": _drawn(explorer.figure)[0],
    }


@pytest.mark.parametrize(
    ("layer", "head"), [(0, 0), (1, 2), (2, 3), (-1, -1), (-3, 1), (1, None), (-1, None)]
)
def test_every_function_reads_the_same_layer_and_head(inspection, layer, head):
    readings = _readings(inspection, layer, head)
    assert readings == pytest.approx(dict.fromkeys(readings, _expected(layer, head)))


def test_titles_and_the_slider_count_layers_from_one(inspection):
    fig = plot_token_attention(inspection, layer=-1, head=None)
    assert "layer 3 of 3, mean over heads" in _drawn(fig)[1]
    assert "layer 1 of 3, head 2" in _drawn(render_attention(_OneCrop(inspection), layer=0, head=2))[1]
    explorer = attention_explorer(_OneCrop(inspection), layer=-2, head=-1, static=True)
    assert explorer.controls["layer"].label == "2" and explorer.values["layer"] == 1
    assert explorer.values["head"] == HEADS - 1
    assert [layer_number(i, LAYERS) for i in range(-LAYERS, LAYERS)] == [1, 2, 3, 1, 2, 3]


def test_the_rollout_goes_through_the_same_layer(inspection):
    through_second = attention_rollout(inspection.attention, last_layer=1)
    assert torch.equal(attention_rollout(inspection.attention, last_layer=-2), through_second)
    assert torch.equal(inspection.rollout(1), through_second)
    assert not torch.equal(attention_rollout(inspection.attention, last_layer=0), through_second)
    fig = render_attention(_OneCrop(inspection), mode="rollout", layer=1)
    assert "through layer 2 of 3" in _drawn(fig)[1]
    assert "through layer 2 of 3" in _drawn(plot_token_rollout(inspection, last_layer=-2))[1]


LAYER_RANGE = r"layer 3 out of range: there are 3 layers, indices 0\.\.2 \(or -3\.\.-1 from the end\)"
HEAD_RANGE = r"head -5 out of range: there are 4 heads, indices 0\.\.3"


@pytest.mark.parametrize(
    "call",
    [
        lambda ins: keypoint_attention(ins.attention, KEYPOINTS, GRID, layer=3),
        lambda ins: keypoint_block(ins.attention, KEYPOINTS, layer=3),
        lambda ins: attention_rollout(ins.attention, last_layer=3),
        lambda ins: ins.layer_attention(3),
        lambda ins: ins.rollout(3),
        lambda ins: plot_token_attention(ins, layer=3),
        lambda ins: plot_token_rollout(ins, last_layer=3),
        lambda ins: render_attention(_OneCrop(ins), layer=3),
        lambda ins: render_attention(_OneCrop(ins), mode="rollout", layer=3),
        lambda ins: attention_explorer(_OneCrop(ins), layer=3, static=True),
    ],
)
def test_a_layer_out_of_range_names_the_range(inspection, call):
    with pytest.raises(IndexError, match=LAYER_RANGE):
        call(inspection)


@pytest.mark.parametrize(
    "call",
    [
        lambda ins: head_map(ins.attention[0][0], -5),
        lambda ins: keypoint_attention(ins.attention, KEYPOINTS, GRID, head=-5),
        lambda ins: keypoint_block(ins.attention, KEYPOINTS, head=-5),
        lambda ins: attention_rollout(ins.attention, head=-5),
        lambda ins: ins.layer_attention(0, -5),
        lambda ins: plot_token_attention(ins, head=-5),
        lambda ins: render_attention(_OneCrop(ins), head=-5),
        lambda ins: attention_explorer(_OneCrop(ins), head=-5, static=True),
    ],
)
def test_a_head_out_of_range_names_the_range(inspection, call):
    with pytest.raises(IndexError, match=HEAD_RANGE):
        call(inspection)


def test_resolve_index_counts_negative_indices_from_the_end():
    assert [resolve_index(i, 3, "layer") for i in (-3, -2, -1, 0, 1, 2)] == [0, 1, 2, 0, 1, 2]
