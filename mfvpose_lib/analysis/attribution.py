"""Which input pixels a keypoint prediction depends on: captum attributions of a heatmap peak.

The quantity explained is the value of keypoint ``k``'s heatmap at the location where the
model puts its peak on the unperturbed crop -- a scalar per crop, so every captum method
applies. Four methods:

``"saliency"``
    The absolute input gradient, maximum over the colour channels (Simonyan et al., 2014).
``"integrated_gradients"``
    Integrated gradients (Sundararajan et al., 2017) from a baseline of zeros in normalised
    space (the ImageNet-mean grey crop), summed over channels. Completeness: the map adds up
    to the peak value minus the baseline's; the gap is measured here (``completeness_gap``)
    and by captum (``delta``), and the two must agree.
``"gradcam"``
    Grad-CAM (Selvaraju et al., 2017) on the 1/4-resolution map the patches are cut from.
``"occlusion"``
    Occlusion (Zeiler & Fergus, 2014): the drop of the peak value when a square window of the
    crop is set to the baseline, for windows slid over the crop; no gradients involved.

:meth:`KeypointAttribution.warning` flags a result that cannot be read: an output that does
not depend on its input (every attribution ~0) or integrated gradients whose completeness gap
is as large as what they explain (too few steps).

:func:`attribution_across_models` runs one method for one keypoint on one crop through several
models (the rows of an ablation) and measures, per model, how much of the attribution lies near
the joint (:func:`mass_within`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn as nn

from mfvpose_lib.codecs.heatmap import HeatmapCodec
from mfvpose_lib.models.codec import model_codec

#: Below this largest |attribution| a map is taken as "the output ignores its input".
FLAT_ATTRIBUTION = 1e-8
#: Occlusion is in the units of the peak, not of a gradient: its map is flat when no window moves
#: the peak by this share of its value (an untrained model's 3e-7 on a peak of 0.8 is 4e-7).
FLAT_OCCLUSION = 1e-4
#: Integrated gradients pass completeness when their sum is within this share of the change they
#: explain (Sundararajan et al., 2017, section 4: "within 5%"); above half of it they fail.
COMPLETENESS_PASS = 0.05
COMPLETENESS_FAIL = 0.5


@dataclass(frozen=True)
class KeypointAttribution:
    """An (H, W) attribution map of one keypoint's heatmap peak on one crop."""

    attribution: np.ndarray  # (H, W), same spatial size as the input crop
    method: str
    keypoint: int
    peak_xy: tuple[int, int]  # (x, y) heatmap pixel whose value is explained
    value: float  # heatmap value there on the crop
    delta: float | None = None  # integrated gradients, captum: sum of attributions - (value - baseline)
    baseline_value: float | None = None  # integrated gradients: the peak value on the baseline
    completeness_gap: float | None = None  # the same gap measured here from two forward passes

    @property
    def scale(self) -> float:
        """Largest |attribution|, the unit the pictures divide by."""
        return float(np.abs(self.attribution).max())

    @property
    def flat(self) -> bool:
        """The output does not depend on the input (:data:`FLAT_ATTRIBUTION`, :data:`FLAT_OCCLUSION`)."""
        if self.method == "occlusion":
            return self.scale < max(FLAT_OCCLUSION * abs(self.value), FLAT_ATTRIBUTION)
        return self.scale < FLAT_ATTRIBUTION

    @property
    def completeness_share(self) -> float | None:
        """Integrated gradients: |gap| / |change of the peak from baseline to crop| (None otherwise)."""
        if self.completeness_gap is None or self.baseline_value is None:
            return None
        change = abs(self.value - self.baseline_value)
        return abs(self.completeness_gap) / change if change > FLAT_ATTRIBUTION else float("inf")

    def completeness(self) -> str | None:
        """Integrated gradients: the gap, its share of the change, and whether it passes
        (:data:`COMPLETENESS_PASS`), is loose or fails (:data:`COMPLETENESS_FAIL`); None otherwise."""
        share = self.completeness_share
        if share is None:
            return None
        if share == float("inf"):
            return f"gap {self.completeness_gap:.1e} while the peak does not change from baseline to crop: no verdict"
        verdict = "passes" if share <= COMPLETENESS_PASS else "loose" if share <= COMPLETENESS_FAIL else "fails"
        return f"gap {self.completeness_gap:.1e} = {share * 100:.2g}% of the change: {verdict}"

    def warning(self) -> str | None:
        """Why the map cannot be read, or None when it can."""
        if self.flat:
            of = f" ({self.scale / abs(self.value):.0e} of the peak)" if self.method == "occlusion" and self.value else ""
            return (
                f"max |attribution| = {self.scale:.1e}{of}: the output does not depend on the input "
                "(a model that ignores its crop, e.g. untrained or collapsed)"
            )
        share = self.completeness_share
        if share is not None and share > COMPLETENESS_FAIL and abs(self.completeness_gap) > FLAT_ATTRIBUTION:
            explained = abs(self.value - self.baseline_value)
            return (
                f"completeness gap {self.completeness_gap:.1e} against a change of {explained:.1e}: "
                "integrated gradients need more steps"
            )
        return None


