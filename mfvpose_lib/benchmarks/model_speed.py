"""The model benchmarks of the suite: the matmul ceiling, inference latency and throughput (with the
fast outputs' error, achieved GFLOP/s and peak memory), onnxruntime against torch, and the
training step (forward + JointsMSE + backward + Adam), each on the straightforward path
(fp32, contiguous, eager) against the fast path with the same weights and inputs."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mfvpose_lib.benchmarks.results import row
from mfvpose_lib.benchmarks.timing import median_seconds, peak_memory_mib, reset_peak_memory
from mfvpose_lib.engine.fast_path import (
    FastPath,
    autocast,
    inference_model,
    output_agreement,
    prepare_input,
    prepare_model,
    reference_path,
)
from mfvpose_lib.engine.loss import JointsMSELoss
from mfvpose_lib.engine.run_state import isolated_run_state

# Person instances in COCO train2017 that the HRNet/TokenPose loaders train on (their logs:
# "=> load 149813 samples"); one epoch is one pass over them.
COCO_TRAIN_INSTANCES = 149_813


def matmul_ceiling(device: torch.device, n: int = 2048, *, warmup: int = 2, repeats: int = 5,
                   bf16: bool = True) -> dict[str, float]:  # fmt: skip
    """GFLOP/s of an n x n matmul in fp32 and (with ``bf16``) bf16: the ceiling the models are
    measured against."""
    out = {}
    dtypes = [("fp32", torch.float32)] + ([("bf16", torch.bfloat16)] if bf16 else [])
    for name, dtype in dtypes:
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)
        seconds = median_seconds(lambda a=a, b=b: a @ b, device, warmup=warmup, repeats=repeats)
        out[name] = 2 * n**3 / seconds / 1e9
    return out


def build_model(name: str, input_size: Sequence[int] | None, device: torch.device) -> nn.Module:
    """The registered model ``name`` (at ``input_size`` when given), seeded so that every
    benchmark measures the same weights."""
    from mfvpose_lib.models import create_model

    overrides = {"input_size": tuple(input_size)} if input_size is not None else {}
    with isolated_run_state(seed=0):
        return create_model(name, **overrides).to(device)


def model_label(name: str, input_size: Sequence[int]) -> str:
    return f"{name} {input_size[0]}x{input_size[1]}"


def inference_rows(name: str, input_size: Sequence[int], device: torch.device, fast: FastPath, *,
                   batches: Sequence[int], warmup: int, repeats: int, peaks: dict[str, float],
                   log: Callable[[str], None] = print) -> list[dict]:  # fmt: skip
    """Latency (batch 1) / throughput (other batches), accuracy, GFLOP/s and memory of one model."""
    from mfvpose_lib.analysis.complexity import complexity_of

    ref_model = build_model(name, input_size, device).eval()
    runner = inference_model(ref_model, fast)  # a copy: same weights, BatchNorm folded where the path says
    gmacs = complexity_of(name, tuple(input_size)).gmacs
    fast_peak = peaks.get(
        "bf16" if fast.precision in ("bf16", "fp16") else "fp32", peaks.get("fp32", math.nan)
    )
    rows = []
    for batch in batches:
        x = torch.randn(batch, 3, *input_size, device=device)
        x_fast = prepare_input(x, fast)

        @torch.no_grad()
        def run_ref(x=x):
            return ref_model(x)

        @torch.no_grad()
        def run_fast(x=x_fast):
            with autocast(fast):
                return runner(x)

        t_ref, mem_ref = _seconds_and_peak_memory(run_ref, device, warmup=warmup, repeats=repeats)
        t_fast, mem_fast = _seconds_and_peak_memory(run_fast, device, warmup=warmup, repeats=repeats)
        agree = output_agreement(run_ref().float(), run_fast().float())
        measured = _InferenceMeasurement(model_label(name, input_size), device.type, batch, t_ref, t_fast,
                                         mem_ref, mem_fast, agree, 2 * gmacs * batch)  # fmt: skip
        rows += measured.rows(peaks.get("fp32", math.nan), fast_peak)
        log(measured.describe(fast_peak))
    return rows


def _seconds_and_peak_memory(fn: Callable[[], object], device: torch.device, *, warmup: int,
                             repeats: int) -> tuple[float, float]:  # fmt: skip
    reset_peak_memory(device)
    seconds = median_seconds(fn, device, warmup=warmup, repeats=repeats)
    return seconds, peak_memory_mib(device)


@dataclass(frozen=True)
class _InferenceMeasurement:
    """One model and batch measured on both paths, and the suite rows it gives."""

    label: str
    device: str
    batch: int
    t_ref: float
    t_fast: float
    mem_ref: float
    mem_fast: float
    agreement: dict[str, float]
    gflop_per_call: float

    @property
    def gflops_ref(self) -> float:
        return self.gflop_per_call / self.t_ref

    @property
    def gflops_fast(self) -> float:
        return self.gflop_per_call / self.t_fast

    def rows(self, fp32_peak: float, fast_peak: float) -> list[dict]:
        label, dev, batch = self.label, self.device, self.batch
        if batch == 1:
            speed = row("inference_latency", label, dev, batch, 1000 * self.t_ref, 1000 * self.t_fast, "ms")
        else:
            speed = row("inference_throughput", label, dev, batch, batch / self.t_ref, batch / self.t_fast,
                        "samples/s")  # fmt: skip
        memory_unit = "MiB (GPU allocated)" if dev == "cuda" else "MiB (process peak RSS)"
        return [
            speed,
            row("achieved_gflops", label, dev, batch, self.gflops_ref, self.gflops_fast, "GFLOP/s"),
            row("fraction_of_peak", label, dev, batch, self.gflops_ref / fp32_peak, self.gflops_fast / fast_peak,
                "fraction"),
            row("max_rel_error", label, dev, batch, 0.0, self.agreement["max_rel_error"], "relative"),
            row("keypoint_change", label, dev, batch, 0.0, self.agreement["max_px_change"], "heatmap px"),
            row("peak_memory", label, dev, batch, self.mem_ref, self.mem_fast, memory_unit),
        ]  # fmt: skip

    def describe(self, fast_peak: float) -> str:
        return (f"  {self.label:<28} batch {self.batch:>3}: {1000 * self.t_ref:9.2f} ms -> {1000 * self.t_fast:9.2f} ms "
                f"({self.t_ref / self.t_fast:4.2f}x)  {self.gflops_fast:7.1f} GFLOP/s "
                f"({self.gflops_fast / fast_peak:5.1%} of peak)  max rel err {self.agreement['max_rel_error']:.2e}  "
                f"keypoints moved <= {self.agreement['max_px_change']:.3f} px")  # fmt: skip


def onnx_rows(name: str, input_size: Sequence[int], *, batches: Sequence[int], warmup: int, repeats: int,
              log: Callable[[str], None] = print) -> list[dict]:  # fmt: skip
    """The exported model (``mfvpose export``) under onnxruntime's CPU provider against torch fp32
    eager with the same weights and the same number of threads."""
    import tempfile

    cpu = torch.device("cpu")
    model = build_model(name, input_size, cpu).eval()
    label = model_label(name, input_size)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        session = _onnxruntime_session(model, Path(tmp) / f"{name}.onnx")
        for batch in batches:
            x = torch.randn(batch, 3, *input_size)
            feed = {"image": x.numpy()}

            @torch.no_grad()
            def run_torch(x=x):
                return model(x)

            t_torch = median_seconds(run_torch, cpu, warmup=warmup, repeats=repeats)
            t_ort = median_seconds(lambda feed=feed: session.run(["heatmaps"], feed), cpu, warmup=warmup,
                                   repeats=repeats)  # fmt: skip
            expected, got = run_torch().numpy(), session.run(["heatmaps"], feed)[0]
            error = float(np.abs(got - expected).max() / max(np.abs(expected).max(), 1e-12))
            if batch == 1:
                rows.append(
                    row("onnxruntime_latency", label, "cpu", batch, 1000 * t_torch, 1000 * t_ort, "ms")
                )
            else:
                rows.append(row("onnxruntime_throughput", label, "cpu", batch, batch / t_torch, batch / t_ort,
                                "samples/s"))  # fmt: skip
            rows.append(row("onnxruntime_rel_error", label, "cpu", batch, 0.0, error, "relative"))
            log(f"  {label:<28} batch {batch:>3}: torch {1000 * t_torch:9.2f} ms -> onnxruntime "
                f"{1000 * t_ort:9.2f} ms ({t_torch / t_ort:4.2f}x)  max rel err {error:.2e}")  # fmt: skip
    return rows


def _onnxruntime_session(model: nn.Module, path: Path):
    """``model`` exported to ``path`` and loaded on onnxruntime's CPU provider with torch's threads."""
    import onnxruntime as ort

    from mfvpose_lib.export import export_onnx

    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    return ort.InferenceSession(str(export_onnx(model, path)), options, providers=["CPUExecutionProvider"])


def synthetic_training_batch(cfg, batch: int, device: torch.device):
    """Random images, targets and all-ones target weights of the model config's sizes."""
    images = torch.randn(batch, 3, *cfg.input_size, device=device)
    target = torch.rand(batch, cfg.num_keypoints, *cfg.heatmap_size, device=device)
    weight = torch.ones(batch, cfg.num_keypoints, 1, device=device)
    return images, target, weight


