"""Evaluation: batched top-down inference with flip test, heatmap decoding, and the COCO
(AP via pycocotools) or MPII (PCKh) score, with the settings kept beside the numbers.

A top-down number means little without its settings: which boxes (ground truth, or which
detector and its person AP), flip test, the one-pixel flip shift, the decoding (DARK or
quarter offset) and the input size all move COCO AP by tenths to whole points. Every result
written here carries them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler

from mfvpose_lib.codecs.heatmap import FLIP_ALIGNMENTS, HeatmapCodec
from mfvpose_lib.data.spec import get_dataset_spec
from mfvpose_lib.engine.distributed import DistInfo, gather_objects
from mfvpose_lib.engine.loss import JointsMSELoss
from mfvpose_lib.evaluation.coco import check_submission
from mfvpose_lib.evaluation.mpii import HRNET_MEAN_AT_0_11, PCKH_GROUPS
from mfvpose_lib.models.codec import check_codec_fits, model_codec


@dataclass(frozen=True)
class EvalSettings:
    """Test-time choices. Decoding and flip alignment come from the data set's
    :class:`~mfvpose_lib.codecs.heatmap.HeatmapCodec` (the family's own test settings) unless
    ``decode`` / ``flip_alignment`` name another; ``shift=True`` is HRNet's one-pixel flip
    shift (``flip_alignment="hrnet_1px"``)."""

    dataset: str
    boxes: str = "gt"  # "gt" or "det" (COCO); MPII always uses its annotated person boxes
    split: str = "val"  # "val", or "test" (COCO test-dev: write the submission only)
    flip: bool = True
    shift: bool = False
    decode: str | None = None  # None: the codec's decoder
    flip_alignment: str | None = None  # None: the codec's ("exact", "hrnet_1px", "none")
    in_vis_thre: float = 0.2  # joints above this count in the pose score (HRNet)
    oks_thre: float = 0.9  # OKS-NMS threshold (HRNet)

    def __post_init__(self) -> None:
        try:
            get_dataset_spec(self.dataset)
        except KeyError as err:
            raise ValueError(err.args[0]) from None
        if self.boxes not in ("gt", "det"):
            raise ValueError(f"boxes must be gt or det, got {self.boxes!r}")
        if self.decode not in (None, "dark", "quarter", "argmax"):
            raise ValueError(f"decode must be dark, quarter or argmax, got {self.decode!r}")
        if self.flip_alignment not in (None, *FLIP_ALIGNMENTS):
            raise ValueError(f"flip_alignment must be one of {', '.join(FLIP_ALIGNMENTS)}, got {self.flip_alignment!r}")
        if self.shift and self.flip_alignment not in (None, "hrnet_1px"):
            raise ValueError("shift=True is flip_alignment='hrnet_1px'; do not give both")

    def resolve(self, codec: HeatmapCodec) -> HeatmapCodec:
        """The codec these settings decode and align flips with."""
        alignment = "hrnet_1px" if self.shift else self.flip_alignment
        return codec.replace(decoder=self.decode, flip_alignment=alignment)


@dataclass(frozen=True)
class RunOptions:
    """How an evaluation runs, as opposed to what it measures (:class:`EvalSettings`): where,
    in what batches, under which autocast and memory format, sharded how, and whether the
    validation loss is computed too."""

    device: torch.device | str = "cpu"
    batch_size: int = 32
    workers: int = 0
    amp_dtype: torch.dtype | None = None
    channels_last: bool = False
    dist: DistInfo | None = None
    progress: bool = True
    compute_loss: bool = False


@dataclass
class Predictions:
    """Per-person outputs in dataset order (sorted by record index)."""

    coords: np.ndarray  # (N, K, 2) image pixels
    maxvals: np.ndarray  # (N, K) heatmap peaks
    center: np.ndarray  # (N, 2)
    scale: np.ndarray  # (N, 2)
    box_score: np.ndarray  # (N,)
    image_id: np.ndarray  # (N,)
    index: np.ndarray  # (N,)
    image_path: list[str]
    loss: float | None = None


@dataclass
class EvalResult:
    """Numbers, the settings that produced them and the predictions they were computed from."""

    metrics: dict[str, Any]
    settings: dict[str, Any]
    predictions: Predictions
    results: list[dict] = field(default_factory=list)  # COCO results format (COCO only)

    def flat_metrics(self) -> dict[str, float]:
        """One number per name, for a per-epoch log row (MPII: the PCKh@0.5 groups and mean)."""
        out: dict[str, float] = {}
        for key, value in self.metrics.items():
            if isinstance(value, dict):
                if key == "PCKh@0.5":
                    out["PCKh@0.5"] = value["Mean"]
                    out.update({f"PCKh@0.5 {g}": v for g, v in value.items() if g != "Mean"})
                elif key == "PCKh@0.1":
                    out["PCKh@0.1"] = value["Mean"]
            elif isinstance(value, int | float) and not isinstance(value, bool):
                out[key] = float(value)
        if self.predictions.loss is not None:
            out["val_loss"] = self.predictions.loss
        return out

    def table(self) -> str:
        """The numbers as a small text table, settings first."""
        lines = ["settings:"]
        lines += [f"  {k}: {v}" for k, v in self.settings.items()]
        lines.append("metrics:")
        for key, value in self.metrics.items():
            if isinstance(value, dict):
                lines.append(f"  {key}:")
                lines += [f"    {k:<10s} {v:7.2f}" for k, v in value.items()]
            elif isinstance(value, float):
                lines.append(f"  {key:<10s} {value:7.4f}" if value <= 1.0 else f"  {key:<10s} {value:7.2f}")
            else:
                lines.append(f"  {key}: {value}")
        return "\n".join(lines)


# Per-person arrays one process collects, batch by batch, before the shards are merged.
_PART_NAMES = ("coords", "maxvals", "center", "scale", "score", "image_id", "index")


def predict(
    model: nn.Module, dataset: Dataset, *, flip_pairs, settings: EvalSettings, options: RunOptions
) -> Predictions:
    """Run ``model`` on every sample of ``dataset`` (sharded over processes under DDP) and
    decode image-space keypoints. With ``options.compute_loss`` the mean JointsMSE loss of the
    un-flipped output against the samples' targets is returned too."""
    return predict_settings(model, dataset, flip_pairs=flip_pairs, settings=[settings], options=options)[0]


@torch.no_grad()
def predict_settings(
    model: nn.Module, dataset: Dataset, *, flip_pairs, settings: Sequence[EvalSettings], options: RunOptions
) -> list[Predictions]:
    """:func:`predict` under several test-time settings in one pass over the data: each batch goes
    through the network once (and once mirrored, if any setting flips), and every setting decodes
    those outputs its own way. Each result equals :func:`predict`'s under that setting alone."""
    dist = options.dist or DistInfo()
    base = dataset_codec(model, dataset)
    codecs = [s.resolve(base) for s in settings]
    was_training = model.training
    model.eval()
    try:
        shards = _predict_shards(model, dataset, codecs, flip_pairs, [s.flip for s in settings], options, dist)
    finally:
        model.train(was_training)
    return [_merge_shards(gather_objects(shard.payload(), dist), options.compute_loss) for shard in shards]


@dataclass
class _Shard:
    """One process's decoded outputs and loss sum, collected batch by batch."""

    parts: dict[str, list] = field(default_factory=lambda: {k: [] for k in _PART_NAMES})
    paths: list[str] = field(default_factory=list)
    loss_sum: float = 0.0
    loss_count: int = 0

    def add_loss(self, loss: torch.Tensor, people: int) -> None:
        self.loss_sum += float(loss) * people
        self.loss_count += people

    def add_batch(self, codec: HeatmapCodec, heatmaps: np.ndarray, meta: dict) -> None:
        crop_points, maxvals = codec.decode(heatmaps)
        center = _numpy(meta["center"])
        scale = _numpy(meta["scale"])
        self.parts["coords"].append(codec.crop_to_image(crop_points, center, scale).astype(np.float32))
        self.parts["maxvals"].append(maxvals.reshape(maxvals.shape[0], -1))
        self.parts["center"].append(center)
        self.parts["scale"].append(scale)
        for name in ("score", "image_id", "index"):
            self.parts[name].append(_numpy(meta[name]).reshape(-1))
        self.paths.extend(list(meta["image_path"]))

    def payload(self) -> dict[str, Any]:
        """Plain arrays and numbers, as :func:`gather_objects` sends them between processes."""
        local: dict[str, Any] = {k: np.concatenate(v) if v else np.zeros((0,)) for k, v in self.parts.items()}
        local["image_path"] = self.paths
        local["loss"] = (self.loss_sum, self.loss_count)
        return local


def _predict_shards(
    model: nn.Module, dataset: Dataset, codecs: list[HeatmapCodec], flip_pairs, flips: list[bool],
    options: RunOptions, dist: DistInfo,
) -> list[_Shard]:
    """This process's share of the data set, predicted once and decoded by each codec (flip-averaged
    where its ``flips`` entry asks)."""
    device = torch.device(options.device)
    memory_format = torch.channels_last if options.channels_last else torch.contiguous_format
    criterion = JointsMSELoss()
    shards = [_Shard() for _ in codecs]
    for batch in _batches(dataset, device, options, dist):
        images = batch["image"].to(device, non_blocking=True).contiguous(memory_format=memory_format)
        heatmaps, flipped = _forward(model, images, any(flips), options.amp_dtype)
        if options.compute_loss:
            loss = criterion(heatmaps, batch["target"].to(device), batch["target_weight"].to(device))
            for shard in shards:
                shard.add_loss(loss, images.shape[0])
        heatmaps = heatmaps.cpu().numpy()
        for shard, codec, flip in zip(shards, codecs, flips):
            averaged = (heatmaps + codec.flip_back(flipped, flip_pairs)) * 0.5 if flip else heatmaps
            shard.add_batch(codec, averaged, batch["meta"])
    return shards


def _batches(dataset: Dataset, device: torch.device, options: RunOptions, dist: DistInfo):
    """The loader over this process's shard, with a progress bar on the main process."""
    sampler = None
    if dist.enabled:
        sampler = DistributedSampler(dataset, num_replicas=dist.world_size, rank=dist.rank, shuffle=False)
    loader = DataLoader(dataset, batch_size=options.batch_size, sampler=sampler, shuffle=False,
                        num_workers=options.workers, pin_memory=device.type == "cuda")  # fmt: skip
    if options.progress and dist.is_main:
        from tqdm.auto import tqdm

        return tqdm(loader, desc="evaluate", leave=False)
    return loader


def _forward(
    model: nn.Module, images: torch.Tensor, flip: bool, amp_dtype: torch.dtype | None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Heatmaps in float32 and, for the flip test, the raw output on the mirrored images."""
    flipped = None
    with torch.autocast(images.device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
        heatmaps = model(images)
        if flip:
            flipped = model(images.flip(3))
    return heatmaps.float(), flipped


def _merge_shards(shards: list[dict[str, Any]], compute_loss: bool) -> Predictions:
    """All processes' outputs in record order, one prediction per record."""
    merged = {k: np.concatenate([s[k] for s in shards if len(s[k])]) if any(len(s[k]) for s in shards) else shards[0][k]
              for k in _PART_NAMES}  # fmt: skip
    merged_paths = [p for s in shards for p in s["image_path"]]
    # DistributedSampler pads the last shard with repeats: keep one prediction per record.
    _, first = np.unique(merged["index"], return_index=True)
    order = first[np.argsort(merged["index"][first], kind="stable")]
    total_loss = sum(s["loss"][0] for s in shards)
    total_count = sum(s["loss"][1] for s in shards)
    return Predictions(
        coords=merged["coords"][order],
        maxvals=merged["maxvals"][order],
        center=merged["center"][order],
        scale=merged["scale"][order],
        box_score=merged["score"][order].astype(np.float64),
        image_id=merged["image_id"][order].astype(np.int64),
        index=merged["index"][order].astype(np.int64),
        image_path=[merged_paths[i] for i in order],
        loss=(total_loss / total_count) if compute_loss and total_count else None,
    )


def dataset_codec(model: nn.Module, dataset: Dataset) -> HeatmapCodec:
    """The codec the data set was cut with (else the model's), checked against the model."""
    codec = getattr(dataset, "codec", None)
    return model_codec(model) if codec is None else check_codec_fits(codec, model.cfg, "the data set's codec")


def _numpy(value) -> np.ndarray:
    if torch.is_tensor(value):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def describe_settings(model: nn.Module, dataset: Dataset, settings: EvalSettings) -> dict[str, Any]:
    """The settings printed and saved beside every number."""
    cfg = model.cfg
    codec = settings.resolve(dataset_codec(model, dataset))
    info: dict[str, Any] = {
        "model": getattr(model, "model_name", type(model).__name__),
        "dataset": settings.dataset,
        "split": settings.split,
        "annotations": str(getattr(dataset, "ann_file", "") or ""),
        "people": len(dataset),
        "input_size": list(cfg.input_size),
        "heatmap_size": list(cfg.heatmap_size),
        "flip_test": settings.flip,
        "flip_alignment": codec.flip_alignment if settings.flip else None,
        "flip_shift": settings.flip and codec.flip_alignment == "hrnet_1px",
        "geometry": codec.geometry,
        "decode": codec.decoder + (f" (blur kernel {codec.blur_kernel})" if codec.decoder == "dark" else ""),
        "codec": codec.to_dict(),
    }
    return info


def evaluate_model(
    model: nn.Module,
    dataset: Dataset,
    settings: EvalSettings,
    *,
    device: torch.device | str = "cpu",
    batch_size: int = 32,
    workers: int = 0,
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = False,
    dist: DistInfo | None = None,
    progress: bool = True,
    compute_loss: bool = False,
) -> EvalResult:
    """Predict on ``dataset`` and score it by its data set's spec (COCO: keypoint AP with
    pycocotools; MPII: PCKh). The keywords are the fields of :class:`RunOptions`.

    Under DDP every process predicts a shard and every process receives the same result.
    """
    options = RunOptions(device=device, batch_size=batch_size, workers=workers, amp_dtype=amp_dtype,
                         channels_last=channels_last, dist=dist, progress=progress,
                         compute_loss=compute_loss)  # fmt: skip
    return evaluate_with(model, dataset, settings, options)


def evaluate_with(
    model: nn.Module, dataset: Dataset, settings: EvalSettings, options: RunOptions
) -> EvalResult:
    """:func:`evaluate_model` with its run options as one object."""
    return evaluate_settings(model, dataset, [settings], options)[0]


def evaluate_settings(
    model: nn.Module, dataset: Dataset, settings: Sequence[EvalSettings], options: RunOptions
) -> list[EvalResult]:
    """:func:`evaluate_with` for each of ``settings``, predicting in one pass over the data
    (:func:`predict_settings`): a grid of flip alignments and decoders costs one or two forward
    passes, not one per setting. ``inference_seconds`` is that shared pass's time."""
    start = time.perf_counter()
    all_preds = predict_settings(model, dataset, flip_pairs=dataset.meta.flip_pairs, settings=settings, options=options)
    seconds = round(time.perf_counter() - start, 3)
    results = []
    for setting, preds in zip(settings, all_preds):
        info = {**describe_settings(model, dataset, setting), "inference_seconds": seconds}
        metrics, scored, scoring = get_dataset_spec(setting.dataset).score(dataset, preds, setting)
        results.append(EvalResult(metrics=metrics, settings={**info, **scoring}, predictions=preds, results=scored or []))
    return results


def write_eval_outputs(
    result: EvalResult, out_dir: str | Path, *, extra: dict[str, Any] | None = None
) -> dict[str, Path]:
    """``results.json`` (COCO results format, or the MPII predictions) and ``metrics.json``
    (numbers with their settings), both written atomically. Test-dev also gets the file
    named as the evaluation server expects."""
    from mfvpose_lib.io_utils import atomic_write_json

    out_dir = Path(out_dir)
    written = {}
    spec = get_dataset_spec(result.settings["dataset"])
    payload = spec.predictions_json(result) if spec.predictions_json else result.results
    written["results"] = atomic_write_json(payload, out_dir / "results.json", indent=None)
    if spec.submission_name and result.settings.get("split") == "test":
        name = spec.submission_name(result.settings.get("model") or "mfvpose")
        written["submission"] = atomic_write_json(check_submission(payload, name), out_dir / name, indent=None)
    document = {"metrics": result.metrics, "settings": result.settings, **(extra or {})}
    written["metrics"] = atomic_write_json(document, out_dir / "metrics.json")
    return written


def per_joint_table(result: EvalResult):
    """MPII: PCKh@0.5 and @0.1 per joint group plus the means, as a DataFrame."""
    import pandas as pd

    metrics = result.metrics
    rows = []
    for group in (*PCKH_GROUPS, "Mean"):
        rows.append(
            {"joint": group, "PCKh@0.5": metrics["PCKh@0.5"][group], "PCKh@0.1": metrics["PCKh@0.1"][group]}
        )
    frame = pd.DataFrame(rows).set_index("joint")
    frame.attrs["note"] = f"{HRNET_MEAN_AT_0_11}: {metrics[HRNET_MEAN_AT_0_11]:.2f}"
    return frame


#: The test-time grid of notebook 07: no flip test or each flip alignment, by each sub-pixel decoder.
INFERENCE_FLIPS = ("off", "exact", "hrnet_1px")
INFERENCE_DECODERS = ("quarter", "dark")
#: The headline numbers of a data set, by their names in :meth:`EvalResult.flat_metrics`.
HEADLINE_METRICS = {"coco": ("AP", "AP50", "AP75", "AR"), "mpii": ("PCKh@0.5", "PCKh@0.1")}


def inference_settings_grid(dataset: str, boxes: str = "gt") -> list[EvalSettings]:
    """Every flip test × decoder of :data:`INFERENCE_FLIPS` and :data:`INFERENCE_DECODERS`."""
    return [EvalSettings(dataset=dataset, boxes=boxes, flip=flip != "off", decode=decode,
                         flip_alignment=None if flip == "off" else flip)
            for flip in INFERENCE_FLIPS for decode in INFERENCE_DECODERS]  # fmt: skip


def inference_settings_effects(model: nn.Module, dataset: str, splits: dict[str, Dataset], options: RunOptions):
    """One row per box source (the keys of ``splits``: ``"det"``, ``"gt"``) × flip test × decoder
    with ``dataset``'s headline metrics; each box source costs one pass over its data
    (:func:`evaluate_settings`)."""
    import pandas as pd

    if dataset not in HEADLINE_METRICS:
        raise ValueError(f"no headline metrics for data set {dataset!r} (known: {', '.join(HEADLINE_METRICS)})")
    rows = []
    for boxes, data in splits.items():
        grid = inference_settings_grid(dataset, boxes)
        for settings, result in zip(grid, evaluate_settings(model, data, grid, options)):
            flat = result.flat_metrics()
            rows.append({"boxes": boxes, "flip test": settings.flip_alignment if settings.flip else "off",
                         "decode": settings.decode, **{k: flat[k] for k in HEADLINE_METRICS[dataset]}})  # fmt: skip
    return pd.DataFrame(rows)


def load_for_evaluation(checkpoint: str | Path, device: torch.device | str = "cpu") -> tuple[nn.Module, HeatmapCodec]:
    """The model a checkpoint rebuilds and the codec it carries (the one it was trained with), so
    that evaluation crops and decodes exactly as training did."""
    model, _ = _read_for_evaluation(checkpoint, device)
    return model, model_codec(model)


def _read_for_evaluation(checkpoint: str | Path, device: torch.device | str) -> tuple[nn.Module, dict[str, Any]]:
    """The model a checkpoint rebuilds and the summary written beside its metrics, from one read."""
    from mfvpose_lib.models.factory import load_model_checkpoint

    model, payload = load_model_checkpoint(checkpoint, map_location=device)
    summary = {"path": str(checkpoint)}
    summary.update({k: payload.get(k) for k in ("model_name", "epoch", "dataset", "best_metric")})
    return model, summary


def evaluate_checkpoint(
    checkpoint: str | Path,
    data_root: str | Path,
    settings: EvalSettings,
    *,
    device: str = "auto",
    batch_size: int = 32,
    workers: int = 0,
    amp: str = "off",
    out_dir: str | Path | None = None,
    det_file: str | None = None,
    progress: bool = True,
    precision: str | None = None,
) -> EvalResult:
    """Rebuild the model from ``checkpoint`` alone, evaluate it on ``data_root`` and, with
    ``out_dir``, write results.json and metrics.json.

    ``precision`` (``"auto"`` or ``"fp32"``; None: as ``amp`` says) goes through
    :func:`mfvpose_lib.engine.fast_path.decide_eval_precision`; the decision is recorded in
    ``result.settings["precision"]``."""
    from mfvpose_lib.device import resolve_device
    from mfvpose_lib.engine.data_access import build_split
    from mfvpose_lib.engine.fast_path import resolve_amp

    torch_device = resolve_device(device)
    model, checkpoint_summary = _read_for_evaluation(checkpoint, torch_device)
    codec = model_codec(model)  # the one it was trained with: crop and decode as training did
    _check_layout(model, settings, checkpoint)
    dataset = build_split(data_root, settings.dataset, settings.split, model.cfg, train=False,
                          boxes=settings.boxes, det_file=det_file, codec=codec)  # fmt: skip
    options = RunOptions(device=torch_device, batch_size=batch_size, workers=workers,
                         amp_dtype=resolve_amp(amp, torch_device), progress=progress)  # fmt: skip
    decision = None
    if precision is not None:
        if amp != "off":
            raise ValueError(f"give either precision={precision!r} or amp={amp!r}, not both")
        model, options, decision = _choose_precision(model, dataset, settings, codec, options, precision)
    start = time.perf_counter()
    result = evaluate_with(model, dataset, settings, options)
    result.settings["evaluation_seconds"] = time.perf_counter() - start  # inference, decoding, scoring
    if decision is not None:
        result.settings["precision"] = _precision_record(precision, decision)
    result.settings["checkpoint"] = str(checkpoint)
    if out_dir is not None:
        write_eval_outputs(result, out_dir, extra={"checkpoint": checkpoint_summary})
    return result


def _check_layout(model: nn.Module, settings: EvalSettings, checkpoint: str | Path) -> None:
    if model.cfg.num_keypoints != get_dataset_spec(settings.dataset).num_keypoints:
        raise ValueError(
            f"{checkpoint}: model predicts {model.cfg.num_keypoints} keypoints, which does not fit "
            f"the {settings.dataset} layout"
        )


def _choose_precision(model, dataset, settings: EvalSettings, codec: HeatmapCodec, options: RunOptions,
                      precision: str):  # fmt: skip
    """The model and run options on the precision path ``decide_eval_precision`` picks, and the decision."""
    from mfvpose_lib.engine.fast_path import decide_eval_precision

    decision = decide_eval_precision(model, dataset, options.device, precision=precision,
                                     check_images=options.batch_size,
                                     decode=settings.decode or codec.decoder)  # fmt: skip
    options = replace(options, amp_dtype=decision.path.amp_dtype, channels_last=decision.path.channels_last)
    return decision.runner(model), options, decision  # folded and in the path's memory format where fast


def _precision_record(precision: str, decision) -> dict[str, Any]:
    return {
        "asked": precision, "path": decision.path.describe(), "used_fast_path": decision.used_fast,
        "max_px_change_on_check": decision.max_px_change, "check_images": decision.check_images,
        "tolerance_px": decision.tolerance_px, "reason": decision.reason,
        "check_batch_seconds": {"fp32": decision.reference_seconds, "fast": decision.fast_seconds},
    }  # fmt: skip
