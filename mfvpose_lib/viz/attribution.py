"""Which input pixels a keypoint prediction depends on: captum attributions of a heatmap peak.

The quantity explained is the value of keypoint ``k``'s heatmap at the location where the
model puts its peak on the unperturbed crop -- a scalar per crop, so every captum method
applies. The location is fixed before attributing, so integrated gradients follow one
output along the whole path from the baseline to the crop. Three methods:

``"saliency"``
    The absolute input gradient, maximum over the colour channels (Simonyan et al., 2014):
    one backward pass, local and noisy.
``"integrated_gradients"``
    Integrated gradients (Sundararajan et al., 2017) from a baseline of zeros in normalised
    space -- the ImageNet-mean grey crop -- summed over channels, so the map adds up to the
    peak value minus the baseline's (the completeness check is returned as ``delta``).
``"gradcam"``
    Grad-CAM (Selvaraju et al., 2017) on the 1/4-resolution map the patches are cut from
    (after HRFOV when the model has it), upsampled to the crop: what the Transformer was
    given, weighted by how much the peak depends on each channel.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn as nn
from matplotlib.figure import Figure

ATTRIBUTION_METHODS = ("saliency", "integrated_gradients", "gradcam")


@dataclass(frozen=True)
class KeypointAttribution:
    """An (H, W) attribution map of one keypoint's heatmap peak on one crop."""

    attribution: np.ndarray  # (H, W), same spatial size as the input crop
    method: str
    keypoint: int
    peak_xy: tuple[int, int]  # (x, y) heatmap pixel whose value is explained
    value: float  # heatmap value there on the crop
    delta: float | None = None  # integrated gradients: sum of attributions - (value - baseline value)


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


def keypoint_attribution(
    model: nn.Module,
    image: torch.Tensor,
    keypoint: int,
    *,
    method: str = "integrated_gradients",
    n_steps: int = 16,
    layer: nn.Module | None = None,
) -> KeypointAttribution:
    """Attribute ``keypoint``'s heatmap peak on the normalised crop ``image`` (3, H, W) to its pixels.

    The model runs in eval mode (restored afterwards) on the device of its parameters; no
    parameter gradients are accumulated. ``n_steps`` is the number of integrated-gradients
    steps; ``layer`` overrides Grad-CAM's layer (default :func:`feature_layer`).
    """
    from captum.attr import IntegratedGradients, LayerAttribution, LayerGradCam, Saliency

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
    try:
        with torch.no_grad():
            heatmap = model(x)[0, keypoint]
        width = heatmap.shape[1]
        flat = int(heatmap.flatten().argmax())
        py, px = divmod(flat, width)
        value = float(heatmap[py, px])

        def peak_value(inputs: torch.Tensor) -> torch.Tensor:
            return model(inputs)[:, keypoint, py, px]

        delta = None
        if method == "saliency":
            grads = Saliency(peak_value).attribute(x, abs=True)
            attribution = grads[0].amax(dim=0)
        elif method == "integrated_gradients":
            attrs, deltas = IntegratedGradients(peak_value).attribute(
                x,
                baselines=torch.zeros_like(x),
                n_steps=n_steps,
                internal_batch_size=min(n_steps, 8),
                return_convergence_delta=True,
            )
            attribution = attrs[0].sum(dim=0)
            delta = float(deltas[0])
        else:
            cam = LayerGradCam(peak_value, layer if layer is not None else feature_layer(model)).attribute(x)
            attribution = LayerAttribution.interpolate(cam, tuple(x.shape[-2:]), "bilinear")[0, 0]
    finally:
        model.train(was_training)
    return KeypointAttribution(
        attribution=attribution.detach().float().cpu().numpy(),
        method=method,
        keypoint=keypoint,
        peak_xy=(px, py),
        value=value,
        delta=delta,
    )


def plot_attribution(
    image: np.ndarray,
    result: KeypointAttribution,
    *,
    keypoint_name: str = "",
    point: np.ndarray | None = None,
) -> Figure:
    """Two panels: the crop with the predicted location, and the attribution over the crop.

    The map is divided by its largest magnitude (printed on the colour bar). Saliency and
    Grad-CAM are non-negative and drawn on a sequential scale; integrated gradients are
    signed and drawn on a symmetric diverging scale (red: raises the peak).
    """
    name = keypoint_name or f"keypoint {result.keypoint}"
    fig, axes = plt.subplots(1, 2, figsize=(5.6, 3.8))
    axes[0].imshow(image)
    axes[0].set_title(f"{name}: peak {result.value:.3f}", fontsize=9)
    # shown relative to its largest magnitude: raw values of an untrained model are tiny
    scale = float(np.abs(result.attribution).max()) or 1.0
    shown = result.attribution / scale
    axes[1].imshow(image, alpha=0.45)
    if result.method == "integrated_gradients":
        im = axes[1].imshow(shown, cmap="bwr", vmin=-1, vmax=1, alpha=0.75)
    else:
        im = axes[1].imshow(shown, cmap="inferno", vmin=0, vmax=1, alpha=0.75)
    bar = fig.colorbar(im, ax=axes[1], fraction=0.046, pad=0.04)
    bar.set_label(f"/ max |attribution| = {scale:.1e}", fontsize=8)
    label = result.method.replace("_", " ")
    if result.delta is not None:
        label += f"\n(completeness gap {result.delta:.1e})"
    axes[1].set_title(label, fontsize=9)
    for ax in axes:
        if point is not None:
            ax.plot(point[0], point[1], "c+", ms=10, mew=2)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig
