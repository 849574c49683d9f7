"""Saving the study's figures, and a check that a saved figure can be read.

:func:`figure_problems` draws a figure as :func:`save_figure` saves it and lists what a reader
could not read: texts that overlap (titles, tick labels, legends, annotations), texts under
:data:`MIN_TEXT_PT` and panels under :data:`MIN_PANEL_INCHES` on a side. :func:`save_figure`
saves, then warns about the problems, or raises when :data:`STRICT_ENV` is set (the notebook
tests set it, so every figure a smoke reproduction saves is checked).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.text import Text
from matplotlib.ticker import MaxNLocator
from matplotlib.transforms import Bbox

#: Resolution of every saved figure, and of the explorers' pictures (the same pixels either way).
DEFAULT_DPI = 120
#: Environment variable: a non-empty value other than 0 makes :func:`save_figure` raise on problems.
STRICT_ENV = "MFVPOSE_STRICT_FIGURES"
#: Smallest readable text: at 7 pt a lower-case letter is ~5 screen pixels high at 120 dpi.
MIN_TEXT_PT = 7.0
#: Smallest panel side. A 256x192 crop drawn 1.2 in (144 px at 120 dpi) wide keeps ~3/4 of its
#: pixels, so joints 4 px apart (one heatmap cell) stay apart; below it a 7-pt title is wider
#: than the panel it names.
MIN_PANEL_INCHES = 1.2
#: Texts whose boxes share less than this (display pixels) in either direction do not overlap:
#: the boxes include the font's descent, so stacked lines touch without their glyphs meeting.
OVERLAP_TOLERANCE_PX = 1.0


@dataclass(frozen=True)
class FigureProblem:
    kind: str  # "overlap", "small text" or "small panel"
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}"


class FigureProblemsError(RuntimeError):
    """A figure saved under :data:`STRICT_ENV` has problems; the message lists them."""


class FigureProblemsWarning(UserWarning):
    """A saved figure has problems (:func:`figure_problems`)."""


def strict_figures() -> bool:
    return os.environ.get(STRICT_ENV, "") not in ("", "0")


def save_figure(fig: Figure, path: str | Path, *, dpi: int = DEFAULT_DPI) -> None:
    """Save ``fig`` as the study saves every figure (``dpi``, tight bounding box), then report
    :func:`figure_problems`: a :class:`FigureProblemsWarning`, or :class:`FigureProblemsError`
    when :data:`STRICT_ENV` is set. The file is written in both cases, so it can be looked at."""
    path = Path(path)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    problems = figure_problems(fig, dpi)
    if not problems:
        return
    message = f"{path.name}: " + "; ".join(str(p) for p in problems)
    if strict_figures():
        raise FigureProblemsError(message)
    warnings.warn(message, FigureProblemsWarning, stacklevel=2)


def whole_number_ticks(axis) -> None:
    """Ticks only at whole numbers on ``axis`` (``ax.xaxis``): epochs and layers. One integer in
    view is enough (a one-epoch run ticks at 1, not at 0.95, 0.975, ...)."""
    axis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))


def figure_problems(fig: Figure, dpi: float = DEFAULT_DPI) -> list[FigureProblem]:
    """What a reader of ``fig`` saved at ``dpi`` could not read: overlapping texts, texts under
    :data:`MIN_TEXT_PT`, panels under :data:`MIN_PANEL_INCHES`. Empty when the figure is clean.

    The figure is drawn at ``dpi`` (its own dpi is restored); only texts that draw renders count,
    so empty titles, hidden artists and ticks outside the view are ignored. A legend counts as
    one box. Colour bars are not panels."""
    original = fig.dpi
    fig.set_dpi(dpi)
    try:
        renderer = _renderer(fig)
        with _recording_texts() as drawn:
            fig.draw(renderer)
        boxes = _text_boxes(fig, drawn, renderer)
        panels = [ax for ax in fig.axes if ax.get_visible() and not hasattr(ax, "_colorbar")]
        return (_overlaps(boxes) + _small_texts(drawn)
                + _small_panels([(ax, ax.get_window_extent(renderer)) for ax in panels], dpi))  # fmt: skip
    finally:
        fig.set_dpi(original)


def _renderer(fig: Figure):
    get = getattr(fig.canvas, "get_renderer", None)  # Agg canvases: inline, ipympl, files
    return get() if get is not None else fig._get_renderer()


@contextmanager
def _recording_texts() -> Iterator[list[Text]]:
    """Collect the texts a draw really renders (matplotlib itself skips empty and hidden ones,
    and the ticks outside the view)."""
    drawn: list[Text] = []
    original = Text.draw

    def draw(self, renderer):
        if self.get_visible() and self.get_text().strip():
            drawn.append(self)
        return original(self, renderer)

    Text.draw = draw
    try:
        yield drawn
    finally:
        Text.draw = original


def _text_boxes(fig: Figure, drawn: list[Text], renderer) -> list[tuple[str, Bbox]]:
    """(label, display box) of each drawn text; a legend's texts become the legend's one box."""
    legends = [leg for leg in fig.findobj(Legend) if leg.get_visible()]
    in_legend = {id(t) for leg in legends for t in [*leg.get_texts(), leg.get_title()]}
    boxes = [(f"legend ({', '.join(t.get_text() for t in leg.get_texts()[:3])})", leg.get_window_extent(renderer))
             for leg in legends]  # fmt: skip
    seen: set[int] = set()
    for text in drawn:
        if id(text) in in_legend or id(text) in seen:
            continue
        seen.add(id(text))
        boxes.append((repr(_short(text.get_text())), Text.get_window_extent(text, renderer)))  # no arrow
    return boxes


def _short(text: str, width: int = 30) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _overlaps(boxes: list[tuple[str, Bbox]]) -> list[FigureProblem]:
    problems = []
    for i, (label_a, a) in enumerate(boxes):
        for label_b, b in boxes[i + 1 :]:
            width = min(a.x1, b.x1) - max(a.x0, b.x0)
            height = min(a.y1, b.y1) - max(a.y0, b.y0)
            if width > OVERLAP_TOLERANCE_PX and height > OVERLAP_TOLERANCE_PX:
                problems.append(FigureProblem("overlap", f"{label_a} and {label_b}"))
    return problems


def _small_texts(drawn: list[Text]) -> list[FigureProblem]:
    small: dict[float, list[str]] = {}
    for text in dict.fromkeys(drawn):
        size = float(text.get_fontsize())
        if size < MIN_TEXT_PT:
            small.setdefault(size, []).append(repr(_short(text.get_text(), 20)))
    return [FigureProblem("small text", f"{len(labels)} text(s) at {size:g} pt < {MIN_TEXT_PT:g} pt, e.g. "
                          + ", ".join(labels[:3])) for size, labels in sorted(small.items())]  # fmt: skip


def _small_panels(panels: list[tuple], dpi: float) -> list[FigureProblem]:
    problems = []
    for ax, box in panels:
        width, height = box.width / dpi, box.height / dpi
        if min(width, height) < MIN_PANEL_INCHES:
            name = _short(ax.get_title() or ax.get_label() or "untitled", 30)
            problems.append(FigureProblem("small panel", f"{name!r} is {width:.2f} x {height:.2f} in "
                                          f"(< {MIN_PANEL_INCHES:g} in a side)"))  # fmt: skip
    return problems
