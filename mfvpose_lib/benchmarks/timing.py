"""How the benchmarks time a call and read memory, and which machine the numbers come from."""

from __future__ import annotations

import math
import resource
import statistics
import time
from collections.abc import Callable

import torch

from mfvpose_lib.engine.fast_path import read_cpu_info


def median_seconds(fn: Callable[[], object], device: torch.device, *, warmup: int, repeats: int) -> float:
    """Median wall time of ``fn`` over ``repeats`` calls after ``warmup`` untimed ones; on CUDA
    each call is timed with events."""
    for _ in range(warmup):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        return statistics.median(_cuda_seconds(fn) for _ in range(repeats))
    return statistics.median(_wall_seconds(fn) for _ in range(repeats))


def best_seconds(fn: Callable[[], object], repeats: int) -> float:
    """The fastest of ``repeats`` wall-clock calls of ``fn`` (CPU work: the least disturbed one)."""
    return min((_wall_seconds(fn) for _ in range(repeats)), default=math.inf)


def _wall_seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _cuda_seconds(fn: Callable[[], object]) -> float:
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / 1000.0


def peak_memory_mib(device: torch.device) -> float:
    """Peak GPU memory allocated since the last reset (CUDA) or the process's peak RSS (CPU)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def reset_peak_memory(device: torch.device) -> None:
    """Start a new GPU peak (the CPU's peak RSS cannot be reset)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def environment() -> dict[str, str]:
    """Which machine the numbers come from."""
    info = read_cpu_info()
    flags = info["flags"]
    env = {
        "cpu": str(info["model_name"]),
        "amx_bf16": str("amx_bf16" in flags),
        "avx512_bf16": str("avx512_bf16" in flags),
        "torch_threads": str(torch.get_num_threads()),
        "torch": torch.__version__,
        "cpu_capability": str(torch.backends.cpu.get_cpu_capability()),
    }
    if torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(0)
    return env
