"""Each model's heatmap codec: the model owns it, its checkpoints carry it.

A model built by :func:`~mfvpose_lib.models.factory.create_model` gets the codec of the code base
its family was registered with (``register_family(..., codec=...)``); a training run may replace
it (σ, geometry ... from its config) and saves it with the weights; ``load_model`` restores it.
Every consumer asks :func:`model_codec` instead of building pixels from sizes by hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mfvpose_lib.codecs.heatmap import HeatmapCodec, family_codec
from mfvpose_lib.models.registry import codec_families


def bare_model(model):
    """The module under DistributedDataParallel / torch.compile wrappers."""
    while True:
        inner = getattr(model, "module", None) or model.__dict__.get("_orig_mod")
        if inner is None:
            return model
        model = inner


def default_codec(cfg, **overrides) -> HeatmapCodec:
    """The codec of the family a model config belongs to, at the config's sizes."""
    name = type(cfg).__name__
    family = codec_families().get(name)
    if family is None:
        raise KeyError(
            f"model config {name} belongs to no registered model family, so it has no codec; "
            "register its model class with register_family(config_cls, codec=...)"
        )
    return family_codec(family, cfg.input_size, cfg.heatmap_size, **overrides)


def model_codec(model) -> HeatmapCodec:
    """The codec ``model`` carries (set by its builder, its training run or its checkpoint), else
    its family's default."""
    model = bare_model(model)
    own = model.__dict__.get("codec")
    if own is not None:
        return own
    cfg = getattr(model, "cfg", None)
    if cfg is None:
        raise TypeError(f"{type(model).__name__} has no 'cfg': not a model of this library, so it has no codec")
    return default_codec(cfg)


def check_codec_fits(codec: HeatmapCodec, cfg, what: str = "codec") -> HeatmapCodec:
    """``codec`` when it cuts the sizes of the model config ``cfg``, else an error naming both."""
    if (tuple(codec.input_size), tuple(codec.heatmap_size)) != (tuple(cfg.input_size), tuple(cfg.heatmap_size)):
        raise ValueError(
            f"{what} {codec.input_size} → {codec.heatmap_size} does not fit the model "
            f"({tuple(cfg.input_size)} → {tuple(cfg.heatmap_size)})"
        )
    return codec


def set_codec(model, codec: HeatmapCodec) -> HeatmapCodec:
    """Give ``model`` its codec, refusing one cut for other sizes."""
    model = bare_model(model)
    model.codec = check_codec_fits(codec, model.cfg)
    return codec


def codec_from_payload(payload: Any, model, source: str = "checkpoint") -> HeatmapCodec:
    """The codec one of our checkpoints was trained with: its saved ``codec``; for checkpoints
    written before codecs were saved, the settings they were trained with (HRNet geometry,
    windowed sub-pixel targets, DARK); otherwise the family's."""
    if isinstance(payload, Mapping) and isinstance(payload.get("codec"), Mapping):
        return HeatmapCodec.from_dict(dict(payload["codec"]), source=source)
    train_config = payload.get("train_config") if isinstance(payload, Mapping) else None
    if isinstance(train_config, Mapping):
        return default_codec(bare_model(model).cfg, geometry="hrnet", target="subpixel", target_window=True,
                             decoder="dark", flip_alignment="exact", sigma=float(train_config.get("sigma", 2.0)))  # fmt: skip
    return default_codec(bare_model(model).cfg)
