"""The benchmark suite behind ``mfvpose bench``: every figure is the straightforward path
(fp32, contiguous, eager) against the fast path of :mod:`mfvpose_lib.engine.fast_path`, with the
same weights and the same inputs.

The suite is a table of sections (:data:`SUITE_SECTIONS`), run in order by :func:`run_suite`:
the matmul ceiling (fp32, and bf16 where the hardware has it); inference latency (batch 1) and
throughput, with the fast outputs' relative error and the change of the decoded keypoints,
achieved GFLOP/s against the ceiling (from the model's GMACs in
:mod:`mfvpose_lib.analysis.complexity`) and peak memory; onnxruntime against torch; a training
step (forward + JointsMSE + backward + Adam) of the same models and of the cpu profile's own
settings; the data pipeline (one worker) and evaluation (decode + OKS-NMS + COCOeval) on
synthetic predictions.

Timings are medians of ``repeats`` after ``warmup`` untimed calls; CUDA work is timed with
events. ``run_suite`` returns a DataFrame with exactly the CSV columns
(:data:`~mfvpose_lib.benchmarks.results.CSV_COLUMNS`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch

from mfvpose_lib.benchmarks.data_pipeline import data_rows
from mfvpose_lib.benchmarks.evaluation_speed import eval_rows
from mfvpose_lib.benchmarks.model_speed import (
    cpu_profile_train_rows,
    inference_rows,
    matmul_ceiling,
    onnx_rows,
    projected_schedule_rows,
    train_step_rows,
)
from mfvpose_lib.benchmarks.results import CSV_COLUMNS, row
from mfvpose_lib.benchmarks.timing import environment
from mfvpose_lib.engine.fast_path import (
    NATIVE_BF16_FLAGS,
    FastPath,
    choose_fast_path,
    read_cpu_info,
    select_fast_path,
)

LARGE_MODELS = (
    ("mfvpose_b", (256, 192)),
    ("tokenpose_b", (256, 192)),
    ("hrnet_w32", (256, 192)),
    ("simplebaseline_r50", (256, 192)),
)
SMALL_MODELS = (("mfvpose_tiny", (64, 48)), ("tokenpose_tiny", (64, 48)))
QUICK_MODELS = SMALL_MODELS + (("mfvpose_b", (256, 192)), ("tokenpose_b", (256, 192)))


@dataclass
class SuiteRun:
    """What the sections of one suite run share; ``peaks`` is filled by the matmul section and
    read by the inference section after it."""

    device: torch.device
    fast: FastPath
    models: list[tuple[str, Sequence[int]]]
    batches: list[int]
    train_batch: int
    repeats: int
    warmup: int
    quick: bool
    data_root: str | Path | None
    cpu_profile_row: bool
    log: Callable[[str], None]
    peaks: dict[str, float] = field(default_factory=lambda: {"fp32": math.nan})


def _matmul_section(run: SuiteRun) -> list[dict]:
    has_bf16 = run.fast.precision != "fp32" or run.device.type == "cuda"
    run.peaks = matmul_ceiling(
        run.device, 1024 if run.quick else 2048, warmup=1, repeats=run.repeats, bf16=has_bf16
    )
    run.log("matmul ceiling: " + ", ".join(f"{k} {v:.1f} GFLOP/s" for k, v in run.peaks.items()))
    fp32 = run.peaks["fp32"]
    return [row("matmul_peak", "matmul", run.device.type, None, fp32, run.peaks.get("bf16", fp32), "GFLOP/s")]


def _inference_section(run: SuiteRun) -> list[dict]:
    return [r for name, size in run.models
            for r in inference_rows(name, size, run.device, run.fast, batches=run.batches, warmup=run.warmup,
                                    repeats=run.repeats, peaks=run.peaks, log=run.log)]  # fmt: skip


def _onnx_section(run: SuiteRun) -> list[dict]:
    return [r for name, size in run.models
            for r in onnx_rows(name, size, batches=run.batches, warmup=run.warmup, repeats=run.repeats,
                               log=run.log)]  # fmt: skip


def _train_section(run: SuiteRun) -> list[dict]:
    """The training step of the models (``quick``: the small ones), of the cpu profile's own
    settings on a CPU, and the paper schedule those steps project to."""
    models = [m for m in run.models if not run.quick or m in SMALL_MODELS] or run.models[:1]
    rows = [r for name, size in models
            for r in train_step_rows(name, size, run.device, run.fast, batch=run.train_batch, warmup=run.warmup,
                                     repeats=run.repeats, log=run.log)]  # fmt: skip
    if run.cpu_profile_row and run.device.type == "cpu":
        rows += cpu_profile_train_rows(run.fast, warmup=run.warmup, repeats=run.repeats, log=run.log)
    return rows + projected_schedule_rows(rows, log=run.log)


def _data_section(run: SuiteRun) -> list[dict]:
    return data_rows(run.data_root, quick=run.quick, log=run.log)


def _eval_section(run: SuiteRun) -> list[dict]:
    return eval_rows(quick=run.quick, repeats=1 if run.quick else 3, log=run.log)


@dataclass(frozen=True)
class Section:
    name: str  # what ``--sections`` names
    heading: str  # logged before the section's rows ("" for none)
    rows: Callable[[SuiteRun], list[dict]]


#: The suite, in the order it runs (matmul first: inference reads its ceiling).
SUITE_SECTIONS = (
    Section("matmul", "", _matmul_section),
    Section("inference", "inference (straightforward -> fast):", _inference_section),
    Section(
        "onnx", "onnxruntime CPU (torch fp32 eager -> onnxruntime, same weights and threads):", _onnx_section
    ),
    Section("train", "training step (straightforward -> fast):", _train_section),
    Section("data", "data pipeline, one worker (reference -> this library):", _data_section),
    Section("eval", "evaluation (reference decode -> vectorised decode):", _eval_section),
)
SECTIONS = tuple(section.name for section in SUITE_SECTIONS)


def run_suite(
    models: Sequence[tuple[str, Sequence[int]]] | None = None,
    *,
    quick: bool = False,
    device: str = "cpu",
    batches: Sequence[int] | None = None,
    train_batch: int | None = None,
    repeats: int | None = None,
    warmup: int | None = None,
    sections: Sequence[str] = SECTIONS,
    data_root: str | Path | None = None,
    cpu_profile_row: bool = True,
    without_bf16: bool = False,
    log: Callable[[str], None] = print,
) -> pd.DataFrame:
    """Run the suite; returns one row per figure with :data:`CSV_COLUMNS` (and the environment
    in ``df.attrs``). ``models`` pairs (name, (H, W)) pick the models (default: the four large
    ones at 256x192 and the tiny ones at 64x48; ``quick``: the tiny ones and mfvpose_b).
    ``without_bf16``: the fast path is the one a CPU without native bf16 would get."""
    from mfvpose_lib.device import resolve_device

    unknown = set(sections) - set(SECTIONS)
    if unknown:
        raise ValueError(f"unknown benchmark sections {sorted(unknown)}; choose from {', '.join(SECTIONS)}")
    dev = resolve_device(device)
    fast, env = _fast_path_and_environment(dev, without_bf16)
    log("environment: " + ", ".join(f"{k}={v}" for k, v in env.items()))
    log(f"fast path: {fast.describe()}")
    run = SuiteRun(
        device=dev, fast=fast,
        models=list(models) if models is not None else list(QUICK_MODELS if quick else LARGE_MODELS + SMALL_MODELS),
        batches=list(batches) if batches is not None else ([1, 16] if quick else [1, 32]),
        train_batch=train_batch or 16,
        repeats=repeats or (3 if quick else 5),
        warmup=2 if warmup is None else warmup,  # oneDNN builds its kernels on the first calls of each shape
        quick=quick, data_root=data_root, cpu_profile_row=cpu_profile_row, log=log,
    )  # fmt: skip
    rows: list[dict] = []
    for section in SUITE_SECTIONS:
        if section.name in sections:
            if section.heading:
                log(section.heading)
            rows += section.rows(run)
    df = pd.DataFrame(rows, columns=CSV_COLUMNS)
    df["batch"] = df["batch"].astype("Int64")
    df.attrs["environment"] = env
    df.attrs["fast_path"] = fast.describe()
    return df


def _fast_path_and_environment(device: torch.device, without_bf16: bool) -> tuple[FastPath, dict[str, str]]:
    """This machine's fast path, or (``without_bf16``) the one a CPU without native bf16 gets."""
    env = environment()
    if not without_bf16:
        return select_fast_path(device), env
    if device.type != "cpu":
        raise ValueError("without_bf16 describes a CPU; it needs device='cpu'")
    flags = set(read_cpu_info()["flags"]) - set(NATIVE_BF16_FLAGS)
    env["fast_path_as_on"] = "a CPU without native bf16 (flags removed)"
    return choose_fast_path("cpu", flags, mkldnn_available=torch.backends.mkldnn.is_available()), env
