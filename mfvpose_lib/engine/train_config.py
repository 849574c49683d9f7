"""What defines a training run: one dataclass, saved into every checkpoint and ``config.json``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mfvpose_lib.data.spec import get_dataset_spec


@dataclass
class TrainConfig:
    """Everything that defines a run; saved into every checkpoint and ``config.json``."""

    model: str
    dataset: str
    data_root: str
    out_dir: str
    epochs: int
    batch_size: int  # per process; the effective batch is batch_size × world size × accumulate_steps
    lr: float
    lr_steps: tuple[int, ...] = ()
    lr_gamma: float = 0.1
    warmup_epochs: float = 0.0
    warmup_factor: float = 0.001
    lr_scaling: str = "none"  # "none": lr as given; "linear": lr × effective batch / reference_batch
    reference_batch: int = 32
    optimizer: str = "adam"  # "adam" (the paper) or "adamw" (decoupled decay, no_weight_decay() honoured)
    weight_decay: float = 0.0
    clip_grad_norm: float | None = None
    amp: str = "auto"  # auto | off | bf16 | fp16
    compile: bool = False
    channels_last: bool = False
    workers: int = 0
    # decoded images held in memory, filled before the loader forks (the built-in set is small)
    cache_images: bool = False
    threads: int | None = None  # torch CPU threads; None keeps torch's default (one per core)
    seed: int = 0
    device: str = "auto"
    input_size: tuple[int, int] | None = None  # overrides the model's default crop (H, W)
    model_overrides: dict[str, Any] = field(default_factory=dict)
    sigma: float | None = None  # target σ in heatmap px; None: the family's (2, or 3 at 384x288)
    # HeatmapCodec fields that replace the model family's defaults, e.g. {"geometry": "udp"}
    codec: dict[str, Any] = field(default_factory=dict)
    # the recipe's total batch: batch_size becomes total_batch / (processes × accumulate_steps)
    total_batch: int | None = None
    accumulate_steps: int = 1  # gradient accumulation: optimizer steps every N micro-batches
    augmentation: Any = None  # data.transforms.AugmentationConfig; None: the data set's reference recipe
    val_boxes: str = "gt"
    val_flip: bool = True
    eval_every: int = 1
    pretrained: str | None = None
    # one of our checkpoints whose fitting tensors replace the seeded initial weights (paired
    # ablation rows start from the same weights wherever their architectures agree)
    init_from: str | None = None
    profile: str = "custom"
    progress: bool = True

    def __post_init__(self) -> None:
        try:
            get_dataset_spec(self.dataset)
        except KeyError as err:
            raise ValueError(err.args[0]) from None
        if self.epochs < 1 or self.batch_size < 1 or not self.lr > 0:
            raise ValueError("epochs and batch_size must be ≥ 1 and lr > 0")
        if self.amp not in ("auto", "off", "bf16", "fp16"):
            raise ValueError(f"amp must be auto, off, bf16 or fp16, got {self.amp!r}")
        if self.optimizer not in ("adam", "adamw"):
            raise ValueError(f"optimizer must be adam or adamw, got {self.optimizer!r}")
        if self.lr_scaling not in ("none", "linear"):
            raise ValueError(f"lr_scaling must be none or linear, got {self.lr_scaling!r}")
        if self.accumulate_steps < 1 or (self.total_batch is not None and self.total_batch < 1):
            raise ValueError("accumulate_steps and total_batch must be ≥ 1")
        self.lr_steps = tuple(int(s) for s in self.lr_steps)
        if self.input_size is not None:
            self.input_size = (int(self.input_size[0]), int(self.input_size[1]))
