"""The study's trained runs as the analysis notebooks look at them: the trained model of a run,
an untrained one of the same architecture for contrast, and validation crops."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch.nn as nn


@dataclass
class StudyModels:
    """``trained`` is None when the run has no ``best.pt`` yet (``note`` says so)."""

    trained: nn.Module | None
    untrained: nn.Module
    checkpoint: Path
    note: str

    def by_label(self) -> dict[str, nn.Module]:
        models = {"untrained": self.untrained}
        if self.trained is not None:
            models = {"trained": self.trained, **models}
        return models


def load_study_models(
    settings, run_dir: str | Path, *, dataset: str = "coco", device="cpu", seed: int = 0
) -> StudyModels:
    """``best.pt`` of the profile's run in ``run_dir`` (written by notebook 06) and an untrained
    model of the same name built with ``seed``; both in eval mode on ``device``."""
    from mfvpose_lib.engine.checkpointing import BEST_NAME
    from mfvpose_lib.engine.run_state import isolated_run_state
    from mfvpose_lib.models import create_model
    from mfvpose_lib.models.factory import load_model
    from mfvpose_lib.study.runs import run_dir_for

    checkpoint = run_dir_for(run_dir, dataset) / BEST_NAME
    trained = None
    name = settings.for_dataset(dataset).model
    if checkpoint.is_file():
        trained = load_model(checkpoint, map_location=device).eval()
        name = getattr(trained, "model_name", name)
        note = f"trained model: {checkpoint}"
    else:
        note = (
            f"NOTE: {checkpoint} does not exist (run notebook 06 with this run_dir first); "
            "only the untrained model is shown"
        )
    with isolated_run_state(seed=seed):  # the kernel's generators are left as they were
        if trained is not None:  # the same config (input size, heads, ...) with fresh weights
            untrained = type(trained)(trained.cfg)
        else:
            size = settings.for_dataset(dataset).input_size
            untrained = create_model(name, **({"input_size": tuple(size)} if size is not None else {}))
    untrained = untrained.to(device).eval()
    return StudyModels(trained, untrained, checkpoint, note)


def _first_val_people(data_root: str | Path, model, count: int, dataset: str):
    """The validation set as ``model``'s codec cuts it, and the indices of its first ``count`` people."""
    from mfvpose_lib.data import build_dataset
    from mfvpose_lib.models.codec import model_codec

    crops = build_dataset(data_root, dataset, "val", codec=model_codec(model), train=False)
    indices = list(range(min(count, len(crops))))
    if not indices:
        raise ValueError(f"{data_root}: the {dataset} validation set is empty")
    return crops, indices


def val_crops(
    data_root: str | Path, model, count: int, *, dataset: str = "coco"
) -> tuple[list[dict], list[int]]:
    """The first ``count`` validation crops (ground-truth boxes), cut and encoded by ``model``'s
    codec as for its evaluation, and their indices in the validation set."""
    crops, indices = _first_val_people(data_root, model, count, dataset)
    return [crops[i] for i in indices], indices


#: How many times the crop's height and width a context canvas spans (:func:`context_crops`).
CONTEXT_FACTOR = 2


def context_crops(
    data_root: str | Path, model, count: int, *, factor: int = CONTEXT_FACTOR, dataset: str = "coco"
) -> tuple[list[dict], list[int]]:
    """The first ``count`` validation people at the pixel scale ``model`` sees them, on a canvas
    ``factor`` times as high and wide as its crop: the crop's centre and scale, the scale times
    ``factor``, cut by the model codec's geometry and normalised as every crop is. A convolutional
    backbone reads such a canvas as it reads its crop, but its field is no longer cut off by the
    crop's edges, so an effective receptive field measured on it is the network's, not the crop's."""

    from mfvpose_lib.data.transforms import AffineCrop, Normalize
    from mfvpose_lib.models.codec import model_codec

    codec = model_codec(model)
    crops, indices = _first_val_people(data_root, model, count, dataset)
    h, w = codec.input_size
    cut, normalise = AffineCrop((h * factor, w * factor), geometry=codec.geometry), Normalize()
    items = []
    for index in indices:
        sample = crops.raw_sample(index)
        sample["scale"] = sample["scale"] * factor
        items.append(normalise(cut(sample)))
    return items, indices
