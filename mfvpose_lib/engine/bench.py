"""Training throughput: samples/s of forward + JointsMSE loss + backward + optimizer step.

Synthetic tensors of the model's input and heatmap sizes take data loading out of the
measurement (``mfvpose bench data`` measures that side). Warm-up steps are run first and
excluded (they include allocation and, with ``--compile``, compilation).
"""

from __future__ import annotations

import time

import torch


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
    from mfvpose_lib.engine.fast_path import resolve_amp
    from mfvpose_lib.engine.loss import JointsMSELoss
    from mfvpose_lib.models import create_model

    dev = resolve_device(device)
    overrides = {"input_size": tuple(input_size)} if input_size else {}
    model = create_model(model_name, **overrides).to(dev).train()
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    cfg = model.cfg
    step_model = torch.compile(model) if compile else model
    amp_dtype = resolve_amp(amp, dev)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler(dev.type, enabled=amp_dtype == torch.float16)
    criterion = JointsMSELoss()
    images = torch.randn(batch_size, 3, *cfg.input_size, device=dev).contiguous(memory_format=memory_format)
    target = torch.rand(batch_size, cfg.num_keypoints, *cfg.heatmap_size, device=dev)
    weight = torch.ones(batch_size, cfg.num_keypoints, 1, device=dev)

    def step() -> None:
        with torch.autocast(dev.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            loss = criterion(step_model(images), target, weight)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    def timed(count: int) -> float:
        """Seconds for ``count`` steps, waiting for queued GPU work before stopping the clock."""
        start = time.perf_counter()
        for _ in range(count):
            step()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        return time.perf_counter() - start

    warm_seconds = timed(warmup)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    seconds = timed(steps)
    result = {
        "model": model_name,
        "params_M": sum(p.numel() for p in model.parameters()) / 1e6,
        "input_size": tuple(cfg.input_size),
        "batch_size": batch_size,
        "device": str(dev)
        + (
            f" ({torch.cuda.get_device_name(dev)})"
            if dev.type == "cuda"
            else f" ({torch.get_num_threads()} threads)"
        ),
        "amp": str(amp_dtype or "off"),
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


def format_result(result: dict) -> str:
    """The measurements as aligned ``key  value`` lines."""
    width = max(len(k) for k in result)
    return "\n".join(
        f"{key:<{width}}  {value:.3f}" if isinstance(value, float) else f"{key:<{width}}  {value}"
        for key, value in result.items()
    )
