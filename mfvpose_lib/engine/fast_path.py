"""The fast inference/training path, chosen from what the hardware reports.

``choose_fast_path`` is a pure function of the device type, the CPU's flags (from
``/proc/cpuinfo``) and whether the GPU supports bf16, so the choice can be tested with made-up
flags; ``select_fast_path(device)`` reads the real machine. The rules:

* CPU with native bf16 (``amx_bf16`` or ``avx512_bf16``, and oneDNN present): bf16 autocast and
  channels_last;
* CPU without it: fp32 and channels_last (emulated bf16 is slower than fp32);
* CUDA: bf16 autocast where the GPU supports it, else fp16, channels_last and ``torch.compile``.

``torch.compile`` is left off on CPU unless the caller has measured that it pays
(``compile_pays=True``): for these small models compilation costs minutes of a 2-core machine.

``use_fast_path(model, path, device)`` is the one helper evaluation, prediction and widgets call:
a context manager that puts the model in the chosen memory format and runs its body under the
chosen autocast. ``decode_keypoints`` is the one place this module (and the benchmark suite)
decodes heatmaps, through the codec's public ``decode_heatmaps``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

NATIVE_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


@dataclass(frozen=True)
class FastPath:
    """How to run a model fast on one device, and why."""

    device_type: str
    precision: str  # "fp32", "bf16" or "fp16"
    channels_last: bool
    compile: bool
    reason: str

    @property
    def amp_dtype(self) -> torch.dtype | None:
        """The autocast dtype (None: full precision), as ``evaluate_model`` takes it."""
        return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[self.precision]

    def describe(self) -> str:
        parts = [self.precision, "channels_last" if self.channels_last else "contiguous"]
        if self.compile:
            parts.append("torch.compile")
        return f"{self.device_type}: {' + '.join(parts)} ({self.reason})"


def resolve_amp(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype: ``auto`` is bf16 on GPUs that support it, fp16 on older GPUs,
    and full precision on CPU (where autocast is slower than float32 for these models)."""
    if amp == "off":
        return None
    if amp == "bf16":
        return torch.bfloat16
    if amp == "fp16":
        if device.type != "cuda":
            raise ValueError("fp16 autocast needs a CUDA device; use --amp bf16 or off on CPU")
        return torch.float16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return None


def reference_path(device_type: str = "cpu") -> FastPath:
    """The straightforward path: fp32, contiguous tensors, eager."""
    return FastPath(device_type, "fp32", False, False, "reference path: fp32, contiguous, eager")


def choose_fast_path(
    device_type: str,
    cpu_flags: Iterable[str] = (),
    *,
    mkldnn_available: bool = True,
    cuda_bf16_supported: bool | None = None,
    compile_pays: bool = False,
) -> FastPath:
    """The fast path for ``device_type`` given what the hardware reports (a pure function)."""
    if device_type == "cuda":
        bf16 = bool(cuda_bf16_supported)
        return FastPath(
            "cuda", "bf16" if bf16 else "fp16", True, True,
            "GPU supports bf16" if bf16 else "GPU without bf16 support: fp16 autocast",
        )  # fmt: skip
    if device_type != "cpu":
        return FastPath(device_type, "fp32", False, False, f"no fast path known for {device_type!r}")
    flags = set(cpu_flags)
    native = [f for f in NATIVE_BF16_FLAGS if f in flags]
    if native and mkldnn_available:
        reason = f"CPU reports {', '.join(native)} (native bf16) and oneDNN is available"
        precision = "bf16"
    elif native:
        reason = f"CPU reports {', '.join(native)} but torch has no oneDNN: fp32"
        precision = "fp32"
    else:
        reason = "CPU reports neither amx_bf16 nor avx512_bf16 (bf16 would be emulated): fp32"
        precision = "fp32"
    if compile_pays:
        reason += "; torch.compile measured to pay"
    return FastPath("cpu", precision, True, bool(compile_pays), reason)


def read_cpu_info(path: str | Path = "/proc/cpuinfo") -> dict[str, object]:
    """CPU model name and flags from ``/proc/cpuinfo`` (empty where the file is absent)."""
    try:
        text = Path(path).read_text()
    except OSError:
        return {"model_name": "unknown", "flags": frozenset()}
    name, flags = "unknown", frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and name == "unknown":
            name = value.strip()
        elif key == "flags" and not flags:
            flags = frozenset(value.split())
    return {"model_name": name, "flags": flags}


def select_fast_path(device: torch.device | str = "cpu", *, compile_pays: bool = False) -> FastPath:
    """The fast path for this machine's ``device``, from what it reports."""
    device = torch.device(device)
    if device.type == "cuda":
        return choose_fast_path("cuda", cuda_bf16_supported=torch.cuda.is_bf16_supported())
    return choose_fast_path(
        device.type,
        read_cpu_info()["flags"],
        mkldnn_available=torch.backends.mkldnn.is_available(),
        compile_pays=compile_pays,
    )


def prepare_model(model: nn.Module, path: FastPath) -> nn.Module:
    """``model`` in the path's memory format, compiled when the path says so (in place for the
    memory format; the compiled wrapper shares the weights)."""
    model.to(memory_format=torch.channels_last if path.channels_last else torch.contiguous_format)
    return torch.compile(model) if path.compile else model


