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
"computing…" label stands beside the controls while a redraw runs. Every explorer takes
``static``: True displays it as the PNG of its current figure (what an executed notebook can
keep), False as the live widget, None (the default) decides by :func:`executed_without_frontend`,
so a notebook run by papermill or nbconvert gets pictures and one open in JupyterLab gets widgets.

Control values: ``sample`` is a position in the crop order ``order`` ("val index" or "worst
error" first); ``keypoint`` is a keypoint index or None for all keypoints; ``layer`` and ``head``
are indices as :mod:`mfvpose_lib.analysis.attention` defines them (``head=None``: the mean over
heads; the layer slider shows layers counted from 1); in ``"rollout"`` mode ``layer`` is the last
layer the rollout goes through; ``cmap``, ``opacity`` and ``scale`` style the maps.
"""

from __future__ import annotations

import base64
import html
import io
import struct
import time
from collections.abc import Callable
from functools import partial

import ipywidgets as widgets
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from mfvpose_lib.analysis.attention import head_label, layer_number, resolve_index
from mfvpose_lib.analysis.attribution import ATTRIBUTION_METHODS
from mfvpose_lib.analysis.inspection import CROP_ORDERS, CropInspector
from mfvpose_lib.viz.attention import SCALES
from mfvpose_lib.viz.attribution import plot_attribution
from mfvpose_lib.viz.figures import DEFAULT_DPI
from mfvpose_lib.viz.keypoint_tokens import plot_keypoint_heatmaps, plot_token_attention, plot_token_rollout
from mfvpose_lib.viz.overlay import MAX_OPACITY
from mfvpose_lib.viz.receptive_field import render_dilation

COLORMAPS = ("viridis", "magma", "cividis", "inferno")

ATTENTION_MODES = ("layer", "rollout")


class _Every:
    """The "all keypoints" / "mean over heads" option of a dropdown (:data:`EVERY`). It stands for
    the render functions' None, which a dropdown cannot hold (ipywidgets reads a None value as
    "nothing selected"); :attr:`FigureExplorer.values` turns it back into None."""

    def __repr__(self) -> str:
        return "EVERY"


EVERY = _Every()


def executed_without_frontend() -> bool:
    """True while a notebook executor (papermill, nbclient, ``jupyter nbconvert --execute``) runs
    the current cell, False in a frontend a person uses and outside a Jupyter kernel.

    nbclient, which the executors share, sends every cell with ``allow_stdin=False``, because
    nobody is there to answer ``input()``; JupyterLab, Notebook and VS Code send ``True``.
    """
    from IPython import get_ipython  # installed with ipywidgets

    kernel = getattr(get_ipython(), "kernel", None)
    if kernel is None:
        return False
    request = kernel.get_parent("shell")  # the execute_request of the running cell
    return not request.get("content", {}).get("allow_stdin", True)


def _keypoints(keypoint: int | None) -> list[int] | None:
    return None if keypoint is None else [keypoint]


def _crop(inspector: CropInspector, sample: int, order: str) -> int:
    return inspector.order(order)[sample]


def render_attention(
    inspector: CropInspector,
    *,
    sample: int = 0,
    order: str = "val index",
    mode: str = "layer",
    layer: int = -1,
    head: int | None = None,
    keypoint: int | None = None,
    cmap: str = "viridis",
    opacity: float = MAX_OPACITY,
    scale: str = "per panel",
) -> Figure:
    """Keypoint-token attention of layer ``layer`` (``mode="layer"``) or the rollout through it
    (``mode="rollout"``); ``head=None``: the mean over heads."""
    inspection = inspector[_crop(inspector, sample, order)]
    style = {"cmap": cmap, "alpha": opacity, "scale": scale}
    if mode == "layer":
        return plot_token_attention(
            inspection, layer=layer, head=head, keypoints=_keypoints(keypoint), **style
        )
    if mode == "rollout":
        return plot_token_rollout(
            inspection, last_layer=layer, head=head, keypoints=_keypoints(keypoint), **style
        )
    raise ValueError(f"unknown attention mode {mode!r}; choose one of {', '.join(ATTENTION_MODES)}")


def render_heatmaps(
    inspector: CropInspector,
    *,
    sample: int = 0,
    order: str = "val index",
    keypoint: int | None = None,
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


def _keypoint_dropdown(inspector: CropInspector, value: int | None, *, allow_all: bool) -> widgets.Dropdown:
    names = inspector.keypoint_names or tuple(f"keypoint {k}" for k in range(inspector.num_keypoints))
    options = ([("all keypoints", EVERY)] if allow_all else []) + [(n, k) for k, n in enumerate(names)]
    return widgets.Dropdown(
        options=options, value=EVERY if value is None else value, description="keypoint", style=_STYLE
    )


def _layer_description(mode: str) -> str:
    return "layer" if mode == "layer" else "through layer"


def _layer_slider(num_layers: int, layer: int, mode: str) -> widgets.SelectionSlider:
    """Its value is the layer index; its labels count from 1."""
    return widgets.SelectionSlider(
        options=[(str(layer_number(index, num_layers)), index) for index in range(num_layers)],
        value=resolve_index(layer, num_layers, "layer"),
        description=_layer_description(mode),
        continuous_update=False,
        style=_STYLE,
    )


def _head_dropdown(num_heads: int, head: int | None) -> widgets.Dropdown:
    options = [(head_label(None), EVERY)] + [(head_label(h), h) for h in range(num_heads)]
    value = EVERY if head is None else resolve_index(head, num_heads, "head")
    return widgets.Dropdown(options=options, value=value, description="head", style=_STYLE)


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
    the same in the explorer as in the figure file). ``static``: display as that PNG rather than
    as the widget (None: :func:`executed_without_frontend` decides, once, here).
    """

    def __init__(
        self,
        render: Callable[..., Figure],
        controls: dict[str, widgets.ValueWidget],
        *,
        dpi: int = DEFAULT_DPI,
        static: bool | None = None,
    ) -> None:
        self.render = render
        self.controls = controls
        self.dpi = dpi
        self.static = executed_without_frontend() if static is None else static
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
        """The current control values, as keyword arguments of ``render`` (:data:`EVERY` as None)."""
        return {name: None if c.value is EVERY else c.value for name, c in self.controls.items()}

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
        if not self.static:
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
    head: int | None = None,
    keypoint: int | None = None,
    cmap: str = "viridis",
    opacity: float = MAX_OPACITY,
    scale: str = "per panel",
    order: str = "val index",
    static: bool | None = None,
) -> FigureExplorer:
    """Sliders over crop and layer, dropdowns for crop order, mode (one layer or the rollout
    through it), head, keypoint, colours and scale, and an opacity slider.

    Draws :func:`render_attention`; the keyword arguments set the initial values.
    """
    if mode not in ATTENTION_MODES:
        raise ValueError(f"unknown attention mode {mode!r}; choose one of {', '.join(ATTENTION_MODES)}")
    controls = {
        "sample": _sample_slider(inspector, sample),
        "order": _order_dropdown(order),
        "mode": widgets.Dropdown(options=list(ATTENTION_MODES), value=mode, description="mode", style=_STYLE),
        "layer": _layer_slider(inspector.num_layers, layer, mode),
        "head": _head_dropdown(inspector.num_heads, head),
        "keypoint": _keypoint_dropdown(inspector, keypoint, allow_all=True),
        "cmap": _cmap_dropdown(cmap),
        "opacity": _opacity_slider(opacity),
        "scale": widgets.Dropdown(
            options=list(SCALES), value=scale, description="colour scale", style=_STYLE
        ),
    }

    def relabel(change: dict) -> None:
        controls["layer"].description = _layer_description(change["new"])

    controls["mode"].observe(relabel, names="value")
    return FigureExplorer(partial(render_attention, inspector), controls, static=static)


