"""What defines a training run: :class:`TrainConfig`, the one declaration of every training setting.

Each field carries its help text and command-line metadata (:func:`setting`). Everything else
is derived from the fields: the ``mfvpose train`` flags (:mod:`~mfvpose_lib.commands.train`), the keys
and value checks of config files (:mod:`~mfvpose_lib.engine.config_file`), the overrides a profile
may hold (:mod:`~mfvpose_lib.study.profiles`), ``--print-config`` and the run record
(``config.yaml``, ``config.json`` and every checkpoint). A new setting is one new field.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import MISSING, dataclass, field
from typing import Any

from mfvpose_lib.data.spec import get_dataset_spec
from mfvpose_lib.data.transforms import AugmentationConfig


def setting(
    help: str,
    default: Any = MISSING,
    *,
    factory: Any = MISSING,
    flag: str | None = None,
    choices: tuple[str, ...] | None = None,
    metavar: str | tuple[str, ...] | None = None,
) -> Any:
    """A :class:`TrainConfig` field: ``help`` for the flag, ``flag`` when it is not ``--field-name``,
    ``choices`` (checked for every config, not only on the command line), ``metavar``."""
    metadata = {"help": help, "flag": flag, "choices": choices, "metavar": metavar}
    if factory is not MISSING:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class TrainConfig:
    """Everything that defines a run; saved into every checkpoint and ``config.json``."""

    model: str = setting("registered model name (default: the profile's for the data set)")
    dataset: str = setting("registered data set: coco, mpii or one added by data.spec.register_dataset "
                           "(default coco)")  # fmt: skip
    data_root: str = setting("data root holding coco/ and/or mpii/ (or one of them)", flag="--data",
                             metavar="DIR")  # fmt: skip
    out_dir: str = setting("run folder: last.pt, best.pt, metrics.csv, train.log", flag="--out", metavar="DIR")
    epochs: int = setting("epochs to train")
    batch_size: int = setting("per process; the effective batch is this × processes × accumulate steps")
    lr: float = setting("base learning rate")
    lr_schedule: str = setting("step: × lr_gamma at each of lr_steps (the reference recipes); cosine: half a "
                               "cosine from lr to 0 over the epochs", "step", choices=("step", "cosine"))  # fmt: skip
    lr_steps: tuple[int, ...] = setting("epochs where the lr is multiplied by lr_gamma (step schedule)", ())
    lr_gamma: float = setting("factor of each lr step", 0.1)
    warmup_epochs: float = setting("linear lr warm-up, in epochs", 0.0)
    warmup_factor: float = setting("the warm-up starts at this × lr", 0.001)
    lr_scaling: str = setting("none: lr as given; linear: lr × effective batch / reference_batch", "none",
                              choices=("none", "linear"))  # fmt: skip
    reference_batch: int = setting("the batch the lr is given for (linear lr scaling)", 32)
    optimizer: str = setting("adam (the paper) or adamw (decoupled decay, no_weight_decay() honoured)", "adam",
                             choices=("adam", "adamw"))  # fmt: skip
    weight_decay: float = setting("weight decay (not on LayerScale, tokens, norms, biases)", 0.0)
    ema_decay: float | None = setting("keep an exponential moving average of the weights with this decay per step "
                                      "(ema.pt; validated and kept as best.pt in place of the raw weights); "
                                      "none: no average", None)  # fmt: skip
    clip_grad_norm: float | None = setting("clip the gradient norm at this value; none: no clipping", None)
    amp: str = setting("mixed precision", "auto", choices=("auto", "off", "bf16", "fp16"))
    compile: bool = setting("torch.compile the model", False)
    channels_last: bool = setting("channels_last memory format for model and images", False)
    workers: int = setting("data loader processes", 0)
    cache_images: bool = setting("hold decoded images in memory, filled before the loader forks "
                                 "(the built-in set is small)", False)  # fmt: skip
    threads: int | None = setting("torch CPU threads during the run (1 is faster on a busy machine); "
                                  "none: torch's default, one per core", None)  # fmt: skip
    seed: int = setting("seed of the initial weights, data order and augmentation", 0)
    device: str = setting("auto, cpu, cuda, cuda:1 ...", "auto")
    input_size: tuple[int, int] | None = setting("crop size overriding the model's default", None,
                                                 metavar=("H", "W"))  # fmt: skip
    model_overrides: dict[str, Any] = setting("model config fields replacing the registered model's, "
                                              "e.g. '{hrfov: null}'", factory=dict, metavar="YAML")  # fmt: skip
    sigma: float | None = setting("Gaussian target σ in heatmap pixels; none: the model family's "
                                  "(2, or 3 at 384x288)", None)  # fmt: skip
    codec: dict[str, Any] = setting("HeatmapCodec fields replacing the model family's, e.g. '{geometry: udp}'",
                                    factory=dict, metavar="YAML")  # fmt: skip
    total_batch: int | None = setting("a recipe's total batch: batch_size becomes total_batch / (processes × "
                                      "accumulate steps); the paper profile sets each model's", None)  # fmt: skip
    accumulate_steps: int = setting("gradient accumulation: one optimizer step every N batches", 1)
    augmentation: AugmentationConfig | None = setting("training augmentation (AugmentationConfig fields); "
                                                      "none: the data set's reference recipe", None,
                                                      metavar="YAML")  # fmt: skip
    val_boxes: str = setting("COCO person boxes of the per-epoch validation", "gt", choices=("gt", "det"))
    val_flip: bool = setting("flip test in the per-epoch validation", True)
    eval_every: int = setting("validate every N epochs (and after the last)", 1)
    pretrained: str | None = setting("ImageNet HRNet checkpoint for the backbone", None)
    init_from: str | None = setting("one of our checkpoints whose fitting tensors replace the seeded initial "
                                    "weights (paired ablation rows)", None)  # fmt: skip
    profile: str = setting("named preset of these settings (smoke, cpu, gpu, paper; study.profiles); "
                           "the command line's default is smoke", "custom")  # fmt: skip
    progress: bool = setting("a progress bar per epoch", True)

    def __post_init__(self) -> None:
        try:
            get_dataset_spec(self.dataset)
        except KeyError as err:
            raise ValueError(err.args[0]) from None
        if self.epochs < 1 or self.batch_size < 1 or not self.lr > 0:
            raise ValueError("epochs and batch_size must be ≥ 1 and lr > 0")
        if self.accumulate_steps < 1 or (self.total_batch is not None and self.total_batch < 1):
            raise ValueError("accumulate_steps and total_batch must be ≥ 1")
        for f in dataclasses.fields(self):
            choices = f.metadata.get("choices")
            if choices and getattr(self, f.name) not in choices:
                raise ValueError(f"{f.name} must be one of {', '.join(choices)}, got {getattr(self, f.name)!r}")
        self.lr_steps = tuple(int(s) for s in self.lr_steps)
        if self.input_size is not None:
            self.input_size = (int(self.input_size[0]), int(self.input_size[1]))


def setting_fields() -> dict[str, dataclasses.Field]:
    """Every field of the declaration, by name."""
    return {f.name: f for f in dataclasses.fields(TrainConfig)}


def setting_types() -> dict[str, Any]:
    """Every field's annotation, resolved (``int | None``, ``tuple[int, ...]`` ...)."""
    hints = typing.get_type_hints(TrainConfig)
    return {name: hints[name] for name in setting_fields()}


def without_none(hint: Any) -> Any:
    """``X`` of ``X | None``; any other annotation as it is."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if type(None) in typing.get_args(hint) else hint
