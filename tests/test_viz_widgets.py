"""Keypoint-token pictures, attention rollout, captum attributions and their ipywidgets explorers."""

from __future__ import annotations

import base64
import os
from types import SimpleNamespace

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from mfvpose_lib.analysis.attention import attention_rollout, keypoint_attention, keypoint_rollout
from mfvpose_lib.analysis.attribution import ATTRIBUTION_METHODS, keypoint_attribution
from mfvpose_lib.analysis.inspection import CropInspector, inspect_crop, keypoint_table
from mfvpose_lib.models import create_model
from mfvpose_lib.models.codec import model_codec
from mfvpose_lib.viz.attribution import plot_attribution, plot_attribution_per_model
from mfvpose_lib.viz.keypoint_tokens import plot_keypoint_heatmaps, plot_token_attention, plot_token_rollout
from mfvpose_lib.viz.widgets import (
    EVERY,
    FigureExplorer,
    attention_explorer,
    attribution_explorer,
    dilation_explorer,
    executed_without_frontend,
    heatmap_explorer,
    png_size,
    render_attention,
)

# joint 0's label on the crop of mfvpose_tiny (128x96 → 32x24, TokenPose's geometry): heatmap
# (5, 7) zoomed by (W − 1)/(w − 1) = 95/23 about the centres, written out from the reference formula
LABEL_0 = np.array([5 * 95 / 23, 63.5 + (7 - 15.5) * 95 / 23])


pytestmark = pytest.mark.usefixtures("close_figures")


@pytest.fixture(scope="module")
def crops(model):
    """Two random crops; the first has a target with joint 0 at heatmap (x=5, y=7), joint 1 unlabelled."""
    cfg = model.cfg
    k, (h, w) = cfg.num_keypoints, cfg.heatmap_size
    gen = torch.Generator().manual_seed(1)
    ys, xs = np.mgrid[0:h, 0:w]
    target = np.zeros((k, h, w), dtype=np.float32)
    target[:] = np.exp(-((xs - 5.0) ** 2 + (ys - 7.0) ** 2) / (2 * 2.0**2))
    weight = np.ones((k, 1), dtype=np.float32)
    weight[1] = 0
    first = {
        "image": torch.randn(3, *cfg.input_size, generator=gen),
        "target": torch.from_numpy(target),
        "target_weight": torch.from_numpy(weight),
    }
    return [first, {"image": torch.randn(3, *cfg.input_size, generator=gen)}]


@pytest.fixture(scope="module")
def inspector(model, crops):
    names = [f"joint{k}" for k in range(model.cfg.num_keypoints)]
    return CropInspector(model, crops, keypoint_names=names, attribution_steps=4)


def _visible_axes(fig: Figure) -> int:
    """Visible panels (colour bars have no title)."""
    return sum(ax.get_visible() and bool(ax.get_title()) for ax in fig.axes)


def _title(fig: Figure) -> str:
    return fig._suptitle.get_text() if fig._suptitle is not None else ""


# ---------------------------------------------------------------------------------------------
# rollout and attention extraction
# ---------------------------------------------------------------------------------------------


def _random_maps(layers: int, heads: int, tokens: int, seed: int = 0) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(2, heads, tokens, tokens, generator=gen).softmax(-1) for _ in range(layers)]


def test_rollout_rows_sum_to_one_and_follow_abnar_zuidema():
    maps = _random_maps(layers=3, heads=2, tokens=7)
    rollout = attention_rollout(maps, sample=1)
    assert rollout.shape == (7, 7)
    assert torch.allclose(rollout.sum(-1), torch.ones(7), atol=1e-5)
    # by hand: (0.5 I + 0.5 mean-head A) per layer, later layers on the left
    eye = torch.eye(7)
    expected = eye
    for m in maps:
        expected = (0.5 * eye + 0.5 * m[1].mean(0)) @ expected
    assert torch.allclose(rollout, expected, atol=1e-6)
    # a rollout through layer 0 only is that layer's mixed attention; a pure residual is the identity
    assert torch.allclose(
        attention_rollout(maps, sample=1, last_layer=0), 0.5 * eye + 0.5 * maps[0][1].mean(0)
    )
    assert torch.allclose(attention_rollout(maps, residual_weight=1.0), eye)
    single_head = attention_rollout(maps, head=1, residual_weight=0.0)
    assert torch.allclose(single_head, maps[2][0, 1] @ maps[1][0, 1] @ maps[0][0, 1], atol=1e-6)


