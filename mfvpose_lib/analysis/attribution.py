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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

ATTRIBUTION_METHODS = ("saliency", "integrated_gradients", "gradcam", "occlusion")

#: Below this largest |attribution| a map is taken as "the output ignores its input".
FLAT_ATTRIBUTION = 1e-8


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

    def warning(self) -> str | None:
        """Why the map cannot be read, or None when it can."""
        if self.scale < FLAT_ATTRIBUTION:
            return (
                f"max |attribution| = {self.scale:.1e}: the output does not depend on the input "
                "(a model that ignores its crop, e.g. untrained or collapsed)"
            )
        if self.completeness_gap is not None and self.baseline_value is not None:
            explained = abs(self.value - self.baseline_value)
            if abs(self.completeness_gap) > max(0.5 * explained, FLAT_ATTRIBUTION):
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
    from captum.attr import IntegratedGradients, LayerAttribution, LayerGradCam, Occlusion, Saliency

    if method not in ATTRIBUTION_METHODS:
        raise ValueError(
            f"unknown attribution method {method!r}; choose one of {', '.join(ATTRIBUTION_METHODS)}"
        )
    if image.ndim != 3:
        raise ValueError(f"keypoint_attribution expects one crop (3, H, W), got {tuple(image.shape)}")
    num_keypoints = model.cfg.num_keypoints
    if not 0 <= keypoint < num_keypoints:
        raise IndexError(f"keypoint {keypoint} out of range: the model has {num_keypoints}")
    device = next(model.parameters()).device
    x = image[None].to(device=device, dtype=torch.float32).clone().requires_grad_(True)
    was_training = model.training
    model.eval()
    extra: dict = {}
    try:
        with torch.no_grad():
            heatmap = model(x)[0, keypoint]
        width = heatmap.shape[1]
        flat = int(heatmap.flatten().argmax())
        py, px = divmod(flat, width)
        value = float(heatmap[py, px])

        def peak_value(inputs: torch.Tensor) -> torch.Tensor:
            return model(inputs)[:, keypoint, py, px]

        if method == "saliency":
            attribution = Saliency(peak_value).attribute(x, abs=True)[0].amax(dim=0)
        elif method == "integrated_gradients":
            baseline = torch.zeros_like(x)
            attrs, deltas = IntegratedGradients(peak_value).attribute(
                x,
                baselines=baseline,
                n_steps=n_steps,
                internal_batch_size=min(n_steps, 8),
                return_convergence_delta=True,
            )
            attribution = attrs[0].sum(dim=0)
            with torch.no_grad():
                base_value = float(peak_value(baseline)[0])
            extra = {
                "delta": float(deltas[0]),
                "baseline_value": base_value,
                "completeness_gap": float(attrs.detach().sum()) - (value - base_value),
            }
        elif method == "gradcam":
            cam = LayerGradCam(peak_value, layer if layer is not None else feature_layer(model)).attribute(x)
            attribution = LayerAttribution.interpolate(cam, tuple(x.shape[-2:]), "bilinear")[0, 0]
        else:
            size = window or occlusion_window(tuple(x.shape[-2:]))
            step = stride or max(1, size // 2)
            with torch.no_grad():
                attrs = Occlusion(peak_value).attribute(
                    x.detach(),
                    sliding_window_shapes=(3, size, size),
                    strides=(3, step, step),
                    baselines=0.0,
                    perturbations_per_eval=16,
                )
            attribution = attrs[0].mean(dim=0)
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    return KeypointAttribution(
        attribution=attribution.detach().float().cpu().numpy(),
        method=method,
        keypoint=keypoint,
        peak_xy=(px, py),
        value=value,
        **extra,
    )
