"""Hooks the training loop calls, so a notebook can watch a run without changing the loop.

A callback is any object with some of ``on_train_start(state)``, ``on_epoch_end(state)``
and ``on_train_end(state)``; missing methods are skipped. Only rank 0 calls them.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any


class Callback:
    """Base class with no-op hooks; subclass and override what you need."""

    def on_train_start(self, state) -> None:  # noqa: B027 - optional hook
        pass

    def on_epoch_end(self, state) -> None:  # noqa: B027 - optional hook
        pass

    def on_train_end(self, state) -> None:  # noqa: B027 - optional hook
        pass


def call_hook(callbacks, hook: str, state) -> None:
    for callback in callbacks:
        method = getattr(callback, hook, None)
        if method is not None:
            method(state)


class CSVLogger(Callback):
    """One row per epoch in ``metrics.csv``; rewritten whole from the history so a resumed
    run's file holds exactly the epochs its checkpoint knows about."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def on_epoch_end(self, state) -> None:
        from mfvpose_lib.io_utils import atomic_write_text

        write_history_csv(state.history, self.path, atomic_write_text)


def write_history_csv(history: list[dict[str, Any]], path: Path, writer) -> None:
    columns: list[str] = []
    for row in history:
        columns.extend(k for k in row if k not in columns)
    import io

    buffer = io.StringIO()
    out = csv.DictWriter(buffer, fieldnames=columns)
    out.writeheader()
    for row in history:
        out.writerow(row)
    writer(buffer.getvalue(), path)


PROGRESS_NAME = "progress.log"


class ProgressLog(Callback):
    """One line per epoch appended to ``progress.log`` (epoch, loss, metric, samples/s, time
    left), so a runner can show a training that runs inside a notebook (``reproduce`` tails it)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def on_epoch_end(self, state) -> None:
        row = state.history[-1]
        done, total = int(row["epoch"]), int(state.config.epochs)
        seconds = [float(r.get("train_seconds", 0)) + float(r.get("val_seconds", 0)) for r in state.history]
        left = (sum(seconds) / len(seconds)) * (total - done) if seconds else 0.0
        metric = state.primary_metric
        parts = [f"epoch {done}/{total}", f"loss {row.get('train_loss', float('nan')):.4g}"]
        if metric in row:
            parts.append(f"{metric} {row[metric]:.4g}")
        parts += [f"{row.get('samples_per_s', 0):.1f} samples/s", f"time left {_duration(left)}"]
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(f"{Path(state.out_dir).name}: " + ", ".join(parts) + "\n")


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class TensorBoardLogger(Callback):
    """Scalars of every epoch to TensorBoard, when ``torch.utils.tensorboard`` imports."""

    def __init__(self, log_dir: str | Path, crops: int = 4) -> None:
        from torch.utils.tensorboard import SummaryWriter  # raises ImportError without tensorboard

        self.writer = SummaryWriter(str(log_dir))
        self.crops = crops
        self._val_items: list | None = None

    def on_epoch_end(self, state) -> None:
        from mfvpose_lib.layers.layer_scale import layer_scale_magnitudes

        row = state.history[-1]
        for key, value in row.items():
            if key != "epoch" and isinstance(value, int | float):
                self.writer.add_scalar(key, value, row["epoch"])
        for magnitude in layer_scale_magnitudes(state.model):
            self.writer.add_scalar(f"layerscale_mean_abs/{magnitude.module}", magnitude.mean_abs, row["epoch"])
        if self.crops and state.primary_metric in row:  # an evaluation ran this epoch
            pictures = self._val_pictures(state)
            if pictures is not None:
                self.writer.add_images("val_crops/predicted", pictures, row["epoch"], dataformats="NHWC")
        self.writer.flush()

    def _val_pictures(self, state):
        return _tb_val_pictures(self, state)

    def on_train_end(self, state) -> None:
        self.writer.close()


def _tb_val_pictures(self, state):
    """The first validation crops with the model's predicted skeletons, (N, H, W, 3) uint8."""
    import numpy as np
    import torch

    from mfvpose_lib.data.draw import draw_skeleton
    from mfvpose_lib.data.transforms import denormalize
    from mfvpose_lib.models.codec import bare_model, model_codec

    model = bare_model(state.model)
    if self._val_items is None:
        from mfvpose_lib.engine.data_access import build_split

        try:
            data = build_split(state.config.data_root, state.config.dataset, "val", model.cfg, train=False,
                               codec=model_codec(model))  # fmt: skip
        except (FileNotFoundError, ValueError):
            self._val_items = []
            return None
        self._val_items = [data[i] for i in range(min(self.crops, len(data)))]
        self._meta = data.meta
    if not self._val_items:
        return None
    images = torch.stack([item["image"] for item in self._val_items])
    was_training = model.training
    model.eval()
    with torch.no_grad():
        heatmaps = model(images.to(next(model.parameters()).device)).float().cpu().numpy()
    model.train(was_training)
    coords, maxvals = model_codec(model).decode(heatmaps)
    joints = np.concatenate([coords, maxvals.reshape(*coords.shape[:2], 1)], axis=2)
    return np.stack([draw_skeleton(denormalize(img), j, self._meta, min_visibility=0.2, hidden_style=False)
                     for img, j in zip(images, joints)])  # fmt: skip


def tensorboard_logger_if_available(log_dir: str | Path) -> TensorBoardLogger | None:
    try:
        return TensorBoardLogger(log_dir)
    except ImportError:
        return None


class LayerScaleLogger(Callback):
    """Mean |λ| of every LayerScale (per layer, MSA / FFN branch) after every epoch, in
    ``layerscale.csv`` (columns ``epoch, layer, branch, mean_abs, init``).

    The file is rewritten atomically from its earlier rows of epochs before this one plus the
    new rows, so a resumed run neither duplicates nor loses epochs. A model without LayerScale
    writes nothing.
    """

    COLUMNS = ("epoch", "layer", "branch", "mean_abs", "init")

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def on_epoch_end(self, state) -> None:
        import io

        from mfvpose_lib.io_utils import atomic_write_text
        from mfvpose_lib.layers.layer_scale import layer_scale_magnitudes

        magnitudes = layer_scale_magnitudes(state.model)
        if not magnitudes:
            return
        kept: list[dict[str, str]] = []
        if self.path.is_file():
            with open(self.path, newline="") as handle:
                kept = [row for row in csv.DictReader(handle) if int(row["epoch"]) < state.epoch]
        buffer = io.StringIO()
        out = csv.DictWriter(buffer, fieldnames=list(self.COLUMNS))
        out.writeheader()
        out.writerows(kept)
        for magnitude in magnitudes:
            out.writerow(
                {
                    "epoch": state.epoch,
                    "layer": magnitude.layer,
                    "branch": magnitude.branch,
                    "mean_abs": f"{magnitude.mean_abs:.6g}",
                    "init": f"{magnitude.init:.6g}",
                }
            )
        atomic_write_text(buffer.getvalue(), self.path)
