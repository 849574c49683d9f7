"""Atomic writes: a file is either its old version or its complete new one, never half."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch


def _atomic_replace(path: Path, write) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` through a temporary file in the same folder, then a rename."""
    return _atomic_replace(Path(path), lambda fh: torch.save(obj, fh))


def atomic_write_bytes(data: bytes, path: str | os.PathLike) -> Path:
    return _atomic_replace(Path(path), lambda fh: fh.write(data))


def atomic_write_text(text: str, path: str | os.PathLike) -> Path:
    return atomic_write_bytes(text.encode("utf-8"), path)


def atomic_write_json(obj: Any, path: str | os.PathLike, indent: int = 2) -> Path:
    return atomic_write_text(json.dumps(obj, indent=indent, sort_keys=False) + "\n", path)


def read_json(path: str | os.PathLike) -> Any:
    """Load JSON, naming the file and the reason when it is missing or malformed."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: file not found") from None
    except json.JSONDecodeError as err:
        raise ValueError(
            f"{path}: malformed JSON ({err.msg} at line {err.lineno}, column {err.colno})"
        ) from None


def jsonable(obj: Any) -> Any:
    """``obj`` as JSON gives it back (tuples become lists, anything unknown its ``str``)."""
    return json.loads(json.dumps(obj, default=str))
