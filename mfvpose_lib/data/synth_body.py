"""A procedural 3-D stick body shared by the COCO and MPII synthetic sets.

One skeleton carries every joint either layout needs (COCO's face points, MPII's pelvis,
thorax, upper neck and head top), so both sets come from the same renderer. Poses are drawn
from joint-angle priors (standing, walking, reaching, crouching, sitting, bending) in a body
frame (x = the person's left, y = up, z = where the person faces); the scene turns it by a yaw
that covers the full circle (front-facing views are the most common): a person seen from the
back has their left on the image left, and only the face (eyes, nose, mouth versus hair), the
feet and the bend of knees and elbows tell which way they face.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

JOINTS = (
    "pelvis", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "thorax", "upper_neck", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "head_top", "left_toe", "right_toe", "left_hand", "right_hand",
)  # fmt: skip
J = {name: i for i, name in enumerate(JOINTS)}

COCO_FROM_BODY = tuple(
    J[n]
    for n in (
        "nose",
        "left_eye",
        "right_eye",
        "left_ear",
        "right_ear",
        "left_shoulder",
        "right_shoulder",
        "left_elbow",
        "right_elbow",
        "left_wrist",
        "right_wrist",
        "left_hip",
        "right_hip",
        "left_knee",
        "right_knee",
        "left_ankle",
        "right_ankle",
    )  # fmt: skip
)
MPII_FROM_BODY = tuple(
    J[n]
    for n in (
        "right_ankle",
        "right_knee",
        "right_hip",
        "left_hip",
        "left_knee",
        "left_ankle",
        "pelvis",
        "thorax",
        "upper_neck",
        "head_top",
        "right_wrist",
        "right_elbow",
        "right_shoulder",
        "left_shoulder",
        "left_elbow",
        "left_wrist",
    )  # fmt: skip
)

# Points on the surface of the head sphere (visible only when facing the camera).
FACE_POINTS = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "head_top")

POSTURES = ("stand", "walk", "reach", "crouch", "sit", "bend")
POSTURE_PROBS = (0.42, 0.3, 0.12, 0.06, 0.04, 0.06)

UP = np.array([0.0, 1.0, 0.0])
DOWN = -UP
FORWARD = np.array([0.0, 0.0, 1.0])
LEFT = np.array([1.0, 0.0, 0.0])


def rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    """Rodrigues rotation matrix about a unit ``axis`` by ``angle`` radians."""
    axis = np.asarray(axis, dtype=np.float64)
    axis = axis / np.linalg.norm(axis)
    x, y, z = axis
    c, s = np.cos(angle), np.sin(angle)
    k = np.array([[0, -z, y], [z, 0, -x], [-y, x, 0]])
    return np.eye(3) * c + s * k + (1 - c) * np.outer(axis, axis)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(np.linalg.norm(v), 1e-9)


def _bend(direction: np.ndarray, towards: np.ndarray, angle: float) -> np.ndarray:
    """Turn ``direction`` by ``angle`` inside the plane it spans with ``towards``."""
    perp = towards - np.dot(towards, direction) * direction
    if np.linalg.norm(perp) < 1e-6:
        perp = np.cross(direction, LEFT)
    perp = _unit(perp)
    return np.cos(angle) * direction + np.sin(angle) * perp


@dataclass
class Body:
    """Joints (len(JOINTS), 3) in body units (standing height ≈ 1), radii per limb, head frame."""

    joints: np.ndarray
    head_radius: float
    head_axes: np.ndarray  # rows: left, up, forward of the head, in body frame
    limb_radius: dict[str, float]
    posture: str
    long_sleeves: bool
    long_pants: bool


DEG = np.pi / 180.0

# Base limb radii (body units); a tuple runs from the proximal to the distal end.
BASE_LIMB_RADIUS = {
    "spine": 0.085, "torso_side": 0.05, "shoulder_line": 0.045, "hip_line": 0.062,
    "neck": 0.034, "upper_arm": (0.04, 0.032), "forearm": (0.031, 0.024), "hand": 0.03,
    "thigh": (0.062, 0.045), "shin": (0.044, 0.034), "foot": (0.03, 0.026),
}  # fmt: skip


@dataclass(frozen=True)
class Proportions:
    """Segment lengths and half-widths of one body (body units)."""

    head_radius: float
    torso: float
    neck: float
    shoulder_half: float
    hip_half: float
    upper_arm: float
    forearm: float
    thigh: float
    shin: float
    foot: float


def _normal(rng: np.random.Generator, mean: float, sd: float) -> float:
    return float(rng.normal(mean, sd))


def sample_body(rng: np.random.Generator) -> Body:
    """Draw proportions and a pose from joint-angle priors.

    The steps draw from ``rng`` in a fixed order; reordering them changes every synthetic image.
    """
    posture = POSTURES[rng.choice(len(POSTURES), p=POSTURE_PROBS)]
    size = _draw_proportions(rng)
    torso, pelvis_frame = _draw_trunk_frames(rng, posture)
    joints = np.zeros((len(JOINTS), 3))
    _place_trunk(joints, size, torso, pelvis_frame)
    head_axes = _place_head(rng, joints, size, torso)
    _place_arms(rng, joints, size, posture, torso)
    _place_legs(rng, joints, size, posture, pelvis_frame)
    limb_radius = _draw_limb_radii(rng)
    return Body(
        joints=joints,
        head_radius=size.head_radius,
        head_axes=head_axes,
        limb_radius=limb_radius,
        posture=posture,
        long_sleeves=bool(rng.random() < 0.55),
        long_pants=bool(rng.random() < 0.7),
    )


def _draw_proportions(rng: np.random.Generator) -> Proportions:
    """Overall scale, head size, and shoulder and hip widths around adult averages."""
    prop = float(np.clip(rng.normal(1.0, 0.05), 0.88, 1.12))
    head_r = 0.062 * float(np.clip(rng.normal(1.0, 0.06), 0.85, 1.15))
    sh_half = 0.115 * float(np.clip(rng.normal(1.0, 0.08), 0.85, 1.2))
    hip_half = 0.085 * float(np.clip(rng.normal(1.0, 0.08), 0.85, 1.2))
    return Proportions(
        head_radius=head_r, torso=0.29 * prop, neck=0.045, shoulder_half=sh_half, hip_half=hip_half,
        upper_arm=0.165 * prop, forearm=0.145 * prop, thigh=0.245 * prop, shin=0.24 * prop, foot=0.065,
    )  # fmt: skip


def _draw_trunk_frames(rng: np.random.Generator, posture: str) -> tuple[np.ndarray, np.ndarray]:
    """Rotations of the torso (lean, side tilt, twist) and of the pelvis (yaw)."""
    lean = _normal(rng, 0, 6) * DEG
    if posture == "bend":
        lean = float(rng.uniform(30, 70)) * DEG
    elif posture == "crouch":
        lean = float(rng.uniform(15, 40)) * DEG
    side = _normal(rng, 0, 5) * DEG
    twist = _normal(rng, 0, 12) * DEG
    # a positive rotation about +x (the person's left) tilts up towards +z: a forward lean
    torso = rotation(UP, twist) @ rotation(FORWARD, side) @ rotation(LEFT, lean)
    pelvis_frame = rotation(UP, _normal(rng, 0, 6) * DEG)
    return torso, pelvis_frame


def _place_trunk(joints: np.ndarray, size: Proportions, torso: np.ndarray, pelvis_frame: np.ndarray) -> None:
    """Pelvis at the origin, hips across the pelvis, thorax and shoulders up the torso."""
    joints[J["pelvis"]] = 0.0
    joints[J["left_hip"]] = pelvis_frame @ (LEFT * size.hip_half)
    joints[J["right_hip"]] = pelvis_frame @ (-LEFT * size.hip_half)
    thorax = torso @ (UP * size.torso)
    joints[J["thorax"]] = thorax
    shoulder_drop = torso @ (DOWN * 0.02)
    joints[J["left_shoulder"]] = thorax + torso @ (LEFT * size.shoulder_half) + shoulder_drop
    joints[J["right_shoulder"]] = thorax - torso @ (LEFT * size.shoulder_half) + shoulder_drop


def _place_head(
    rng: np.random.Generator, joints: np.ndarray, size: Proportions, torso: np.ndarray
) -> np.ndarray:
    """Neck and head joints, face points on the head sphere; returns the head's left/up/forward axes."""
    neck_frame = torso @ rotation(LEFT, _normal(rng, 5, 8) * DEG)
    upper_neck = joints[J["thorax"]] + neck_frame @ (UP * size.neck)
    joints[J["upper_neck"]] = upper_neck
    head_yaw = float(np.clip(rng.normal(0, 25), -70, 70)) * DEG
    head = (
        neck_frame
        @ rotation(UP, head_yaw)
        @ rotation(LEFT, _normal(rng, 0, 12) * DEG)
        @ rotation(FORWARD, _normal(rng, 0, 8) * DEG)
    )
    h_left, h_up, h_fwd = head @ LEFT, head @ UP, head @ FORWARD
    head_r = size.head_radius
    centre = upper_neck + h_up * head_r * 1.05
    joints[J["head"]] = centre
    joints[J["head_top"]] = centre + h_up * head_r
    joints[J["nose"]] = centre + _unit(h_fwd - 0.12 * h_up) * head_r * 1.12
    for sign, name in ((1, "left"), (-1, "right")):
        joints[J[f"{name}_eye"]] = centre + _unit(0.85 * h_fwd + sign * 0.36 * h_left + 0.2 * h_up) * head_r
        joints[J[f"{name}_ear"]] = centre + _unit(sign * h_left - 0.12 * h_fwd + 0.02 * h_up) * head_r * 1.02
    return np.stack([h_left, h_up, h_fwd])


