"""Named presets for how big a run is: ``smoke`` (seconds), ``cpu`` (minutes), ``paper``.

A notebook receives only the profile's name in its ``parameters`` cell and looks the
rest up here, so a batch run and an interactive run agree on every setting.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    # synthetic data rendered when the data root is empty (images per split)
    synth_train: int
    synth_val: int
    # models trained for the COCO-layout and MPII-layout parts of the study
    coco_model: str
    mpii_model: str
    epochs: int
    batch_size: int
    lr: float
    lr_steps: tuple[int, ...]
    workers: int


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke",
        description="seconds per notebook; exercises every code path (tests, CI)",
        synth_train=24,
        synth_val=8,
        coco_model="mfvpose_tiny",
        mpii_model="mfvpose_tiny_mpii",
        epochs=1,
        batch_size=8,
        lr=1e-3,
        lr_steps=(),
        workers=0,
    ),
    "cpu": Profile(
        name="cpu",
        description="minutes on a 2-core laptop: small models on synthetic data that really learn",
        synth_train=2000,
        synth_val=200,
        coco_model="mfvpose_tiny",
        mpii_model="mfvpose_tiny_mpii",
        epochs=20,
        batch_size=32,
        lr=1e-3,
        lr_steps=(15, 18),
        workers=2,
    ),
    "paper": Profile(
        name="paper",
        description="the paper's recipe on COCO 2017 / MPII and a GPU",
        synth_train=0,
        synth_val=0,
        coco_model="mfvpose_b",
        mpii_model="mfvpose_l_d24_mpii",
        epochs=300,
        batch_size=32,
        lr=1e-3,
        lr_steps=(200, 260),
        workers=8,
    ),
}


def get_profile(name: str, **overrides) -> Profile:
    try:
        profile = PROFILES[name]
    except KeyError:
        raise KeyError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}") from None
    return replace(profile, **overrides) if overrides else profile
