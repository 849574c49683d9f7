"""The dilation tables of the HRFOV notebooks (02 and 10), built on the arithmetic of
:mod:`mfvpose_lib.models.dilation`:

* :func:`rates_summary` -- common factor, HDC's ``M_2``, gridding and branch fields of candidate rates.
* :func:`branch_field_boxes` -- the theoretical field of each HRFOV branch in input pixels,
  centred on the crop, to draw at its true scale.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from mfvpose_lib.models.dilation import (
    atrous_branch_receptive_fields,
    common_factor,
    has_gridding,
    hdc_max_gap,
)

#: Stride of the 1/4-resolution map HRFOV works on, in input pixels.
FEATURE_STRIDE = 4


def rates_summary(rate_sets: Mapping[str, Sequence[int]], kernel: int = 3) -> pd.DataFrame:
    """One row per candidate rate sequence: common factor, HDC's ``M_2``, gridding, branch fields."""
    rows = []
    for label, rates in rate_sets.items():
        rates = tuple(int(r) for r in rates)
        rows.append(
            {
                "rates": label,
                "common factor": common_factor(rates),
                "HDC M2": hdc_max_gap(rates, kernel),
                "cascade grids": has_gridding(rates, kernel),
                "cascade RF per branch": atrous_branch_receptive_fields(rates, "cascade", kernel),
                "parallel RF per branch": atrous_branch_receptive_fields(rates, "parallel", kernel),
            }
        )
    return pd.DataFrame(rows)


def branch_field_boxes(
    rates: Sequence[int],
    topology: str,
    input_size: tuple[int, int],
    *,
    stride: int = FEATURE_STRIDE,
    kernel: int = 3,
) -> pd.DataFrame:
    """Theoretical field each HRFOV branch adds, as a square in input pixels centred on the crop.

    The branch field is counted in cells of the 1/``stride`` map, so one cell is ``stride``
    input pixels. Columns: ``branch`` (1-based), ``rate``, ``field (cells)``, ``field (px)``,
    ``x0``, ``y0`` (top-left corner, crop pixels), ``fits crop`` (the square lies inside the crop).
    """
    h, w = input_size
    rows = []
    for i, (rate, cells) in enumerate(zip(rates, atrous_branch_receptive_fields(rates, topology, kernel)), 1):
        px = cells * stride
        rows.append(
            {
                "branch": i,
                "rate": int(rate),
                "field (cells)": cells,
                "field (px)": px,
                "x0": (w - px) / 2,
                "y0": (h - px) / 2,
                "fits crop": bool(px <= min(h, w)),
            }
        )
    return pd.DataFrame(rows)