def prepare_input(images: torch.Tensor, path: FastPath) -> torch.Tensor:
    return images.contiguous(
        memory_format=torch.channels_last if path.channels_last else torch.contiguous_format
    )


def autocast(path: FastPath):
    """The autocast context of ``path`` (a no-op context at fp32)."""
    dtype = path.amp_dtype
    return torch.autocast(path.device_type, dtype=dtype or torch.float32, enabled=dtype is not None)


@contextlib.contextmanager
def use_fast_path(model: nn.Module, path: FastPath) -> Iterator[nn.Module]:
    """Run the body with ``model`` in ``path``'s memory format and under its autocast; yields
    the model to call (compiled when the path says so); the memory format is restored after."""
    runner = prepare_model(model, path)
    try:
        with autocast(path):
            yield runner
    finally:
        if path.channels_last:
            model.to(memory_format=torch.contiguous_format)


@torch.no_grad()
def run_model(model: nn.Module, images: torch.Tensor, path: FastPath) -> torch.Tensor:
    """Heatmaps of ``images`` under ``path``, as fp32 contiguous (for comparison and decoding)."""
    with use_fast_path(model, path) as runner:
        out = runner(prepare_input(images, path))
    return out.float().contiguous()


def decode_keypoints(heatmaps: torch.Tensor | np.ndarray, method: str = "dark") -> np.ndarray:
    """Keypoints in heatmap pixels (N, K, 2): the one place the fast path decodes."""
    from mfvpose_lib.data.codec import decode_heatmaps

    if torch.is_tensor(heatmaps):
        heatmaps = heatmaps.detach().float().cpu().numpy()
    coords, _ = decode_heatmaps(heatmaps, method=method)
    return coords


def output_agreement(reference: torch.Tensor, fast: torch.Tensor, decode: str = "dark") -> dict[str, float]:
    """How far ``fast`` heatmaps are from ``reference`` (same inputs, same weights).

    ``max_rel_error``: the largest absolute difference divided by the largest absolute
    reference value (relative to the output's range, so near-zero background pixels do not
    blow it up). ``max_px_change`` / ``mean_px_change``: how far the decoded keypoints move,
    in heatmap pixels.
    """
    reference = reference.detach().float().cpu()
    fast = fast.detach().float().cpu()
    if reference.shape != fast.shape:
        raise ValueError(f"outputs differ in shape: {tuple(reference.shape)} vs {tuple(fast.shape)}")
    scale = float(reference.abs().max())
    diff = float((fast - reference).abs().max())
    moved = np.linalg.norm(decode_keypoints(fast, decode) - decode_keypoints(reference, decode), axis=-1)
    return {
        "max_rel_error": diff / scale if scale > 0 else diff,
        "max_px_change": float(moved.max()) if moved.size else 0.0,
        "mean_px_change": float(moved.mean()) if moved.size else 0.0,
    }


@dataclass(frozen=True)
class PrecisionDecision:
    """What ``--precision auto`` chose for an evaluation, with the check that decided it."""

    path: FastPath
    used_fast: bool
    max_px_change: float | None
    check_images: int
    tolerance_px: float
    reason: str


def decide_eval_precision(
    model: nn.Module,
    dataset,
    device: torch.device | str,
    *,
    precision: str = "auto",
    decode: str = "dark",
    check_images: int = 32,
    tolerance_px: float = 0.1,
) -> PrecisionDecision:
    """``fp32``: the reference path. ``auto``: the hardware's fast path when, on the first
    ``check_images`` items of ``dataset``, it moves no decoded keypoint more than
    ``tolerance_px`` heatmap pixels from fp32; otherwise the reference path."""
    device = torch.device(device)
    ref = reference_path(device.type)
    if precision == "fp32":
        return PrecisionDecision(ref, False, None, 0, tolerance_px, "--precision fp32: reference path forced")
    if precision != "auto":
        raise ValueError(f"precision must be 'auto' or 'fp32', got {precision!r}")
    fast = select_fast_path(device)
    if fast.precision == "fp32" and not fast.channels_last and not fast.compile:
        return PrecisionDecision(
            ref, False, 0.0, 0, tolerance_px, f"fast path is the reference: {fast.reason}"
        )
    n = min(check_images, len(dataset))
    if n == 0:
        return PrecisionDecision(ref, False, None, 0, tolerance_px, "empty dataset: reference path")
    images = torch.stack([dataset[i]["image"] for i in range(n)]).to(device)
    was_training = model.training
    model.eval()
    try:
        agreement = output_agreement(run_model(model, images, ref), run_model(model, images, fast), decode)
    finally:
        model.train(was_training)
    moved = agreement["max_px_change"]
    used = moved <= tolerance_px
    verdict = "within" if used else "beyond"
    reason = (
        f"{fast.describe()}; on {n} check images the decoded keypoints moved at most {moved:.3f} heatmap px, "
        f"{verdict} the {tolerance_px} px tolerance"
    )
    return PrecisionDecision(fast if used else ref, used, moved, n, tolerance_px, reason)
