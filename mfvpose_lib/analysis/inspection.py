"""What the keypoint tokens of a TokenPose/MfvPose model attend to and predict on one crop.

One forward pass under :class:`~mfvpose_lib.analysis.attention.AttentionRecorder` gives
everything the pictures need: the heatmap each keypoint token is turned into, its decoded
location, and every layer's attention maps. :func:`inspect_crop` runs that pass once and keeps
the result (:class:`CropInspection`); the figures of :mod:`mfvpose_lib.viz.keypoint_tokens` only
draw from it, so moving a slider over layers or heads never runs the model again.
:class:`CropInspector` does the same for a handful of crops, lazily and with a cache, and also
caches the (slower) input attributions of :mod:`mfvpose_lib.analysis.attribution`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn as nn

from mfvpose_lib.analysis.attention import AttentionRecorder, attention_rollout, keypoint_attention
from mfvpose_lib.analysis.attribution import KeypointAttribution, keypoint_attribution
from mfvpose_lib.codecs.heatmap import HeatmapCodec
from mfvpose_lib.data.transforms import denormalize
from mfvpose_lib.engine.fast_path import (
    FastPath,
    PrecisionDecision,
    autocast,
    decide_precision,
    prepare_input,
    reference_path,
)
from mfvpose_lib.models.codec import model_codec

CROP_ORDERS = ("val index", "worst error")


@dataclass(frozen=True)
class CropInspection:
    """A model's view of one crop: heatmaps, decoded keypoints and attention of every layer."""

    image: np.ndarray  # (H, W, 3) uint8, the crop as shown
    heatmaps: np.ndarray  # (K, h, w) predicted heatmaps
    points: np.ndarray  # (K, 2) decoded (x, y) in crop pixels
    peaks: np.ndarray  # (K,) heatmap maximum of each keypoint
    attention: list[torch.Tensor]  # one (1, heads, K + N, K + N) map per layer, on the CPU
    patch_grid: tuple[int, int]
    keypoint_names: tuple[str, ...]
    codec: HeatmapCodec  # the model's: where heatmap pixels lie on the crop
    true_points: np.ndarray | None = None  # (K, 2) labelled (x, y) in crop pixels, NaN if unlabelled

    @property
    def num_keypoints(self) -> int:
        return self.heatmaps.shape[0]

    @property
    def num_layers(self) -> int:
        return len(self.attention)

    @property
    def num_heads(self) -> int:
        return self.attention[0].shape[1]

    def layer_attention(self, layer: int = -1, head: int | None = None) -> np.ndarray:
        """(K, gh, gw) keypoint-token attention to the patches in one layer (``head=None``: mean;
        indices as in :mod:`mfvpose_lib.analysis.attention`)."""
        return keypoint_attention(self.attention, self.num_keypoints, self.patch_grid, layer=layer, head=head)

    def rollout(self, last_layer: int = -1, head: int | None = None, residual_weight: float = 0.5) -> torch.Tensor:
        """(T, T) attention rollout through ``last_layer`` (see :func:`attention_rollout`)."""
        return attention_rollout(
            self.attention, head=head, last_layer=last_layer, residual_weight=residual_weight
        )

    def keypoint_label(self, keypoint: int) -> str:
        return self.keypoint_names[keypoint] if self.keypoint_names else f"keypoint {keypoint}"


def _require_keypoint_tokens(model: nn.Module) -> None:
    cfg = getattr(model, "cfg", None)
    if cfg is None or not hasattr(cfg, "patch_grid"):
        raise TypeError(
            f"{type(model).__name__} has no keypoint tokens (its cfg has no patch_grid); the "
            "attention pictures need a TokenPose/MfvPose model"
        )


@torch.no_grad()
def inspect_crop(
    model: nn.Module,
    image: torch.Tensor,
    *,
    keypoint_names: Sequence[str] = (),
    target: torch.Tensor | np.ndarray | None = None,
    target_weight: torch.Tensor | np.ndarray | None = None,
    decode: str | None = None,
    path: FastPath | None = None,
) -> CropInspection:
    """Run ``model`` once on a normalised crop ``image`` (3, H, W) and record what it did.
    ``path``: the memory format and autocast to run it under (default: fp32, as it is); ``model``
    is then the module prepared for it (:meth:`PrecisionDecision.runner`).

    The model runs in eval mode (restored afterwards) on the device of its parameters.
    ``target``/``target_weight`` (the data set's (K, h, w) and (K, 1)) add the labelled
    locations, decoded from the target heatmaps, for comparison. Keypoints are decoded by the
    model's codec (with ``decode``, another decoder), exactly as evaluation decodes them.
    """
    _require_keypoint_tokens(model)
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"inspect_crop expects one normalised crop (3, H, W), got {tuple(image.shape)}")
    cfg = model.cfg
    if tuple(image.shape[1:]) != tuple(cfg.input_size):
        raise ValueError(
            f"crop {tuple(image.shape[1:])} does not match the model's input_size {cfg.input_size}"
        )
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        path = path or reference_path(device.type)
        with AttentionRecorder(model) as recorder, autocast(path):
            heatmaps = model(prepare_input(image[None].to(device), path)).float().cpu().numpy()
    finally:
        model.train(was_training)
    codec = model_codec(model).replace(decoder=decode)
    points, maxvals = codec.decode(heatmaps)
    return CropInspection(
        image=denormalize(image),
        heatmaps=heatmaps[0],
        points=points[0],
        peaks=maxvals[0, :, 0],
        attention=list(recorder.maps),
        patch_grid=tuple(cfg.patch_grid),
        keypoint_names=tuple(keypoint_names),
        codec=codec,
        true_points=None if target is None else codec.labelled_points(target, target_weight),
    )


