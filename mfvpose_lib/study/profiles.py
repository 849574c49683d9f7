"""Named presets for how big a run is: ``smoke`` (seconds), ``cpu`` (minutes), ``paper``.

A notebook receives only the profile's name in its ``parameters`` cell and looks the
rest up here, so a batch run and an interactive run agree on every setting.

A profile's training settings are values of :class:`~mfvpose_lib.engine.train_config.TrainConfig`
fields: ``training`` for every run, a :class:`DatasetRecipe` per data set over it, both checked
against the fields when this module is imported. :meth:`Profile.for_dataset` lays them over
TrainConfig's defaults.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from mfvpose_lib.data.spec import get_dataset_spec
from mfvpose_lib.data.transforms import AugmentationConfig
from mfvpose_lib.engine.config_file import check_settings
from mfvpose_lib.engine.train_config import TrainConfig


class TrainSettings(Mapping[str, Any]):
    """Values for some :class:`TrainConfig` fields, checked by name and type against the fields
    when made, so a misspelt setting fails when the profiles are imported."""

    def __init__(self, **values: Any) -> None:
        self._values = check_settings(values, source=type(self).__name__)

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self._values.items())})"


class DatasetRecipe(TrainSettings):
    """What a profile trains on one data set: the model, and the settings where this data set's run
    differs from the profile's (crop size, augmentation, schedule ...)."""

    def __init__(self, model: str, **values: Any) -> None:
        super().__init__(model=model, **values)


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    # synthetic data rendered when the data root is empty (images per split)
    synth_train: int
    synth_val: int
    # TrainConfig values of every run of this profile, over TrainConfig's defaults
    training: TrainSettings
    # what is trained on each data set of the study, over ``training``: model, crop size, augmentation, schedule
    datasets: Mapping[str, DatasetRecipe]
    needs_pretrained: bool = False  # warn loudly when no ImageNet backbone is given
    synth_seed: int = 0
    # each model's public recipe (total batch, lr, schedule) replaces batch_size/lr/epochs/lr_steps
    public_recipe: bool = False
    synth_test: int = 0  # images of the synthetic COCO test-dev split (images and detections only)
    # --- the Table 4 ablation (study.ablation): seeds per row, runs trained side by side
    ablation_seeds: int = 3
    ablation_parallel: int = 1  # training processes at once (each with ``threads`` threads)
    ablation_weights: str = "final"  # what each cell is scored on: final weights or the run's average ("ema")

    def for_dataset(
        self, dataset: str, data_root: str | Path = "", out_dir: str | Path = "", **overrides
    ) -> TrainConfig:
        """This profile's run on ``dataset``: TrainConfig's defaults, then the profile's ``training``,
        then the data set's recipe, then ``overrides`` (None: not given). Without ``data_root`` and
        ``out_dir`` it describes the recipe only (``study.runs.config_from_profile`` places a run)."""
        try:
            recipe = self.datasets[dataset]
        except KeyError:
            raise KeyError(
                f"profile {self.name!r} trains nothing on {dataset!r}; its data sets are {', '.join(self.datasets)}"
            ) from None
        values = {**self.training, **recipe, "dataset": dataset, "data_root": str(data_root),
                  "out_dir": str(out_dir), "profile": self.name}  # fmt: skip
        if "val_boxes" in values:  # the profile asks for detection boxes; MPII has only its own
            values["val_boxes"] = get_dataset_spec(dataset).boxes_for(values["val_boxes"])
        given = {k: v for k, v in overrides.items() if v is not None}
        if self.public_recipe:
            values.update(public_recipe(given.get("model") or values["model"]).settings)
        if "batch_size" in given and "total_batch" not in given:
            values["total_batch"] = None  # an explicit per-process batch wins over the recipe's total
        return TrainConfig(**{**values, **given})


# Augmentation for short CPU runs: smaller rotations and scale changes, rare half-body crops.
MILD_AUGMENTATION = AugmentationConfig(
    scale_factor=0.25, rotation_factor=20.0, rotation_prob=0.5, flip_prob=0.5, half_body_prob=0.1
)

