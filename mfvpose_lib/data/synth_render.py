"""Rasteriser of the synthetic people: shaded capsules and spheres with a depth buffer.

A depth buffer (larger = nearer the camera) and an owner buffer (person index, −1 background,
−2 occluding object) are kept beside the colour image. They make keypoint visibility honest (a
joint is visible when its own person owns its pixel and nothing is nearer than its surface) and
give each person's visible mask, hence the COCO ``area``, ``bbox`` and segmentation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

BACKGROUND = -1
OCCLUDER = -2

SKIN_TONES = np.array(
    [
        [255, 224, 196],
        [241, 194, 150],
        [224, 172, 120],
        [198, 134, 90],
        [160, 102, 62],
        [120, 74, 44],
        [88, 56, 36],
    ],
    dtype=np.float32,
)
HAIR_COLORS = np.array(
    [
        [20, 16, 14],
        [60, 40, 25],
        [110, 75, 40],
        [170, 130, 70],
        [200, 170, 110],
        [130, 130, 130],
        [90, 30, 20],
    ],
    dtype=np.float32,
)


@dataclass
class Material:
    """A colour with an optional second colour laid out as stripes, checks or blotches."""

    color: np.ndarray
    color2: np.ndarray
    pattern: str  # "solid" | "stripes" | "checks" | "blotches"
    period: float = 8.0
    angle: float = 0.0
    noise: np.ndarray | None = None

    def colors_at(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        if self.pattern == "solid":
            return np.broadcast_to(self.color, xs.shape + (3,))
        if self.pattern == "blotches" and self.noise is not None:
            h, w = self.noise.shape
            m = self.noise[np.clip(ys.astype(np.int32), 0, h - 1), np.clip(xs.astype(np.int32), 0, w - 1)]
        else:
            c, s = np.cos(self.angle), np.sin(self.angle)
            u = (xs * c + ys * s) / self.period
            if self.pattern == "stripes":
                m = (np.floor(u) % 2).astype(np.float32)
            else:
                v = (-xs * s + ys * c) / self.period
                m = ((np.floor(u) + np.floor(v)) % 2).astype(np.float32)
        m = m[..., None]
        return self.color * (1 - m) + self.color2 * m


def random_color(rng: np.random.Generator, saturation: tuple[float, float] = (0.2, 0.9)) -> np.ndarray:
    """A random RGB colour via HSV, so both dull and vivid clothes appear."""
    h = rng.random()
    s = rng.uniform(*saturation)
    v = rng.uniform(0.25, 0.95)
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    rgb = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return np.array(rgb, dtype=np.float32) * 255.0


def smooth_noise(rng: np.random.Generator, height: int, width: int, cells: int) -> np.ndarray:
    """Low-frequency noise in [0, 1]: a coarse random grid bilinearly enlarged."""
    grid = rng.random((cells + 1, cells + 1)).astype(np.float32)
    img = Image.fromarray((grid * 255).astype(np.uint8)).resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(img, dtype=np.float32) / 255.0


def random_material(
    rng: np.random.Generator, height: int, width: int, base: np.ndarray | None = None
) -> Material:
    color = random_color(rng) if base is None else base
    kind = rng.choice(["solid", "stripes", "checks", "blotches"], p=[0.65, 0.17, 0.08, 0.1])
    color2 = np.clip(color * rng.uniform(0.45, 0.8) + rng.normal(0, 25, 3), 0, 255).astype(np.float32)
    if rng.random() < 0.35:
        color2 = random_color(rng)
    noise = None
    if kind == "blotches":
        noise = (smooth_noise(rng, height, width, int(rng.integers(6, 20))) > 0.55).astype(np.float32)
    return Material(color, color2, str(kind), float(rng.uniform(3, 10)), float(rng.uniform(0, np.pi)), noise)


class Canvas:
    """Colour, depth and owner buffers of one image."""

    def __init__(self, background: np.ndarray, light: np.ndarray) -> None:
        self.color = background.astype(np.float32)
        self.height, self.width = background.shape[:2]
        self.depth = np.full((self.height, self.width), -np.inf, dtype=np.float32)
        self.owner = np.full((self.height, self.width), BACKGROUND, dtype=np.int16)
        self.light = light / np.linalg.norm(light)

    def _window(self, x0: float, y0: float, x1: float, y1: float):
        xa, ya = max(int(np.floor(x0)), 0), max(int(np.floor(y0)), 0)
        xb, yb = min(int(np.ceil(x1)) + 1, self.width), min(int(np.ceil(y1)) + 1, self.height)
        if xa >= xb or ya >= yb:
            return None
        ys, xs = np.mgrid[ya:yb, xa:xb].astype(np.float32)
        return (slice(ya, yb), slice(xa, xb)), xs, ys

    def _shade(self, nx: np.ndarray, ny: np.ndarray, nz: np.ndarray) -> np.ndarray:
        lam = nx * self.light[0] + ny * self.light[1] + nz * self.light[2]
        return 0.5 + 0.5 * np.clip(lam, 0.0, 1.0)

    def _commit(self, sl, win, depth, colors, owner: int) -> None:
        dview, oview, cview = self.depth[sl], self.owner[sl], self.color[sl]
        dview[win] = depth[win]
        oview[win] = owner
        cview[win] = colors[win]

    def capsule(self, a, b, ra: float, rb: float, material: Material, owner: int) -> None:
        """Tapered capsule between 3-D points a, b (image x, y, depth) with radii ra → rb."""
        a = np.asarray(a, dtype=np.float32)
        b = np.asarray(b, dtype=np.float32)
        rmax = max(ra, rb)
        found = self._window(
            min(a[0], b[0]) - rmax, min(a[1], b[1]) - rmax, max(a[0], b[0]) + rmax, max(a[1], b[1]) + rmax
        )
        if found is None:
            return
        sl, xs, ys = found
        dx, dy = b[0] - a[0], b[1] - a[1]
        len2 = dx * dx + dy * dy
        if len2 > 1e-6:
            t = np.clip(((xs - a[0]) * dx + (ys - a[1]) * dy) / len2, 0.0, 1.0)
        else:
            t = np.zeros_like(xs)
        ox = xs - (a[0] + t * dx)
        oy = ys - (a[1] + t * dy)
        r = ra + t * (rb - ra)
        h2 = r * r - (ox * ox + oy * oy)
        inside = h2 > 0
        h = np.sqrt(np.maximum(h2, 0.0))
        depth = a[2] + t * (b[2] - a[2]) + h
        win = inside & (depth > self.depth[sl])
        if not win.any():
            return
        shade = self._shade(ox / r, -oy / r, h / r)
        colors = material.colors_at(xs, ys) * shade[..., None]
        self._commit(sl, win, depth, colors, owner)

    def head(
        self, centre, radius: float, axes_cam: np.ndarray, skin: Material, hair: Material, owner: int
    ) -> None:
        """Sphere whose surface material follows the head frame: face with eyes, nose and
        mouth on the forward side, hair on top and at the back. ``axes_cam`` rows are the head's
        left, up, forward in camera coordinates (x right, y up, z towards the viewer)."""
        cx, cy, cz = (float(v) for v in centre)
        found = self._window(cx - radius, cy - radius, cx + radius, cy + radius)
        if found is None:
            return
        sl, xs, ys = found
        ox, oy = xs - cx, ys - cy
        h2 = radius * radius - (ox * ox + oy * oy)
        inside = h2 > 0
        h = np.sqrt(np.maximum(h2, 0.0))
        depth = cz + h
        win = inside & (depth > self.depth[sl])
        if not win.any():
            return
        n = np.stack([ox / radius, -oy / radius, h / radius], axis=-1)
        left, up, fwd = n @ axes_cam[0], n @ axes_cam[1], n @ axes_cam[2]
        colors = skin.colors_at(xs, ys).copy()
        is_hair = (up > 0.42) | ((fwd < -0.05) & (up > -0.6)) | ((fwd < 0.35) & (up > 0.1))
        colors[is_hair] = hair.colors_at(xs, ys)[is_hair]
        eye = (fwd > 0.75) & (np.abs(np.abs(left) - 0.36) < 0.12) & (np.abs(up - 0.2) < 0.1)
        mouth = (fwd > 0.75) & (np.abs(left) < 0.2) & (np.abs(up + 0.45) < 0.07)
        nose = (fwd > 0.9) & (np.abs(left) < 0.09) & (up < 0.05) & (up > -0.25)
        colors[eye] = (25.0, 20.0, 20.0)
        colors[mouth] = (130.0, 40.0, 45.0)
        colors[nose] = colors[nose] * 0.7
        shade = self._shade(n[..., 0], n[..., 1], n[..., 2])
        self._commit(sl, win, depth, colors * shade[..., None], owner)

    def occluder(self, mask: np.ndarray, material: Material) -> None:
        """An object in front of everything (a sign, a bag, a pillar) covering ``mask``."""
        ys, xs = np.nonzero(mask)
        if len(xs) == 0:
            return
        colors = material.colors_at(xs.astype(np.float32), ys.astype(np.float32))
        shade = 0.75 + 0.25 * (ys / max(self.height - 1, 1))[:, None]
        self.color[ys, xs] = colors * shade
        self.depth[ys, xs] = np.inf
        self.owner[ys, xs] = OCCLUDER


def random_background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Gradient + low-frequency noise + random flat shapes and bars (some limb-like)."""
    c0, c1 = random_color(rng, (0.0, 0.6)), random_color(rng, (0.0, 0.6))
    ang = rng.uniform(0, 2 * np.pi)
    ys = np.arange(height, dtype=np.float32)[:, None] * np.float32(np.sin(ang))
    xs = np.arange(width, dtype=np.float32)[None, :] * np.float32(np.cos(ang))
    g = xs + ys
    g = (g - g.min()) / max(float(g.max() - g.min()), 1e-6)
    noise = (smooth_noise(rng, height, width, int(rng.integers(3, 12))) - 0.5) * np.float32(
        rng.uniform(20, 70)
    )
    img = c0 + (c1 - c0) * g[..., None] + noise[..., None]
    layer = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(layer)
    mean_color = (c0 + c1) / 2
    for _ in range(int(rng.integers(0, 6))):
        # shapes keep some of the scene's tint, so people stand out a little more than clutter
        col = tuple(int(v) for v in 0.65 * random_color(rng, (0.0, 0.8)) + 0.35 * mean_color)
        x0, y0 = rng.uniform(-0.2, 1.0) * width, rng.uniform(-0.2, 1.0) * height
        w, h = rng.uniform(0.05, 0.5) * width, rng.uniform(0.05, 0.5) * height
        kind = rng.choice(4, p=[0.35, 0.3, 0.2, 0.15])
        if kind == 0:
            draw.rectangle([x0, y0, x0 + w, y0 + h], fill=col)
        elif kind == 1:
            draw.ellipse([x0, y0, x0 + w, y0 + h], fill=col)
        elif kind == 2:
            pts = [(x0 + rng.uniform(0, w), y0 + rng.uniform(0, h)) for _ in range(int(rng.integers(3, 6)))]
            draw.polygon(pts, fill=col)
        else:
            draw.line(
                [x0, y0, x0 + w * rng.choice([-1, 1]), y0 + h], fill=col, width=int(rng.integers(3, 12))
            )
    return np.asarray(layer, dtype=np.float32)


def random_occluder_mask(
    rng: np.random.Generator, height: int, width: int, near: np.ndarray, size: float
) -> np.ndarray:
    """Boolean mask of a rectangle, ellipse or polygon of about ``size`` pixels near ``near``."""
    layer = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(layer)
    cx, cy = near + rng.normal(0, size * 0.4, 2)
    w, h = size * rng.uniform(0.5, 1.5), size * rng.uniform(0.5, 1.5)
    kind = rng.integers(0, 3)
    if kind == 0:
        draw.rectangle([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], fill=1)
    elif kind == 1:
        draw.ellipse([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], fill=1)
    else:
        angles = np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(3, 7))))
        pts = [(cx + w / 2 * np.cos(a), cy + h / 2 * np.sin(a)) for a in angles]
        draw.polygon(pts, fill=1)
    return np.asarray(layer, dtype=bool)
