"""The data sets a run reads, built to fit a model's input and heatmap sizes.

Training and evaluation both go through :func:`build_split`, so a checkpoint is always
evaluated on crops of the size it was trained on.
"""

from __future__ import annotations

from pathlib import Path

from torch.utils.data import Dataset


def build_split(
    data_root: str | Path,
    dataset: str,
    split: str,
    model_cfg,
    *,
    train: bool,
    boxes: str = "gt",
    det_file: str | None = None,
    codec=None,
    augmentation=None,
    cache_images: bool = False,
) -> Dataset:
    """``dataset`` ``split`` under ``data_root`` cut and encoded by ``codec`` (pass the model's,
    ``models.codec.model_codec(model)``; default: the codec of the family of ``model_cfg``); ``train`` switches augmentation on
    (``augmentation``, a ``data.transforms.AugmentationConfig``, replaces the data set's
    reference recipe; ``cache_images`` keeps decoded images in memory)."""
    from mfvpose_lib.data.dataset import build_dataset
    from mfvpose_lib.data.spec import get_dataset_spec
    from mfvpose_lib.models.codec import check_codec_fits, default_codec

    spec = get_dataset_spec(dataset)
    if model_cfg.num_keypoints != spec.num_keypoints:
        raise ValueError(
            f"the model predicts {model_cfg.num_keypoints} keypoints but {dataset} has {spec.num_keypoints}; "
            f"use a model of the {dataset} layout"
        )
    return build_dataset(
        data_root,
        dataset,
        split,
        codec=default_codec(model_cfg) if codec is None else check_codec_fits(codec, model_cfg),
        train=train,
        boxes=boxes,
        det_file=det_file,
        augmentation=augmentation,
        cache_images=cache_images,
    )
