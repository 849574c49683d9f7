"""Model checkpoints: our own format, public pose checkpoints and ImageNet HRNet backbones.

Our format is a dict ``{"format": "mfvpose", "model_name", "config_class", "config",
"state_dict", ...extra}``; the stored config alone rebuilds the model (``models.factory.load_model``).

:func:`load_weights` also reads the checkpoints users bring from the public code:

* pose checkpoints (HRNet, SimpleBaseline, TokenPose): a plain state dict, or one under
  ``"state_dict"`` / ``"model"``, with or without DataParallel's ``"module."`` prefix. A model
  family whose parameter names differ from the public ones provides a method
  ``public_key_map(state_dict) -> state_dict`` that renames the public keys to its own;
* ImageNet HRNet classification checkpoints (recognised by ``incre_modules`` /
  ``downsamp_modules`` / ``classifier`` keys): only the trunk keys (stem, ``layer1``, stages and
  transitions that the model has) are loaded into the model's HRNet trunk; the classification
  parts are ignored and listed in the report.

Loading is strict by default: any missing, unexpected or mis-shaped key raises
:class:`CheckpointMismatchError`, whose message names the file and lists the keys.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from mfvpose_lib.io_utils import atomic_torch_save

FORMAT = "mfvpose"
_RESERVED = ("format", "model_name", "config_class", "config", "state_dict", "codec")
# Keys only an ImageNet (classification) HRNet checkpoint has.
_IMAGENET_MARKERS = ("incre_modules.", "downsamp_modules.", "classifier.")
# Top-level names of an HRNet trunk, in forward order.
HRNET_TRUNK_NAMES = (
    "conv1",
    "bn1",
    "conv2",
    "bn2",
    "layer1",
    "transition1",
    "stage2",
    "transition2",
    "stage3",
    "transition3",
    "stage4",
)
_LIST_LIMIT = 12


# --------------------------------------------------------------------------------------------
# Reading files
# --------------------------------------------------------------------------------------------


def _read_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> Any:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint file not found")
    if not _is_torch_file(path):  # else torch's unpickler calls any junk "objects other than tensors"
        raise ValueError(
            f"{path}: not a PyTorch checkpoint file (neither torch.save's zip archive nor its legacy format)"
        )
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise ValueError(
            f"{path}: holds objects other than tensors and plain containers, which are not loaded "
            f"for safety ({str(err).splitlines()[0]})"
        ) from None
    except (RuntimeError, EOFError, OSError) as err:
        raise ValueError(f"{path}: not a readable PyTorch checkpoint ({err})") from None


# torch.save's legacy (pre-1.6) format opens with this number, pickled.
_LEGACY_MAGIC = (0x1950A86A20F9469CFC6C).to_bytes(10, "little")


def _is_torch_file(path: Path) -> bool:
    """Whether ``path`` is in a format ``torch.save`` writes: a zip archive holding
    ``<name>/data.pkl``, or a pickle that starts with the legacy magic number."""
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                return any(name.endswith("/data.pkl") for name in archive.namelist())
        except zipfile.BadZipFile:
            return False
    with open(path, "rb") as fh:
        return _LEGACY_MAGIC in fh.read(32)


def _is_state_dict(obj: Any) -> bool:
    return (
        isinstance(obj, Mapping)
        and len(obj) > 0
        and all(isinstance(k, str) for k in obj)
        and all(torch.is_tensor(v) for v in obj.values())
    )


def _extract_state_dict(obj: Any, path: Path) -> tuple[str, dict[str, torch.Tensor]]:
    """(layout, state dict) of a checkpoint object; layout is ``"mfvpose"`` or ``"public"``."""
    if isinstance(obj, Mapping) and obj.get("format") == FORMAT:
        if not _is_state_dict(obj.get("state_dict")):
            raise ValueError(f"{path}: mfvpose checkpoint without a valid 'state_dict'")
        return FORMAT, dict(obj["state_dict"])
    if _is_state_dict(obj):
        return "public", dict(obj)
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model"):
            if _is_state_dict(obj.get(key)):
                return "public", dict(obj[key])
        top = ", ".join(sorted(map(str, obj))[:_LIST_LIMIT])
        raise ValueError(
            f"{path}: no state dict found: expected a dict of tensors, or one under 'state_dict' or "
            f"'model' (top-level keys: {top})"
        )
    raise ValueError(f"{path}: expected a dict, found {type(obj).__name__}")


def _strip_module_prefix(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop the ``module.`` prefix that (Distributed)DataParallel adds to every key."""
    if state_dict and all(k.startswith("module.") for k in state_dict):
        return {k[len("module.") :]: v for k, v in state_dict.items()}
    return state_dict


