"""Training checkpoints: the model checkpoint format of ``models/checkpoint.py`` plus the
state that makes ``--resume`` continue exactly (optimizer, grad scaler, schedule, RNG
states, epoch, metrics history), and the checks that refuse a checkpoint of another run.

A training checkpoint is still a model checkpoint: ``load_model(best.pt)`` rebuilds the
trained network from it alone.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

LAST_NAME = "last.pt"
BEST_NAME = "best.pt"


def unwrap_model(model: nn.Module) -> nn.Module:
    """The plain module inside DistributedDataParallel and/or torch.compile wrappers."""
    while True:
        if hasattr(model, "module") and isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model


def capture_rng_state() -> dict[str, Any]:
    """Python, numpy, torch and CUDA generator states, in types ``torch.load`` accepts with
    ``weights_only=True`` (numpy's key array becomes a tensor)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    python_state = state["python"]
    random.setstate((python_state[0], tuple(python_state[1]), python_state[2]))
    np_state = state["numpy"]
    np.random.set_state(
        (
            np_state["kind"],
            np_state["keys"].numpy().astype(np.uint32),
            np_state["pos"],
            np_state["has_gauss"],
            np_state["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_training_checkpoint(path: str | Path, model: nn.Module, **training_state: Any) -> Path:
    """Write ``path`` atomically in the model checkpoint format with the training state as
    extra keys (optimizer, scaler, schedule, rng, epoch, metrics, history, dataset ...)."""
    from mfvpose_lib.models.checkpoint import save_model_checkpoint

    save_model_checkpoint(path, unwrap_model(model), **training_state)
    return Path(path)


def load_training_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a training checkpoint, naming the file when it is missing or not one of ours."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(f"{path}: not a readable checkpoint ({type(err).__name__}: {err})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != "mfvpose":
        raise ValueError(f"{path}: not an mfvpose checkpoint (no 'format': 'mfvpose' entry)")
    if "optimizer" not in ckpt or "epoch" not in ckpt:
        raise ValueError(f"{path}: a model-only checkpoint; it holds no training state to resume from")
    return ckpt


def check_resume_compatible(
    ckpt: dict[str, Any], path: str | Path, *, model: nn.Module, dataset: str
) -> None:
    """Refuse to resume a run of another model, model configuration or data set."""
    import dataclasses

    model = unwrap_model(model)
    wanted_name = getattr(model, "model_name", None)
    problems = []
    if ckpt.get("model_name") != wanted_name:
        problems.append(
            f"it was trained as model {ckpt.get('model_name')!r}, this run builds {wanted_name!r}"
        )
    elif ckpt.get("config") != dataclasses.asdict(model.cfg):
        stored, current = ckpt.get("config") or {}, dataclasses.asdict(model.cfg)
        differing = sorted(k for k in set(stored) | set(current) if stored.get(k) != current.get(k))
        problems.append(f"its model configuration differs in {', '.join(differing)}")
    if ckpt.get("dataset") != dataset:
        problems.append(f"it was trained on data set {ckpt.get('dataset')!r}, this run uses {dataset!r}")
    if problems:
        raise ValueError(f"cannot resume from {path}: " + "; ".join(problems))
