"""Released checkpoints of the baselines, evaluated with each family's own test settings.

A user who owns the public HRNet, SimpleBaseline or TokenPose weights puts them in one folder:
named after the registered model (``hrnet_w32.pth``), under the name the HRNet model zoo
publishes them (``pose_hrnet_w32_256x192.pth``), or listed in a ``released.json`` mapping
(``{"tokenpose_b": "tp_b_256x192.pth"}``). ``mfvpose reproduce --released DIR`` records the
folder for a study run; without it ``DATA_ROOT/released`` is used when it exists. Each file is
loaded strictly into its registered model and scored on the study's validation split with the
codec of its family (``models.codec.model_codec``): that is how the baseline rows of Tables 1
and 3 are reproduced exactly by someone who has COCO and MPII.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mfvpose_lib.io_utils import atomic_write_json, read_json

MAPPING_FILE = "released.json"
RUN_RECORD = "released.json"  # in a study run folder: {"released": "/abs/folder"}
SUFFIXES = (".pth", ".pt", ".pth.tar", ".tar")

# The HRNet model zoo's file names (models/pytorch/pose_coco, pose_mpii); 256x256 files are MPII.
PUBLIC_FILE_NAMES = {
    "pose_hrnet_w32_256x192.pth": "hrnet_w32",
    "pose_hrnet_w48_256x192.pth": "hrnet_w48",
    "pose_hrnet_w32_384x288.pth": "hrnet_w32_384",
    "pose_hrnet_w48_384x288.pth": "hrnet_w48_384",
    "pose_resnet_50_256x192.pth": "simplebaseline_r50",
    "pose_resnet_101_256x192.pth": "simplebaseline_r101",
    "pose_resnet_152_256x192.pth": "simplebaseline_r152",
    "pose_resnet_152_384x288.pth": "simplebaseline_r152_384",
    "pose_hrnet_w32_256x256.pth": "hrnet_w32_mpii",
    "pose_resnet_50_256x256.pth": "simplebaseline_r50_mpii",
    "pose_resnet_101_256x256.pth": "simplebaseline_r101_mpii",
    "pose_resnet_152_256x256.pth": "simplebaseline_r152_mpii",
}


@dataclass(frozen=True)
class ReleasedCheckpoint:
    model: str  # registered name
    path: Path
    found_by: str  # "registered name", "model-zoo name" or the mapping file


def _stem(path: Path) -> str:
    name = path.name
    for suffix in sorted(SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def find_released(folder: str | Path) -> list[ReleasedCheckpoint]:
    """The checkpoints in ``folder`` that name a registered model, sorted by model name.

    A file that names no model is an error only when the mapping file names it; other files
    (notes, downloads of other models) are left alone."""
    from mfvpose_lib.models import is_model

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder of released checkpoints")
    found: dict[str, ReleasedCheckpoint] = {}
    mapping_path = folder / MAPPING_FILE
    if mapping_path.is_file():
        mapping = read_json(mapping_path)
        if not isinstance(mapping, dict):
            raise ValueError(f"{mapping_path}: expected an object mapping model names to files")
        for model, file in mapping.items():
            if not is_model(model):
                raise ValueError(f"{mapping_path}: {model!r} is not a registered model (see `mfvpose models`)")
            path = (folder / file) if not Path(file).is_absolute() else Path(file)
            if not path.is_file():
                raise FileNotFoundError(f"{mapping_path}: {model} → {path}: no such file")
            found[model] = ReleasedCheckpoint(model, path, MAPPING_FILE)
    for path in sorted(folder.iterdir()):
        if not path.is_file() or not path.name.endswith(SUFFIXES):
            continue
        model, how = (PUBLIC_FILE_NAMES[path.name], "model-zoo name") if path.name in PUBLIC_FILE_NAMES \
            else (_stem(path), "registered name")  # fmt: skip
        if is_model(model) and model not in found:
            found[model] = ReleasedCheckpoint(model, path, how)
    return [found[name] for name in sorted(found)]


def write_run_released(run_dir: str | Path, folder: str | Path) -> Path:
    """Remember the folder of released checkpoints for a study run (``reproduce --released``)."""
    folder = Path(folder).resolve()
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder of released checkpoints")
    return atomic_write_json({"released": str(folder)}, Path(run_dir) / RUN_RECORD)


def released_dir(run_dir: str | Path, data_root: str | Path) -> Path | None:
    """The folder recorded for ``run_dir``, else ``data_root/released`` when present, else None."""
    record = Path(run_dir) / RUN_RECORD
    if record.is_file():
        return Path(read_json(record)["released"])
    default = Path(data_root) / "released"
    return default if default.is_dir() else None


def evaluate_released(
    checkpoints: list[ReleasedCheckpoint], data_root: str | Path, data_source: str, *,
    device: str = "auto", batch_size: int = 32, progress: bool = False,
) -> pd.DataFrame:  # fmt: skip
    """One row per checkpoint: the published row it reproduces, the test settings of its family,
    and its accuracy on ``data_root``'s validation split (COCO: detection boxes; MPII: PCKh)."""
    from mfvpose_lib.data.spec import get_dataset_spec
    from mfvpose_lib.device import resolve_device
    from mfvpose_lib.engine.data_access import build_split
    from mfvpose_lib.engine.evaluate import evaluate_model
    from mfvpose_lib.inference import (
        dataset_for_model,
        load_any_model,
        test_settings_for,
    )
    from mfvpose_lib.models.codec import model_codec
    from mfvpose_lib.reference import reference_row_for

    torch_device = resolve_device(device)
    rows = []
    for ckpt in checkpoints:
        model = load_any_model(ckpt.path, ckpt.model, map_location=torch_device)
        dataset = dataset_for_model(model)
        codec = model_codec(model)  # the family's for public weights, the saved one for ours
        settings = test_settings_for(model, dataset)
        row = {"model": ckpt.model, "checkpoint": str(ckpt.path), "found by": ckpt.found_by, "dataset": dataset,
               **dict(zip(("table", "method", "input"), reference_row_for(ckpt.model) or ("", "", ""), strict=True)),
               "geometry": codec.geometry, "decoder": codec.decoder, "flip": "on" if settings.flip else "off",
               "flip alignment": codec.flip_alignment, "data": data_source}  # fmt: skip
        spec = get_dataset_spec(dataset)
        try:
            data = build_split(data_root, dataset, "val", model.cfg, train=False,
                               boxes=spec.boxes_for(settings.boxes), codec=codec)  # fmt: skip
        except FileNotFoundError:
            rows.append({**row, "note": f"no {dataset} validation data under {data_root}"})
            continue
        result = evaluate_model(model, data, settings, device=torch_device, batch_size=batch_size, progress=progress)
        metrics = result.flat_metrics()
        rows.append({**row, **{k: metrics.get(k) for k in spec.table_metrics}, "note": ""})
    return pd.DataFrame(rows)
