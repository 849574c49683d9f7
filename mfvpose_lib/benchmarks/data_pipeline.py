"""``mfvpose bench data``: samples/s of the training pipeline against the straightforward port of
:mod:`~mfvpose_lib.benchmarks.reference_pipeline`, and DARK decoding vectorised against its
per-joint loop.

Both pipelines draw the same random augmentation for the same sample, so their targets must
agree; the benchmark checks that and reports the largest difference beside the timings. Timings
are one process with one torch thread, i.e. one DataLoader worker.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mfvpose_lib.benchmarks.reference_pipeline import (
    reference_dark_decode,
    reference_encode_heatmaps,
    reference_item,
)
from mfvpose_lib.benchmarks.results import row
from mfvpose_lib.benchmarks.timing import best_seconds
from mfvpose_lib.codecs.heatmap import HeatmapCodec
from mfvpose_lib.data.dataset import PoseDataset, build_dataset
from mfvpose_lib.data.transforms import IMAGENET_STD

FEED_RATE = 2000.0  # samples/s a GPU training run of the paper's models consumes (order of magnitude)
AGREEMENT_SAMPLES = 20  # items both pipelines build and compare before the timing


def benchmark_dataframe(
    data_root: str | Path | None = None,
    samples: int = 200,
    input_size: Sequence[int] = (256, 192),
    heatmap_size: Sequence[int] = (64, 48),
    repeats: int = 3,
) -> pd.DataFrame:
    """Both pipelines and both decoders, one row each (``what``, ``items``, best ``seconds`` of
    ``repeats``, ``per_s``), with the speed-up over the reference and the workers that feed
    :data:`FEED_RATE`; ``attrs`` hold the largest target and pixel differences."""
    with _one_torch_thread(), _coco_root(data_root) as root:
        codec = _hrnet_loader_codec(input_size, heatmap_size)
        dataset = build_dataset(root, "coco", "train", codec=codec, train=True)
        draws = [(i % len(dataset), i) for i in range(min(samples, 10 * len(dataset)))]  # (index, seed)
        max_target, max_pixel = _pipeline_agreement(dataset, draws[:AGREEMENT_SAMPLES])
        heatmaps = _reference_heatmaps(input_size, heatmap_size)
        cases = _timed_cases(dataset, draws, codec, heatmaps)
        df = pd.DataFrame([_rate(what, items, call, repeats) for what, items, call in cases])
    df = _with_speedups(df)
    df.attrs["max_target_difference"] = max_target
    df.attrs["max_pixel_difference_grey_levels"] = max_pixel
    return df


def data_rows(data_root, *, quick: bool, log: Callable[[str], None] = print) -> list[dict]:
    """The suite's rows: training-pipeline samples/s of one worker and DARK decodes/s (the
    reference port against this library)."""
    size = (64, 48) if quick else (256, 192)
    heatmap_size = (size[0] // 4, size[1] // 4)
    df = benchmark_dataframe(data_root, samples=16 if quick else 200, input_size=size, heatmap_size=heatmap_size,
                             repeats=1 if quick else 3)  # fmt: skip
    rows = [
        row("data_pipeline", f"COCO pipeline {size[0]}x{size[1]}", "cpu", 1, df.loc[1, "per_s"], df.loc[0, "per_s"],
            "samples/s"),
        row("dark_decode", f"{heatmap_size[0]}x{heatmap_size[1]} heatmaps", "cpu", int(df.loc[2, "items"]),
            df.loc[3, "per_s"], df.loc[2, "per_s"], "samples/s"),
    ]  # fmt: skip
    for r in rows:
        log(f"  {r['benchmark']:<24} {r['model']:<28} {r['straightforward']:8.1f} -> {r['fast']:8.1f} samples/s "
            "per worker")  # fmt: skip
    return rows


@contextmanager
def _one_torch_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@contextmanager
def _coco_root(data_root: str | Path | None) -> Iterator[Path]:
    """``data_root``, with a small synthetic set written there when it has no COCO layout (in a
    temporary folder when ``data_root`` is None)."""
    temporary = tempfile.TemporaryDirectory(prefix="mfvpose_bench_") if data_root is None else None
    root = Path(temporary.name if temporary is not None else data_root)
    try:
        if not (root / "coco" / "annotations" / "person_keypoints_train2017.json").is_file():
            from mfvpose_lib.data.synth import ensure_synthetic

            ensure_synthetic(root, 48, 4, seed=0)
        yield root
    finally:
        if temporary is not None:
            temporary.cleanup()


def _hrnet_loader_codec(input_size: Sequence[int], heatmap_size: Sequence[int]) -> HeatmapCodec:
    # the reference is HRNet's loader: its geometry and integer-centred, windowed targets
    return HeatmapCodec(input_size=tuple(input_size), heatmap_size=tuple(heatmap_size), geometry="hrnet",
                        target="integer", target_window=True, decoder="quarter")  # fmt: skip


def _fast_item(dataset: PoseDataset, index: int, seed: int) -> dict:
    return dataset.pipeline(dataset.raw_sample(index), np.random.default_rng(seed))


def _pipeline_agreement(dataset: PoseDataset, draws: Sequence[tuple[int, int]]) -> tuple[float, float]:
    """The largest target difference and pixel difference (grey levels) between the two pipelines
    on the same draws: both cut with ``cv2.warpAffine``, so both should be rounding only."""
    max_target = max_pixel = 0.0
    for index, seed in draws:
        ours, reference = _fast_item(dataset, index, seed), reference_item(dataset, index, seed)
        if not np.array_equal(ours["target_weight"] > 0, reference["target_weight"] > 0):
            raise RuntimeError(
                f"item {index}, seed {seed}: the pipelines disagree on which joints are visible"
            )
        max_target = max(max_target, float(np.abs(ours["target"] - reference["target"]).max()))
        pixel = float((ours["image"] - reference["image"]).abs().max()) * 255 * max(IMAGENET_STD)
        max_pixel = max(max_pixel, pixel)
    return max_target, max_pixel


def _reference_heatmaps(
    input_size: Sequence[int], heatmap_size: Sequence[int], people: int = 64
) -> np.ndarray:
    """Targets of random COCO poses, the reference encoder's, for the decoders to read."""
    rng = np.random.default_rng(0)
    scale = [input_size[1] / 48, input_size[0] / 64]  # positions 4..40 on a 48x64 grid, scaled to the crop
    joints = np.concatenate([rng.uniform(4, 40, (people, 17, 2)) * scale, np.ones((people, 17, 1))], axis=-1)
    return np.stack([reference_encode_heatmaps(j, input_size, heatmap_size)[0] for j in joints])


