"""Pictures of the data: skeletons over images, heatmap overlays, grids (for notebook 05).

Drawing works on uint8 arrays with PIL and returns new arrays; the grid helpers return
matplotlib figures that a notebook displays or saves.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

from mfvpose_lib.data.meta import DatasetMeta


def draw_skeleton(
    image: np.ndarray,
    joints: np.ndarray,
    meta: DatasetMeta,
    *,
    radius: float = 2.5,
    width: int = 2,
    min_visibility: float = 0.0,
    hidden_style: bool = True,
) -> np.ndarray:
    """Limbs and joints of one or more people ((K, 3) or (P, K, 3)) drawn in the layout colours.

    Joints with visibility ≤ ``min_visibility`` are skipped; with ``hidden_style`` joints
    labelled occluded (v = 1) are drawn as hollow circles.
    """
    img = Image.fromarray(np.ascontiguousarray(image).astype(np.uint8)).convert("RGB")
    draw = ImageDraw.Draw(img)
    people = np.asarray(joints, dtype=np.float32)
    if people.ndim == 2:
        people = people[None]
    for person in people:
        shown = person[:, 2] > min_visibility
        for (a, b), color in zip(meta.skeleton, meta.limb_colors or [(255, 255, 255)] * len(meta.skeleton)):
            if shown[a] and shown[b]:
                draw.line([tuple(person[a, :2]), tuple(person[b, :2])], fill=tuple(color), width=width)
        for k in np.nonzero(shown)[0]:
            x, y, v = person[k]
            box = [x - radius, y - radius, x + radius, y + radius]
            if hidden_style and 0 < v < 1.5 and v == int(v):
                draw.ellipse(box, outline=tuple(meta.colors[k]), width=1)
            else:
                draw.ellipse(box, fill=tuple(meta.colors[k]), outline=(0, 0, 0))
    return np.asarray(img)


def draw_box(image: np.ndarray, box: Sequence[float], color=(255, 255, 0), width: int = 1) -> np.ndarray:
    """An ``[x, y, w, h]`` box."""
    img = Image.fromarray(np.ascontiguousarray(image).astype(np.uint8))
    x, y, w, h = (float(v) for v in box)
    ImageDraw.Draw(img).rectangle([x, y, x + w, y + h], outline=tuple(color), width=width)
    return np.asarray(img)


def heatmap_overlay(image: np.ndarray, heatmaps: np.ndarray, codec, alpha: float = 0.55) -> np.ndarray:
    """Max over joints of (K, h, w) heatmaps, laid on the crop by ``codec`` (a
    :class:`~mfvpose_lib.codecs.heatmap.HeatmapCodec`) and blended in red."""
    on_crop = codec.heatmaps_on_crop(np.asarray(heatmaps, dtype=np.float32).max(axis=0))
    m = np.clip(on_crop, 0, 1)[..., None]
    red = np.array([255.0, 30.0, 30.0])
    out = image.astype(np.float32) * (1 - alpha * m) + red * alpha * m
    return np.clip(out, 0, 255).astype(np.uint8)


def image_grid(
    images: Sequence[np.ndarray], titles: Sequence[str] | None = None, ncols: int = 4, size: float = 2.6
):
    """A matplotlib figure with one image per cell."""
    import matplotlib.pyplot as plt

    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows * 1.1), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i])
            if titles is not None:
                ax.set_title(titles[i], fontsize=8)
    fig.tight_layout()
    return fig


def directory_tree(root, max_files: int = 3) -> str:
    """A text listing of a data folder: every directory, the first ``max_files`` files of each,
    and how many more there are."""
    from pathlib import Path

    root = Path(root)
    lines = [root.name + "/"]

    def walk(folder: Path, prefix: str) -> None:
        entries = sorted(folder.iterdir(), key=lambda p: (p.is_file(), p.name))
        dirs = [p for p in entries if p.is_dir()]
        files = [p for p in entries if p.is_file() and not p.name.startswith(".")]
        shown = dirs + files[:max_files]
        for i, path in enumerate(shown):
            last = i == len(shown) - 1 and len(files) <= max_files
            branch = "└── " if last else "├── "
            if path.is_dir():
                lines.append(f"{prefix}{branch}{path.name}/")
                walk(path, prefix + ("    " if last else "│   "))
            else:
                lines.append(f"{prefix}{branch}{path.name}")
        if len(files) > max_files:
            lines.append(f"{prefix}└── … {len(files) - max_files} more files")

    walk(root, "")
    return "\n".join(lines)


def annotated_images(dataset, count: int = 8, seed: int = 0) -> list[np.ndarray]:
    """Whole images of a data set with every labelled person's skeleton (and COCO boxes)."""
    from mfvpose_lib.data.dataset import load_image

    by_image: dict[str, list[dict]] = {}
    for rec in dataset.records:
        by_image.setdefault(rec["image_path"], []).append(rec)
    paths = sorted(by_image)
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(paths), size=min(count, len(paths)), replace=False)
    out = []
    for i in sorted(chosen):
        image = np.asarray(load_image(paths[i]))
        recs = by_image[paths[i]]
        for rec in recs:
            if "bbox" in rec:
                image = draw_box(image, rec["bbox"], color=(255, 255, 255))
        joints = np.stack([rec["joints"] for rec in recs])
        out.append(draw_skeleton(image, joints, dataset.meta))
    return out


