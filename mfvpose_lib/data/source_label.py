"""The label that says which data a study's numbers come from.

A run on the built-in synthetic set is labelled so that tables, claims and plots keep its numbers
apart from the published COCO/MPII rows, which they cannot be compared with.
"""

from __future__ import annotations

# How a data label starts when the numbers come from the built-in synthetic set, not from COCO/MPII.
SYNTHETIC_LABEL = "built-in synthetic"


def is_synthetic_label(data: str) -> bool:
    return data.startswith(SYNTHETIC_LABEL)
