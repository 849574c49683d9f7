"""Figures of training runs and evaluations; functions return matplotlib figures.

:class:`LivePlot` is a training callback (``engine.callbacks``) that redraws the curves after
every epoch, so a notebook watches its run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mfvpose_lib.engine.callbacks import Callback


def plot_training_curves(history: list[dict[str, Any]] | Any, metric: str | None = None, title: str = ""):
    """Train (and validation) loss per epoch on the left, ``metric`` on the right.

    ``history`` is a list of per-epoch rows or the DataFrame read from ``metrics.csv``.
    """
    import matplotlib.pyplot as plt
    import pandas as pd

    from mfvpose_lib.viz.figures import whole_number_ticks
    from mfvpose_lib.viz.present import FRACTION_METRICS

    frame = pd.DataFrame(history)
    panels = 2 if metric and metric in frame and frame[metric].notna().any() else 1
    fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 3.4), squeeze=False)
    ax = axes[0, 0]
    ax.plot(frame["epoch"], frame["train_loss"], marker="o", label="train")
    if "val_loss" in frame and frame["val_loss"].notna().any():
        ax.plot(frame["epoch"], frame["val_loss"], marker="s", label="val")
    ax.set_xlabel("epoch")
    whole_number_ticks(ax.xaxis)  # epochs are whole: no tick at 0.5
    ax.set_ylabel("JointsMSE loss")
    ax.set_yscale("log")
    ax.legend()
    ax.grid(alpha=0.3)
    if panels == 2:
        ax = axes[0, 1]
        valid = frame[frame[metric].notna()]
        in_percent = metric in FRACTION_METRICS  # COCO's fractions, shown as the paper prints them
        ax.plot(valid["epoch"], valid[metric] * (100 if in_percent else 1), marker="o", color="tab:green")
        ax.set_xlabel("epoch")
        whole_number_ticks(ax.xaxis)
        ax.set_ylabel(f"{metric} (%)" if in_percent else metric)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_predicted_skeletons(predictions, meta, *, count: int = 6, min_score: float = 0.2, columns: int = 3,
                             title: str = ""):  # fmt: skip
    """Predicted poses drawn on their full images, one panel per image (first ``count`` images).

    ``predictions`` is an ``engine.evaluate.Predictions``; joints whose heatmap peak is
    below ``min_score`` are left out, as are limbs touching them.
    """
    import matplotlib.pyplot as plt
    import numpy as np
    from PIL import Image

    order: dict[int, list[int]] = {}
    for row, image_id in enumerate(predictions.image_id):
        order.setdefault(int(image_id), []).append(row)
    images = list(order.items())[:count]
    rows = max(1, int(np.ceil(len(images) / columns)))
    fig, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 3.2 * rows), squeeze=False)
    colors = np.asarray(meta.colors, dtype=float) / 255.0
    limb_colors = np.asarray(meta.limb_colors or [(200, 200, 200)] * len(meta.skeleton), dtype=float) / 255.0
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (image_id, people) in zip(axes.ravel(), images):
        with Image.open(predictions.image_path[people[0]]) as img:
            ax.imshow(img.convert("RGB"))
        for row in people:
            xy, score = predictions.coords[row], predictions.maxvals[row]
            for limb, (a, b) in enumerate(meta.skeleton):
                if score[a] >= min_score and score[b] >= min_score:
                    ax.plot(xy[[a, b], 0], xy[[a, b], 1], color=limb_colors[limb], linewidth=2)
            shown = score >= min_score
            ax.scatter(
                xy[shown, 0],
                xy[shown, 1],
                s=10,
                c=colors[shown],
                edgecolors="black",
                linewidths=0.4,
                zorder=3,
            )
        ax.set_title(f"image {image_id}: {len(people)} box(es)", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_metric_against_wall_time(curves, metric: str, title: str = ""):
    """``metric`` against wall time, one line per run (``curves``: label -> the DataFrame of
    :func:`mfvpose_lib.analysis.training.metric_against_wall_time`)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for label, curve in curves.items():
        ax.plot(curve["wall_s"] / 60.0, curve[metric], marker="o", label=label)
    ax.set_xlabel("wall time (min, training + validation)")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)  # curves rise: the lower right is free
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


class LivePlot(Callback):
    """Loss and validation-metric curves redrawn after every epoch in a notebook.

    In a live kernel the figure is replaced in place; in a batch run (papermill) only the
    final figure is kept, saved to ``save_path`` when given.
    """

    def __init__(
        self, metric: str | None = None, title: str = "", save_path: str | Path | None = None
    ) -> None:
        self.metric = metric
        self.title = title
        self.save_path = Path(save_path) if save_path else None
        self._handle = None
        self.figure = None

    def _draw(self, history: list[dict[str, Any]]):
        import matplotlib.pyplot as plt

        if self.figure is not None:
            plt.close(self.figure)
        self.figure = plot_training_curves(history, metric=self.metric, title=self.title)
        return self.figure

    def on_epoch_end(self, state) -> None:
        figure = self._draw(state.history)
        try:
            from IPython import get_ipython
            from IPython.display import display

            if get_ipython() is None:
                return
            if self._handle is None:
                self._handle = display(figure, display_id=True)
            else:
                self._handle.update(figure)
        except ImportError:
            return

    def on_train_end(self, state) -> None:
        if self.figure is not None and self.save_path is not None:
            self.save_path.parent.mkdir(parents=True, exist_ok=True)
            self.figure.savefig(self.save_path, dpi=120, bbox_inches="tight")
        if self.figure is not None:
            import matplotlib.pyplot as plt

            plt.close(self.figure)
