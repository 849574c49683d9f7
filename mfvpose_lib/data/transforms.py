"""Top-down pipeline steps on a sample dict, in the order of the reference data loaders.

A sample starts as ``{"image": PIL.Image, "joints": (K, 3), "center": (2,), "scale": (2,),
"rotation": 0.0, "flipped": False, ...}``. Training applies :class:`HalfBody`,
:class:`RandomScaleRotation`, :class:`RandomFlip`; every split then applies :class:`AffineCrop`
(one resampling of the original image: scale, rotation, flip and crop are composed into a single
affine matrix), :class:`GenerateTarget` and :class:`Normalize`. Each step takes the sample and a
``numpy.random.Generator`` and returns the sample, so steps compose and test one at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from PIL import Image

from mfvpose_lib.codecs.heatmap import HeatmapCodec
from mfvpose_lib.codecs.geometry import (
    PIXEL_STD,
    affine_points,
    box_extent,
    check_geometry,
    fliplr_joints,
    get_affine_transform,
)
from mfvpose_lib.data.meta import DatasetMeta

# one OpenCV thread per loader process: the data loader parallelises across workers
cv2.setNumThreads(1)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class AugmentationConfig:
    """Training augmentation of the reference recipes (HRNet/TokenPose configs).

    The defaults are COCO's: scale ±0.35, rotation ±45° (σ, clipped at 2σ) with probability
    0.6, flip 0.5, half-body 0.3. Each data set's spec names its own
    (:attr:`~mfvpose_lib.data.spec.DatasetSpec.augmentation`).
    """

    scale_factor: float = 0.35
    rotation_factor: float = 45.0
    rotation_prob: float = 0.6
    flip_prob: float = 0.5
    half_body_prob: float = 0.3
    num_joints_half_body: int = 8


class Compose:
    """Run steps in order; ``steps`` is public so a notebook can show each stage."""

    def __init__(self, steps: Sequence) -> None:
        self.steps = list(steps)

    def __call__(self, sample: dict, rng: np.random.Generator) -> dict:
        for step in self.steps:
            sample = step(sample, rng)
        return sample

    def __repr__(self) -> str:
        return "Compose(" + ", ".join(type(s).__name__ for s in self.steps) + ")"


class HalfBody:
    """With probability ``prob``, re-centre the box on the visible upper or lower body.

    Needs more than ``num_joints`` visible joints; picks the upper half when a normal draw is
    below 0.5 (as the references), the box is fitted to the crop aspect ratio and padded ×1.5.
    Its extent follows the ``geometry``'s reference (:func:`~mfvpose_lib.codecs.geometry.box_extent`:
    TokenPose counts max − min + 1, HRNet max − min).
    """

    def __init__(
        self, meta: DatasetMeta, aspect_ratio: float, prob: float = 0.3, num_joints: int = 8,
        geometry: str = "hrnet",
    ) -> None:  # fmt: skip
        self.upper = np.asarray(meta.upper_body_ids)
        self.lower = np.asarray(meta.lower_body_ids)
        self.aspect_ratio = aspect_ratio
        self.prob = prob
        self.num_joints = num_joints
        self.geometry = check_geometry(geometry)

    def __call__(self, sample: dict, rng: np.random.Generator) -> dict:
        joints = sample["joints"]
        visible = joints[:, 2] > 0
        if self.prob <= 0 or visible.sum() <= self.num_joints or rng.random() >= self.prob:
            return sample
        upper = joints[self.upper][visible[self.upper], :2]
        lower = joints[self.lower][visible[self.lower], :2]
        if rng.standard_normal() < 0.5 and len(upper) > 2:
            selected = upper
        else:
            selected = lower if len(lower) > 2 else upper
        if len(selected) < 2:
            return sample
        center = selected.mean(axis=0)
        w, h = box_extent(selected, self.geometry)
        if w > self.aspect_ratio * h:
            h = w / self.aspect_ratio
        elif w < self.aspect_ratio * h:
            w = h * self.aspect_ratio
        sample["center"] = center.astype(np.float32)
        sample["scale"] = (np.array([w, h], dtype=np.float32) / PIXEL_STD) * 1.5
        sample["half_body"] = True
        return sample


class RandomScaleRotation:
    """Scale × clip(N(1, sf), 1±sf); rotation clip(N(0, rf), ±2rf) with probability ``rotation_prob``."""

    def __init__(self, scale_factor: float, rotation_factor: float, rotation_prob: float = 0.6) -> None:
        self.scale_factor = scale_factor
        self.rotation_factor = rotation_factor
        self.rotation_prob = rotation_prob

    def __call__(self, sample: dict, rng: np.random.Generator) -> dict:
        sf, rf = self.scale_factor, self.rotation_factor
        factor = np.clip(rng.standard_normal() * sf + 1, 1 - sf, 1 + sf)
        sample["scale"] = (sample["scale"] * factor).astype(np.float32)
        rotate = rng.random() <= self.rotation_prob
        sample["rotation"] = float(np.clip(rng.standard_normal() * rf, -2 * rf, 2 * rf)) if rotate else 0.0
        return sample


class RandomFlip:
    """Horizontal flip with probability ``prob``: joints mirrored and left/right swapped.

    The pixels are not touched here; :class:`AffineCrop` folds the mirror into its matrix, so the
    full image is resampled once.
    """

    def __init__(self, flip_pairs: Sequence[tuple[int, int]], prob: float = 0.5) -> None:
        self.flip_pairs = tuple(flip_pairs)
        self.prob = prob

    def __call__(self, sample: dict, rng: np.random.Generator) -> dict:
        if rng.random() >= self.prob:
            return sample
        return flip_sample(sample, self.flip_pairs)


def flip_sample(sample: dict, flip_pairs: Sequence[tuple[int, int]]) -> dict:
    """Mirror a not-yet-cropped sample (used by :class:`RandomFlip` and by flip tests)."""
    width = image_width(sample["image"])
    sample["joints"] = fliplr_joints(sample["joints"], width, flip_pairs)
    center = np.array(sample["center"], dtype=np.float32, copy=True)
    center[0] = width - center[0] - 1
    sample["center"] = center
    sample["flipped"] = not sample.get("flipped", False)
    return sample


def image_width(image) -> int:
    return image.size[0] if isinstance(image, Image.Image) else int(np.asarray(image).shape[1])


class AffineCrop:
    """Crop ``input_size`` (H, W) around center/scale/rotation in one ``geometry``.

    Writes ``image`` (uint8 H×W×3 array), ``joints_input`` (K, 3) in crop pixels and ``trans``
    (2×3 original → crop). Pixels are cut with ``cv2.warpAffine`` and bilinear interpolation,
    as both reference code bases do; a flipped sample folds the mirror into the matrix, which
    equals mirroring the pixels first and warping them (tests hold both to ≤ 1 grey level).
    """

    def __init__(self, input_size: Sequence[int], geometry: str = "hrnet") -> None:
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.geometry = check_geometry(geometry)

    def __call__(self, sample: dict, rng: np.random.Generator | None = None) -> dict:
        out_h, out_w = self.input_size
        trans = get_affine_transform(
            sample["center"], sample["scale"], sample.get("rotation", 0.0), (out_w, out_h), geometry=self.geometry
        )
        pixels = as_rgb_array(sample["image"])
        pixel_trans = trans
        if sample.get("flipped", False):
            # sample coordinates are in the mirrored frame; the pixels are still the original ones
            mirror = np.array([[-1.0, 0.0, pixels.shape[1] - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
            pixel_trans = trans @ mirror
        sample["image"] = warp_affine(pixels, pixel_trans, (out_w, out_h))
        joints = np.array(sample["joints"], dtype=np.float32, copy=True)
        visible = joints[:, 2] > 0
        joints[visible, :2] = affine_points(joints[visible, :2], trans)
        sample["joints_input"] = joints
        sample["trans"] = trans
        return sample


def as_rgb_array(image) -> np.ndarray:
    """A contiguous uint8 H×W×3 array from a PIL image or an array."""
    return np.ascontiguousarray(np.asarray(image, dtype=np.uint8))


def warp_affine(image, trans: np.ndarray, size: Sequence[int]) -> np.ndarray:
    """``cv2.warpAffine`` with bilinear interpolation and a black border (the references' call);
    ``size`` is (W, H)."""
    return cv2.warpAffine(as_rgb_array(image), np.asarray(trans, dtype=np.float64), (int(size[0]), int(size[1])),
                          flags=cv2.INTER_LINEAR)  # fmt: skip


class GenerateTarget:
    """Gaussian heatmaps and weights from ``joints_input`` with the run's :class:`HeatmapCodec`."""

    def __init__(self, codec: HeatmapCodec, joint_weights: np.ndarray | None = None) -> None:
        self.codec = codec
        self.joint_weights = joint_weights

    def __call__(self, sample: dict, rng: np.random.Generator | None = None) -> dict:
        target, weight = self.codec.encode(sample["joints_input"], joint_weights=self.joint_weights)
        sample["target"] = target
        sample["target_weight"] = weight
        return sample


class Normalize:
    """uint8 H×W×3 → float32 tensor (3, H, W) with ImageNet mean/std (as the pretrained backbones)."""

    def __init__(self, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> None:
        std_t = torch.tensor(std, dtype=torch.float32)
        self.scale = (1.0 / (255.0 * std_t)).view(3, 1, 1)
        self.offset = (-torch.tensor(mean, dtype=torch.float32) / std_t).view(3, 1, 1)

    def __call__(self, sample: dict, rng: np.random.Generator | None = None) -> dict:
        hwc = torch.from_numpy(np.array(sample["image"], dtype=np.uint8, copy=True))
        chw = hwc.permute(2, 0, 1).to(torch.float32, memory_format=torch.contiguous_format)
        sample["image"] = chw.mul_(self.scale).add_(self.offset)
        return sample


def denormalize(image: torch.Tensor | np.ndarray) -> np.ndarray:
    """Inverse of :class:`Normalize` for display: (3, H, W) → uint8 (H, W, 3)."""
    arr = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    arr = arr.transpose(1, 2, 0) * np.asarray(IMAGENET_STD) + np.asarray(IMAGENET_MEAN)
    return np.clip(arr * 255.0 + 0.5, 0, 255).astype(np.uint8)


def build_pipeline(
    meta: DatasetMeta,
    *,
    codec: HeatmapCodec | None = None,
    input_size: Sequence[int] | None = None,
    heatmap_size: Sequence[int] | None = None,
    train: bool,
    augmentation: AugmentationConfig | None = None,
    use_joint_weights: bool = False,
) -> Compose:
    """The training or test pipeline for one layout, cropping and encoding with ``codec``
    (or a default :class:`HeatmapCodec` of ``input_size``/``heatmap_size``). Training needs
    ``augmentation``. Test time: crop,
    target, normalise -- no randomness; flip testing is done on the model output
    (:meth:`HeatmapCodec.flip_back`)."""
    if codec is None:
        if input_size is None or heatmap_size is None:
            raise ValueError("build_pipeline needs a codec, or input_size and heatmap_size")
        codec = HeatmapCodec(input_size=tuple(input_size), heatmap_size=tuple(heatmap_size))
    input_size = codec.input_size
    steps: list = []
    if train:
        if augmentation is None:
            raise ValueError(
                f"a {meta.name} training pipeline needs an augmentation (its data set spec's is "
                "get_dataset_spec(name).augmentation)"
            )
        aug = augmentation
        aspect = input_size[1] / input_size[0]
        if aug.half_body_prob > 0:
            steps.append(HalfBody(meta, aspect, aug.half_body_prob, aug.num_joints_half_body, codec.geometry))
        steps.append(RandomScaleRotation(aug.scale_factor, aug.rotation_factor, aug.rotation_prob))
        if aug.flip_prob > 0:
            steps.append(RandomFlip(meta.flip_pairs, aug.flip_prob))
    steps.append(AffineCrop(input_size, geometry=codec.geometry))
    steps.append(GenerateTarget(codec, joint_weights=meta.joint_weights_array if use_joint_weights else None))
    steps.append(Normalize())
    return Compose(steps)