def adam_training_step(runner: nn.Module, parameters, path: FastPath, images: torch.Tensor, target: torch.Tensor,
                       weight: torch.Tensor) -> Callable[[], None]:  # fmt: skip
    """One forward + JointsMSE + backward + Adam step of ``runner`` on ``path``; fp16 steps through
    a GradScaler (bf16 needs none)."""
    criterion = JointsMSELoss()
    optimizer = torch.optim.Adam(parameters, lr=1e-3)
    scaler = torch.amp.GradScaler(path.device_type, enabled=path.precision == "fp16")
    x = prepare_input(images, path)

    def step() -> None:
        with autocast(path):
            loss = criterion(runner(x).float(), target, weight)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    return step


def train_step_rows(name: str, input_size: Sequence[int], device: torch.device, fast: FastPath, *,
                    batch: int, warmup: int, repeats: int, benchmark: str = "train_step",
                    log: Callable[[str], None] = print) -> list[dict]:  # fmt: skip
    """samples/s of forward + JointsMSE + backward + Adam step, both paths from the same weights."""
    base = build_model(name, input_size, device).train()
    tensors = synthetic_training_batch(base.cfg, batch, device)
    seconds = []
    for path in (reference_path(device.type), fast):
        model = copy.deepcopy(base)
        step = adam_training_step(prepare_model(model, path), model.parameters(), path, *tensors)
        seconds.append(median_seconds(step, device, warmup=warmup, repeats=repeats))
    t_ref, t_fast = seconds
    label = model_label(name, input_size)
    log(f"  {benchmark:<24} {label:<28} batch {batch:>3}: {batch / t_ref:8.1f} -> {batch / t_fast:8.1f} samples/s "
        f"({t_ref / t_fast:4.2f}x)")  # fmt: skip
    return [row(benchmark, label, device.type, batch, batch / t_ref, batch / t_fast, "samples/s")]