def heatmap_explorer(
    inspector: CropInspector,
    *,
    sample: int = 0,
    keypoint: int | None = None,
    cmap: str = "magma",
    opacity: float = MAX_OPACITY,
    order: str = "val index",
    static: bool | None = None,
) -> FigureExplorer:
    """Crop slider and order, keypoint, colour map and opacity over :func:`render_heatmaps`."""
    controls = {
        "sample": _sample_slider(inspector, sample),
        "order": _order_dropdown(order),
        "keypoint": _keypoint_dropdown(inspector, keypoint, allow_all=True),
        "cmap": _cmap_dropdown(cmap),
        "opacity": _opacity_slider(opacity),
    }
    return FigureExplorer(partial(render_heatmaps, inspector), controls, static=static)


def attribution_explorer(
    inspector: CropInspector,
    *,
    sample: int = 0,
    keypoint: int = 0,
    method: str = "saliency",
    opacity: float = MAX_OPACITY,
    order: str = "val index",
    static: bool | None = None,
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
    return FigureExplorer(partial(render_attribution, inspector), controls, static=static)


def dilation_explorer(
    *,
    rates: str = "1, 2, 5, 9",
    topology: str = "cascade",
    kernel: int = 3,
    study=None,
    static: bool | None = None,
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
    return FigureExplorer(partial(render_dilation, study=study), controls, static=static)