def pipeline_stages(dataset, index: int, seed: int = 0) -> list[tuple[str, np.ndarray]]:
    """Each step of ``dataset``'s pipeline on one person: (title, picture) pairs.

    The crop window is drawn on the original image after the random steps; then the crop with
    its keypoints, the target heatmaps, and the normalised tensor mapped back to colours.
    """
    from mfvpose_lib.codecs.geometry import get_affine_transform, invert_affine
    from mfvpose_lib.data.transforms import AffineCrop, GenerateTarget, Normalize, denormalize

    rng = np.random.default_rng(seed)
    sample = dataset.raw_sample(index)
    original = np.asarray(sample["image"])
    stages = [("original + labels", draw_skeleton(original, sample["joints"], dataset.meta))]
    for step in dataset.pipeline.steps:
        name = type(step).__name__
        if isinstance(step, AffineCrop):
            out_h, out_w = step.input_size
            inv = invert_affine(
                get_affine_transform(sample["center"], sample["scale"], sample["rotation"], (out_w, out_h))
            )
            corners = (
                np.array([[0, 0], [out_w, 0], [out_w, out_h], [0, out_h], [0, 0]], dtype=np.float64) - 0.5
            )
            pts = corners @ inv[:, :2].T + inv[:, 2]
            view = original[:, ::-1] if sample.get("flipped") else original
            img = Image.fromarray(np.ascontiguousarray(view))
            ImageDraw.Draw(img).line([tuple(p) for p in pts], fill=(255, 255, 0), width=2)
            title = "crop window" + (" (mirrored)" if sample.get("flipped") else "")
            stages.append((f"{title}, rot {sample['rotation']:.0f}°", np.asarray(img)))
            sample = step(sample, rng)
            stages.append(
                ("AffineCrop", draw_skeleton(sample["image"], sample["joints_input"], dataset.meta))
            )
        elif isinstance(step, GenerateTarget):
            sample = step(sample, rng)
            stages.append(
                ("GenerateTarget (max over joints)", heatmap_overlay(sample["image"], sample["target"], step.codec))
            )
        elif isinstance(step, Normalize):
            sample = step(sample, rng)
            stages.append(("Normalize → back to colours", denormalize(sample["image"])))
        else:
            sample = step(sample, rng)
            view = np.ascontiguousarray(original[:, ::-1]) if sample.get("flipped") else original
            stages.append((name, draw_skeleton(view, sample["joints"], dataset.meta)))
    return stages


def decoded_targets(dataset, indices: Sequence[int], method: str | None = None) -> list[np.ndarray]:
    """Crops with their target heatmaps and the keypoints the data set's codec decodes back from
    those targets (its own decoder, or ``method``)."""
    import torch

    from mfvpose_lib.data.transforms import denormalize

    out = []
    for i in indices:
        with torch.random.fork_rng():  # the same augmentation draw per index, the caller's generator untouched
            torch.manual_seed(int(i))
            item = dataset[int(i)]
        crop = denormalize(item["image"])
        target = item["target"].numpy()
        coords, maxvals = dataset.codec.decode(target[None], decoder=method)
        joints = np.concatenate([coords[0], (maxvals[0] > 0.1).astype(np.float32) * 2], axis=1)
        out.append(draw_skeleton(heatmap_overlay(crop, target, dataset.codec, alpha=0.4), joints, dataset.meta))
    return out
