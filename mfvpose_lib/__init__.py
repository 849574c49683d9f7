"""mfvpose_lib: the reference implementation behind the MfvPose study notebooks.

The top-level names load their modules on first use (module ``__getattr__``): importing any part of
the library, e.g. ``mfvpose_lib.io_utils`` or the command line for ``--help``, builds no model
registry first, and ``mfvpose_lib.models`` stays free of the analysis stack (pandas, matplotlib).
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# top-level name -> the module that defines it
_LAZY_NAMES = {"create_model": "mfvpose_lib.models", "list_models": "mfvpose_lib.models"}


def __getattr__(name: str):
    if name in _LAZY_NAMES:
        return getattr(importlib.import_module(_LAZY_NAMES[name]), name)
    raise AttributeError(f"module 'mfvpose_lib' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY_NAMES))


def complexity(model, input_size=None):
    """Params, GMACs and paper-convention GFLOPs of ``model`` (see ``mfvpose_lib.analysis.complexity``)."""
    from mfvpose_lib.analysis.complexity import complexity as _complexity

    return _complexity(model, input_size)


__all__ = ["complexity", "create_model", "list_models", "__version__"]