def cpu_profile_train_rows(
    fast: FastPath, *, warmup: int, repeats: int, log: Callable[[str], None] = print
) -> list[dict]:
    """The training step at the cpu profile's own model, input size, batch and threads."""
    from mfvpose_lib.study.profiles import get_profile

    coco = get_profile("cpu").for_dataset("coco")
    threads = torch.get_num_threads()
    if coco.threads:
        torch.set_num_threads(coco.threads)
    try:
        return train_step_rows(coco.model, coco.input_size, torch.device("cpu"), fast,
                               batch=coco.batch_size, warmup=warmup, repeats=repeats,
                               benchmark=f"train_step_cpu_profile_{coco.threads or threads}t", log=log)  # fmt: skip
    finally:
        torch.set_num_threads(threads)


def projected_schedule_rows(rows: Sequence[dict], *, log: Callable[[str], None] = print) -> list[dict]:
    """Hours of the paper profile's COCO schedule (epochs x COCO train2017's person instances) at
    the training-step rate measured for each model at 256x192, both paths. The step alone: data
    loading and evaluation come on top unless they overlap with it."""
    from mfvpose_lib.study.profiles import get_profile

    epochs = get_profile("paper").for_dataset("coco").epochs
    samples = epochs * COCO_TRAIN_INSTANCES
    out = []
    for r in rows:
        if r["benchmark"] != "train_step" or not r["model"].endswith(" 256x192"):
            continue
        hours_ref, hours_fast = samples / r["straightforward"] / 3600, samples / r["fast"] / 3600
        out.append(row(f"projected_coco_{epochs}_epochs", r["model"], r["device"], r["batch"], hours_ref,
                       hours_fast, "hours"))  # fmt: skip
        log(f"  {epochs} COCO epochs of {r['model']} at batch {r['batch']}: {hours_ref:.1f} h -> {hours_fast:.1f} h "
            "(training step only)")  # fmt: skip
    return out
