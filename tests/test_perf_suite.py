"""The benchmark suite's CSV shape, the fast-path choice and the agreement reporting."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from mfvpose_lib.benchmarks.results import CSV_COLUMNS, write_csv
from mfvpose_lib.benchmarks.suite import run_suite
from mfvpose_lib.engine.fast_path import choose_fast_path, decide_eval_precision, output_agreement


def test_fast_path_from_flags():
    assert choose_fast_path("cpu", {"avx2", "avx512f"}).precision == "fp32"
    assert choose_fast_path("cpu", {"avx2", "avx512f"}).channels_last
    assert choose_fast_path("cpu", {"avx512_bf16"}).precision == "bf16"
    assert choose_fast_path("cpu", {"amx_bf16"}).precision == "bf16"
    assert choose_fast_path("cpu", {"amx_bf16"}, mkldnn_available=False).precision == "fp32"
    assert not choose_fast_path("cpu", {"amx_bf16"}).compile
    assert choose_fast_path("cpu", (), compile_pays=True).compile
    assert choose_fast_path("cuda", cuda_bf16_supported=True).precision == "bf16"
    assert choose_fast_path("cuda", cuda_bf16_supported=False).precision == "fp16"
    assert choose_fast_path("cuda", cuda_bf16_supported=True).amp_dtype is torch.bfloat16


def test_output_agreement_reports_error_and_pixel_change():
    ref = torch.zeros(1, 2, 8, 8)
    ref[0, 0, 3, 3] = ref[0, 1, 5, 2] = 1.0
    same = output_agreement(ref, ref.clone(), decode="argmax")
    assert same["max_rel_error"] == 0 and same["max_px_change"] == 0
    moved = ref.clone()
    moved[0, 0, 3, 3], moved[0, 0, 3, 6] = 0.0, 1.0
    out = output_agreement(ref, moved, decode="argmax")
    assert out["max_rel_error"] == pytest.approx(1.0)
    assert out["max_px_change"] == pytest.approx(3.0)


def test_precision_fp32_forces_reference_path():
    decision = decide_eval_precision(torch.nn.Identity(), [], "cpu", precision="fp32")
    assert decision.path.precision == "fp32" and not decision.path.channels_last and not decision.used_fast
    assert decision.path.amp_dtype is None
    with pytest.raises(ValueError):
        decide_eval_precision(torch.nn.Identity(), [], "cpu", precision="bf17")


def test_tiny_suite_csv(tmp_path):
    df = run_suite([("mfvpose_tiny", (64, 48))], batches=[1, 2], train_batch=2, repeats=1, warmup=0,
                   sections=["inference", "train"], cpu_profile_row=False, log=lambda _: None)  # fmt: skip
    path = write_csv(df, tmp_path / "b.csv", note="test")
    assert path.read_text().splitlines()[0] == ",".join(CSV_COLUMNS)
    back = pd.read_csv(path)
    assert {"inference_latency", "inference_throughput", "train_step", "keypoint_change"} <= set(
        back["benchmark"]
    )
    assert (back.loc[back["benchmark"] == "inference_throughput", "batch"] == 2).all()
    rates = back[back["unit"] == "samples/s"]
    assert (rates["speedup"] - rates["fast"] / rates["straightforward"]).abs().max() < 1e-3
    assert (tmp_path / "b.txt").read_text().startswith("test")


def test_onnxruntime_rows_match_torch():
    df = run_suite([("mfvpose_tiny", (64, 48))], batches=[1, 4], repeats=1, warmup=0, sections=["onnx"],
                   log=lambda _: None)  # fmt: skip
    assert set(df["benchmark"]) == {"onnxruntime_latency", "onnxruntime_throughput", "onnxruntime_rel_error"}
    errors = df[df["benchmark"] == "onnxruntime_rel_error"]
    assert (errors["fast"] < 1e-4).all(), errors
    throughput = df[df["benchmark"] == "onnxruntime_throughput"].iloc[0]
    assert throughput["batch"] == 4 and throughput["fast"] > 0 and throughput["straightforward"] > 0


def test_projected_schedule_from_the_training_step_rate():
    from mfvpose_lib.benchmarks.model_speed import COCO_TRAIN_INSTANCES, projected_schedule_rows
    from mfvpose_lib.benchmarks.results import row

    rows = [row("train_step", "mfvpose_b 256x192", "cuda", 32, 1000.0, 2000.0, "samples/s"),
            row("train_step", "mfvpose_tiny 64x48", "cpu", 16, 100.0, 100.0, "samples/s")]  # fmt: skip
    (projected,) = projected_schedule_rows(rows, log=lambda _: None)
    assert projected["benchmark"] == "projected_coco_300_epochs" and projected["unit"] == "hours"
    assert projected["straightforward"] == pytest.approx(300 * COCO_TRAIN_INSTANCES / 1000 / 3600)
    assert projected["fast"] == pytest.approx(projected["straightforward"] / 2)
    assert projected["speedup"] == pytest.approx(2.0)


def test_fast_path_verdict_needs_accuracy_and_speed():
    from mfvpose_lib.engine.fast_path import fast_path_verdict

    assert fast_path_verdict(0.05, 0.2, 0.1)[0]
    used, why = fast_path_verdict(0.05, 0.1, 0.2)
    assert not used and "not faster" in why and "reference path" in why
    used, why = fast_path_verdict(0.5, 0.2, 0.1)
    assert not used and "beyond the 0.1 px tolerance" in why


def test_decide_precision_measures_both_paths_on_the_check_batch():
    from mfvpose_lib.engine.fast_path import FastPath, decide_precision
    from mfvpose_lib.models import create_model

    model = create_model("mfvpose_tiny", input_size=(64, 48)).eval()
    images = torch.randn(2, 3, 64, 48)
    # fp32 channels_last with folded BatchNorm: exact up to rounding, so only the timing decides
    fast = FastPath("cpu", "fp32", True, False, "test", fold_batch_norm=True)
    decision = decide_precision(model, images, fast=fast)
    assert decision.max_px_change <= 0.01 and decision.check_images == 2
    assert decision.reference_seconds > 0 and decision.fast_seconds > 0
    assert decision.used_fast == (decision.fast_seconds < decision.reference_seconds)
    assert decision.path == (fast if decision.used_fast else decision.path) and "ms against fp32's" in decision.reason
    assert not model.training and next(model.parameters()).is_contiguous(), "the model is left as it was"
    if decision.used_fast:  # the module the check ran is the one handed out, not rebuilt
        assert decision.runner(model) is decision.prepared is not None
    else:
        assert decision.prepared is None and decision.runner(model) is model


def test_suite_can_time_the_path_of_a_cpu_without_bf16():
    df = run_suite([("mfvpose_tiny", (64, 48))], batches=[2], repeats=1, warmup=0, sections=["inference"],
                   without_bf16=True, log=lambda _: None)  # fmt: skip
    assert df.attrs["fast_path"].startswith("cpu: fp32 + channels_last + BatchNorm folded")
    assert df.attrs["environment"]["fast_path_as_on"].startswith("a CPU without native bf16")
    # fp32 on both sides: folding and the memory format change the output by rounding only
    assert df.loc[df["benchmark"] == "max_rel_error", "fast"].max() < 1e-4


def test_speedup_plot_of_the_committed_results_is_readable():
    import warnings
    from pathlib import Path

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mfvpose_lib.benchmarks.results import load_results, plot_speedups

    results = load_results(Path(__file__).parents[1] / "figures" / "bench")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # e.g. "Tight layout not applied"
        fig = plot_speedups(results)
    axes = fig.get_axes()
    assert [ax.get_title() for ax in axes] == [
        b for b in ("inference_latency", "inference_throughput", "train_step") if b in set(results["benchmark"])
    ]
    labels = [t.get_text() for ax in axes for t in ax.get_yticklabels()]
    assert labels and not any(label.endswith(".0") for label in labels), labels  # batch shown as an integer
    bars = sum(len(results[results["benchmark"] == ax.get_title()]) for ax in axes)
    assert fig.get_size_inches()[1] >= 0.16 * bars, "the figure grows with the number of bars"
    plt.close(fig)


def test_bench_train_reports_the_training_step_of_one_model(capsys):
    from mfvpose_lib.cli import main

    args = ["bench", "train", "--model", "mfvpose_tiny", "--batch-size", "2", "--device", "cpu", "--amp", "off",
            "--input-size", "64", "48", "--steps", "2", "--warmup", "1"]  # fmt: skip
    assert main(args) == 0
    lines = dict(line.split(maxsplit=1) for line in capsys.readouterr().out.splitlines())
    assert lines["input_size"] == "(64, 48)" and lines["amp"] == "off" and lines["steps"] == "2"
    assert float(lines["samples_per_s"]) > 0 and float(lines["step_ms"]) > 0


def test_cpu_study_sweeps_batch_and_threads_and_times_the_image_cache(tmp_path):
    from mfvpose_lib.benchmarks.train_throughput import cpu_profile_sweep, image_cache_experiment
    from mfvpose_lib.data.synth import write_synthetic

    sweep = cpu_profile_sweep(batches=(2, 4), threads=(1,), steps=1, warmup=0)
    assert sweep[["threads", "batch"]].values.tolist() == [[1, 2], [1, 4]] and (sweep["samples_per_s"] > 0).all()
    write_synthetic(tmp_path, n_train=3, n_val=1, seed=0)
    cache = image_cache_experiment(tmp_path, items=4, batch_size=2)
    assert cache["cache_images"].tolist() == [False, True]
    assert (cache["items"] > 0).all() and (cache["samples_per_s"] > 0).all()