def feature_layer(model: nn.Module) -> nn.Module:
    """The module whose output is the feature map that is cut into patches (Grad-CAM's layer)."""
    hrfov = getattr(model, "hrfov", None)
    if hrfov is not None:
        return hrfov
    pre_feature = getattr(model, "pre_feature", None)
    if pre_feature is None:
        raise TypeError(
            f"{type(model).__name__} has neither an hrfov nor a pre_feature module; pass layer= to "
            "keypoint_attribution to name the layer Grad-CAM should use"
        )
    return pre_feature


def occlusion_window(input_size: tuple[int, int]) -> int:
    """Default occlusion window: an eighth of the crop's longer side (at least 4 pixels)."""
    return max(4, max(input_size) // 8)


@dataclass(frozen=True)
class _Peak:
    """The explained scalar: keypoint ``keypoint``'s heatmap at pixel (``y``, ``x``), where the
    model puts the peak on the crop (``value`` there), as a function of a batch of inputs."""

    model: nn.Module
    keypoint: int
    y: int
    x: int
    value: float

    def __call__(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.model(inputs)[:, self.keypoint, self.y, self.x]


@dataclass(frozen=True)
class _Options:
    """What the callers of :func:`keypoint_attribution` may tune, each read by one method."""

    n_steps: int
    layer: nn.Module | None
    window: int | None
    stride: int | None


# Each method: (peak, input (1, 3, H, W) with grad, options) -> ((H, W) map, extra fields of the result)


def _saliency(peak: _Peak, x: torch.Tensor, options: _Options) -> tuple[torch.Tensor, dict]:
    from captum.attr import Saliency

    return Saliency(peak).attribute(x, abs=True)[0].amax(dim=0), {}


def _integrated_gradients(peak: _Peak, x: torch.Tensor, options: _Options) -> tuple[torch.Tensor, dict]:
    from captum.attr import IntegratedGradients

    baseline = torch.zeros_like(x)
    attrs, deltas = IntegratedGradients(peak).attribute(
        x,
        baselines=baseline,
        n_steps=options.n_steps,
        internal_batch_size=min(options.n_steps, 8),
        return_convergence_delta=True,
    )
    with torch.no_grad():
        base_value = float(peak(baseline)[0])
    return attrs[0].sum(dim=0), {
        "delta": float(deltas[0]),
        "baseline_value": base_value,
        "completeness_gap": float(attrs.detach().sum()) - (peak.value - base_value),
    }


def _gradcam(peak: _Peak, x: torch.Tensor, options: _Options) -> tuple[torch.Tensor, dict]:
    from captum.attr import LayerAttribution, LayerGradCam

    layer = options.layer if options.layer is not None else feature_layer(peak.model)
    cam = LayerGradCam(peak, layer).attribute(x)
    return LayerAttribution.interpolate(cam, tuple(x.shape[-2:]), "bilinear")[0, 0], {}


def _occlusion(peak: _Peak, x: torch.Tensor, options: _Options) -> tuple[torch.Tensor, dict]:
    from captum.attr import Occlusion

    size = options.window or occlusion_window(tuple(x.shape[-2:]))
    step = options.stride or max(1, size // 2)
    with torch.no_grad():
        attrs = Occlusion(peak).attribute(
            x.detach(),
            sliding_window_shapes=(3, size, size),
            strides=(3, step, step),
            baselines=0.0,
            perturbations_per_eval=16,
        )
    return attrs[0].mean(dim=0), {}


_METHODS = {
    "saliency": _saliency,
    "integrated_gradients": _integrated_gradients,
    "gradcam": _gradcam,
    "occlusion": _occlusion,
}
ATTRIBUTION_METHODS = tuple(_METHODS)


def _check_request(model: nn.Module, image: torch.Tensor, keypoint: int, method: str) -> None:
    if method not in _METHODS:
        raise ValueError(
            f"unknown attribution method {method!r}; choose one of {', '.join(ATTRIBUTION_METHODS)}"
        )
    if image.ndim != 3:
        raise ValueError(f"keypoint_attribution expects one crop (3, H, W), got {tuple(image.shape)}")
    num_keypoints = model.cfg.num_keypoints
    if not 0 <= keypoint < num_keypoints:
        raise IndexError(f"keypoint {keypoint} out of range: the model has {num_keypoints}")


@torch.no_grad()
def _find_peak(model: nn.Module, x: torch.Tensor, keypoint: int) -> _Peak:
    heatmap = model(x)[0, keypoint]
    row, col = divmod(int(heatmap.flatten().argmax()), heatmap.shape[1])
    return _Peak(model, keypoint, y=row, x=col, value=float(heatmap[row, col]))


def keypoint_attribution(
    model: nn.Module,
    image: torch.Tensor,
    keypoint: int,
    *,
    method: str = "integrated_gradients",
    n_steps: int = 16,
    layer: nn.Module | None = None,
    window: int | None = None,
    stride: int | None = None,
) -> KeypointAttribution:
    """Attribute ``keypoint``'s heatmap peak on the normalised crop ``image`` (3, H, W) to its pixels.

    The model runs in eval mode (restored afterwards) on the device of its parameters; no
    parameter gradients are accumulated. ``n_steps``: integrated-gradients steps; ``layer``:
    Grad-CAM's layer (default :func:`feature_layer`); ``window`` / ``stride``: occlusion's
    square window and its step in pixels (default :func:`occlusion_window`, stride = window / 2).
    """
    _check_request(model, image, keypoint, method)
    device = next(model.parameters()).device
    x = image[None].to(device=device, dtype=torch.float32).clone().requires_grad_(True)
    was_training = model.training
    model.eval()
    try:
        peak = _find_peak(model, x, keypoint)
        attribution, extra = _METHODS[method](peak, x, _Options(n_steps, layer, window, stride))
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    return KeypointAttribution(
        attribution=attribution.detach().float().cpu().numpy(),
        method=method,
        keypoint=keypoint,
        peak_xy=(peak.x, peak.y),
        value=peak.value,
        **extra,
    )


def resolve_keypoint(keypoint: int | str, num_keypoints: int, keypoint_names: Sequence[str] = ()) -> int:
    """The index of ``keypoint`` (an index or one of ``keypoint_names``); a clear error otherwise."""
    if isinstance(keypoint, str):
        if keypoint not in keypoint_names:
            known = ", ".join(keypoint_names) if keypoint_names else "none given (pass keypoint_names=)"
            raise ValueError(f"unknown keypoint {keypoint!r}; the names are: {known}")
        return list(keypoint_names).index(keypoint)
    if not 0 <= int(keypoint) < num_keypoints:
        raise IndexError(f"keypoint {keypoint} out of range: the models have {num_keypoints}")
    return int(keypoint)


def labelled_point(item: dict, keypoint: int, codec: HeatmapCodec) -> tuple[float, float] | None:
    """The labelled (x, y) of ``keypoint`` in crop pixels of a data set item (its ``target`` and
    ``target_weight``, decoded by the ``codec`` that made them, the data set's), None where the
    joint is not labelled."""
    x, y = codec.labelled_points(item["target"], item["target_weight"])[keypoint]
    return None if np.isnan(x) else (float(x), float(y))


def mass_within(attribution: np.ndarray, center: tuple[float, float], radius: float) -> float:
    """Share of the attribution's total |mass| whose pixel centres lie within ``radius`` pixels of
    ``center`` (x, y). Magnitudes, so a signed map's negative evidence counts as evidence too."""
    magnitude = np.abs(attribution)
    total = magnitude.sum()
    if total == 0:
        return float("nan")
    ys, xs = np.indices(magnitude.shape)
    near = (xs - center[0]) ** 2 + (ys - center[1]) ** 2 <= radius**2
    return float(magnitude[near].sum() / total)


def disc_share(shape: tuple[int, int], center: tuple[float, float], radius: float) -> float:
    """The share :func:`mass_within` gives a map that is spread evenly: the disc's share of the pixels."""
    return mass_within(np.ones(shape), center, radius)


@dataclass(frozen=True)
class AttributionComparison:
    """One method's attribution of one keypoint on one crop, for several models.

    ``results`` keeps each model's :class:`KeypointAttribution` under its label, in the given
    order; ``table`` has one row per model (see :func:`attribution_across_models`)."""

    results: dict[str, KeypointAttribution]
    table: pd.DataFrame
    method: str
    keypoint: int
    keypoint_name: str
    point: tuple[float, float] | None  # the labelled joint (x, y) in crop pixels, if known
    radius: float  # pixels, the disc the mass shares are measured in

    @property
    def maps(self) -> dict[str, np.ndarray]:
        """The (H, W) attribution maps by model label."""
        return {label: result.attribution for label, result in self.results.items()}

    def peak_point(self, label: str) -> tuple[float, float]:
        """Where model ``label`` puts the explained peak, in crop pixels."""
        row = self.table.set_index("model").loc[label]
        return float(row["peak x"]), float(row["peak y"])


def attribution_across_models(
    models: Mapping[str, nn.Module],
    image: torch.Tensor,
    keypoint: int | str,
    *,
    method: str = "integrated_gradients",
    keypoint_names: Sequence[str] = (),
    point: tuple[float, float] | None = None,
    radius: float | None = None,
    **options,
) -> AttributionComparison:
    """:func:`keypoint_attribution` of ``keypoint`` on the crop ``image`` (3, H, W) for every model
    of ``models`` (label -> model, e.g. one per ablation row), with the same method and options
    (``n_steps``, ``window``, ...).

    Each model explains its own peak of that keypoint's heatmap. The table, one row per model:
    the peak value and where it is (crop pixels); ``max |attribution|``, the map's scale, which
    differs between models and so decides whether a shared colour scale is readable; and how
    concentrated the map is: ``mass near label``, the share of sum |attribution| within ``radius``
    pixels of the labelled joint ``point`` (NaN without one), ``mass near own peak`` the same
    around the model's peak, each to be read against ``uniform share``, what an evenly spread map
    would give there. ``radius`` defaults to :func:`occlusion_window` (an eighth of the longer side).
    """
    if not models:
        raise ValueError("attribution_across_models needs at least one model")
    num_keypoints = {model.cfg.num_keypoints for model in models.values()}
    if len(num_keypoints) != 1:
        raise ValueError(f"the models predict different numbers of keypoints: {sorted(num_keypoints)}")
    index = resolve_keypoint(keypoint, num_keypoints.pop(), keypoint_names)
    name = keypoint_names[index] if keypoint_names else f"keypoint {index}"
    shape = tuple(image.shape[-2:])
    radius = float(radius if radius is not None else occlusion_window(shape))
    results, rows = {}, []
    for label, model in models.items():
        if tuple(model.cfg.input_size) != shape:
            raise ValueError(
                f"{label}: the crop is {shape}, the model's input_size {tuple(model.cfg.input_size)}"
            )
        result = keypoint_attribution(model, image, index, method=method, **options)
        peak = tuple(float(v) for v in model_codec(model).heatmap_to_crop(result.peak_xy))
        results[label] = result
        rows.append({
            "model": label,
            "peak value": result.value,
            "peak x": peak[0],
            "peak y": peak[1],
            "max |attribution|": result.scale,
            "mass near label": mass_within(result.attribution, point, radius) if point is not None else np.nan,
            "uniform share near label": disc_share(shape, point, radius) if point is not None else np.nan,
            "mass near own peak": mass_within(result.attribution, peak, radius),
            "uniform share near own peak": disc_share(shape, peak, radius),
            "warning": result.warning() or "",
        })  # fmt: skip
    return AttributionComparison(results, pd.DataFrame(rows), method, index, name, point, radius)
