"""One :class:`DatasetSpec` per data set, looked up by name: what the rest of the library knows of it.

A spec says how to find the data set's folder, read a split into person records, score
predictions, which number decides the best checkpoint, the training augmentation of its
reference recipe and which person boxes it offers. Code outside the spec modules asks the spec
rather than comparing names, so a new data set (CrowdPose, a toy layout in a test) is one file
that builds its spec and calls :func:`register_dataset`, plus its
:class:`~mfvpose_lib.data.meta.DatasetMeta`.

The built-in specs are registered by :mod:`mfvpose_lib.data.coco` and
:mod:`mfvpose_lib.data.mpii`, which the :mod:`mfvpose_lib.data` package imports, so they are
present whenever this module is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mfvpose_lib.data.meta import DatasetMeta
from mfvpose_lib.data.transforms import AugmentationConfig


@dataclass(frozen=True)
class DatasetSpec:
    """Everything specific to one data set.

    ``read(layout, split, aspect_ratio=..., boxes=..., det_file=..., det_score_thr=...,
    geometry=...)`` returns the keyword arguments of
    :class:`~mfvpose_lib.data.dataset.PoseDataset` apart from meta, pipeline, codec and cache
    (``records``, ``ann_file``, ``image_root`` and optionally ``coco``, ``gt_valid_file``,
    ``det_file``). ``score(dataset, predictions, settings)`` returns ``(metrics, results,
    info)``: the numbers (``{"scored": False, ...}`` without ground truth), the per-person
    results list written as ``results.json`` (None: ``predictions_json`` builds it) and
    settings to print beside them. ``marker`` is the sub-folder that marks the data set's
    folder (COCO's ``annotations/``), ``person_boxes`` the boxes a split can be cropped
    from (the first is the default), ``table_metrics`` the numbers a results table shows.
    """

    name: str
    meta: DatasetMeta
    marker: str
    read: Callable[..., dict[str, Any]]
    score: Callable[..., tuple[dict, list | None, dict]]
    primary_metric: str
    augmentation: AugmentationConfig
    table_metrics: tuple[str, ...]
    person_boxes: tuple[str, ...] = ("gt",)
    predictions_json: Callable[[Any], list] | None = None
    # test split: the file name the evaluation server expects (None: no server)
    submission_name: Callable[[str], str] | None = None

    @property
    def num_keypoints(self) -> int:
        return self.meta.num_keypoints

    def boxes_for(self, boxes: str) -> str:
        """``boxes`` where the data set offers them, else its default (MPII's annotated boxes)."""
        if boxes not in ("gt", "det"):
            raise ValueError(f"boxes must be 'gt' or 'det', got {boxes!r}")
        return boxes if boxes in self.person_boxes else self.person_boxes[0]

    def layout_root(self, root: str | Path) -> Path:
        """``root/<name>`` when it exists, else ``root`` itself when it is already the folder."""
        root = Path(root)
        if (root / self.name).is_dir():
            return root / self.name
        if (root / self.marker).is_dir():
            return root
        raise FileNotFoundError(
            f"{root}: no {self.name}/ folder (nor {self.marker}/ inside it); run `mfvpose synth {root}`"
        )

    def is_present(self, root: str | Path) -> bool:
        return (Path(root) / self.name).is_dir()


DATASETS: dict[str, DatasetSpec] = {}


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    """Make ``spec`` known by its name; a second spec of the same name replaces the first."""
    DATASETS[spec.name] = spec
    return spec


def get_dataset_spec(name: str) -> DatasetSpec:
    try:
        return DATASETS[name.lower()]
    except KeyError:
        raise KeyError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}") from None


def list_datasets() -> list[str]:
    return list(DATASETS)


def get_meta(name: str) -> DatasetMeta:
    """Keypoint layout of the data set ``name`` (``"coco"``, ``"mpii"`` or a registered one)."""
    return get_dataset_spec(name).meta


def dataset_for_keypoints(num_keypoints: int) -> str:
    """The registered data set whose layout has ``num_keypoints`` keypoints (the first one)."""
    for spec in DATASETS.values():
        if spec.num_keypoints == num_keypoints:
            return spec.name
    raise KeyError(f"no registered data set has {num_keypoints} keypoints")


def available_datasets(data_root: str | Path) -> list[str]:
    """Registered data sets whose folder ``data_root`` holds, in registration order."""
    return [name for name, spec in DATASETS.items() if spec.is_present(data_root)]
