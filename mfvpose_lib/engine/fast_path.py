"""The fast inference/training path, chosen from what the hardware reports.

``choose_fast_path`` is a pure function of the device type, the CPU's flags (from
``/proc/cpuinfo``) and whether the GPU supports bf16, so the choice can be tested with made-up
flags; ``select_fast_path(device)`` reads the real machine. The rules:

* CPU with native bf16 (``amx_bf16`` or ``avx512_bf16``, and oneDNN present): bf16 autocast and
  channels_last (measured on both kinds: AMX, and AMD Zen 4's avx512_bf16 without AMX, where the
  paper-size models still run 1.9-2.5x fp32 at batch 16; ``figures/bench/``);
* CPU without it: fp32 and channels_last (emulated bf16 is slower than fp32);
* CUDA: bf16 autocast where the GPU supports it, else fp16, channels_last and ``torch.compile``.

Every fast inference path also folds BatchNorm into the convolution before it
(:mod:`mfvpose_lib.models.folding`): exact up to rounding, and a tenth of ``mfvpose_b``'s CPU time.

``torch.compile`` is left off on CPU unless the caller has measured that it pays
(``compile_pays=True``): for these small models compilation costs minutes of a 2-core machine.

``inference_model(model, path)`` is the module to run for inference on a path: for a fast path
an eval-mode copy, BatchNorm folded, in the path's memory format, compiled where the path says.
``decide_precision`` is what ``--precision auto`` of evaluation, prediction and the widgets
calls: on a check batch it runs both paths and takes the fast one only when it moves no decoded
keypoint more than 0.1 heatmap px and is measured faster. ``decode_keypoints`` is the one place
this module (and the benchmark suite) decodes heatmaps, through ``HeatmapCodec.locate``.
"""

from __future__ import annotations

import copy
import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

NATIVE_BF16_FLAGS = ("amx_bf16", "avx512_bf16")
PRECISIONS = ("auto", "fp32", "fast")  # what --precision accepts


@dataclass(frozen=True)
class FastPath:
    """How to run a model fast on one device, and why."""

    device_type: str
    precision: str  # "fp32", "bf16" or "fp16"
    channels_last: bool
    compile: bool
    reason: str
    fold_batch_norm: bool = False  # inference only: BatchNorm folded into the conv before it

    @property
    def amp_dtype(self) -> torch.dtype | None:
        """The autocast dtype (None: full precision), as ``evaluate_model`` takes it."""
        return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[self.precision]

    @property
    def is_reference(self) -> bool:
        """Nothing to change from the straightforward path."""
        return not (self.amp_dtype or self.channels_last or self.compile or self.fold_batch_norm)

    def describe(self) -> str:
        parts = [self.precision, "channels_last" if self.channels_last else "contiguous"]
        if self.fold_batch_norm:
            parts.append("BatchNorm folded")
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
            "GPU supports bf16" if bf16 else "GPU without bf16 support: fp16 autocast", fold_batch_norm=True,
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
    return FastPath("cpu", precision, True, bool(compile_pays), reason, fold_batch_norm=True)


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
    memory format; the compiled wrapper shares the weights). For training as well as inference."""
    model.to(memory_format=torch.channels_last if path.channels_last else torch.contiguous_format)
    return torch.compile(model) if path.compile else model


def prepare_input(images: torch.Tensor, path: FastPath) -> torch.Tensor:
    return images.contiguous(
        memory_format=torch.channels_last if path.channels_last else torch.contiguous_format
    )


def example_input(model: nn.Module, batch: int = 1) -> torch.Tensor:
    """A random input of the model's crop size on the device of its parameters."""
    height, width = model.cfg.input_size
    return torch.randn(batch, 3, height, width, device=next(model.parameters()).device)


def inference_model(model: nn.Module, path: FastPath, example: torch.Tensor | None = None) -> nn.Module:
    """The module to run for inference on ``path``: ``model`` itself (eval mode) on the reference
    path; otherwise an eval-mode copy, BatchNorm folded (checked on ``example``, default a random
    crop), in the path's memory format and compiled where the path says. ``model`` is untouched."""
    from mfvpose_lib.models.folding import FoldingError, fold_batch_norms

    if path.is_reference:
        return model.eval()
    runner = None
    if path.fold_batch_norm:
        try:
            runner = fold_batch_norms(model, example_input(model) if example is None else example[:1])
        except FoldingError as err:
            warnings.warn(f"BatchNorm left unfolded: {err}", stacklevel=2)
    if runner is None:
        runner = copy.deepcopy(model).eval()
    return prepare_model(runner, path)


def autocast(path: FastPath):
    """The autocast context of ``path`` (a no-op context at fp32)."""
    dtype = path.amp_dtype
    return torch.autocast(path.device_type, dtype=dtype or torch.float32, enabled=dtype is not None)


def decode_keypoints(heatmaps: torch.Tensor | np.ndarray, method: str = "dark") -> np.ndarray:
    """Keypoints in heatmap pixels (N, K, 2): the one place the fast path decodes. Tolerances
    are in heatmap pixels, so any codec of the maps' size answers the same."""
    from mfvpose_lib.codecs.heatmap import HeatmapCodec

    if torch.is_tensor(heatmaps):
        heatmaps = heatmaps.detach().float().cpu().numpy()
    size = tuple(heatmaps.shape[-2:])
    return HeatmapCodec(input_size=size, heatmap_size=size, decoder=method).locate(heatmaps)[0]


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
    """What ``--precision auto`` chose, with the check that decided it."""

    path: FastPath
    used_fast: bool
    max_px_change: float | None
    check_images: int
    tolerance_px: float
    reason: str
    reference_seconds: float | None = None  # one timed call of each path on the check batch
    fast_seconds: float | None = None
    # the fast module the check ran (folded, compiled where the path says), kept so it is built once
    prepared: nn.Module | None = field(default=None, repr=False, compare=False)

    def runner(self, model: nn.Module, example: torch.Tensor | None = None) -> nn.Module:
        """The module to run on the chosen path: the one the check prepared, else
        :func:`inference_model`."""
        if self.used_fast and self.prepared is not None:
            return self.prepared
        return inference_model(model, self.path, example)


def _timed_heatmaps(runner: nn.Module, images: torch.Tensor, path: FastPath) -> tuple[torch.Tensor, float]:
    """Heatmaps of a warm-up call and the seconds of a second, timed call."""
    x = prepare_input(images, path)
    with torch.no_grad(), autocast(path):
        out = runner(x)
        if x.device.type == "cuda":
            torch.cuda.synchronize(x.device)
        start = time.perf_counter()
        runner(x)
        if x.device.type == "cuda":
            torch.cuda.synchronize(x.device)
        seconds = time.perf_counter() - start
    return out.float().contiguous(), seconds


def decide_precision(
    model: nn.Module,
    images: torch.Tensor,
    *,
    precision: str = "auto",
    decode: str = "dark",
    tolerance_px: float = 0.1,
    fast: FastPath | None = None,
) -> PrecisionDecision:
    """``fp32``: the reference path. ``fast``: the hardware's fast path (or ``fast``), unchecked.
    ``auto``: the fast path when, on the check batch ``images`` (on the model's device), it moves
    no decoded keypoint more than ``tolerance_px`` heatmap pixels from fp32 **and** is measured
    faster than fp32 at that batch size; otherwise the reference path. Both paths run twice (a
    warm-up and a timed call)."""
    device = images.device
    ref = reference_path(device.type)
    if precision == "fp32":
        return PrecisionDecision(ref, False, None, 0, tolerance_px, "--precision fp32: reference path forced")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    fast = fast or select_fast_path(device)
    if precision == "fast":
        return PrecisionDecision(fast, not fast.is_reference, None, 0, tolerance_px,
                                 f"--precision fast: {fast.describe()}, unchecked")  # fmt: skip
    if fast.is_reference:
        return PrecisionDecision(ref, False, 0.0, 0, tolerance_px, f"fast path is the reference: {fast.reason}")
    n = len(images)
    if n == 0:
        return PrecisionDecision(ref, False, None, 0, tolerance_px, "no check images: reference path")
    was_training = model.training
    try:
        ref_out, ref_s = _timed_heatmaps(inference_model(model, ref), images, ref)
        prepared = inference_model(model, fast, images)
        fast_out, fast_s = _timed_heatmaps(prepared, images, fast)
    finally:
        model.train(was_training)
    moved = output_agreement(ref_out, fast_out, decode)["max_px_change"]
    used, verdict = fast_path_verdict(moved, ref_s, fast_s, tolerance_px)
    reason = f"{fast.describe()}; on {n} check images {verdict}"
    return PrecisionDecision(fast if used else ref, used, moved, n, tolerance_px, reason, ref_s, fast_s,
                             prepared=prepared if used else None)  # fmt: skip


def fast_path_verdict(moved_px: float, reference_seconds: float, fast_seconds: float,
                      tolerance_px: float = 0.1) -> tuple[bool, str]:  # fmt: skip
    """Whether to take the fast path (accurate within ``tolerance_px`` and faster), and why."""
    accurate, faster = moved_px <= tolerance_px, fast_seconds < reference_seconds
    used = accurate and faster
    return used, (
        f"the decoded keypoints moved at most {moved_px:.3f} heatmap px ({'within' if accurate else 'beyond'} "
        f"the {tolerance_px} px tolerance) and a batch took {1000 * fast_seconds:.1f} ms against fp32's "
        f"{1000 * reference_seconds:.1f} ms ({reference_seconds / fast_seconds:.2f}x{'' if faster else ', not faster'}): "
        f"{'fast path' if used else 'reference path'}"
    )


def check_batch(dataset, count: int, device: torch.device | str) -> torch.Tensor:
    """The images of the first ``count`` items of ``dataset``, stacked on ``device``."""
    n = min(count, len(dataset))
    if n == 0:
        return torch.zeros(0, device=device)
    return torch.stack([dataset[i]["image"] for i in range(n)]).to(device)


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
    """:func:`decide_precision` on the first ``check_images`` items of ``dataset`` (the
    evaluation's batch size)."""
    if precision in ("fp32", "fast"):  # no check to run
        return decide_precision(model, torch.zeros(0, device=device), precision=precision, tolerance_px=tolerance_px)
    images = check_batch(dataset, check_images, device)
    return decide_precision(model, images, precision=precision, decode=decode, tolerance_px=tolerance_px)