# What every run of the cpu profile (and of the ablation profile, which shares its data) sets.
CPU_TRAINING = TrainSettings(
    epochs=30, batch_size=16, lr=1e-3, lr_steps=(22, 27), workers=1, warmup_epochs=1.0, eval_every=5,
    val_flip=False, val_boxes="det",
    # the MPII runs: one compute thread each, two side by side (two threads per run would be
    # four on two cores)
    threads=1,
    # decoded once and held in memory: the COCO run peaked at 1.4 GB RSS against 0.5 GB without
    cache_images=True,
    # the paper's σ = 2 on 64x48 heatmaps would be σ = 0.5 on these 16x12 ones; of 0.6, 1.0 and 2.0,
    # 1.0 gave the highest AP after 5 epochs
    sigma=1.0,
)  # fmt: skip
# The cpu profile's COCO run: the model's own 128x96 crops, so that the keypoint tokens see an 8x8
# patch grid and the crop's half-width (48 px) holds the backbone's 90% gradient field (at 64x48,
# ±23 px trained and ±26 px untrained filled a 24-px half-width: notebook 10 measured the crop).
# Augmentation milder than the reference recipes, which are tuned for 200+ epochs. Batch 64 on both
# cores with the images in memory and no loader process runs 2.1x the samples/s of batch 16 on one
# thread beside a loader (figures/bench/cpu-study/). At 128x96, batch 64 for 16 epochs (500 steps) left
# the model at 1.1 AP: batch 32 with the lr scaled by the square root (1.4e-3) gives 1,500 steps in 24
# epochs, about the step count of the former 45 epochs at 64x48. Validated every 8 epochs (128x96
# detection-box evaluations cost about half a minute each).
CPU_COCO = DatasetRecipe(
    "mfvpose_tiny", augmentation=MILD_AUGMENTATION,
    batch_size=32, lr=1.4e-3, threads=2, workers=0, epochs=24, lr_steps=(18, 22), eval_every=8,
)  # fmt: skip

# The cpu profile's MPII run, also seed 0 of the ablation's MfvPose row: 4 rows x 3 seeds fit the
# budget. The ablation trains two runs side by side, each loading its own data on its core (a loader
# process per run would leave four processes fighting for two cores).
CPU_MPII = DatasetRecipe(
    "mfvpose_tiny_mpii", input_size=(64, 64), augmentation=MILD_AUGMENTATION, epochs=8, lr_steps=(6, 7), workers=0
)

CPU = Profile(
    name="cpu",
    description="minutes on a 2-core laptop: small models on synthetic data that really learn",
    synth_train=2000,
    # 1000 people: evaluation noise (bootstrap over people) well under the seed spread
    synth_val=1000,
    synth_test=100,
    training=CPU_TRAINING,
    datasets={"coco": CPU_COCO, "mpii": CPU_MPII},
    ablation_parallel=2,
)

PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke",
        description="seconds per notebook; exercises every code path (tests, CI)",
        synth_train=24,
        synth_val=8,
        synth_test=4,
        training=TrainSettings(
            epochs=1, batch_size=8, lr=1e-3, lr_steps=(), workers=0, sigma=2.0, val_boxes="det"
        ),
        datasets={
            "coco": DatasetRecipe("mfvpose_tiny", input_size=(64, 48)),
            "mpii": DatasetRecipe("mfvpose_tiny_mpii", input_size=(64, 64)),
        },
    ),
    "cpu": CPU,
    # Table 4 alone, designed from the noise study (`mfvpose noise`, study.noise_levers; figures/cpu/
    # table4_noise_levers.csv). Of the levers measured at the cpu profile's MPII recipe (3 paired seeds,
    # TokenPose against + LSW), only the schedule length narrowed the paired spread: 3.22 PCKh at 8 epochs,
    # 1.74 at 16; a weight average (EMA 0.995) 1.94, an 8x8 patch grid 4.08. Fixed here before its runs
    # were scored: PCKh@0.5 (the paper's statistic; MNE beside it), final weights, 16 epochs (x0.1 at 12
    # and 15), 64x64 crops, 9 paired seeds. Table 4 pools the rows' paired spreads (the + HRFOV row's was
    # 0.48 at 8 epochs): the LSW pairs' 1.74 at 9 seeds predicts a minimum detectable difference of 1.9 PCKh.
    # A first run stopped at 4 seeds for time (detection limit 3.42, pooled spread 1.61); the 5 further seeds
    # reuse its cells (`make ablation`, about 1.5 hours on 2 cores). The MPII runs validate every other epoch
    # (no flip test) for the learning curves.
    "ablation": replace(
        CPU,
        name="ablation",
        description="Table 4 alone on 2 cores (about 1.5 hours): 9 paired seeds x 4 rows, 16 epochs, sized to resolve 2.0 PCKh",
        datasets={"coco": CPU_COCO,
                  "mpii": DatasetRecipe(**{**CPU_MPII, "epochs": 16, "lr_steps": (12, 15), "eval_every": 2})},
        ablation_seeds=9,
    ),
    "gpu": Profile(
        name="gpu",
        description="the paper-size models at their real input sizes on the built-in data; Table 4 sized to resolve "
                    "+0.41 PCKh (5 seeds x 150 epochs, about 11 GPU-hours predicted)",
        synth_train=8000,
        synth_val=1000,
        synth_test=500,
        training=TrainSettings(
            epochs=40, batch_size=64, lr=1e-3, lr_steps=(30, 36), workers=8, warmup_epochs=1.0, eval_every=5,
            sigma=None, amp="auto", val_boxes="det",
        ),  # fmt: skip
        datasets={
            "coco": DatasetRecipe("mfvpose_b"),
            # the ablation's size: TokenPose-L/D6 plus HRFOV and LSW, on a schedule sized for Table 4 by
            # study.scale_design: the cpu profile's paired spread fell as epochs^-0.89 from 8 to 16 epochs;
            # carried over (a prediction, not a measurement), 5 paired seeds of 150 epochs resolve the
            # paper's +0.41 PCKh, about 11 GPU-hours at an assumed 50 TFLOP/s (notebook 16, README)
            "mpii": DatasetRecipe("mfvpose_l_d6_mpii", epochs=150, lr_steps=(120, 140)),
        },
        ablation_seeds=5,
    ),
    "paper": Profile(
        name="paper",
        description="each model's public recipe on COCO 2017 / MPII and a GPU (fp32 unless AMP is asked for)",
        synth_train=0,
        synth_val=0,
        training=TrainSettings(
            epochs=300, batch_size=32, lr=1e-3, lr_steps=(200, 260), workers=8, sigma=None, amp="off",
            eval_every=10, val_boxes="det",
        ),  # fmt: skip
        datasets={"coco": DatasetRecipe("mfvpose_b"), "mpii": DatasetRecipe("mfvpose_l_d24_mpii")},
        needs_pretrained=True,
        public_recipe=True,
    ),
}