def _place_arms(
    rng: np.random.Generator, joints: np.ndarray, size: Proportions, posture: str, torso: np.ndarray
) -> None:
    """Elbows, wrists and hands, posed in the torso frame (left arm first)."""
    for sign, name in ((1, "left"), (-1, "right")):
        if posture == "reach" and rng.random() < 0.75:
            abduct = float(rng.uniform(60, 170))
        else:
            abduct = abs(_normal(rng, 12, 14)) if rng.random() < 0.7 else float(rng.uniform(30, 110))
        flex = _normal(rng, 0, 30) + (40 if posture in ("crouch", "sit") else 0)
        upper_dir = rotation(LEFT, -flex * DEG) @ rotation(FORWARD, sign * abduct * DEG) @ DOWN
        shoulder = joints[J[f"{name}_shoulder"]]
        elbow = shoulder + size.upper_arm * (torso @ upper_dir)
        elbow_flex = abs(_normal(rng, 0, 20)) if rng.random() < 0.5 else float(rng.uniform(30, 145))
        towards = 0.8 * FORWARD + 0.35 * UP - sign * 0.3 * LEFT + rng.normal(0, 0.25, 3)
        fore_dir = _bend(upper_dir, towards, elbow_flex * DEG)
        wrist = elbow + size.forearm * (torso @ fore_dir)
        joints[J[f"{name}_elbow"]] = elbow
        joints[J[f"{name}_wrist"]] = wrist
        joints[J[f"{name}_hand"]] = wrist + 0.04 * (torso @ fore_dir)


