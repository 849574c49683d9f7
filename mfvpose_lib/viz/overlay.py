"""A map drawn over the crop it belongs to, with the person still visible.

A flat half-opaque map hides the crop wherever it is drawn. Here the crop is shown in grey and
each pixel of the map is as opaque as the map is strong there: where the map is weak the person
shows through, and the colours of the map never mix with the colours of the image.
"""

from __future__ import annotations

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize

#: Opacity of the strongest value of a map; the crop still shows a little under it.
MAX_OPACITY = 0.8


def grey(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 or float crop -> (H, W) luminance in [0, 1]."""
    image = np.asarray(image, dtype=float)
    if image.max() > 1.0:
        image = image / 255.0
    return image if image.ndim == 2 else image[..., :3] @ np.array([0.299, 0.587, 0.114])


def draw_over_image(
    ax: Axes,
    image: np.ndarray,
    values: np.ndarray,
    *,
    cmap: str = "viridis",
    vmin: float | None = None,
    vmax: float | None = None,
    alpha: float = MAX_OPACITY,
    signed: bool = False,
    extent: tuple[float, float, float, float] | None = None,
) -> ScalarMappable:
    """Draw ``image`` in grey and ``values`` over it (``extent``: where the map lies, default the
    crop), each pixel ``alpha`` x its strength opaque. Strength is the value's place between
    ``vmin`` and ``vmax``, or for a ``signed`` map its magnitude against the larger of |vmin|,
    |vmax|. Returns the mappable for a colour bar (drawn fully opaque there)."""
    values = np.asarray(values, dtype=float)
    vmin = float(np.nanmin(values)) if vmin is None else vmin
    vmax = float(np.nanmax(values)) if vmax is None else vmax
    norm = Normalize(vmin, vmax if vmax > vmin else vmin + 1e-12)
    h, w = image.shape[:2]
    extent = extent or (-0.5, w - 0.5, h - 0.5, -0.5)
    ax.imshow(grey(image), cmap="gray", vmin=0, vmax=1, extent=(-0.5, w - 0.5, h - 0.5, -0.5))
    if signed:
        strength = np.abs(values) / max(abs(vmin), abs(vmax), 1e-30)
    else:
        strength = norm(values)
    rgba = colormaps[cmap](norm(values))
    rgba[..., 3] = alpha * np.clip(np.nan_to_num(strength), 0.0, 1.0)
    ax.imshow(rgba, extent=extent, interpolation="bilinear")
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)
    return ScalarMappable(norm=norm, cmap=cmap)
