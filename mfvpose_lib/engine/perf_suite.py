"""The benchmark suite behind ``mfvpose bench``: every figure is the straightforward path
(fp32, contiguous, eager) against the fast path of :mod:`mfvpose_lib.engine.fast_path`, with the
same weights and the same inputs.

Sections: the matmul ceiling (fp32, and bf16 where the hardware has it), inference latency
(batch 1) and throughput, with the fast outputs' relative error and the change of the decoded
keypoints; achieved GFLOP/s against the ceiling (from the model's GMACs in
:mod:`mfvpose_lib.analysis.complexity`) and peak memory; a training step (forward + JointsMSE + backward +
Adam) of the same models and of the cpu profile's own settings; the data pipeline (one worker)
and evaluation (decode + OKS-NMS + COCOeval) on synthetic predictions.

Timings are medians of ``repeats`` after ``warmup`` untimed calls; CUDA work is timed with
events. ``run_suite`` returns a DataFrame with exactly the CSV columns (:data:`CSV_COLUMNS`);
``speedup`` is fast/straightforward as a throughput (for a latency in ms: straightforward/fast),
blank for rows that are not speeds (errors, pixel changes, memory).
"""

from __future__ import annotations

import copy
import io
import math
import resource
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mfvpose_lib.engine.fast_path import (
    NATIVE_BF16_FLAGS,
    FastPath,
    autocast,
    choose_fast_path,
    inference_model,
    output_agreement,
    prepare_input,
    prepare_model,
    read_cpu_info,
    reference_path,
    select_fast_path,
)

CSV_COLUMNS = ["benchmark", "model", "device", "batch", "straightforward", "fast", "unit", "speedup"]
LARGE_MODELS = (
    ("mfvpose_b", (256, 192)),
    ("tokenpose_b", (256, 192)),
    ("hrnet_w32", (256, 192)),
    ("simplebaseline_r50", (256, 192)),
)
SMALL_MODELS = (("mfvpose_tiny", (64, 48)), ("tokenpose_tiny", (64, 48)))
QUICK_MODELS = SMALL_MODELS + (("mfvpose_b", (256, 192)), ("tokenpose_b", (256, 192)))
SECTIONS = ("matmul", "inference", "onnx", "train", "data", "eval")
RATE_UNITS = ("samples/s", "GFLOP/s", "people/s")
TIME_UNITS = ("ms", "hours")  # lower is better
# Person instances in COCO train2017 that the HRNet/TokenPose loaders train on (their logs:
# "=> load 149813 samples"); one epoch is one pass over them.
COCO_TRAIN_INSTANCES = 149_813


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


def short_cpu_name(name: str | None = None) -> str:
    """A file-name-safe short form of the CPU model name (``AMD EPYC`` → ``amd-epyc``)."""
    name = name or str(read_cpu_info()["model_name"])
    words = [
        w
        for w in name.replace("(R)", "").replace("(TM)", "").split()
        if w.lower() not in ("cpu", "processor")
    ]
    short = "-".join(words[:3]).lower()
    return "".join(c if c.isalnum() or c == "-" else "-" for c in short) or "unknown"