def test_keypoint_rollout_and_head_selection_shapes():
    k, grid = 3, (2, 2)
    maps = _random_maps(layers=2, heads=4, tokens=k + 4)
    per_patch = keypoint_rollout(attention_rollout(maps), k, grid)
    assert per_patch.shape == (k, *grid)
    assert np.all(per_patch.reshape(k, -1).sum(1) < 1.0)  # the rest came from keypoint tokens
    head2 = keypoint_attention(maps, k, grid, layer=0, head=2)
    assert np.allclose(head2[1], maps[0][0, 2, 1, k:].reshape(grid).numpy())
    with pytest.raises(IndexError, match=r"head 4 out of range: there are 4 heads, indices 0\.\.3"):
        keypoint_attention(maps, k, grid, head=4)


def test_inspection_of_a_tiny_model(model, inspector):
    cfg = model.cfg
    ins = inspector[0]
    k, tokens = cfg.num_keypoints, cfg.num_keypoints + cfg.num_patches
    assert ins.heatmaps.shape == (k, *cfg.heatmap_size)
    assert ins.image.shape == (*cfg.input_size, 3) and ins.image.dtype == np.uint8
    assert ins.num_layers == cfg.total_depth and ins.num_heads == cfg.heads
    assert ins.attention[0].shape == (1, cfg.heads, tokens, tokens)
    # decoded locations lie on the heatmap's footprint on the crop; labels are decoded from the
    # target heatmaps by the model's codec, which places heatmap (5, 7) on the crop
    left, right, bottom, top = model_codec(model).heatmap_extent()
    assert np.all((ins.points >= [left, top]) & (ins.points <= [right, bottom]))
    assert ins.true_points[0] == pytest.approx(LABEL_0, abs=0.05)
    assert np.isnan(ins.true_points[1]).all()
    assert inspector[1].true_points is None
    rollout = ins.rollout()
    assert rollout.shape == (tokens, tokens)
    assert torch.allclose(rollout.sum(-1), torch.ones(tokens), atol=1e-4)
    assert inspector[0] is ins  # cached: sliders never rerun the model


def test_keypoint_table_measures_the_distance_to_labels(inspector):
    ins = inspector[0]
    table = keypoint_table(ins)
    assert list(table.index[:2]) == ["joint0", "joint1"]
    expected = np.hypot(*(ins.points[0] - LABEL_0))
    assert table.loc["joint0", "error (px)"] == pytest.approx(expected, abs=0.1)
    assert np.isnan(table.loc["joint1", "error (px)"])
    assert "error (px)" not in keypoint_table(inspector[1])


def test_rollout_runs_across_encoder_stacks():
    torch.manual_seed(0)
    model = create_model("tokenpose_tiny", depth=1, num_stacks=2).eval()
    ins = inspect_crop(model, torch.randn(3, *model.cfg.input_size))
    assert ins.num_layers == 2
    assert torch.allclose(ins.rollout().sum(-1), torch.ones(ins.rollout().shape[0]), atol=1e-4)


def test_inspect_crop_rejects_a_crop_of_the_wrong_size(model):
    with pytest.raises(ValueError, match="input_size"):
        inspect_crop(model, torch.randn(3, 64, 48))


# ---------------------------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------------------------


def test_figure_functions_draw_one_panel_per_keypoint(inspector):
    ins = inspector[0]
    k = ins.num_keypoints
    fig = plot_token_attention(ins, layer=1, head=0)
    assert isinstance(fig, Figure) and _visible_axes(fig) == k
    assert "layer 2 of 4" in _title(fig) and "head 0" in _title(fig)
    fig = plot_token_rollout(ins, last_layer=2, keypoints=[0, 3, 5])
    assert _visible_axes(fig) == 3 and "through layer 3" in _title(fig)
    assert "from patches" in fig.axes[0].get_title()
    fig = plot_keypoint_heatmaps(ins, keypoints=[4])
    assert len(fig.axes) == 1 and fig.axes[0].get_title().startswith("joint4")
    with pytest.raises(IndexError, match="keypoint 17"):
        plot_keypoint_heatmaps(ins, keypoints=[17])


