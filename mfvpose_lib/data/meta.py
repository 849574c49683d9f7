"""Keypoint layouts of COCO-17 and MPII-16: the single source of truth for names, pairs and weights.

Everything that depends on a layout (flip augmentation, half-body crops, target weights, OKS,
skeleton drawing, PCKh groups) reads it from here, so a change in one place reaches them all.
Numbers follow the reference code: OKS sigmas of the COCO evaluation, joint weights of the HRNet
data loaders, MPII sigmas as MMPose publishes them for OKS-style evaluation on MPII.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class DatasetMeta:
    """Static description of one keypoint layout.

    ``flip_pairs`` lists (left-or-right, mirror) index pairs swapped by a horizontal flip;
    ``skeleton`` lists the limbs drawn between keypoints; ``sigmas`` are OKS falloff constants;
    ``joint_weights`` multiply the target weights (HRNet's ``USE_DIFFERENT_JOINTS_WEIGHT``).
    """

    name: str
    keypoint_names: tuple[str, ...]
    flip_pairs: tuple[tuple[int, int], ...]
    skeleton: tuple[tuple[int, int], ...]
    sigmas: tuple[float, ...]
    joint_weights: tuple[float, ...]
    colors: tuple[tuple[int, int, int], ...]
    upper_body_ids: tuple[int, ...]
    lower_body_ids: tuple[int, ...]
    limb_colors: tuple[tuple[int, int, int], ...] = field(default=())

    def __post_init__(self) -> None:
        k = len(self.keypoint_names)
        for attr in ("sigmas", "joint_weights", "colors"):
            if len(getattr(self, attr)) != k:
                raise ValueError(f"{self.name}: {attr} has {len(getattr(self, attr))} entries, expected {k}")
        used = {i for pair in self.flip_pairs for i in pair} | {i for limb in self.skeleton for i in limb}
        if used and (min(used) < 0 or max(used) >= k):
            raise ValueError(f"{self.name}: flip pair or skeleton index out of range 0..{k - 1}")
        if self.limb_colors and len(self.limb_colors) != len(self.skeleton):
            raise ValueError(f"{self.name}: limb_colors must match skeleton length")

    @property
    def num_keypoints(self) -> int:
        return len(self.keypoint_names)

    @property
    def flip_index(self) -> np.ndarray:
        """Permutation that maps each keypoint to its mirror (identity for centre-line joints)."""
        perm = np.arange(self.num_keypoints)
        for a, b in self.flip_pairs:
            perm[a], perm[b] = b, a
        return perm

    @property
    def sigmas_array(self) -> np.ndarray:
        return np.asarray(self.sigmas, dtype=np.float64)

    @property
    def joint_weights_array(self) -> np.ndarray:
        return np.asarray(self.joint_weights, dtype=np.float32)

    def index(self, name: str) -> int:
        try:
            return self.keypoint_names.index(name)
        except ValueError:
            raise KeyError(f"{self.name} has no keypoint {name!r}") from None


# Colours: left side warm, right side cool, centre line green -- for drawing only; the synthetic
# renderer never uses them, so a model cannot read side from colour.
_LEFT = (230, 120, 40)
_RIGHT = (40, 140, 230)
_CENTRE = (60, 200, 80)

_COCO_NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip

_COCO_SKELETON = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7),
    (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
)  # fmt: skip


def _side_color(name: str) -> tuple[int, int, int]:
    if name.startswith("left"):
        return _LEFT
    if name.startswith("right"):
        return _RIGHT
    return _CENTRE


def _limb_colors(names: tuple[str, ...], skeleton) -> tuple[tuple[int, int, int], ...]:
    out = []
    for a, b in skeleton:
        ca, cb = _side_color(names[a]), _side_color(names[b])
        out.append(ca if ca == cb else _CENTRE)
    return tuple(out)


COCO_META = DatasetMeta(
    name="coco",
    keypoint_names=_COCO_NAMES,
    flip_pairs=((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)),
    skeleton=_COCO_SKELETON,
    sigmas=tuple(
        s / 10.0
        for s in (
            0.26,
            0.25,
            0.25,
            0.35,
            0.35,
            0.79,
            0.79,
            0.72,
            0.72,
            0.62,
            0.62,
            1.07,
            1.07,
            0.87,
            0.87,
            0.89,
            0.89,
        )
    ),
    joint_weights=(1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.2, 1.2, 1.5, 1.5, 1.0, 1.0, 1.2, 1.2, 1.5, 1.5),
    colors=tuple(_side_color(n) for n in _COCO_NAMES),
    upper_body_ids=tuple(range(11)),
    lower_body_ids=tuple(range(11, 17)),
    limb_colors=_limb_colors(_COCO_NAMES, _COCO_SKELETON),
)

_MPII_NAMES = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
    "pelvis", "thorax", "upper_neck", "head_top",
    "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist",
)  # fmt: skip

_MPII_SKELETON = (
    (0, 1), (1, 2), (2, 6), (6, 3), (3, 4), (4, 5), (6, 7), (7, 8), (8, 9),
    (8, 12), (12, 11), (11, 10), (8, 13), (13, 14), (14, 15),
)  # fmt: skip

MPII_META = DatasetMeta(
    name="mpii",
    keypoint_names=_MPII_NAMES,
    flip_pairs=((0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13)),
    skeleton=_MPII_SKELETON,
    sigmas=(
        0.089,
        0.083,
        0.107,
        0.107,
        0.083,
        0.089,
        0.026,
        0.026,
        0.026,
        0.026,
        0.062,
        0.072,
        0.179,
        0.179,
        0.072,
        0.062,
    ),  # fmt: skip
    joint_weights=(1.5, 1.2, 1.0, 1.0, 1.2, 1.5, 1.0, 1.0, 1.0, 1.0, 1.5, 1.2, 1.0, 1.0, 1.2, 1.5),
    colors=tuple(_side_color(n) for n in _MPII_NAMES),
    upper_body_ids=(7, 8, 9, 10, 11, 12, 13, 14, 15),
    lower_body_ids=(0, 1, 2, 3, 4, 5, 6),
    limb_colors=_limb_colors(_MPII_NAMES, _MPII_SKELETON),
)
