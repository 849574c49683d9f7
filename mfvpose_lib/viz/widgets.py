"""ipywidgets explorers over :class:`~mfvpose_lib.viz.keypoint_tokens.CropInspector`.

Each explorer is a thin ``ipywidgets.interactive`` around one ``render_*`` function, and the
``render_*`` function is the non-interactive path: called with the same keyword values as
the controls it returns the very figure the widget would show. An executed notebook (where
widgets are only text) saves those figures; in JupyterLab the sliders redraw them.

Control values: ``sample`` indexes the inspector's crops; ``keypoint`` is a keypoint index
or -1 for all keypoints; ``head`` a head index or -1 for the mean over heads; ``layer`` a
0-based layer index (in ``"rollout"`` mode: the last layer the rollout goes through).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import ipywidgets as widgets
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from mfvpose_lib.viz.attribution import ATTRIBUTION_METHODS, plot_attribution
from mfvpose_lib.viz.keypoint_tokens import (
    CropInspector,
    plot_keypoint_heatmaps,
    plot_token_attention,
    plot_token_rollout,
)

ATTENTION_MODES = ("layer", "rollout")
ALL = -1  # the "all keypoints" / "mean over heads" choice of a dropdown


def _keypoints(keypoint: int) -> list[int] | None:
    return None if keypoint == ALL else [keypoint]


def render_attention(
    inspector: CropInspector,
    *,
    sample: int = 0,
    mode: str = "layer",
    layer: int = -1,
    head: int = ALL,
    keypoint: int = ALL,
) -> Figure:
    """Keypoint-token attention of one layer (``mode="layer"``) or the rollout through it."""
    inspection = inspector[sample]
    head_index = None if head == ALL else head
    if mode == "layer":
        return plot_token_attention(inspection, layer=layer, head=head_index, keypoints=_keypoints(keypoint))
    if mode == "rollout":
        return plot_token_rollout(
            inspection, last_layer=layer, head=head_index, keypoints=_keypoints(keypoint)
        )
    raise ValueError(f"unknown attention mode {mode!r}; choose one of {', '.join(ATTENTION_MODES)}")


def render_heatmaps(inspector: CropInspector, *, sample: int = 0, keypoint: int = ALL) -> Figure:
    """Predicted heatmaps with decoded (and labelled) locations."""
    return plot_keypoint_heatmaps(inspector[sample], keypoints=_keypoints(keypoint))


def render_attribution(
    inspector: CropInspector, *, sample: int = 0, keypoint: int = 0, method: str = "integrated_gradients"
) -> Figure:
    """Attribution of one keypoint's heatmap peak to the crop's pixels."""
    inspection = inspector[sample]
    result = inspector.attribution(sample, keypoint, method)
    return plot_attribution(
        inspection.image,
        result,
        keypoint_name=inspection.keypoint_label(keypoint),
        point=inspection.points[keypoint],
    )


# --------------------------------------------------------------------------------------------
# Controls
# --------------------------------------------------------------------------------------------

_STYLE = {"description_width": "initial"}


def _sample_slider(inspector: CropInspector, value: int) -> widgets.IntSlider:
    return widgets.IntSlider(
        value=value,
        min=0,
        max=len(inspector) - 1,
        description="sample",
        continuous_update=False,
        style=_STYLE,
    )


def _keypoint_dropdown(inspector: CropInspector, value: int, *, allow_all: bool) -> widgets.Dropdown:
    names = inspector.keypoint_names or tuple(f"keypoint {k}" for k in range(inspector.num_keypoints))
    options = ([("all keypoints", ALL)] if allow_all else []) + [(n, k) for k, n in enumerate(names)]
    return widgets.Dropdown(options=options, value=value, description="keypoint", style=_STYLE)


def _explorer(show: Callable[..., Figure], controls: dict[str, widgets.Widget]) -> widgets.interactive:
    """``interactive`` that displays the figure ``show`` returns once (closed for pyplot, so the
    inline backend does not draw it a second time); ``.result`` keeps the last figure."""

    def update(**values) -> Figure:
        fig = show(**values)
        plt.close(fig)
        return fig

    return widgets.interactive(update, {"auto_display": True}, **controls)


# --------------------------------------------------------------------------------------------
# Explorers
# --------------------------------------------------------------------------------------------


def attention_explorer(
    inspector: CropInspector,
    *,
    sample: int = 0,
    mode: str = "layer",
    layer: int = -1,
    head: int = ALL,
    keypoint: int = ALL,
) -> widgets.interactive:
    """Sliders over crop and layer, dropdowns for mode (one layer or rollout), head and keypoint.

    Draws :func:`render_attention`; the keyword arguments set the initial values.
    """
    if mode not in ATTENTION_MODES:
        raise ValueError(f"unknown attention mode {mode!r}; choose one of {', '.join(ATTENTION_MODES)}")
    num_layers, num_heads = inspector.num_layers, inspector.num_heads
    controls = {
        "sample": _sample_slider(inspector, sample),
        "mode": widgets.Dropdown(options=list(ATTENTION_MODES), value=mode, description="mode", style=_STYLE),
        "layer": widgets.IntSlider(
            value=range(num_layers)[layer],
            min=0,
            max=num_layers - 1,
            description="layer",
            continuous_update=False,
            style=_STYLE,
        ),
        "head": widgets.Dropdown(
            options=[("mean over heads", ALL)] + [(f"head {h}", h) for h in range(num_heads)],
            value=head,
            description="head",
            style=_STYLE,
        ),
        "keypoint": _keypoint_dropdown(inspector, keypoint, allow_all=True),
    }
    return _explorer(partial(render_attention, inspector), controls)


def heatmap_explorer(
    inspector: CropInspector, *, sample: int = 0, keypoint: int = ALL
) -> widgets.interactive:
    """Crop slider and keypoint dropdown over :func:`render_heatmaps`."""
    controls = {
        "sample": _sample_slider(inspector, sample),
        "keypoint": _keypoint_dropdown(inspector, keypoint, allow_all=True),
    }
    return _explorer(partial(render_heatmaps, inspector), controls)


def attribution_explorer(
    inspector: CropInspector, *, sample: int = 0, keypoint: int = 0, method: str = "saliency"
) -> widgets.interactive:
    """Crop slider, keypoint and method dropdowns over :func:`render_attribution`.

    Starts with saliency (one backward pass); integrated gradients take ``n_steps`` passes
    and are cached per crop, keypoint and method once computed.
    """
    if method not in ATTRIBUTION_METHODS:
        raise ValueError(
            f"unknown attribution method {method!r}; choose one of {', '.join(ATTRIBUTION_METHODS)}"
        )
    controls = {
        "sample": _sample_slider(inspector, sample),
        "keypoint": _keypoint_dropdown(inspector, keypoint, allow_all=False),
        "method": widgets.Dropdown(
            options=list(ATTRIBUTION_METHODS), value=method, description="method", style=_STYLE
        ),
    }
    return _explorer(partial(render_attribution, inspector), controls)
