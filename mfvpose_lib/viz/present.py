"""Tables as the notebooks show them: the paper's units and digits, key columns first, where each
number comes from in the caption rather than in columns.

Only what a reader sees changes here; the CSV files keep full precision (``study.tables.write_table``).
:func:`format_table` gives the text cells and the caption (plain pandas, for printing or markdown),
:func:`present` the same as a pandas ``Styler`` (HTML: caption above, long text wrapped).
"""

from __future__ import annotations

import html
import math
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: COCO's keypoint metrics, stored as fractions (0..1); MPII's PCKh is stored in percent already.
FRACTION_METRICS = ("AP", "AP50", "AP75", "APM", "APL", "AR", "AR50", "AR75", "ARM", "ARL")
#: Columns that say where a row's numbers come from: shown in the caption, not as columns.
PROVENANCE = ("paper status", "paper source", "ours data", "ours profile", "ours origin", "ours checkpoint",
              "status", "source", "data", "profile", "origin", "checkpoint", "found by")  # fmt: skip
MAX_PLACES = 6  # a column of tiny numbers (learning rates, LayerScale gammas) still shows a digit


@dataclass(frozen=True)
class Presented:
    frame: pd.DataFrame  # every cell as text; empty cells are ""
    caption: str
    numeric: tuple[str, ...]  # the columns that hold numbers (aligned right)


def format_table(frame: pd.DataFrame, *, caption: str | None = None, percent: Sequence[str] = (),
                 decimals: int = 1, digits: Mapping[str, int] | None = None, key_columns: Sequence[str] = (),
                 scientific: Sequence[str] = (), provenance: Sequence[str] = PROVENANCE, wrap: int = 40) -> Presented:  # fmt: skip
    """``frame`` as text a reader takes in at a glance.

    * the columns named in ``percent`` that are present hold fractions and are shown x100 (a
      negative value, COCO's "not computed", shows empty);
    * numbers get ``decimals`` places (``digits``: per-column exceptions), integer columns none, and
      a column of small numbers as many as its smallest needs to show a digit; the columns named in
      ``scientific`` (values spanning orders of magnitude) show two significant digits, e.g. 2.6e-07;
    * ``key_columns`` come first; columns with no value in any row are left out;
    * ``provenance`` columns go to the caption: one line for a value every row shares, else a
      numbered note per distinct combination, marked ``[n]`` after the row's first cell;
    * text longer than ``wrap`` characters is broken into lines."""
    frame = _key_columns_first(frame, key_columns)
    frame = frame.loc[:, [c in key_columns or not _is_empty(frame[c]).all() for c in frame.columns]]
    moved = [c for c in provenance if c in frame.columns and c not in key_columns]
    if len(moved) == len(frame.columns):
        moved = []  # nothing else to show: keep them as columns
    shared, per_row = _provenance(frame[moved])
    body = frame.drop(columns=moved)
    digits = dict(digits or {})
    cells = {c: _scientific_text(body[c]) if c in scientific else _column_text(body[c], c in percent, digits.get(c),
                                                                                 decimals, wrap) for c in body.columns}
    text = pd.DataFrame(cells, index=body.index, columns=body.columns)
    notes = _number_notes(per_row)
    if notes:
        first = text.columns[0]
        text[first] = [f"{v} [{notes[k]}]" if k else v for v, k in zip(text[first], per_row, strict=True)]
    lines = ([caption] if caption else []) + shared + [f"[{n}] {_joined(k)}" for k, n in notes.items()]
    numeric = tuple(c for c in body.columns if _is_number_column(body[c]))
    return Presented(text, "\n".join(lines), numeric)