# ---------------------------------------------------------------------------------------------
# attributions
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ATTRIBUTION_METHODS)
def test_attribution_has_the_crop_shape_and_is_not_zero(model, crops, method):
    image = crops[0]["image"]
    result = keypoint_attribution(model, image, 2, method=method, n_steps=4)
    assert result.attribution.shape == tuple(image.shape[1:])
    assert np.isfinite(result.attribution).all()
    assert np.abs(result.attribution).max() > 0
    assert (result.delta is not None) == (method == "integrated_gradients")
    with torch.no_grad():
        peak = model(image[None])[0, 2].max()
    assert result.value == pytest.approx(float(peak), rel=1e-5)
    assert all(p.grad is None for p in model.parameters())
    assert not model.training
    fig = plot_attribution(np.zeros((*image.shape[1:], 3), np.uint8), result, point=np.array([3.0, 4.0]))
    assert len(fig.axes) == 3  # crop, attribution, colour bar


@pytest.mark.parametrize("shared_scale", [True, False])
def test_attribution_per_model_draws_one_row_per_model(model, crops, shared_scale):
    from mfvpose_lib.analysis.attribution import attribution_across_models

    torch.manual_seed(1)
    models = {"trained stand-in": model, "other weights": create_model("mfvpose_tiny").eval()}
    comparison = attribution_across_models(models, crops[0]["image"], 0, method="integrated_gradients", n_steps=4,
                                           point=(20.0, 28.0))  # fmt: skip
    image = np.zeros((*crops[0]["image"].shape[1:], 3), np.uint8)
    fig = plot_attribution_per_model(image, comparison, shared_scale=shared_scale)
    assert len(fig.axes) == 3 * len(models)  # crop, attribution, colour bar per row
    crops_shown = [ax.get_title() for ax in fig.axes if "\npeak" in ax.get_title()]
    assert [title.split("\n")[0] for title in crops_shown] == list(models)  # rows in the given order
    bars = [ax for ax in fig.axes if not ax.get_title()]
    scales = [bar.get_ylabel().split()[1] for bar in bars]  # "/ 1.2e-03 = ..."
    expected = (
        [f"{max(comparison.table['max |attribution|']):.1e}"] * 2
        if shared_scale
        else [f"{s:.1e}" for s in comparison.table["max |attribution|"]]
    )
    assert scales == expected


def test_gradcam_uses_the_backbone_when_there_is_no_hrfov():
    torch.manual_seed(0)
    model = create_model("tokenpose_tiny").eval()
    result = keypoint_attribution(model, torch.randn(3, *model.cfg.input_size), 0, method="gradcam")
    assert result.attribution.shape == model.cfg.input_size


def test_unknown_attribution_method_is_named(model, crops):
    with pytest.raises(ValueError, match="lime"):
        keypoint_attribution(model, crops[0]["image"], 0, method="lime")


# ---------------------------------------------------------------------------------------------
# widgets
# ---------------------------------------------------------------------------------------------


def test_attention_explorer_controls_and_updates(inspector):
    explorer = attention_explorer(inspector)
    assert isinstance(explorer, FigureExplorer) and isinstance(explorer, widgets.VBox)
    assert bytes(explorer.image.value).startswith(b"\x89PNG")
    controls = explorer.controls
    # the slider's values are the layer indices, its labels count from 1
    assert controls["layer"].options == tuple((str(i + 1), i) for i in range(inspector.num_layers))
    assert controls["layer"].value == inspector.num_layers - 1 and controls["layer"].label == "4"
    assert controls["sample"].max == len(inspector) - 1
    assert [v for _, v in controls["head"].options] == [EVERY, *range(inspector.num_heads)]
    assert explorer.values["head"] is None and explorer.values["keypoint"] is None
    assert len(controls["keypoint"].options) == inspector.num_keypoints + 1
    assert isinstance(explorer.figure, Figure) and "layer 4 of 4" in _title(explorer.figure)

    before = bytes(explorer.image.value)
    controls["layer"].value = 0
    assert "layer 1 of 4" in _title(explorer.figure)
    assert bytes(explorer.image.value) != before  # the redraw changed the picture
    assert explorer.render_seconds is not None and explorer.busy.value == ""
    controls["head"].value = 3
    assert "head 3" in _title(explorer.figure)
    controls["keypoint"].value = 5
    assert _visible_axes(explorer.figure) == 1
    controls["mode"].value = "rollout"
    assert "rollout through layer 1" in _title(explorer.figure)
    assert controls["layer"].description == "through layer"
    controls["scale"].value = "shared"
    controls["cmap"].value = "magma"
    controls["opacity"].value = 0.8
    assert explorer.error is None
    # the non-interactive path draws the same picture from the same values
    static = render_attention(inspector, **explorer.values)
    assert _title(static) == _title(explorer.figure)


