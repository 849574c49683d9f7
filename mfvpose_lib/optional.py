"""Import a part of the library that may not exist in this checkout."""

from __future__ import annotations

import importlib
from types import ModuleType


def import_if_present(module_name: str) -> ModuleType | None:
    """The module, or None when it (or a package above it) does not exist.

    An import error raised *inside* an existing module is re-raised: that is a bug,
    not an absent part.
    """
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name and (module_name == err.name or module_name.startswith(err.name + ".")):
            return None
        raise