class CropInspector:
    """A few data-set crops seen by one model, inspected on demand and cached.

    ``items`` are data-set items (dicts with ``image``, and optionally ``target`` and
    ``target_weight``). Indexing gives the :class:`CropInspection` of a crop;
    :meth:`attribution` the cached :class:`~mfvpose_lib.analysis.attribution.KeypointAttribution`.
    """

    def __init__(
        self,
        model: nn.Module,
        items: Sequence[dict],
        *,
        keypoint_names: Sequence[str] = (),
        decode: str | None = None,
        attribution_steps: int = 16,
        indices: Sequence[int] | None = None,
        precision: str = "auto",
    ) -> None:
        _require_keypoint_tokens(model)
        if len(items) == 0:
            raise ValueError("CropInspector needs at least one crop")
        self.model = model
        self.items = list(items)
        self.indices = list(indices) if indices is not None else list(range(len(self.items)))
        if len(self.indices) != len(self.items):
            raise ValueError(f"CropInspector: {len(self.indices)} indices for {len(self.items)} crops")
        self.keypoint_names = tuple(keypoint_names)
        self.decode = decode
        self.attribution_steps = attribution_steps
        self.precision = precision
        self._decision: PrecisionDecision | None = None
        self._runner: nn.Module | None = None
        self._inspections: dict[int, CropInspection] = {}
        self._attributions: dict[tuple[int, int, str], KeypointAttribution] = {}

    def __len__(self) -> int:
        return len(self.items)

    @property
    def decision(self) -> PrecisionDecision:
        """Which path the forward passes run on: decided once, on the first crop at batch 1, by
        :func:`~mfvpose_lib.engine.fast_path.decide_precision` (attributions stay fp32)."""
        if self._decision is None:
            device = next(self.model.parameters()).device
            first = self.items[0]["image"][None].to(device)
            decoder = self.decode or model_codec(self.model).decoder
            self._decision = decide_precision(self.model, first, precision=self.precision, decode=decoder)
            self._runner = self._decision.runner(self.model, first)
        return self._decision

    def __getitem__(self, sample: int) -> CropInspection:
        sample = range(len(self.items))[sample]
        if sample not in self._inspections:
            item = self.items[sample]
            path = self.decision.path
            self._inspections[sample] = inspect_crop(
                self._runner,
                item["image"],
                keypoint_names=self.keypoint_names,
                target=item.get("target"),
                target_weight=item.get("target_weight"),
                decode=self.decode,
                path=path,
            )
        return self._inspections[sample]

    @property
    def num_keypoints(self) -> int:
        return self.model.cfg.num_keypoints

    def mean_error(self, sample: int) -> float:
        """Mean distance (crop pixels) between predicted and labelled keypoints of one crop
        (NaN without labels)."""
        ins = self[sample]
        if ins.true_points is None:
            return float("nan")
        err = np.linalg.norm(ins.points - ins.true_points, axis=1)
        return float(np.nanmean(err)) if np.isfinite(err).any() else float("nan")

    def order(self, by: str = "val index") -> list[int]:
        """Crop positions sorted by validation index, or by mean error, worst first (this
        inspects every crop once). Crops without labels go last."""
        if by == "val index":
            return sorted(range(len(self.items)), key=lambda i: self.indices[i])
        if by == "worst error":
            errors = [self.mean_error(i) for i in range(len(self.items))]
            return sorted(
                range(len(self.items)), key=lambda i: -errors[i] if np.isfinite(errors[i]) else np.inf
            )
        raise ValueError(f"unknown crop order {by!r}; choose one of {', '.join(CROP_ORDERS)}")

    @property
    def num_layers(self) -> int:
        return self[0].num_layers

    @property
    def num_heads(self) -> int:
        return self[0].num_heads

    def attribution(
        self, sample: int, keypoint: int, method: str = "integrated_gradients"
    ) -> KeypointAttribution:
        """Attribution of ``keypoint``'s heatmap peak to the pixels of crop ``sample`` (cached)."""
        sample = range(len(self.items))[sample]
        key = (sample, keypoint, method)
        if key not in self._attributions:
            self._attributions[key] = keypoint_attribution(
                self.model,
                self.items[sample]["image"],
                keypoint,
                method=method,
                n_steps=self.attribution_steps,
            )
        return self._attributions[key]


def keypoint_table(inspection: CropInspection) -> pd.DataFrame:
    """One row per keypoint: heatmap peak, decoded location and, when labelled, the distance
    to the label in crop pixels (NaN where the joint has no label)."""
    table = pd.DataFrame(
        {
            "keypoint": [inspection.keypoint_label(k) for k in range(inspection.num_keypoints)],
            "peak": inspection.peaks,
            "x": inspection.points[:, 0],
            "y": inspection.points[:, 1],
        }
    )
    if inspection.true_points is not None:
        table["label x"] = inspection.true_points[:, 0]
        table["label y"] = inspection.true_points[:, 1]
        table["error (px)"] = np.linalg.norm(inspection.points - inspection.true_points, axis=1)
    return table.set_index("keypoint")
