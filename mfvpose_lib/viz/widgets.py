"""ipywidgets explorers over :class:`~mfvpose_lib.analysis.inspection.CropInspector`.

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

The picture is shown at its natural size (the image widget is as wide as the PNG), and a
"computing…" label stands beside the controls while a redraw runs. In a batch run (the study
runner sets ``MFVPOSE_BATCH=1``, see :data:`BATCH_ENV`) an explorer displays as the PNG of its
current figure instead of a widget view that an executed notebook cannot show.

Control values: ``sample`` is a position in the crop order ``order`` ("val index" or "worst
error" first); ``keypoint`` is a keypoint index or -1 for all keypoints; ``head`` a head index
or -1 for the mean over heads; ``layer`` is counted from 1 (in ``"rollout"`` mode: the last
layer the rollout goes through); ``cmap``, ``opacity`` and ``scale`` style the maps.
"""

from __future__ import annotations

import base64
import html
import io
import os
import struct
import time
from collections.abc import Callable
from functools import partial

import ipywidgets as widgets
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from mfvpose_lib.analysis.attribution import ATTRIBUTION_METHODS
from mfvpose_lib.analysis.inspection import CROP_ORDERS, CropInspector
from mfvpose_lib.viz.attention import SCALES
from mfvpose_lib.viz.attribution import plot_attribution
from mfvpose_lib.viz.figures import DEFAULT_DPI
from mfvpose_lib.viz.keypoint_tokens import plot_keypoint_heatmaps, plot_token_attention, plot_token_rollout
from mfvpose_lib.viz.overlay import MAX_OPACITY
from mfvpose_lib.viz.receptive_field import render_dilation

#: Environment variable that marks a non-interactive (batch) run: explorers display as PNGs.
BATCH_ENV = "MFVPOSE_BATCH"
COLORMAPS = ("viridis", "magma", "cividis", "inferno")

ATTENTION_MODES = ("layer", "rollout")
ALL = -1  # the "all keypoints" / "mean over heads" choice of a dropdown


def in_batch_run() -> bool:
    """True when :data:`BATCH_ENV` is set to a non-empty value other than 0."""
    return os.environ.get(BATCH_ENV, "") not in ("", "0")


def _keypoints(keypoint: int) -> list[int] | None:
    return None if keypoint == ALL else [keypoint]


def _crop(inspector: CropInspector, sample: int, order: str) -> int:
    return inspector.order(order)[sample]


def _layer_index(layer: int, num_layers: int) -> int:
    """1-based layer (negative: from the end, -1 = last) -> 0-based index."""
    if layer == 0 or not -num_layers <= layer <= num_layers:
        raise IndexError(f"layer {layer} out of range: layers are numbered 1..{num_layers}")
    return layer - 1 if layer > 0 else num_layers + layer


def render_attention(
    inspector: CropInspector,
    *,
    sample: int = 0,
    order: str = "val index",
    mode: str = "layer",
    layer: int = -1,
    head: int = ALL,
    keypoint: int = ALL,
    cmap: str = "viridis",
    opacity: float = MAX_OPACITY,
    scale: str = "per panel",
) -> Figure:
    """Keypoint-token attention of layer ``layer`` (1-based; ``mode="layer"``) or the rollout
    through it (``mode="rollout"``)."""
    inspection = inspector[_crop(inspector, sample, order)]
    head_index = None if head == ALL else head
    index = _layer_index(layer, inspection.num_layers)
    style = {"cmap": cmap, "alpha": opacity, "scale": scale}
    if mode == "layer":
        return plot_token_attention(
            inspection, layer=index, head=head_index, keypoints=_keypoints(keypoint), **style
        )
    if mode == "rollout":
        return plot_token_rollout(
            inspection, last_layer=index, head=head_index, keypoints=_keypoints(keypoint), **style
        )
    raise ValueError(f"unknown attention mode {mode!r}; choose one of {', '.join(ATTENTION_MODES)}")


def render_heatmaps(
    inspector: CropInspector,
    *,
    sample: int = 0,
    order: str = "val index",
    keypoint: int = ALL,
    cmap: str = "magma",
    opacity: float = MAX_OPACITY,
) -> Figure:
    """Predicted heatmaps with decoded (and labelled) locations."""
    crop = _crop(inspector, sample, order)
    fig = plot_keypoint_heatmaps(inspector[crop], keypoints=_keypoints(keypoint), cmap=cmap, alpha=opacity)
    fig._suptitle.set_text(f"{fig._suptitle.get_text()}, val crop {inspector.indices[crop]}")
    return fig