def median_seconds(fn: Callable[[], object], device: torch.device, *, warmup: int, repeats: int) -> float:
    """Median wall time of ``fn`` over ``repeats`` calls after ``warmup`` untimed ones; on CUDA
    each call is timed with events."""
    for _ in range(warmup):
        fn()
    times = []
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        for _ in range(repeats):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / 1000.0)
    else:
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_memory_mib(device: torch.device) -> float:
    """Peak GPU memory allocated since the last reset (CUDA) or the process's peak RSS (CPU)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _reset_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def row(benchmark: str, model: str, device: str, batch: int | None, straightforward: float, fast: float,
        unit: str) -> dict:  # fmt: skip
    """One CSV row; ``speedup`` follows from the unit."""
    speedup = float("nan")
    if unit in RATE_UNITS and straightforward > 0:
        speedup = fast / straightforward
    elif unit in TIME_UNITS and fast > 0:
        speedup = straightforward / fast
    return {"benchmark": benchmark, "model": model, "device": device, "batch": batch,
            "straightforward": float(straightforward), "fast": float(fast), "unit": unit, "speedup": speedup}  # fmt: skip


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


def _build(name: str, input_size: Sequence[int], device: torch.device):
    from mfvpose_lib.models import create_model

    torch.manual_seed(0)
    return create_model(name, input_size=tuple(input_size)).to(device)


def inference_rows(name: str, input_size: Sequence[int], device: torch.device, fast: FastPath, *,
                   batches: Sequence[int], warmup: int, repeats: int, peaks: dict[str, float],
                   log: Callable[[str], None] = print) -> list[dict]:  # fmt: skip
    """Latency (batch 1) / throughput (other batches), accuracy, GFLOP/s and memory of one model."""
    from mfvpose_lib.analysis.complexity import complexity_of

    dev = device.type
    ref_model = _build(name, input_size, device).eval()
    runner = inference_model(ref_model, fast)  # a copy: same weights, BatchNorm folded where the path says
    gmacs = complexity_of(name, tuple(input_size)).gmacs
    fast_peak = peaks.get(
        "bf16" if fast.precision in ("bf16", "fp16") else "fp32", peaks.get("fp32", float("nan"))
    )
    rows = []
    for batch in batches:
        x = torch.randn(batch, 3, *input_size, device=device, generator=None)
        x_fast = prepare_input(x, fast)

        @torch.no_grad()
        def run_ref(x=x):
            return ref_model(x)

        @torch.no_grad()
        def run_fast(x=x_fast):
            with autocast(fast):
                return runner(x)

        _reset_memory(device)
        t_ref = median_seconds(run_ref, device, warmup=warmup, repeats=repeats)
        mem_ref = peak_memory_mib(device)
        _reset_memory(device)
        t_fast = median_seconds(run_fast, device, warmup=warmup, repeats=repeats)
        mem_fast = peak_memory_mib(device)
        agree = output_agreement(run_ref().float(), run_fast().float())
        label = f"{name} {input_size[0]}x{input_size[1]}"
        if batch == 1:
            rows.append(row("inference_latency", label, dev, batch, 1000 * t_ref, 1000 * t_fast, "ms"))
        else:
            rows.append(
                row("inference_throughput", label, dev, batch, batch / t_ref, batch / t_fast, "samples/s")
            )
        ach_ref, ach_fast = 2 * gmacs * batch / t_ref, 2 * gmacs * batch / t_fast
        rows.append(row("achieved_gflops", label, dev, batch, ach_ref, ach_fast, "GFLOP/s"))
        rows.append(row("fraction_of_peak", label, dev, batch, ach_ref / peaks.get("fp32", math.nan),
                        ach_fast / fast_peak, "fraction"))  # fmt: skip
        rows.append(row("max_rel_error", label, dev, batch, 0.0, agree["max_rel_error"], "relative"))
        rows.append(row("keypoint_change", label, dev, batch, 0.0, agree["max_px_change"], "heatmap px"))
        mem_label = "MiB (GPU allocated)" if dev == "cuda" else "MiB (process peak RSS)"
        rows.append(row("peak_memory", label, dev, batch, mem_ref, mem_fast, mem_label))
        log(f"  {label:<28} batch {batch:>3}: {1000 * t_ref:9.2f} ms -> {1000 * t_fast:9.2f} ms "
            f"({t_ref / t_fast:4.2f}x)  {ach_fast:7.1f} GFLOP/s ({ach_fast / fast_peak:5.1%} of peak)  "
            f"max rel err {agree['max_rel_error']:.2e}  keypoints moved <= {agree['max_px_change']:.3f} px")  # fmt: skip
    return rows


def onnx_rows(name: str, input_size: Sequence[int], *, batches: Sequence[int], warmup: int, repeats: int,
              log: Callable[[str], None] = print) -> list[dict]:  # fmt: skip
    """The exported model (``mfvpose export``) under onnxruntime's CPU provider against torch fp32
    eager with the same weights and the same number of threads."""
    import tempfile

    import onnxruntime as ort

    from mfvpose_lib.export import export_onnx

    cpu = torch.device("cpu")
    model = _build(name, input_size, cpu).eval()
    label = f"{name} {input_size[0]}x{input_size[1]}"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = export_onnx(model, Path(tmp) / f"{name}.onnx")
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        for batch in batches:
            x = torch.randn(batch, 3, *input_size)
            feed = {"image": x.numpy()}

            @torch.no_grad()
            def run_torch(x=x):
                return model(x)

            t_torch = median_seconds(run_torch, cpu, warmup=warmup, repeats=repeats)
            t_ort = median_seconds(lambda feed=feed: session.run(["heatmaps"], feed), cpu, warmup=warmup,
                                   repeats=repeats)  # fmt: skip
            expected = run_torch().numpy()
            got = session.run(["heatmaps"], feed)[0]
            error = float(np.abs(got - expected).max() / max(np.abs(expected).max(), 1e-12))
            if batch == 1:
                rows.append(row("onnxruntime_latency", label, "cpu", batch, 1000 * t_torch, 1000 * t_ort, "ms"))
            else:
                rows.append(row("onnxruntime_throughput", label, "cpu", batch, batch / t_torch, batch / t_ort,
                                "samples/s"))  # fmt: skip
            rows.append(row("onnxruntime_rel_error", label, "cpu", batch, 0.0, error, "relative"))
            log(f"  {label:<28} batch {batch:>3}: torch {1000 * t_torch:9.2f} ms -> onnxruntime "
                f"{1000 * t_ort:9.2f} ms ({t_torch / t_ort:4.2f}x)  max rel err {error:.2e}")  # fmt: skip
    return rows


def train_step_rows(name: str, input_size: Sequence[int], device: torch.device, fast: FastPath, *,
                    batch: int, warmup: int, repeats: int, benchmark: str = "train_step",
                    log: Callable[[str], None] = print) -> list[dict]:  # fmt: skip
    """samples/s of forward + JointsMSE + backward + Adam step, both paths from the same weights."""
    from mfvpose_lib.engine.loss import JointsMSELoss

    dev = device.type
    base = _build(name, input_size, device).train()
    cfg = base.cfg
    criterion = JointsMSELoss()
    images = torch.randn(batch, 3, *input_size, device=device)
    target = torch.rand(batch, cfg.num_keypoints, *cfg.heatmap_size, device=device)
    weight = torch.ones(batch, cfg.num_keypoints, 1, device=device)
    seconds = {}
    for path in (reference_path(dev), fast):
        model = copy.deepcopy(base)
        runner = prepare_model(model, path)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        scaler = torch.amp.GradScaler(dev, enabled=path.precision == "fp16")
        x = prepare_input(images, path)

        def step(runner=runner, optimizer=optimizer, scaler=scaler, x=x, path=path):
            with autocast(path):
                loss = criterion(runner(x).float(), target, weight)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()

        seconds[path.precision + ("_fast" if path is fast else "")] = median_seconds(
            step, device, warmup=warmup, repeats=repeats
        )
    t_ref, t_fast = seconds["fp32"], seconds[fast.precision + "_fast"]
    label = f"{name} {input_size[0]}x{input_size[1]}"
    log(f"  {benchmark:<24} {label:<28} batch {batch:>3}: {batch / t_ref:8.1f} -> {batch / t_fast:8.1f} samples/s "
        f"({t_ref / t_fast:4.2f}x)")  # fmt: skip
    return [row(benchmark, label, dev, batch, batch / t_ref, batch / t_fast, "samples/s")]


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


def data_rows(data_root, *, quick: bool, log: Callable[[str], None] = print) -> list[dict]:
    """Training-pipeline samples/s of one worker (the reference port against this library)."""
    from mfvpose_lib.data.bench import benchmark_dataframe

    size = (64, 48) if quick else (256, 192)
    df = benchmark_dataframe(data_root, samples=16 if quick else 200, input_size=size,
                             heatmap_size=(size[0] // 4, size[1] // 4), repeats=1 if quick else 3)  # fmt: skip
    label = f"COCO pipeline {size[0]}x{size[1]}"
    rows = [
        row("data_pipeline", label, "cpu", 1, df.loc[1, "per_s"], df.loc[0, "per_s"], "samples/s"),
        row("dark_decode", f"{size[0] // 4}x{size[1] // 4} heatmaps", "cpu", int(df.loc[2, "items"]),
            df.loc[3, "per_s"], df.loc[2, "per_s"], "samples/s"),
    ]  # fmt: skip
    for r in rows:
        log(
            f"  {r['benchmark']:<24} {r['model']:<28} {r['straightforward']:8.1f} -> {r['fast']:8.1f} samples/s per worker"
        )
    return rows


def _synthetic_coco(people: int, per_image: int, heatmap_size: Sequence[int], seed: int = 0):
    """A pycocotools ground truth, matching noisy heatmaps (COCO layout, 17 joints) and the
    codec (HRNet's) that made them; the crop is the whole image."""
    import contextlib

    from pycocotools.coco import COCO

    from mfvpose_lib.codecs.heatmap import HeatmapCodec

    rng = np.random.default_rng(seed)
    hm_h, hm_w = heatmap_size
    in_h, in_w = 4 * hm_h, 4 * hm_w
    codec = HeatmapCodec(input_size=(in_h, in_w), heatmap_size=(hm_h, hm_w), geometry="hrnet", target="integer",
                         target_window=True, decoder="dark")  # fmt: skip
    xy = codec.heatmap_to_crop(rng.uniform(3, [hm_w - 4, hm_h - 4], (people, 17, 2)))
    joints = np.concatenate([xy, np.ones((people, 17, 1))], axis=-1)
    heatmaps = codec.encode(joints)[0]
    heatmaps += rng.normal(0, 0.02, heatmaps.shape).astype(np.float32)
    image_ids = np.arange(people) // per_image
    anns = []
    for i in range(people):
        kp = np.concatenate([joints[i, :, :2], np.full((17, 1), 2.0)], axis=1)
        anns.append({"id": i + 1, "image_id": int(image_ids[i]), "category_id": 1, "iscrowd": 0,
                     "keypoints": kp.reshape(-1).tolist(), "num_keypoints": 17,
                     "bbox": [0.0, 0.0, float(in_w), float(in_h)], "area": float(in_w * in_h)})  # fmt: skip
    gt = COCO()
    gt.dataset = {"images": [{"id": int(i), "width": in_w, "height": in_h} for i in np.unique(image_ids)],
                  "annotations": anns, "categories": [{"id": 1, "name": "person"}]}  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
    return gt, heatmaps, image_ids, np.full(people, float(in_w * in_h)), codec


def eval_rows(*, quick: bool, repeats: int, log: Callable[[str], None] = print) -> list[dict]:
    """People/s of decode + OKS-NMS + COCOeval on synthetic predictions; the straightforward
    side decodes with the per-joint reference loop."""
    from mfvpose_lib.data.bench import reference_dark_decode
    from mfvpose_lib.data.spec import get_meta
    from mfvpose_lib.evaluation.coco import build_coco_results, coco_keypoint_eval

    people = 64 if quick else 512
    heatmap_size = (64, 48)
    gt, heatmaps, image_ids, areas, codec = _synthetic_coco(people, 4, heatmap_size)
    sigmas = get_meta("coco").sigmas_array
    scores = np.ones(people)

    def evaluate(decode):
        coords, maxvals = decode(heatmaps)
        results = build_coco_results(coords, maxvals, image_ids, scores, areas, sigmas)
        return coco_keypoint_eval(gt, results)

    def ref_decode(h):
        return codec.heatmap_to_crop(reference_dark_decode(h)), codec.locate(h, "argmax")[1]

    cpu = torch.device("cpu")
    t_ref = median_seconds(lambda: evaluate(ref_decode), cpu, warmup=0, repeats=repeats)
    t_fast = median_seconds(
        lambda: evaluate(codec.decode), cpu, warmup=0, repeats=repeats
    )
    label = f"{people} people, {heatmap_size[0]}x{heatmap_size[1]} heatmaps"
    log(f"  {'evaluation':<24} {label:<28} {people / t_ref:8.1f} -> {people / t_fast:8.1f} people/s")
    return [row("evaluation", label, "cpu", people, people / t_ref, people / t_fast, "people/s")]


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
    models = (
        list(models) if models is not None else list(QUICK_MODELS if quick else LARGE_MODELS + SMALL_MODELS)
    )
    batches = list(batches) if batches is not None else ([1, 16] if quick else [1, 32])
    train_batch = train_batch or 16
    # oneDNN builds its kernels on the first calls of each shape: two warm-ups before timing
    repeats = repeats or (3 if quick else 5)
    warmup = 2 if warmup is None else warmup
    fast = select_fast_path(dev)
    env = environment()
    if without_bf16:
        if dev.type != "cpu":
            raise ValueError("without_bf16 describes a CPU; it needs device='cpu'")
        flags = set(read_cpu_info()["flags"]) - set(NATIVE_BF16_FLAGS)
        fast = choose_fast_path("cpu", flags, mkldnn_available=torch.backends.mkldnn.is_available())
        env["fast_path_as_on"] = "a CPU without native bf16 (flags removed)"
    log("environment: " + ", ".join(f"{k}={v}" for k, v in env.items()))
    log(f"fast path: {fast.describe()}")
    rows: list[dict] = []
    has_bf16 = fast.precision != "fp32" or dev.type == "cuda"
    peaks = {"fp32": math.nan}
    if "matmul" in sections:
        peaks = matmul_ceiling(dev, 1024 if quick else 2048, warmup=1, repeats=repeats, bf16=has_bf16)
        log("matmul ceiling: " + ", ".join(f"{k} {v:.1f} GFLOP/s" for k, v in peaks.items()))
        rows.append(row("matmul_peak", "matmul", dev.type, None, peaks["fp32"], peaks.get("bf16", peaks["fp32"]),
                        "GFLOP/s"))  # fmt: skip
    if "inference" in sections:
        log("inference (straightforward -> fast):")
        for name, size in models:
            rows += inference_rows(name, size, dev, fast, batches=batches, warmup=warmup, repeats=repeats,
                                   peaks=peaks, log=log)  # fmt: skip
    if "onnx" in sections:
        log("onnxruntime CPU (torch fp32 eager -> onnxruntime, same weights and threads):")
        for name, size in models:
            rows += onnx_rows(name, size, batches=batches, warmup=warmup, repeats=repeats, log=log)
    if "train" in sections:
        log("training step (straightforward -> fast):")
        train_models = [m for m in models if not quick or m in SMALL_MODELS] or models[:1]
        for name, size in train_models:
            rows += train_step_rows(
                name, size, dev, fast, batch=train_batch, warmup=warmup, repeats=repeats, log=log
            )
        if cpu_profile_row and dev.type == "cpu":
            rows += cpu_profile_train_rows(fast, warmup=warmup, repeats=repeats, log=log)
        rows += projected_schedule_rows(rows, log=log)
    if "data" in sections:
        log("data pipeline, one worker (reference -> this library):")
        rows += data_rows(data_root, quick=quick, log=log)
    if "eval" in sections:
        log("evaluation (reference decode -> vectorised decode):")
        rows += eval_rows(quick=quick, repeats=1 if quick else 3, log=log)
    df = pd.DataFrame(rows, columns=CSV_COLUMNS)
    df["batch"] = df["batch"].astype("Int64")
    df.attrs["environment"] = env
    df.attrs["fast_path"] = fast.describe()
    return df


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


def write_csv(df: pd.DataFrame, path: str | Path, note: str | None = None) -> Path:
    """The suite's rows as CSV with exactly :data:`CSV_COLUMNS` (atomic). ``note`` (where the
    numbers were measured) goes to a ``<name>.txt`` beside it, so the CSV header stays fixed."""
    from mfvpose_lib.io_utils import atomic_write_text

    missing = [c for c in CSV_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: benchmark rows lack the columns {missing}")
    path = Path(path)
    atomic_write_text(df[CSV_COLUMNS].to_csv(index=False, float_format="%.6g"), path)
    if note is not None:
        env = df.attrs.get("environment", {})
        lines = (
            [note] + [f"{k}: {v}" for k, v in env.items()] + [f"fast path: {df.attrs.get('fast_path', '?')}"]
        )
        atomic_write_text("\n".join(lines) + "\n", path.with_suffix(".txt"))
    return path


def load_results(directory: str | Path) -> pd.DataFrame:
    """Every ``*.csv`` of the suite under ``directory``, with a ``machine`` column (the file stem)."""
    frames = []
    for path in sorted(Path(directory).glob("*.csv")):
        df = pd.read_csv(path)
        if list(df.columns) != CSV_COLUMNS:
            raise ValueError(f"{path}: header is {list(df.columns)}, expected {CSV_COLUMNS}")
        frames.append(df.assign(machine=path.stem))
    if not frames:
        return pd.DataFrame(columns=CSV_COLUMNS + ["machine"])
    return pd.concat(frames, ignore_index=True)


def plot_speedups(df: pd.DataFrame, benchmarks: Sequence[str] = ("inference_latency", "inference_throughput",
                                                                  "train_step")):  # fmt: skip
    """Fast/straightforward per model and batch, one colour per machine (CSV file), one panel per
    benchmark stacked top to bottom; each panel's height follows its number of bars."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    present = [b for b in benchmarks if b in set(df["benchmark"])]
    if not present:
        fig, ax = plt.subplots(figsize=(6, 1.5))
        ax.set_axis_off()
        ax.text(0.5, 0.5, "no speed rows", ha="center", va="center")
        return fig
    data = df[df["benchmark"].isin(present)].assign(
        case=lambda d: d["model"] + " b" + d["batch"].astype("Int64").astype("string").fillna("-")
    )
    machines = list(dict.fromkeys(data["machine"]))
    palette = dict(zip(machines, sns.color_palette("tab10", len(machines)), strict=True))
    bars = [len(data.loc[data["benchmark"] == b]) for b in present]  # panel heights: one per bar
    fig, axes = plt.subplots(len(present), 1, figsize=(9, 1.2 + 0.16 * sum(bars) + 0.6 * len(present)),
                             gridspec_kw={"height_ratios": bars}, sharex=True, squeeze=False)  # fmt: skip
    for ax, bench in zip(axes[:, 0], present, strict=True):
        part = data[data["benchmark"] == bench]
        sns.barplot(part, x="speedup", y="case", hue="machine", palette=palette, hue_order=machines, ax=ax,
                    orient="h", legend=ax is axes[0, 0])  # fmt: skip
        ax.axvline(1.0, color="k", lw=0.8)
        ax.set_title(bench, fontsize=10)
        ax.set_xlabel("speed-up (fast / straightforward)" if ax is axes[-1, 0] else "")
        ax.set_ylabel("")
        ax.tick_params(axis="y", labelsize=8)
    axes[0, 0].legend(title="machine (figures/bench/*.csv)", fontsize=7, title_fontsize=8,
                      loc="upper left", bbox_to_anchor=(1.01, 1.0))  # fmt: skip
    fig.tight_layout()
    return fig


# --- the CPU study: training throughput of the cpu profile and the in-memory image cache -----


def cpu_profile_sweep(batches: Sequence[int] = (16, 32, 64), threads: Sequence[int] = (1, 2), *,
                      steps: int = 5, warmup: int = 2, model: str = "mfvpose_tiny",
                      input_size: Sequence[int] = (64, 48)) -> pd.DataFrame:  # fmt: skip
    """samples/s of the training step (synthetic tensors) for each batch size and thread count."""
    from mfvpose_lib.engine.bench import measure_train_throughput

    saved = torch.get_num_threads()
    rows = []
    try:
        for t in threads:
            torch.set_num_threads(t)
            for b in batches:
                r = measure_train_throughput(model, batch_size=b, device="cpu", amp="off",
                                             input_size=tuple(input_size), steps=steps, warmup=warmup)  # fmt: skip
                rows.append({"model": model, "threads": t, "batch": b, "samples_per_s": r["samples_per_s"],
                             "step_ms": r["step_ms"]})  # fmt: skip
    finally:
        torch.set_num_threads(saved)
    return pd.DataFrame(rows)


def image_cache_experiment(data_root: str | Path, *, items: int = 256, input_size: Sequence[int] = (64, 48),
                           workers: Sequence[int] = (0,), batch_size: int = 16, passes: int = 2) -> pd.DataFrame:  # fmt: skip
    """Training-loader samples/s over the same ``items`` without and with ``cache_images``;
    the cached set is timed on its second pass (the first fills the cache)."""
    from torch.utils.data import DataLoader, Subset

    from mfvpose_lib.data.dataset import build_dataset

    rows = []
    for cache in (False, True):
        ds = build_dataset(data_root, "coco", "train", input_size=input_size,
                           heatmap_size=(input_size[0] // 4, input_size[1] // 4), cache_images=cache)  # fmt: skip
        subset = Subset(ds, list(range(min(items, len(ds)))))
        for w in workers:
            if cache and w > 0:
                ds.fill_cache(subset.indices)  # workers fork the filled cache
            loader = DataLoader(subset, batch_size=batch_size, num_workers=w, persistent_workers=w > 0)
            seconds = []
            for _ in range(passes):
                start = time.perf_counter()
                for _batch in loader:
                    pass
                seconds.append(time.perf_counter() - start)
            rows.append({"cache_images": cache, "workers": w, "items": len(subset),
                         "samples_per_s": len(subset) / seconds[-1], "first_pass_s": seconds[0]})  # fmt: skip
    return pd.DataFrame(rows)