def _timed_cases(dataset: PoseDataset, draws, codec: HeatmapCodec, heatmaps: np.ndarray):
    """``(what, items, call)`` of every measurement; each of this library's rows is followed by its
    reference (``_with_speedups`` relies on the order)."""
    return (
        ("pipeline (this library)", len(draws), lambda: _build_items(_fast_item, dataset, draws)),
        ("pipeline (reference)", len(draws), lambda: _build_items(reference_item, dataset, draws)),
        ("DARK decode (this library)", len(heatmaps), lambda: codec.locate(heatmaps, "dark")),
        ("DARK decode (reference loop)", len(heatmaps), lambda: reference_dark_decode(heatmaps)),
    )


def _build_items(make_item, dataset: PoseDataset, draws) -> None:
    for index, seed in draws:
        make_item(dataset, index, seed)


def _rate(what: str, items: int, call: Callable[[], object], repeats: int) -> dict:
    seconds = best_seconds(call, repeats)
    return {"what": what, "items": items, "seconds": seconds, "per_s": items / seconds}


def _with_speedups(df: pd.DataFrame) -> pd.DataFrame:
    """Speed-up of each of this library's rows over the reference row after it (1.0 for the
    references), and the workers a pipeline needs to feed :data:`FEED_RATE`."""
    per_s = df["per_s"].to_numpy()
    ours = per_s[0::2] / per_s[1::2]
    df["speedup_vs_reference"] = np.ravel(np.column_stack([ours, np.ones_like(ours)]))
    df["workers_for_2000_per_s"] = pd.array(
        [math.ceil(FEED_RATE / v) if "pipeline" in w else None for w, v in zip(df["what"], df["per_s"])],
        dtype="Int64",
    )
    return df
