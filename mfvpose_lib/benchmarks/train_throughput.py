"""``mfvpose bench train`` and ``mfvpose bench cpu-study``: training samples/s of one model, and
what the cpu profile's settings were chosen from (batch size x threads, and the in-memory image
cache against decoding every image each epoch).

Synthetic tensors of the model's input and heatmap sizes take data loading out of the
training-step measurement (``mfvpose bench data`` measures that side). Warm-up steps are run
first and excluded (they include allocation and, with ``--compile``, compilation).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd
import torch

from mfvpose_lib.benchmarks.model_speed import adam_training_step, build_model, synthetic_training_batch
from mfvpose_lib.benchmarks.timing import reset_peak_memory
from mfvpose_lib.engine.fast_path import FastPath, prepare_model, resolve_amp


def measure_train_throughput(
    model_name: str,
    *,
    batch_size: int = 32,
    device: str = "auto",
    amp: str = "auto",
    compile: bool = False,
    channels_last: bool = False,
    input_size: tuple[int, int] | None = None,
    steps: int = 20,
    warmup: int = 3,
) -> dict:
    """Time ``steps`` training steps after ``warmup`` untimed ones; returns the measurements."""
    from mfvpose_lib.device import resolve_device

    dev = resolve_device(device)
    path = _requested_path(dev, amp, compile=compile, channels_last=channels_last)
    model = build_model(model_name, input_size, dev).train()
    step = adam_training_step(prepare_model(model, path), model.parameters(), path,
                              *synthetic_training_batch(model.cfg, batch_size, dev))  # fmt: skip
    warm_seconds = _seconds_of_steps(step, warmup, dev)
    reset_peak_memory(dev)
    seconds = _seconds_of_steps(step, steps, dev)
    result = {
        "model": model_name,
        "params_M": sum(p.numel() for p in model.parameters()) / 1e6,
        "input_size": tuple(model.cfg.input_size),
        "batch_size": batch_size,
        "device": _device_description(dev),
        "amp": str(path.amp_dtype or "off"),
        "compile": compile,
        "channels_last": channels_last,
        "steps": steps,
        "warmup_seconds": warm_seconds,
        "step_ms": 1000 * seconds / steps,
        "samples_per_s": batch_size * steps / seconds,
    }
    if dev.type == "cuda":
        result["peak_memory_GiB"] = torch.cuda.max_memory_allocated(dev) / 2**30
    return result


def _requested_path(device: torch.device, amp: str, *, compile: bool, channels_last: bool) -> FastPath:
    """The path the caller's flags describe (``amp``: auto, off, bf16 or fp16)."""
    precision = {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[resolve_amp(amp, device)]
    return FastPath(device.type, precision, channels_last, compile, "as requested")


def _seconds_of_steps(step: Callable[[], None], count: int, device: torch.device) -> float:
    """Seconds for ``count`` steps, waiting for queued GPU work before stopping the clock."""
    start = time.perf_counter()
    for _ in range(count):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def _device_description(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"{device} ({torch.get_num_threads()} threads)"


def format_result(result: dict) -> str:
    """The measurements as aligned ``key  value`` lines."""
    width = max(len(k) for k in result)
    return "\n".join(
        f"{key:<{width}}  {value:.3f}" if isinstance(value, float) else f"{key:<{width}}  {value}"
        for key, value in result.items()
    )


def cpu_profile_sweep(batches: Sequence[int] = (16, 32, 64), threads: Sequence[int] = (1, 2), *,
                      steps: int = 5, warmup: int = 2, model: str = "mfvpose_tiny",
                      input_size: Sequence[int] = (64, 48)) -> pd.DataFrame:  # fmt: skip
    """samples/s of the training step (synthetic tensors) for each thread count and batch size."""
    saved = torch.get_num_threads()
    rows = []
    try:
        for t, b in itertools.product(threads, batches):
            torch.set_num_threads(t)
            r = measure_train_throughput(model, batch_size=b, device="cpu", amp="off", input_size=tuple(input_size),
                                         steps=steps, warmup=warmup)  # fmt: skip
            rows.append({"model": model, "threads": t, "batch": b, "samples_per_s": r["samples_per_s"],
                         "step_ms": r["step_ms"]})  # fmt: skip
    finally:
        torch.set_num_threads(saved)
    return pd.DataFrame(rows)


def image_cache_experiment(data_root: str | Path, *, items: int = 256, input_size: Sequence[int] = (64, 48),
                           workers: Sequence[int] = (0,), batch_size: int = 16, passes: int = 2) -> pd.DataFrame:  # fmt: skip
    """Training-loader samples/s over the same ``items`` without and with ``cache_images``;
    the cached set is timed on its last pass (the first fills the cache)."""
    from torch.utils.data import DataLoader, Subset

    from mfvpose_lib.data.dataset import build_dataset

    rows = []
    for cache in (False, True):
        dataset = build_dataset(data_root, "coco", "train", input_size=input_size,
                                heatmap_size=(input_size[0] // 4, input_size[1] // 4), cache_images=cache)  # fmt: skip
        subset = Subset(dataset, list(range(min(items, len(dataset)))))
        for w in workers:
            if cache and w > 0:
                dataset.fill_cache(subset.indices)  # workers fork the filled cache
            loader = DataLoader(subset, batch_size=batch_size, num_workers=w, persistent_workers=w > 0)
            seconds = [_seconds_of_one_pass(loader) for _ in range(passes)]
            rows.append({"cache_images": cache, "workers": w, "items": len(subset),
                         "samples_per_s": len(subset) / seconds[-1], "first_pass_s": seconds[0]})  # fmt: skip
    return pd.DataFrame(rows)


def _seconds_of_one_pass(loader) -> float:
    start = time.perf_counter()
    for _batch in loader:
        pass
    return time.perf_counter() - start