def test_heatmap_explorer_switches_keypoint_and_sample(inspector):
    explorer = heatmap_explorer(inspector)
    controls = explorer.controls
    assert _visible_axes(explorer.figure) == inspector.num_keypoints
    controls["keypoint"].value = 2
    assert _visible_axes(explorer.figure) == 1
    before = explorer.figure
    controls["sample"].value = 1
    assert explorer.figure is not before and explorer.values["sample"] == 1


def test_attribution_explorer_methods(inspector):
    explorer = attribution_explorer(inspector, keypoint=1)
    controls = explorer.controls
    assert list(controls["method"].options) == list(ATTRIBUTION_METHODS)
    assert len(controls["keypoint"].options) == inspector.num_keypoints  # no "all" for attributions
    assert explorer.figure.axes[1].get_title().startswith("saliency (scale")
    controls["method"].value = "integrated_gradients"
    assert explorer.figure.axes[1].get_title().startswith("integrated gradients")
    controls["method"].value = "occlusion"
    assert explorer.figure.axes[1].get_title().startswith("occlusion") and explorer.error is None
    assert (0, 1, "integrated_gradients") in inspector._attributions


def test_figure_explorer_shows_a_render_error_and_recovers():
    def render(size: int) -> Figure:
        if size < 1:
            raise ValueError("size must be positive")
        fig, ax = plt.subplots(figsize=(size, size))
        return fig

    explorer = FigureExplorer(render, {"size": widgets.IntSlider(value=2, min=0, max=3)})
    assert explorer.figure.get_size_inches()[0] == 2
    explorer.controls["size"].value = 0
    assert isinstance(explorer.error, ValueError) and "size must be positive" in explorer.message.value
    explorer.controls["size"].value = 3
    assert explorer.error is None and explorer.message.value == ""
    assert explorer.figure.get_size_inches()[0] == 3


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


@pytest.mark.parametrize(
    "make", [heatmap_explorer, attention_explorer, attribution_explorer], ids=lambda f: f.__name__
)
def test_static_explorers_display_as_their_picture_and_live_ones_as_the_widget(inspector, make):
    environment = dict(os.environ)
    static = make(inspector, static=True)
    bundle = static._repr_mimebundle_()
    assert set(bundle) == {"image/png", "text/plain"}
    assert base64.b64decode(bundle["image/png"]) == bytes(static.image.value)
    width, _ = png_size(bytes(static.image.value))
    assert static.image.layout.width == f"{width}px"
    live = make(inspector, static=False)
    assert WIDGET_VIEW in live._repr_mimebundle_() and "image/png" not in live._repr_mimebundle_()
    assert dict(os.environ) == environment  # the choice is the argument: nothing set behind the caller


class _Kernel:
    """What executed_without_frontend reads of an ipykernel: the running cell's request."""

    def __init__(self, allow_stdin: bool) -> None:
        self.request = {"content": {"allow_stdin": allow_stdin}}

    def get_parent(self, channel: str) -> dict:
        return self.request


@pytest.mark.parametrize(("allow_stdin", "static"), [(False, True), (True, False)])
def test_explorers_are_pictures_when_a_notebook_executor_runs_the_cell(monkeypatch, allow_stdin, static):
    import IPython

    # nbclient (papermill, nbconvert --execute) sends allow_stdin=False; JupyterLab sends True
    monkeypatch.setattr(IPython, "get_ipython", lambda: SimpleNamespace(kernel=_Kernel(allow_stdin)))
    assert executed_without_frontend() is static
    assert dilation_explorer().static is static
    assert dilation_explorer(static=not static).static is not static  # an explicit choice wins


def test_outside_a_kernel_explorers_are_widgets():
    assert executed_without_frontend() is False and dilation_explorer().static is False


def test_crops_by_worst_error(inspector):
    order = inspector.order("worst error")
    assert sorted(order) == list(range(len(inspector)))
    explorer = heatmap_explorer(inspector)
    explorer.controls["order"].value = "worst error"
    assert explorer.error is None