# --------------------------------------------------------------------------------------------
# The load report
# --------------------------------------------------------------------------------------------


class CheckpointMismatchError(ValueError):
    """A checkpoint does not fit the model; the message lists what differs."""


@dataclass
class LoadReport:
    """What :func:`load_weights` did: loaded keys and every key that did not fit."""

    source: str
    layout: str  # "mfvpose", "public" or "imagenet-hrnet"
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # checkpoint keys deliberately not used
    not_loaded: list[str] = field(default_factory=list)  # model keys deliberately left as built
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def __str__(self) -> str:
        lines = [f"{self.source}: {self.layout} layout, {len(self.loaded)} tensors loaded"]

        def block(title: str, items: list[str]) -> None:
            if items:
                lines.append(f"  {title} ({len(items)}):")
                if len(items) > _LIST_LIMIT:  # a long list reads better as its modules
                    items = _summarise(items)
                lines.extend(f"    {item}" for item in items[:_LIST_LIMIT])
                if len(items) > _LIST_LIMIT:
                    lines.append(f"    ... and {len(items) - _LIST_LIMIT} more")

        block("missing from the checkpoint", self.missing)
        block("unexpected in the checkpoint", self.unexpected)
        block(
            "shape mismatch (checkpoint vs model)",
            [f"{k}: {tuple(a)} vs {tuple(b)}" for k, a, b in self.mismatched],
        )
        block("ignored checkpoint keys", _summarise(self.ignored))
        block("model keys left as initialised", _summarise(self.not_loaded))
        lines.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(lines)


def _summarise(keys: list[str]) -> list[str]:
    """Group keys by their first two name components, so long lists read as a few lines."""
    groups: dict[str, list[str]] = {}
    for key in keys:
        groups.setdefault(".".join(key.split(".")[:2]), []).append(key)
    return [f"{p}.* ({len(ks)} tensors)" if len(ks) > 1 else ks[0] for p, ks in groups.items()]


