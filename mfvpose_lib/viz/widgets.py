"""ipywidgets explorers over :class:`~mfvpose_lib.viz.keypoint_tokens.CropInspector`.

Each explorer is a :class:`FigureExplorer`: sliders and dropdowns above a picture drawn by
one ``render_*`` function, and that function is the non-interactive path -- called with the
control values (``explorer.values``) it returns the very figure the widget shows. An
executed notebook (where widgets are only text) saves those figures; in JupyterLab the
controls redraw them.

The picture is a PNG in an ``ipywidgets.Image`` rather than output captured by
``ipywidgets.interactive``: notebook runners (papermill/nbclient) echo every output captured
by an ``Output`` widget back to the kernel and can stall on a large figure there, so a
notebook built on ``interactive`` would not run unattended. Setting an image's value is an
ordinary widget-state update and behaves the same in JupyterLab and in a batch run.

Control values: ``sample`` indexes the inspector's crops; ``keypoint`` is a keypoint index
or -1 for all keypoints; ``head`` a head index or -1 for the mean over heads; ``layer`` a
0-based layer index (in ``"rollout"`` mode: the last layer the rollout goes through).
"""

from __future__ import annotations

import html
import io
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


class FigureExplorer(widgets.VBox):
    """Controls above the PNG of ``render(**values)``; any control change redraws it.

    ``figure`` is the last figure drawn (closed for pyplot, so an inline backend never
    shows it a second time); a render error is shown under the picture and kept in ``error``.
    """

    def __init__(
        self, render: Callable[..., Figure], controls: dict[str, widgets.ValueWidget], *, dpi: int = 80
    ) -> None:
        self.render = render
        self.controls = controls
        self.dpi = dpi
        self.image = widgets.Image(format="png")
        self.message = widgets.HTML()
        self.figure: Figure | None = None
        self.error: Exception | None = None
        bar = widgets.HBox(list(controls.values()), layout=widgets.Layout(flex_flow="row wrap"))
        super().__init__([bar, self.image, self.message])
        for control in controls.values():
            control.observe(self._changed, names="value")
        self.update()

    @property
    def values(self) -> dict:
        """The current control values, as keyword arguments of ``render``."""
        return {name: control.value for name, control in self.controls.items()}

    def update(self) -> Figure:
        """Draw ``render(**values)`` into the picture and return the figure."""
        fig = self.render(**self.values)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=self.dpi, bbox_inches="tight")
        plt.close(fig)
        self.image.value = buffer.getvalue()
        self.figure = fig
        return fig

    def _changed(self, _change: dict) -> None:
        try:
            self.update()
        except Exception as err:  # shown in the widget: a callback's traceback would be lost
            self.error = err
            self.message.value = f"<pre style='color: #b00'>{html.escape(repr(err))}</pre>"
        else:
            self.error = None
            self.message.value = ""


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
) -> FigureExplorer:
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
    return FigureExplorer(partial(render_attention, inspector), controls)


def heatmap_explorer(inspector: CropInspector, *, sample: int = 0, keypoint: int = ALL) -> FigureExplorer:
    """Crop slider and keypoint dropdown over :func:`render_heatmaps`."""
    controls = {
        "sample": _sample_slider(inspector, sample),
        "keypoint": _keypoint_dropdown(inspector, keypoint, allow_all=True),
    }
    return FigureExplorer(partial(render_heatmaps, inspector), controls)


def attribution_explorer(
    inspector: CropInspector, *, sample: int = 0, keypoint: int = 0, method: str = "saliency"
) -> FigureExplorer:
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
    return FigureExplorer(partial(render_attribution, inspector), controls)