def render_attribution(
    inspector: CropInspector,
    *,
    sample: int = 0,
    order: str = "val index",
    keypoint: int = 0,
    method: str = "integrated_gradients",
    opacity: float = MAX_OPACITY,
    title: str = "",
) -> Figure:
    """Attribution of one keypoint's heatmap peak to the crop's pixels (``title``: above both panels)."""
    crop = _crop(inspector, sample, order)
    inspection = inspector[crop]
    result = inspector.attribution(crop, keypoint, method)
    return plot_attribution(
        inspection.image,
        result,
        keypoint_name=f"val {inspector.indices[crop]}, {inspection.keypoint_label(keypoint)}",
        point=inspection.points[keypoint],
        alpha=opacity,
        title=title,
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
        description="crop #",
        continuous_update=False,
        style=_STYLE,
    )


def _order_dropdown(value: str) -> widgets.Dropdown:
    return widgets.Dropdown(options=list(CROP_ORDERS), value=value, description="crops by", style=_STYLE)


def _cmap_dropdown(value: str) -> widgets.Dropdown:
    return widgets.Dropdown(options=list(COLORMAPS), value=value, description="colours", style=_STYLE)


def _opacity_slider(value: float) -> widgets.FloatSlider:
    return widgets.FloatSlider(
        value=value, min=0.1, max=1.0, step=0.05, description="opacity", continuous_update=False, style=_STYLE
    )


def _keypoint_dropdown(inspector: CropInspector, value: int, *, allow_all: bool) -> widgets.Dropdown:
    names = inspector.keypoint_names or tuple(f"keypoint {k}" for k in range(inspector.num_keypoints))
    options = ([("all keypoints", ALL)] if allow_all else []) + [(n, k) for k, n in enumerate(names)]
    return widgets.Dropdown(options=options, value=value, description="keypoint", style=_STYLE)


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) in pixels from a PNG's header."""
    if not data.startswith(b"\x89PNG"):
        raise ValueError("not a PNG image")
    return struct.unpack(">II", data[16:24])


class FigureExplorer(widgets.VBox):
    """Controls above the PNG of ``render(**values)``; any control change redraws it.

    ``figure`` is the last figure drawn (closed for pyplot, so an inline backend never
    shows it a second time); a render error is shown under the picture and kept in ``error``;
    ``render_seconds`` is how long the last redraw took. The picture keeps its natural size:
    the image widget is given the PNG's pixel width, drawn at ``dpi`` (default: that of the
    saved figures, :data:`~mfvpose_lib.viz.figures.DEFAULT_DPI`, so a panel and its ticks look
    the same in the explorer as in the figure file).
    """

    def __init__(
        self, render: Callable[..., Figure], controls: dict[str, widgets.ValueWidget], *, dpi: int = DEFAULT_DPI
    ) -> None:
        self.render = render
        self.controls = controls
        self.dpi = dpi
        self.image = widgets.Image(format="png")
        self.message = widgets.HTML()
        self.busy = widgets.Label(value="")
        self.figure: Figure | None = None
        self.error: Exception | None = None
        self.render_seconds: float | None = None
        bar = widgets.HBox([*controls.values(), self.busy], layout=widgets.Layout(flex_flow="row wrap"))
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
        start = time.perf_counter()
        self.busy.value = "computing…"
        try:
            fig = self.render(**self.values)
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png", dpi=self.dpi, bbox_inches="tight")
            plt.close(fig)
        finally:
            self.busy.value = ""
        data = buffer.getvalue()
        width, _ = png_size(data)
        self.image.width = width
        self.image.layout.width = f"{width}px"
        self.image.value = data
        self.figure = fig
        self.render_seconds = time.perf_counter() - start
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

    def _repr_mimebundle_(self, **kwargs):
        if not in_batch_run():
            return super()._repr_mimebundle_(**kwargs)
        return {
            "image/png": base64.b64encode(bytes(self.image.value)).decode("ascii"),
            "text/plain": f"<{type(self).__name__}: the figure of {self.values}>",
        }


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
    cmap: str = "viridis",
    opacity: float = MAX_OPACITY,
    scale: str = "per panel",
    order: str = "val index",
) -> FigureExplorer:
    """Sliders over crop and layer (1-based), dropdowns for crop order, mode (one layer or the
    rollout through it), head, keypoint, colours and scale, and an opacity slider.

    Draws :func:`render_attention`; the keyword arguments set the initial values.
    """
    if mode not in ATTENTION_MODES:
        raise ValueError(f"unknown attention mode {mode!r}; choose one of {', '.join(ATTENTION_MODES)}")
    num_layers, num_heads = inspector.num_layers, inspector.num_heads
    layer_slider = widgets.IntSlider(
        value=_layer_index(layer, num_layers) + 1,
        min=1,
        max=num_layers,
        description="layer" if mode == "layer" else "through layer",
        continuous_update=False,
        style=_STYLE,
    )
    controls = {
        "sample": _sample_slider(inspector, sample),
        "order": _order_dropdown(order),
        "mode": widgets.Dropdown(options=list(ATTENTION_MODES), value=mode, description="mode", style=_STYLE),
        "layer": layer_slider,
        "head": widgets.Dropdown(
            options=[("mean over heads", ALL)] + [(f"head {h}", h) for h in range(num_heads)],
            value=head,
            description="head",
            style=_STYLE,
        ),
        "keypoint": _keypoint_dropdown(inspector, keypoint, allow_all=True),
        "cmap": _cmap_dropdown(cmap),
        "opacity": _opacity_slider(opacity),
        "scale": widgets.Dropdown(
            options=list(SCALES), value=scale, description="colour scale", style=_STYLE
        ),
    }

    def relabel(change: dict) -> None:
        layer_slider.description = "layer" if change["new"] == "layer" else "through layer"

    controls["mode"].observe(relabel, names="value")
    return FigureExplorer(partial(render_attention, inspector), controls)


