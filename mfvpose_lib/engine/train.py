"""The training loop: Adam(W), a multi-step schedule with optional warm-up, gradient
clipping, mixed precision, optional channels_last / torch.compile / DDP, per-epoch
validation, atomic checkpoints and exact resume.

Data order and augmentation depend on (seed, epoch) only: every epoch starts by seeding
python, numpy and torch from both, and the sampler shuffles with the same pair. A run
killed after any epoch and resumed therefore ends with the same weights as one that was
never interrupted (on CPU with ``workers=0``, where kernels are deterministic). ``fit`` runs
inside :func:`~mfvpose_lib.engine.run_state.isolated_run_state`: the run's thread count and seeds
hold for the run only, and the caller's are back afterwards.
"""

from __future__ import annotations

import dataclasses
import math
import random
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler

from mfvpose_lib.codecs.heatmap import HeatmapCodec
from mfvpose_lib.data.spec import get_dataset_spec
from mfvpose_lib.engine.callbacks import (
    PROGRESS_NAME,
    CSVLogger,
    LayerScaleLogger,
    ProgressLog,
    call_hook,
    tensorboard_logger_if_available,
)
from mfvpose_lib.engine.checkpointing import (
    BEST_NAME,
    LAST_NAME,
    capture_rng_state,
    check_resume_compatible,
    load_training_checkpoint,
    restore_rng_state,
    save_training_checkpoint,
    unwrap_model,
)
from mfvpose_lib.engine.distributed import (
    DistInfo,
    barrier,
    broadcast_flag,
    cleanup,
    init_distributed,
    mean_over_processes,
    process_device,
)
from mfvpose_lib.engine.fast_path import resolve_amp
from mfvpose_lib.engine.loss import JointsMSELoss
from mfvpose_lib.engine.run_state import isolated_run_state, seed_everything
from mfvpose_lib.engine.train_config import TrainConfig
from mfvpose_lib.engine.weight_average import EMA_NAME, WeightAverage
from mfvpose_lib.io_utils import jsonable
from mfvpose_lib.models.checkpoint import save_model_checkpoint
from mfvpose_lib.models.codec import set_codec

# Per-epoch values printed in the log line (all of them go to metrics.csv).
LOGGED_KEYS = ("lr", "train_loss", "val_loss", "samples_per_s", "train_seconds", "val_seconds")


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is left as it was."""


def warmup_scale(progress: float, warmup_epochs: float, warmup_factor: float) -> float:
    """The linear warm-up's multiplier: ``warmup_factor`` at 0, 1 from ``warmup_epochs`` on."""
    if warmup_epochs <= 0 or progress >= warmup_epochs:
        return 1.0
    alpha = progress / warmup_epochs
    return warmup_factor * (1 - alpha) + alpha


@dataclass(frozen=True)
class StepSchedule:
    """Learning rate as a pure function of training progress (epochs, fractional).

    Multi-step decay by ``gamma`` at each milestone epoch (the paper: ×0.1 at 200 and 260),
    after an optional linear warm-up from ``warmup_factor × base_lr``. Being stateless, it
    resumes by construction.
    """

    base_lr: float
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1
    warmup_epochs: float = 0.0
    warmup_factor: float = 0.001

    def lr_at(self, progress: float) -> float:
        lr = self.base_lr * self.gamma ** sum(1 for m in self.milestones if math.floor(progress + 1e-9) >= m)
        return lr * warmup_scale(progress, self.warmup_epochs, self.warmup_factor)


@dataclass(frozen=True)
class CosineSchedule:
    """Learning rate falling from ``base_lr`` to 0 along half a cosine over ``epochs`` (SGDR without
    restarts), after the same optional linear warm-up as :class:`StepSchedule`; stateless too."""

    base_lr: float
    epochs: int
    warmup_epochs: float = 0.0
    warmup_factor: float = 0.001

    def lr_at(self, progress: float) -> float:
        if self.warmup_epochs > 0 and progress < self.warmup_epochs:  # the warm-up ramps the base rate
            return self.base_lr * warmup_scale(progress, self.warmup_epochs, self.warmup_factor)
        return 0.5 * self.base_lr * (1.0 + math.cos(math.pi * min(progress / max(self.epochs, 1), 1.0)))


