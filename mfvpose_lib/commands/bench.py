"""``mfvpose bench``: the benchmark suite (straightforward path vs the hardware's fast path).

``mfvpose bench [--quick] [--device cpu|cuda] [--csv FILE]`` runs the whole suite
(:mod:`mfvpose_lib.benchmarks.suite`) in one process. The single measurements stay available:
``bench data`` (data pipeline against a per-joint reference), ``bench train`` (training
samples/s of one model) and ``bench cpu-study`` (cpu-profile batch/thread sweep and the
in-memory image cache).
"""

from __future__ import annotations

import sys

HELP = "benchmarks: the straightforward path against the fast path (and single measurements)"


def _model_spec(text: str) -> tuple[str, tuple[int, int]]:
    """``NAME`` (the suite's size for it, else 256x192) or ``NAME:HxW``."""
    from mfvpose_lib.benchmarks.suite import LARGE_MODELS, SMALL_MODELS

    name, _, size = text.partition(":")
    if size:
        try:
            h, w = (int(v) for v in size.lower().split("x"))
        except ValueError:
            raise ValueError(f"model {text!r}: size must be HxW, e.g. mfvpose_tiny:64x48") from None
        return name, (h, w)
    return name, dict(LARGE_MODELS + SMALL_MODELS).get(name, (256, 192))


def add_arguments(parser) -> None:
    from mfvpose_lib.benchmarks.suite import SECTIONS

    parser.add_argument("--quick", action="store_true",
                        help="a few minutes on 2 cores: tiny models, mfvpose_b and tokenpose_b, batch 1 and 16, few repeats")  # fmt: skip
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument("--csv", default=None, metavar="FILE", help="write the rows here (atomic)")
    parser.add_argument(
        "--note", default=None, help="where/how it was measured, written to FILE.txt beside the CSV"
    )
    parser.add_argument("--models", nargs="+", default=None, metavar="NAME[:HxW]", help="models to measure")
    parser.add_argument("--batches", nargs="+", type=int, default=None, help="inference batch sizes")
    parser.add_argument("--train-batch", type=int, default=None, help="training-step batch (default 16)")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats (the median is reported)")
    parser.add_argument("--without-bf16", action="store_true",
                        help="time the fast path a CPU without native bf16 gets (fp32, channels_last, BatchNorm "
                             "folded) whatever this CPU has")  # fmt: skip
    parser.add_argument("--sections", nargs="+", default=None,
                        choices=SECTIONS, help="parts of the suite to run")  # fmt: skip
    parser.add_argument(
        "--data-root", default=None, help="data for the pipeline benchmark (default: a temporary set)"
    )

    sub = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK")
    data = sub.add_parser("data", help="training-pipeline samples/s per worker vs a reference")
    data.add_argument("--data-root", dest="data_root_sub", default=None,
                      help="synthetic or real data root (default: a temporary set)")  # fmt: skip
    data.add_argument("--samples", type=int, default=300, help="items per timed pass")
    data.add_argument("--input-size", type=int, nargs=2, default=(256, 192), metavar=("H", "W"))
    data.add_argument(
        "--repeats", dest="repeats_sub", type=int, default=3, help="timed passes; the best is reported"
    )

    train = sub.add_parser("train", help="forward+backward+step samples/s of a model")
    train.add_argument("--model", default="mfvpose_tiny")
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument("--device", dest="device_sub", default="auto")
    train.add_argument("--amp", choices=["auto", "off", "bf16", "fp16"], default="auto")
    train.add_argument("--compile", action="store_true")
    train.add_argument("--channels-last", action="store_true")
    train.add_argument("--input-size", type=int, nargs=2, metavar=("H", "W"))
    train.add_argument("--steps", type=int, default=20, help="timed steps")
    train.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    train.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")

    study = sub.add_parser(
        "cpu-study", help="cpu-profile training samples/s by batch and threads; image cache"
    )
    study.add_argument("--data-root", dest="data_root_sub", default=None,
                       help="synthetic data for the cache experiment (default: skip it)")  # fmt: skip
    study.add_argument("--batches", dest="batches_sub", type=int, nargs="+", default=[16, 32, 64])
    study.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    study.add_argument("--steps", type=int, default=5)
    study.add_argument("--items", type=int, default=256, help="items per pass of the cache experiment")


def _run_data(args) -> int:
    from mfvpose_lib.benchmarks.data_pipeline import FEED_RATE, benchmark_dataframe

    h, w = args.input_size
    df = benchmark_dataframe(args.data_root_sub, args.samples, (h, w), (h // 4, w // 4), args.repeats_sub)
    print(f"data pipeline, COCO layout, {h}x{w} crops, one process / one thread (= one worker)")
    print(df.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"largest target difference between the two pipelines: {df.attrs['max_target_difference']:.2e}")
    print(f"largest pixel difference: {df.attrs['max_pixel_difference_grey_levels']:.2f} grey levels (both cut with cv2.warpAffine)")
    print(
        f"speed-up of the training pipeline: {df.loc[0, 'speedup_vs_reference']:.2f}x; "
        f"workers to feed {FEED_RATE:.0f} samples/s: {df.loc[0, 'workers_for_2000_per_s']} "
        f"(reference: {df.loc[1, 'workers_for_2000_per_s']})"
    )
    return 0


def _run_train(args) -> int:
    import torch

    from mfvpose_lib.benchmarks.train_throughput import format_result, measure_train_throughput

    if args.threads:
        torch.set_num_threads(args.threads)
    result = measure_train_throughput(
        args.model, batch_size=args.batch_size, device=args.device_sub, amp=args.amp, compile=args.compile,
        channels_last=args.channels_last, input_size=args.input_size, steps=args.steps, warmup=args.warmup,
    )  # fmt: skip
    print(format_result(result))
    return 0


def _run_cpu_study(args) -> int:
    from mfvpose_lib.benchmarks.timing import environment
    from mfvpose_lib.benchmarks.train_throughput import cpu_profile_sweep, image_cache_experiment

    print("environment: " + ", ".join(f"{k}={v}" for k, v in environment().items()))
    sweep = cpu_profile_sweep(args.batches_sub, args.threads, steps=args.steps)
    print("training step, mfvpose_tiny 64x48, synthetic tensors (no data loading):")
    print(sweep.to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    if args.data_root_sub:
        cache = image_cache_experiment(args.data_root_sub, items=args.items, workers=(0, 1))
        print("training loader, COCO layout 64x48, without and with cache_images:")
        print(cache.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    return 0


def _run_suite(args) -> int:
    from mfvpose_lib.benchmarks.results import write_csv
    from mfvpose_lib.benchmarks.suite import SECTIONS, run_suite

    models = [_model_spec(m) for m in args.models] if args.models else None
    df = run_suite(
        models, quick=args.quick, device=args.device, batches=args.batches, train_batch=args.train_batch,
        repeats=args.repeats, sections=args.sections or SECTIONS, data_root=args.data_root,
        without_bf16=args.without_bf16,
    )  # fmt: skip
    print(df.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if args.csv:
        write_csv(df, args.csv, note=args.note)
        print(f"wrote {args.csv}")
    return 0


def run(args) -> int:
    runners = {None: _run_suite, "data": _run_data, "train": _run_train, "cpu-study": _run_cpu_study}
    try:
        return int(runners[args.benchmark](args) or 0)
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"mfvpose bench: {err}", file=sys.stderr)
        return 2