def present(frame: pd.DataFrame, **kwargs):
    """:func:`format_table` as a pandas ``Styler``: the caption above the table, long text wrapped,
    text left and numbers right, the index hidden when it is only row numbers."""
    shown = format_table(frame, **kwargs)
    styler = shown.frame.style.format(escape="html")
    # a zero-width space after each underscore: snake_case headers wrap between their words
    styler = styler.relabel_index([str(c).replace("_", "_\u200b") for c in shown.frame.columns], axis="columns")
    index = shown.frame.index
    if index.name is None and not isinstance(index, pd.MultiIndex) and pd.api.types.is_integer_dtype(index):
        styler = styler.hide(axis="index")
    text_columns = [c for c in shown.frame.columns if c not in shown.numeric]
    for columns, align in ((text_columns, "left"), (list(shown.numeric), "right")):
        if columns:
            styler = styler.set_properties(subset=columns, **{"text-align": align})
    styler = styler.set_table_styles([
        {"selector": "caption", "props": "caption-side: top; text-align: left; max-width: 60em; padding-bottom: 4px"},
        # the lines format_table broke, and no others: a column is as wide as its longest line
        {"selector": "td", "props": "white-space: pre; vertical-align: top"},
        # snake_case names have no space to break at: a word longer than the column may break, others stay whole
        {"selector": "th.col_heading",
         "props": "white-space: normal; overflow-wrap: break-word; max-width: 9em; vertical-align: bottom"},
    ])  # fmt: skip
    return styler.set_caption(html.escape(shown.caption).replace("\n", "<br>"))


def _is_empty(values: pd.Series) -> pd.Series:
    return values.isna() | values.map(lambda v: isinstance(v, str) and not v.strip())


def _key_columns_first(frame: pd.DataFrame, key_columns: Sequence[str]) -> pd.DataFrame:
    missing = [c for c in key_columns if c not in frame.columns]
    if missing:
        raise KeyError(
            f"key columns {missing} are not in the table (columns: {', '.join(map(str, frame.columns))})"
        )
    return frame[list(key_columns) + [c for c in frame.columns if c not in key_columns]]


def _provenance(frame: pd.DataFrame) -> tuple[list[str], list[tuple]]:
    """Lines for the columns whose value every row shares; per row, ``(column, value)`` pairs of
    the other columns' non-empty cells."""
    shared, varying = [], []
    for column in frame.columns:
        values = frame[column]
        if not _is_empty(values).any() and values.astype(str).nunique() == 1:
            shared.append(f"{column}: {values.iloc[0]}")
        else:
            varying.append(column)
    rows = frame[varying].to_dict("records")  # positional: the index may repeat
    per_row = [tuple((c, str(row[c])) for c in varying if not _is_missing(row[c]) and str(row[c]).strip())
               for row in rows]  # fmt: skip
    return shared, per_row


def _number_notes(per_row: list[tuple]) -> dict[tuple, int]:
    notes: dict[tuple, int] = {}
    for key in per_row:
        if key and key not in notes:
            notes[key] = len(notes) + 1
    return notes


def _joined(pairs: tuple) -> str:
    return "; ".join(f"{column}: {value}" for column, value in pairs)


def _is_number_column(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def _column_text(values: pd.Series, percent: bool, places: int | None, decimals: int, wrap: int) -> pd.Series:
    if percent and not _is_number_column(values):
        values = _as_numbers(values)
    if not _is_number_column(values):
        return values.map(lambda v: "" if _is_missing(v) else _wrapped(_text(v), wrap))
    numbers = values.astype(float)
    if percent:
        if (numbers > 1).any():
            raise ValueError(f"column {values.name!r} is to be shown in percent but holds values above 1 "
                             f"(max {numbers.max():g}): already in percent?")  # fmt: skip
        numbers = numbers.where(numbers >= 0) * 100  # COCO's -1: not computed
        places = decimals if places is None else places
    elif places is None:
        places = 0 if pd.api.types.is_integer_dtype(values) else _places(numbers, decimals)
    return numbers.map(lambda v: "" if pd.isna(v) else f"{v:.{places}f}")


def _scientific_text(values: pd.Series) -> pd.Series:
    return values.astype(float).map(lambda v: "" if pd.isna(v) else f"{v:.1e}")


def _as_numbers(values: pd.Series) -> pd.Series:
    try:
        return pd.to_numeric(values.where(~_is_empty(values)))
    except (TypeError, ValueError) as err:
        raise ValueError(f"column {values.name!r} is to be shown in percent but holds text ({err})") from None


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _text(value) -> str:
    """A mixed (object) column's cell: 2.0 among strings and counts reads 2."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _wrapped(text: str, width: int) -> str:
    return textwrap.fill(text, width) if len(text) > width else text


def _places(numbers: pd.Series, decimals: int) -> int:
    """``decimals``, or more where the column's smallest value needs them to show its first digit
    (a learning rate of 0.001 is not 0.0)."""
    nonzero = numbers[np.isfinite(numbers) & (numbers != 0)].abs()
    if nonzero.empty:
        return decimals
    return min(max(decimals, -math.floor(math.log10(nonzero.min()))), MAX_PLACES)