def build_schedule(config: TrainConfig, lr: float) -> StepSchedule | CosineSchedule:
    """The run's learning-rate schedule (``config.lr_schedule``) at base rate ``lr``."""
    if config.lr_schedule == "cosine":
        return CosineSchedule(lr, config.epochs, config.warmup_epochs, config.warmup_factor)
    return StepSchedule(lr, config.lr_steps, config.lr_gamma, config.warmup_epochs, config.warmup_factor)


@dataclass
class EpochMeter:
    """Running sums of one training epoch: loss, samples and where the time went."""

    start: float = field(default_factory=time.perf_counter)
    steps: int = 0
    loss_sum: float = 0.0
    samples: int = 0
    data_seconds: float = 0.0  # waiting for the loader
    step_seconds: float = 0.0  # forward, backward and optimizer step

    def add(self, loss: float, batch_size: int, data_seconds: float, step_seconds: float) -> None:
        self.steps += 1
        self.loss_sum += loss * batch_size
        self.samples += batch_size
        self.data_seconds += data_seconds
        self.step_seconds += step_seconds

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def samples_per_s(self, world_size: int, seconds: float) -> float:
        return self.samples * world_size / max(seconds, 1e-9)

    def postfix(self, lr: float, world_size: int) -> dict[str, str]:
        """What the progress bar shows after each step."""
        return {
            "loss": f"{self.loss_sum / self.samples:.3g}",
            "lr": f"{lr:.2g}",
            "data": f"{1000 * self.data_seconds / self.steps:.0f}ms",
            "step": f"{1000 * self.step_seconds / self.steps:.0f}ms",
            "sps": f"{self.samples_per_s(world_size, self.elapsed()):.1f}",
        }


@dataclass
class TrainState:
    """What callbacks see: the config, the live model and the history so far."""

    config: TrainConfig
    model: nn.Module
    out_dir: Path
    epoch: int = 0  # epochs completed
    history: list[dict[str, Any]] = field(default_factory=list)
    best_metric: float | None = None
    best_epoch: int | None = None
    primary_metric: str = "AP"
    last_eval: dict[str, Any] | None = None
    stopped_early: bool = False


def seed_for_epoch(seed: int, epoch: int) -> None:
    """Seed every generator from (seed, epoch) alone, so an epoch's augmentation does not
    depend on what ran before it in this process."""
    seed_everything((seed * 1_000_003 + epoch * 7919) % (2**31 - 1))


def _worker_init(worker_id: int) -> None:
    """Give each loader worker numpy/python seeds derived from torch's per-worker seed."""
    worker_seed = torch.initial_seed() % 2**32
    np.random.seed(worker_seed)
    random.seed(worker_seed)


