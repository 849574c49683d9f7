"""Data layer: files on disk → (image tensor, target heatmaps, target weights, meta).

``build_dataset`` reads COCO and MPII in the HRNet/TokenPose layouts (or any data set registered
by a :class:`DatasetSpec`); ``ensure_synthetic``
renders the built-in synthetic people set in those same layouts.
"""

# the built-in data sets register their specs on import, COCO first
from mfvpose_lib.data import coco, mpii  # noqa: F401  (isort: skip)
from mfvpose_lib.data.dataset import PoseDataset, build_dataset, load_image
from mfvpose_lib.data.meta import COCO_META, MPII_META, DatasetMeta
from mfvpose_lib.data.mpii import load_mpii_gt_valid
from mfvpose_lib.data.spec import DatasetSpec, get_dataset_spec, get_meta, list_datasets, register_dataset
from mfvpose_lib.data.synth import ensure_synthetic, write_synthetic

__all__ = [
    "COCO_META",
    "MPII_META",
    "DatasetMeta",
    "DatasetSpec",
    "PoseDataset",
    "build_dataset",
    "ensure_synthetic",
    "get_dataset_spec",
    "get_meta",
    "list_datasets",
    "register_dataset",
    "load_image",
    "load_mpii_gt_valid",
    "write_synthetic",
]
