"""Which parts of the study a data root can run.

A user's data folder may hold only COCO or only MPII. A notebook says what it needs in two ways:

* the notebook as a whole, in its metadata: ``{"mfvpose": {"needs": ["coco"]}}`` (the Table 1
  notebook is all COCO);
* single code cells, with the tags ``needs-coco`` / ``needs-mpii`` (notebook 06 trains on both;
  its MPII cells run only where MPII is present).

:func:`fit_to_data` gives the notebook to execute for the data sets present: ``None`` when the
notebook as a whole cannot run, otherwise a copy whose unmet cells are replaced by a Markdown note
saying what was skipped and why. The batch runner and ``mfvpose lab`` both use it, so a partial
data root runs the same parts in both.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

STUDY_DATASETS = ("coco", "mpii")
CELL_TAG_PREFIX = "needs-"


def datasets_present(data_root: str | Path) -> list[str]:
    """The study's data sets whose folder (``coco/``, ``mpii/``) is under ``data_root``."""
    from mfvpose_lib.data.spec import available_datasets

    return [name for name in available_datasets(data_root) if name in STUDY_DATASETS]


def datasets_available(data_root: str | Path) -> list[str]:
    """The data sets a run on ``data_root`` has: those of a user's folder, or all of them for the
    built-in synthetic set (rendered on first use with both layouts)."""
    from mfvpose_lib.study.setup import has_user_data

    return datasets_present(data_root) if has_user_data(Path(data_root)) else list(STUDY_DATASETS)


def notebook_needs(nb) -> list[str]:
    return list(nb.metadata.get("mfvpose", {}).get("needs", []))


def cell_needs(cell) -> list[str]:
    tags = cell.get("metadata", {}).get("tags", [])
    return [t.removeprefix(CELL_TAG_PREFIX) for t in tags if t.startswith(CELL_TAG_PREFIX)]


@dataclass
class FittedNotebook:
    """``notebook`` is None when the whole notebook needs a data set that is missing."""

    notebook: object | None
    skipped_cells: int = 0
    missing: list[str] = field(default_factory=list)

    def describe(self, data_root: str | Path) -> str:
        where = " and ".join(f"{name}/" for name in self.missing)
        if self.notebook is None:
            return f"skipped: needs {where} under {data_root}"
        if self.skipped_cells:
            return f"{self.skipped_cells} cell(s) skipped: they need {where} under {data_root}"
        return ""


def fit_to_data(nb, present: list[str], data_root: str | Path = "the data root") -> FittedNotebook:
    """The notebook to run when only the data sets in ``present`` exist (``nb`` is not changed)."""
    missing_whole = [d for d in notebook_needs(nb) if d not in present]
    if missing_whole:
        return FittedNotebook(None, missing=missing_whole)
    fitted = copy.deepcopy(nb)
    skipped, missing = 0, []
    for i, cell in enumerate(fitted.cells):
        unmet = [d for d in cell_needs(cell) if d not in present]
        if cell.cell_type != "code" or not unmet:
            continue
        skipped += 1
        missing += [d for d in unmet if d not in missing]
        names = " and ".join(f"`{d}/`" for d in unmet)
        note = nbformat.v4.new_markdown_cell(f"*Skipped here: this cell needs {names} under `{data_root}`.*")
        note.id = cell.get("id", note.id)
        fitted.cells[i] = note
    return FittedNotebook(fitted, skipped, missing)