def build_optimizer(model: nn.Module, config: TrainConfig, lr: float) -> torch.optim.Optimizer:
    """Adam as in the paper; with weight decay, parameters named by ``no_weight_decay()``
    (LayerScale gammas, tokens, position embedding, norms/biases) and all 1-D tensors are
    kept out of the decay."""
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if config.weight_decay > 0:
        skip = set(getattr(model, "no_weight_decay", lambda: set())())
        decay = [p for n, p in params if n not in skip and p.ndim > 1]
        no_decay = [p for n, p in params if n in skip or p.ndim <= 1]
        groups = [
            {"params": decay, "weight_decay": config.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
    else:
        groups = [{"params": [p for _, p in params], "weight_decay": 0.0}]
    if config.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=lr)
    return torch.optim.Adam(groups, lr=lr)


def build_model_for_run(config: TrainConfig) -> nn.Module:
    from mfvpose_lib.models import create_model

    overrides = dict(config.model_overrides)
    if config.input_size is not None:
        overrides["input_size"] = tuple(config.input_size)
    return create_model(config.model, **overrides)


def run_codec(config: TrainConfig, model: nn.Module) -> HeatmapCodec:
    """The run's codec: the model's, with the config's σ and codec overrides."""
    from mfvpose_lib.models.codec import model_codec

    return model_codec(model).replace(**{"sigma": config.sigma, **config.codec})


def per_process_batch(config: TrainConfig, world_size: int) -> int:
    """``batch_size``, or the recipe's ``total_batch`` split over processes and accumulation."""
    if config.total_batch is None:
        return config.batch_size
    parts = world_size * config.accumulate_steps
    if config.total_batch % parts:
        raise ValueError(
            f"total batch {config.total_batch} does not split over {world_size} process(es) × "
            f"{config.accumulate_steps} accumulation step(s); choose accumulate_steps so that it divides"
        )
    return config.total_batch // parts


def build_datasets(config: TrainConfig, model: nn.Module) -> tuple[Dataset, Dataset]:
    from mfvpose_lib.engine.data_access import build_split

    cfg = unwrap_model(model).cfg
    common = {"codec": run_codec(config, model), "cache_images": config.cache_images}
    train_set = build_split(
        config.data_root, config.dataset, "train", cfg, train=True, augmentation=config.augmentation, **common
    )
    val_set = build_split(
        config.data_root, config.dataset, "val", cfg, train=False, boxes=config.val_boxes, **common
    )
    if config.cache_images:  # decode now, so every loader worker inherits the filled cache
        train_set.fill_cache()
        val_set.fill_cache()
    return train_set, val_set


class Trainer:
    """Runs :class:`TrainConfig` to completion; ``fit()`` returns the final :class:`TrainState`.

    ``model`` and ``datasets`` may be given (tests, custom data); by default they are built
    from the registry and ``mfvpose_lib.data``. ``evaluate_fn(model, val_set, config, dist)``
    returns a dict of metrics (default: COCO AP or MPII PCKh via ``engine.evaluate``).
    """

    def __init__(
        self,
        config: TrainConfig,
        *,
        callbacks: Iterable = (),
        model: nn.Module | None = None,
        datasets: tuple[Dataset, Dataset | None] | None = None,
        evaluate_fn=None,
        resume: str | Path | None = None,
    ) -> None:
        self.config = config
        self.user_callbacks = list(callbacks)
        self._model = model
        self._datasets = datasets
        self.evaluate_fn = evaluate_fn
        self.resume = resume
        self.out_dir = Path(config.out_dir)

    # ---------------------------------------------------------------- logging
    def log(self, message: str) -> None:
        if not self.dist.is_main:
            return
        print(message, flush=True)
        with open(self.out_dir / "train.log", "a", encoding="utf-8") as fh:
            fh.write(message + "\n")

    # ---------------------------------------------------------------- set-up
    def _setup(self) -> None:
        self._setup_process()
        self.model = self._build_model()
        self._setup_optimization()
        self._setup_data()
        self._setup_training_model()
        self._setup_state_and_callbacks()

    def _setup_process(self) -> None:
        from mfvpose_lib.device import resolve_device

        device = resolve_device(self.config.device)
        self.dist: DistInfo = init_distributed(device)
        self.device = process_device(device, self.dist)
        if self.dist.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        barrier(self.dist)

    def _build_model(self) -> nn.Module:
        """The model on its device. Its initial weights depend on the seed only (the first draws
        after ``fit`` seeded the generators), then on ``init_from`` and ``pretrained`` tensors."""
        config = self.config
        model = self._model if self._model is not None else build_model_for_run(config)
        self._load_fitting_weights(model, config.init_from, "initial")
        self._load_fitting_weights(model, config.pretrained, "pretrained")
        model = model.to(self.device)
        if config.channels_last:
            model = model.to(memory_format=torch.channels_last)
        return model

    def _load_fitting_weights(self, model: nn.Module, checkpoint: str | None, kind: str) -> None:
        """Copy the tensors of ``checkpoint`` that fit ``model`` (none when it is None)."""
        if not checkpoint:
            return
        from mfvpose_lib.models.checkpoint import load_weights

        report = load_weights(model, checkpoint, strict=False)
        self.log(f"{kind} weights from {report}")  # the report starts with the file

    def _setup_optimization(self) -> None:
        config = self.config
        self.criterion = JointsMSELoss(use_target_weight=True)
        self.batch_size = per_process_batch(config, self.dist.world_size)
        self.effective_batch = self.batch_size * self.dist.world_size * config.accumulate_steps
        lr = config.lr
        if config.lr_scaling == "linear":
            lr = config.lr * self.effective_batch / config.reference_batch
        self.schedule = build_schedule(config, lr)
        self.optimizer = build_optimizer(self.model, config, lr)
        self.amp_dtype = resolve_amp(config.amp, self.device)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype == torch.float16)

    def _setup_data(self) -> None:
        config = self.config
        if self._datasets is not None:
            self.train_set, self.val_set = self._datasets
        else:
            self.train_set, self.val_set = build_datasets(config, self.model)
        self.codec = getattr(self.train_set, "codec", None) or run_codec(config, self.model)
        set_codec(self.model, self.codec)  # the model owns the codec its targets were made with
        self.sampler = DistributedSampler(
            self.train_set,
            num_replicas=self.dist.world_size,
            rank=self.dist.rank,
            shuffle=True,
            seed=config.seed,
            drop_last=True,
        )
        self.loader = DataLoader(
            self.train_set,
            batch_size=self.batch_size,
            sampler=self.sampler,
            num_workers=config.workers,
            pin_memory=self.device.type == "cuda",
            drop_last=True,
            worker_init_fn=_worker_init if config.workers > 0 else None,
            persistent_workers=False,
        )
        if len(self.loader) == 0:
            raise ValueError(
                f"{len(self.train_set)} training samples give no full batch of {self.batch_size} "
                f"per process × {self.dist.world_size} processes; lower --batch-size"
            )

    def _setup_training_model(self) -> None:
        """The module the steps run: the model, compiled and/or wrapped for DDP when asked."""
        self.train_model: nn.Module = self.model
        # a copy of the model as it now is: weights, device and codec
        self.weight_average = WeightAverage(self.model, self.config.ema_decay) if self.config.ema_decay else None
        if self.config.compile:
            self.train_model = torch.compile(self.train_model)
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.train_model = nn.parallel.DistributedDataParallel(self.train_model, device_ids=ids)

    def _setup_state_and_callbacks(self) -> None:
        self.state = TrainState(config=self.config, model=self.model, out_dir=self.out_dir)
        self.state.primary_metric = get_dataset_spec(self.config.dataset).primary_metric
        self.callbacks: list = []
        if self.dist.is_main:
            self.callbacks.append(CSVLogger(self.out_dir / "metrics.csv"))
            self.callbacks.append(LayerScaleLogger(self.out_dir / "layerscale.csv"))
            self.callbacks.append(ProgressLog(self.out_dir / PROGRESS_NAME))
            tensorboard = tensorboard_logger_if_available(self.out_dir / "tensorboard")
            if tensorboard is not None:
                self.callbacks.append(tensorboard)
            self.callbacks.extend(self.user_callbacks)

    def _describe(self) -> None:
        config = self.config
        model = unwrap_model(self.model)
        n_params = sum(p.numel() for p in model.parameters())
        lines = [
            f"model {getattr(model, 'model_name', type(model).__name__)} ({n_params / 1e6:.2f} M params), "
            f"input {tuple(model.cfg.input_size)} → heatmap {tuple(model.cfg.heatmap_size)}",
            f"data {config.dataset} at {config.data_root}: {len(self.train_set)} train, "
            f"{len(self.val_set) if self.val_set is not None else 0} val samples (val boxes: {config.val_boxes})",
            f"device {self.device}, {self.dist.world_size} process(es), amp {self.amp_dtype or 'off'}, "
            f"channels_last {config.channels_last}, compile {config.compile}, workers {config.workers}, "
            f"{torch.get_num_threads()} CPU threads",
            f"effective batch {self.effective_batch} = {self.batch_size} per process × {self.dist.world_size}"
            f" × {config.accumulate_steps} accumulation step(s); "
            + (
                f"lr {self.schedule.base_lr:g} = {config.lr:g} × {self.effective_batch}/{config.reference_batch} (linear scaling)"
                if config.lr_scaling == "linear"
                else f"lr {self.schedule.base_lr:g} as given (no scaling with batch size)"
            ),
            f"schedule: {config.optimizer}, "
            + (f"cosine to 0 over {config.epochs} epochs, " if config.lr_schedule == "cosine"
               else f"×{config.lr_gamma:g} at epochs {list(config.lr_steps)} of {config.epochs}, ")  # fmt: skip
            + f"warm-up {config.warmup_epochs:g} epochs, grad clip {config.clip_grad_norm}, weight decay {config.weight_decay:g}",
            f"codec: {self.codec.describe()}",
        ]
        for line in lines:
            self.log(line)

    def _write_run_record(self) -> None:
        """``config.json`` (every TrainConfig field and what the run derived from them) and
        ``config.yaml`` (the fields alone, a valid ``--config`` file) in the run folder."""
        if not self.dist.is_main:
            return
        from mfvpose_lib.engine.config_file import write_config_yaml
        from mfvpose_lib.io_utils import atomic_write_json

        atomic_write_json(
            {
                "config": jsonable(dataclasses.asdict(self.config)),
                "effective_batch": self.effective_batch,
                "batch_per_process": self.batch_size,
                "codec": self.codec.to_dict(),
                "base_lr": self.schedule.base_lr,
                "world_size": self.dist.world_size,
                "amp": str(self.amp_dtype or "off"),
                "device": str(self.device),
            },
            self.out_dir / "config.json",
        )
        write_config_yaml(self.config, self.out_dir / "config.yaml")

    # ---------------------------------------------------------------- resume
    def _resume_path(self) -> Path | None:
        if self.resume is None:
            return None
        if str(self.resume) == "auto":
            path = self.out_dir / LAST_NAME
            return path if path.is_file() else None
        return Path(self.resume)

    def _maybe_resume(self) -> int:
        path = self._resume_path()
        if path is None:
            if self.resume is not None:
                self.log(f"no {LAST_NAME} in {self.out_dir}: starting from scratch")
            return 0
        ckpt = load_training_checkpoint(path)
        check_resume_compatible(ckpt, path, model=self.model, dataset=self.config.dataset)
        unwrap_model(self.model).load_state_dict(ckpt["state_dict"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        if ckpt.get("scaler"):
            self.scaler.load_state_dict(ckpt["scaler"])
        if self.weight_average is not None:
            if not ckpt.get("ema"):
                raise ValueError(f"cannot resume from {path}: this run keeps a weight average (ema_decay "
                                 f"{self.config.ema_decay}) and the checkpoint holds none")
            self.weight_average.load_state_dict(ckpt["ema"])
        restore_rng_state(ckpt["rng"])
        self.state.history = list(ckpt.get("history", []))
        self.state.best_metric = ckpt.get("best_metric")
        self.state.best_epoch = ckpt.get("best_epoch")
        self.state.epoch = int(ckpt["epoch"])
        self.log(f"resumed from {path} after epoch {self.state.epoch}")
        return self.state.epoch

    # ---------------------------------------------------------------- loop
    def fit(self) -> TrainState:
        """Train to ``config.epochs``; the run's threads and seeds hold for this call only."""
        with isolated_run_state(threads=self.config.threads, seed=self.config.seed):
            self._setup()
            try:
                self._run_epochs()
            finally:
                cleanup(self.dist)
        return self.state

    def _run_epochs(self) -> None:
        start_epoch = self._maybe_resume()
        self._describe()
        self._write_run_record()
        if self.dist.is_main:
            call_hook(self.callbacks, "on_train_start", self.state)
        if start_epoch >= self.config.epochs:
            self.log(f"nothing to do: the checkpoint already holds {start_epoch} of {self.config.epochs} "
                     "epochs")
        for epoch in range(start_epoch, self.config.epochs):
            row = self._train_one_epoch(epoch)
            row.update(self._validate(epoch))
            self._end_epoch(epoch, row)
        if self.dist.is_main:
            call_hook(self.callbacks, "on_train_end", self.state)

    def _train_one_epoch(self, epoch: int) -> dict[str, Any]:
        seed_for_epoch(self.config.seed, epoch)
        self.sampler.set_epoch(epoch)
        self.train_model.train()
        steps = len(self.loader)
        progress = self._progress_bar(epoch)
        meter = EpochMeter()
        tick = meter.start
        for step, batch in enumerate(progress if progress is not None else self.loader):
            loaded = time.perf_counter()
            lr = self.schedule.lr_at(epoch + step / steps)
            loss, batch_size = self._train_step(batch, lr, epoch, step, steps)
            data_seconds = loaded - tick
            tick = time.perf_counter()
            meter.add(loss, batch_size, data_seconds, tick - loaded)
            if progress is not None:
                progress.set_postfix(**meter.postfix(lr, self.dist.world_size))
        if progress is not None:
            progress.close()
        seconds = meter.elapsed()
        return {
            "epoch": epoch + 1,
            "lr": self.schedule.lr_at(epoch + (steps - 1) / steps),  # the last step's
            "train_loss": mean_over_processes(meter.loss_sum / max(meter.samples, 1), self.dist),
            "train_seconds": round(seconds, 3),
            "data_seconds": round(meter.data_seconds, 3),
            "samples_per_s": round(meter.samples_per_s(self.dist.world_size, seconds), 2),
        }

    def _progress_bar(self, epoch: int):
        """A tqdm bar over the loader on the main process when ``progress`` is on, else None."""
        if not (self.config.progress and self.dist.is_main):
            return None
        from tqdm.auto import tqdm

        return tqdm(self.loader, total=len(self.loader), desc=f"epoch {epoch + 1}/{self.config.epochs}",
                    leave=False, dynamic_ncols=True, file=sys.stdout)  # fmt: skip

    def _train_step(
        self, batch: dict[str, Any], lr: float, epoch: int, step: int, steps: int
    ) -> tuple[float, int]:
        """One micro-batch at ``lr``: forward, loss, backward, and the optimizer step when the
        accumulation is complete. Returns the loss and the batch size."""
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        memory_format = torch.channels_last if self.config.channels_last else torch.contiguous_format
        images = batch["image"].to(self.device, non_blocking=True).contiguous(memory_format=memory_format)
        target = batch["target"].to(self.device, non_blocking=True)
        weight = batch["target_weight"].to(self.device, non_blocking=True)
        amp_dtype = self.amp_dtype or torch.float32
        with torch.autocast(self.device.type, dtype=amp_dtype, enabled=self.amp_dtype is not None):
            loss = self.criterion(self.train_model(images), target, weight)
        loss_value = float(loss.detach())
        if broadcast_flag(not math.isfinite(loss_value), self.dist):
            raise NonFiniteLossError(
                f"loss became {loss_value} at epoch {epoch + 1}, step {step + 1} (lr {lr:.3g}); "
                f"stopped. The last good checkpoint is {self.out_dir / LAST_NAME} "
                f"(try a lower --lr, --amp off, or gradient clipping)"
            )
        self._backward_and_step(loss, step, steps)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return loss_value, images.shape[0]

    def _backward_and_step(self, loss: torch.Tensor, step: int, steps: int) -> None:
        """Accumulate the gradient of ``loss``; step (clipped, scaled) every ``accumulate_steps``
        micro-batches and at the epoch's last."""
        config = self.config
        accumulate = config.accumulate_steps
        if step % accumulate == 0:
            self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss / accumulate).backward()
        if (step + 1) % accumulate == 0 or step + 1 == steps:
            if config.clip_grad_norm:
                self.scaler.unscale_(self.optimizer)
                torch.nn.utils.clip_grad_norm_(self.train_model.parameters(), config.clip_grad_norm)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            if self.weight_average is not None:
                self.weight_average.update(unwrap_model(self.model))

    def _validate(self, epoch: int) -> dict[str, Any]:
        config = self.config
        last = epoch + 1 == config.epochs
        if self.val_set is None or not (last or (epoch + 1) % max(config.eval_every, 1) == 0):
            return {}
        start = time.perf_counter()
        evaluate_fn = self.evaluate_fn or default_evaluate_fn
        metrics = evaluate_fn(self._validated_model(), self.val_set, config, self.dist, self.device, self.amp_dtype)
        self.state.last_eval = metrics
        row = {k: v for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)}
        row["val_seconds"] = round(time.perf_counter() - start, 3)
        return row

    def _validated_model(self) -> nn.Module:
        """The weights a validation scores and ``best.pt`` keeps: the average when the run keeps one."""
        return self.weight_average.module if self.weight_average is not None else unwrap_model(self.model)

    def _end_epoch(self, epoch: int, row: dict[str, Any]) -> None:
        state = self.state
        state.epoch = epoch + 1
        state.history.append(row)
        metric = state.primary_metric
        improved = False
        if metric in row:
            if state.best_metric is None or row[metric] > state.best_metric:
                state.best_metric, state.best_epoch, improved = float(row[metric]), epoch + 1, True
        if self.dist.is_main:
            extra = self._checkpoint_payload(row)
            if self.weight_average is not None:  # first, so a last.pt that exists has its ema.pt
                save_model_checkpoint(self.out_dir / EMA_NAME, self.weight_average.module, epoch=state.epoch,
                                      dataset=self.config.dataset, ema_updates=self.weight_average.updates)
            save_training_checkpoint(self.out_dir / LAST_NAME, self.model, **extra)
            if improved or state.best_metric is None:  # without any validation yet, the latest
                save_training_checkpoint(self.out_dir / BEST_NAME, self._validated_model(), **extra)
            shown = ", ".join(f"{k} {row[k]:.4g}" for k in LOGGED_KEYS + (metric,) if k in row)
            self.log(f"epoch {epoch + 1}/{self.config.epochs}: {shown}" + (" (best)" if improved else ""))
            call_hook(self.callbacks, "on_epoch_end", state)
        barrier(self.dist)

    def _checkpoint_payload(self, row: dict[str, Any]) -> dict[str, Any]:
        state = self.state
        return {
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
            "ema": self.weight_average.state_dict() if self.weight_average is not None else None,
            "schedule": dataclasses.asdict(self.schedule),
            "rng": capture_rng_state(),
            "epoch": state.epoch,
            "metrics": dict(row),
            "history": [dict(r) for r in state.history],
            "best_metric": state.best_metric,
            "best_epoch": state.best_epoch,
            "primary_metric": state.primary_metric,
            "dataset": self.config.dataset,
            "data_root": str(self.config.data_root),
            "train_config": jsonable(dataclasses.asdict(self.config)),
            "world_size": self.dist.world_size,
        }


def default_evaluate_fn(
    model, val_set, config: TrainConfig, dist: DistInfo, device, amp_dtype
) -> dict[str, Any]:
    from mfvpose_lib.engine.evaluate import EvalSettings, evaluate_model

    settings = EvalSettings(
        dataset=config.dataset,
        boxes=config.val_boxes,
        flip=config.val_flip,
    )
    result = evaluate_model(
        model, val_set, settings, device=device, batch_size=max(per_process_batch(config, dist.world_size), 16),
        workers=config.workers,
        amp_dtype=amp_dtype, dist=dist, progress=False,
        # detection boxes carry no labels, so a validation loss exists only with labelled boxes
        compute_loss=get_dataset_spec(config.dataset).boxes_for(config.val_boxes) == "gt",
    )  # fmt: skip
    return result.flat_metrics()


def train(
    config: TrainConfig, *, callbacks: Iterable = (), resume: str | Path | None = None, **kwargs
) -> TrainState:
    """Train per ``config``; ``resume="auto"`` continues from ``out_dir/last.pt`` when present."""
    return Trainer(config, callbacks=callbacks, resume=resume, **kwargs).fit()