def _compare(
    report: LoadReport, ckpt: dict[str, torch.Tensor], target: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Fill the report's key lists; return the checkpoint tensors that fit the target."""
    fitting = {}
    for key, value in ckpt.items():
        if key not in target:
            report.unexpected.append(key)
        elif tuple(value.shape) != tuple(target[key].shape):
            report.mismatched.append((key, tuple(value.shape), tuple(target[key].shape)))
        else:
            fitting[key] = value
    absent_counters = 0
    for key in target:
        if key not in ckpt:
            # Checkpoints from PyTorch < 0.4.1 have no BN batch counter; it never affects outputs.
            if key.endswith("num_batches_tracked"):
                absent_counters += 1
            else:
                report.missing.append(key)
    if absent_counters:
        report.notes.append(
            f"{absent_counters} BatchNorm batch counters (num_batches_tracked) absent from the "
            "checkpoint; they do not affect outputs and keep their current values"
        )
    report.loaded = sorted(fitting)
    return fitting


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def save_model_checkpoint(path: str | os.PathLike, model: nn.Module, **extra: Any) -> Path:
    """Write ``model`` (config, codec and weights) and any ``extra`` entries atomically to ``path``."""
    from mfvpose_lib.models.codec import model_codec

    cfg = getattr(model, "cfg", None)
    if cfg is None or not dataclasses.is_dataclass(cfg):
        raise TypeError(f"{path}: model {type(model).__name__} has no dataclass 'cfg' to store")
    clash = sorted(set(extra) & set(_RESERVED))
    if clash:
        raise ValueError(f"{path}: extra checkpoint entries may not use reserved names {clash}")
    checkpoint = {
        "format": FORMAT,
        "model_name": getattr(model, "model_name", type(model).__name__),
        "config_class": type(cfg).__name__,
        "config": dataclasses.asdict(cfg),
        "codec": model_codec(model).to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        **extra,
    }
    return atomic_torch_save(checkpoint, path)


def load_weights(model: nn.Module, path: str | os.PathLike, strict: bool = True) -> LoadReport:
    """Load weights from our checkpoints, public pose checkpoints or ImageNet HRNet checkpoints.

    With ``strict=True`` (default) nothing is loaded unless every key fits, and a
    :class:`CheckpointMismatchError` lists the missing, unexpected and mis-shaped keys. With
    ``strict=False`` the fitting tensors are loaded and the returned report lists the rest.
    One of our checkpoints also gives the model the codec it was trained with; public weights
    leave the model its family's.
    """
    path = Path(path)
    obj = _read_checkpoint(path)
    layout, state_dict = _extract_state_dict(obj, path)
    state_dict = _strip_module_prefix(state_dict)
    if layout != FORMAT and any(k.startswith(_IMAGENET_MARKERS) for k in state_dict):
        report, fitting = _match_imagenet_hrnet(model, state_dict, path)
    else:
        report = LoadReport(source=str(path), layout=layout)
        own_cfg = getattr(model, "cfg", None)
        if layout == FORMAT and own_cfg is not None and obj.get("config_class") != type(own_cfg).__name__:
            report.notes.append(
                f"saved from a {obj.get('config_class')} model ({obj.get('model_name')}) into a "
                f"{type(own_cfg).__name__} model"
            )
        key_map = getattr(model, "public_key_map", None)
        if layout != FORMAT and callable(key_map):
            state_dict = key_map(state_dict)
        fitting = _compare(report, state_dict, model.state_dict())
    if strict and not report.ok:
        raise CheckpointMismatchError(f"checkpoint does not fit {type(model).__name__}\n{report}")
    if not fitting:
        raise CheckpointMismatchError(f"no tensor of the checkpoint fits {type(model).__name__}\n{report}")
    model.load_state_dict(fitting, strict=False)
    if layout == FORMAT and getattr(model, "cfg", None) is not None and obj.get("config_class") == type(model.cfg).__name__:
        from mfvpose_lib.models.codec import codec_from_payload, set_codec

        set_codec(model, codec_from_payload(obj, model, source=str(path)))
    return report


def _hrnet_trunks(model: nn.Module) -> list[tuple[str, nn.Module]]:
    from mfvpose_lib.models.hrnet import HRNetTrunk

    return [(name, m) for name, m in model.named_modules() if isinstance(m, HRNetTrunk)]


def _match_imagenet_hrnet(
    model: nn.Module, state_dict: dict[str, torch.Tensor], path: Path
) -> tuple[LoadReport, dict[str, torch.Tensor]]:
    """Map an ImageNet HRNet checkpoint onto the model's HRNet trunk(s).

    The trunk keys the model has (stem to stage 3 for the stage-3 extractor, to stage 4 for the
    pose HRNet) must all be present and fit; everything else in the checkpoint (the last stage's
    extra fusion branches, ``incre_modules``, ``downsamp_modules``, ``final_layer``,
    ``classifier``) is ignored, and the model's other parts keep their initial values.
    """
    trunks = _hrnet_trunks(model)
    if not trunks:
        raise CheckpointMismatchError(
            f"{path}: an ImageNet HRNet checkpoint, but {type(model).__name__} has no HRNet trunk to load it into"
        )
    report = LoadReport(source=str(path), layout="imagenet-hrnet")
    model_state = model.state_dict()
    target: dict[str, torch.Tensor] = {}
    ckpt: dict[str, torch.Tensor] = {}
    for prefix, trunk in trunks:
        dot = _dot(prefix)
        for key, value in trunk.state_dict().items():
            if key.split(".")[0] in HRNET_TRUNK_NAMES:
                target[dot + key] = value
                if key in state_dict:
                    ckpt[dot + key] = state_dict[key]
    report.ignored = [k for k in state_dict if not any(_dot(p) + k in ckpt for p, _ in trunks)]
    report.not_loaded = [k for k in model_state if k not in target]
    fitting = _compare(report, ckpt, target)
    report.notes.append(
        "ImageNet classification checkpoint: only the HRNet trunk was loaded; the keys listed as "
        "ignored (classification head, extra fusion branches) are not part of this model"
    )
    return report, fitting


def _dot(prefix: str) -> str:
    return f"{prefix}." if prefix else ""