def _draw_leg_angles(
    rng: np.random.Generator, posture: str, stride: float, leading: bool
) -> tuple[float, float, float]:
    """Hip flexion, knee bend and hip abduction (degrees) of one leg for the posture."""
    abduct = _normal(rng, 4, 5)
    if posture == "walk":
        hip_flex = (stride if leading else -stride) + _normal(rng, 0, 4)
        knee = float(rng.uniform(0, 15)) if leading else float(rng.uniform(10, 45))
    elif posture == "crouch":
        hip_flex, knee = float(rng.uniform(60, 110)), float(rng.uniform(90, 140))
        abduct += float(rng.uniform(0, 15))
    elif posture == "sit":
        hip_flex, knee = float(rng.uniform(75, 100)), float(rng.uniform(70, 100))
    elif posture == "bend":
        hip_flex, knee = _normal(rng, 0, 6), abs(_normal(rng, 0, 10))
    else:
        hip_flex, knee = _normal(rng, 0, 8), abs(_normal(rng, 0, 8))
        abduct += abs(_normal(rng, 0, 6))
    return hip_flex, knee, abduct


def _place_legs(
    rng: np.random.Generator, joints: np.ndarray, size: Proportions, posture: str, pelvis_frame: np.ndarray
) -> None:
    """Knees, ankles and toes, posed in the pelvis frame (left leg first)."""
    stride = float(rng.uniform(10, 32))
    lead = 1 if rng.random() < 0.5 else -1
    for sign, name in ((1, "left"), (-1, "right")):
        hip_flex, knee, abduct = _draw_leg_angles(rng, posture, stride, lead * sign > 0)
        thigh_dir = rotation(LEFT, -hip_flex * DEG) @ rotation(FORWARD, sign * abduct * DEG) @ DOWN
        hip = joints[J[f"{name}_hip"]]
        knee_pos = hip + size.thigh * (pelvis_frame @ thigh_dir)
        shin_dir = _bend(thigh_dir, -FORWARD, knee * DEG)
        ankle = knee_pos + size.shin * (pelvis_frame @ shin_dir)
        toe_dir = _unit(_unit(FORWARD - np.dot(FORWARD, shin_dir) * shin_dir) * 0.95 + 0.3 * shin_dir)
        joints[J[f"{name}_knee"]] = knee_pos
        joints[J[f"{name}_ankle"]] = ankle
        joints[J[f"{name}_toe"]] = ankle + size.foot * (pelvis_frame @ toe_dir)


def _draw_limb_radii(rng: np.random.Generator) -> dict[str, float | tuple[float, ...]]:
    """Each limb's base radii scaled by its own factor; single radii stay plain floats."""
    radius = {k: tuple(float(x) * float(np.clip(rng.normal(1.0, 0.1), 0.8, 1.25)) for x in np.atleast_1d(v))
              for k, v in BASE_LIMB_RADIUS.items()}  # fmt: skip
    return {k: v if len(v) > 1 else v[0] for k, v in radius.items()}


def joint_radius(body: Body, index: int) -> float:
    """How far a joint's front surface is in front of its centre (body units)."""
    name = JOINTS[index]
    r = body.limb_radius
    if name in FACE_POINTS:
        return 0.0
    if "shoulder" in name:
        return r["upper_arm"][0]
    if "elbow" in name:
        return r["forearm"][0]
    if "wrist" in name or "hand" in name:
        return r["forearm"][1]
    if "hip" in name:
        return r["hip_line"]
    if "knee" in name:
        return r["shin"][0]
    if "ankle" in name or "toe" in name:
        return r["shin"][1]
    if name in ("pelvis", "thorax"):
        return r["spine"]
    if name == "upper_neck":
        return r["neck"]
    return body.head_radius