@dataclass(frozen=True)
class PublicRecipe:
    """The training settings of a model's public yaml files (4 GPUs in every reference)."""

    settings: TrainSettings  # total_batch, lr, epochs, lr_steps
    source: str


# HRNet (w32/w48 256x192 and MPII yaml files): Adam 1e-3, 210 epochs, x0.1 at 170 and 200;
# SimpleBaseline (its yaml files in the same layout): 140 epochs, x0.1 at 90 and 120; TokenPose and
# MfvPose (the paper follows TokenPose): 300 epochs, x0.1 at 200 and 260. Batches per the yaml files:
# TokenPose-B and HRNet on COCO 4 x 32 = 128; TokenPose-L and every MPII model 4 x 16 = 64.
def public_recipe(model: str) -> PublicRecipe:
    """The public recipe of a registered model name (the paper's for MfvPose)."""

    def recipe(total_batch: int, epochs: int, lr_steps: tuple[int, int], source: str) -> PublicRecipe:
        settings = TrainSettings(total_batch=total_batch, lr=1e-3, epochs=epochs, lr_steps=lr_steps)
        return PublicRecipe(settings, source)

    mpii = model.endswith("_mpii")
    if model.startswith("hrnet_"):
        return recipe(64 if mpii else 128, 210, (170, 200), "HRNet experiments/*.yaml")
    if model.startswith("simplebaseline_"):
        return recipe(64 if mpii else 128, 140, (90, 120), "SimpleBaseline experiments/*.yaml")
    if model.startswith(("tokenpose_", "mfvpose_")):
        large = "_l_" in model
        source = "TokenPose experiments/*.yaml" + (" (the MfvPose paper follows it)" if model.startswith("mfvpose") else "")
        return recipe(64 if (mpii or large) else 128, 300, (200, 260), source)
    raise KeyError(f"no public recipe is known for model {model!r}")


#: The profile `make reproduce`, `mfvpose reproduce`, `mfvpose lab` and the notebooks default to.
DEFAULT_PROFILE = "cpu"


def get_profile(name: str, **overrides) -> Profile:
    try:
        profile = PROFILES[name]
    except KeyError:
        raise KeyError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}") from None
    return replace(profile, **overrides) if overrides else profile


def profile_table(selected: str | None = None):
    """One row per profile: its settings, with each data set's recipe in ``<dataset> …`` columns."""
    import pandas as pd

    defaults = {f.name: f.default for f in fields(TrainConfig)}
    # every setting some profile gives for all its runs; a profile that leaves it out has TrainConfig's default
    shared = list(dict.fromkeys(key for profile in PROFILES.values() for key in profile.training))
    rows = []
    for profile in PROFILES.values():
        row = {f.name: getattr(profile, f.name) for f in fields(profile)
               if f.name not in ("training", "datasets")}  # fmt: skip
        row.update({key: profile.training.get(key, defaults[key]) for key in shared})
        for dataset in profile.datasets:
            recipe = profile.for_dataset(dataset)
            row[f"{dataset} model"] = recipe.model
            row[f"{dataset} input"] = recipe.input_size or "model default"
            row[f"{dataset} epochs"] = recipe.epochs
            row[f"{dataset} batch"] = recipe.batch_size
            row[f"{dataset} lr"] = recipe.lr
            row[f"{dataset} threads"] = recipe.threads
        if selected is not None:
            row["selected"] = profile.name == selected
        rows.append(row)
    return pd.DataFrame(rows).set_index("name")