def heatmap_explorer(
    inspector: CropInspector,
    *,
    sample: int = 0,
    keypoint: int = ALL,
    cmap: str = "magma",
    opacity: float = MAX_OPACITY,
    order: str = "val index",
) -> FigureExplorer:
    """Crop slider and order, keypoint, colour map and opacity over :func:`render_heatmaps`."""
    controls = {
        "sample": _sample_slider(inspector, sample),
        "order": _order_dropdown(order),
        "keypoint": _keypoint_dropdown(inspector, keypoint, allow_all=True),
        "cmap": _cmap_dropdown(cmap),
        "opacity": _opacity_slider(opacity),
    }
    return FigureExplorer(partial(render_heatmaps, inspector), controls)


def attribution_explorer(
    inspector: CropInspector,
    *,
    sample: int = 0,
    keypoint: int = 0,
    method: str = "saliency",
    opacity: float = MAX_OPACITY,
    order: str = "val index",
) -> FigureExplorer:
    """Crop slider and order, keypoint and method dropdowns, opacity over :func:`render_attribution`.

    Starts with saliency (one backward pass); integrated gradients and occlusion take many
    passes and are cached per crop, keypoint and method once computed.
    """
    if method not in ATTRIBUTION_METHODS:
        raise ValueError(
            f"unknown attribution method {method!r}; choose one of {', '.join(ATTRIBUTION_METHODS)}"
        )
    controls = {
        "sample": _sample_slider(inspector, sample),
        "order": _order_dropdown(order),
        "keypoint": _keypoint_dropdown(inspector, keypoint, allow_all=False),
        "method": widgets.Dropdown(
            options=list(ATTRIBUTION_METHODS), value=method, description="method", style=_STYLE
        ),
        "opacity": _opacity_slider(opacity),
    }
    return FigureExplorer(partial(render_attribution, inspector), controls)


def dilation_explorer(
    *, rates: str = "1, 2, 5, 9", topology: str = "cascade", kernel: int = 3, study=None
) -> FigureExplorer:
    """Rates (comma-separated), topology and kernel -> the footprint of the fused output, its
    field and its holes, beside the study's HRFOV choice (``study``: an
    :class:`~mfvpose_lib.models.hrfov.HRFOVConfig`, default the library's)."""
    controls = {
        "rates": widgets.Text(value=rates, description="rates", continuous_update=False, style=_STYLE),
        "topology": widgets.Dropdown(
            options=["cascade", "parallel"], value=topology, description="topology", style=_STYLE
        ),
        "kernel": widgets.Dropdown(options=[3, 5, 7], value=kernel, description="kernel", style=_STYLE),
    }
    return FigureExplorer(partial(render_dilation, study=study), controls)
