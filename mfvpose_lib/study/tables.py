"""The paper's Tables 1-3 with our columns beside the published ones.

Every published row of ``reference_data`` is kept with its ``status`` and ``source``; the
published numbers sit in ``paper …`` columns and ours in ``ours …`` columns, never mixed. Our
complexity (params, GFLOPs in the papers' convention, true GMACs) is computed live for the
registered model that rebuilds a row. Our accuracy comes from two places, each cell labelled with
its data, profile and checkpoint:

* released checkpoints (``study.released``) land in the row they reproduce;
* the study's own trained models (notebooks 06/07) land in the row of their registered name, or,
  for models no paper lists (the CPU-sized members), in an extra row marked ``this study``.

A number measured on the built-in synthetic data never sits in a published row: it gets a row of
its own (``… (ours, synthetic data)``), and its ``ours data`` cell says where it came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mfvpose_lib.data.source_label import is_synthetic_label
from mfvpose_lib.data.spec import get_dataset_spec
from mfvpose_lib.io_utils import atomic_write_text, read_json
from mfvpose_lib.viz.present import PROVENANCE

# Published accuracy columns per table and the keys of our metrics that fill them.
COCO_COLUMNS = {"AP": "AP", "AP50": "AP50", "AP75": "AP75", "APM": "APM", "APL": "APL", "AR": "AR"}
MPII_COLUMNS = {"head": "Head", "shoulder": "Shoulder", "elbow": "Elbow", "wrist": "Wrist", "hip": "Hip",
                "knee": "Knee", "ankle": "Ankle", "mean": "Mean", "mean_at_0_1": "Mean@0.1"}  # fmt: skip
TABLES = {
    "table1_coco_val": ("coco", "val", "AP"),
    "table2_coco_test_dev": ("coco", "test-dev", "AP"),
    "table3_mpii_val": ("mpii", None, "mean"),
}


@dataclass
class OurAccuracy:
    """One of our accuracy measurements, with everything that says what it is."""

    model: str
    dataset: str  # "coco" or "mpii"
    values: dict[str, float]  # published column name -> value, in the paper's units (percent)
    data: str  # e.g. "built-in synthetic (2000 train / 1000 val images, seed 0)" or "user data at …"
    profile: str
    checkpoint: str
    origin: str  # "trained in this study" or "released checkpoint"
    settings: dict = field(default_factory=dict)


def _percent_coco(metrics: dict) -> dict[str, float]:
    return {col: 100.0 * float(metrics[key]) for col, key in COCO_COLUMNS.items()
            if isinstance(metrics.get(key), int | float) and metrics[key] >= 0}  # fmt: skip


def _mpii_values(metrics: dict) -> dict[str, float]:
    half = metrics.get("PCKh@0.5", {})
    out = {col: float(half[key]) for col, key in MPII_COLUMNS.items() if key in half}
    if "PCKh@0.1" in metrics:
        out["mean_at_0_1"] = float(metrics["PCKh@0.1"]["Mean"])
    return out


# How each paper table shows a data set's numbers: our metrics.json, and a released checkpoint's row.
TABLE_COLUMNS = {"coco": COCO_COLUMNS, "mpii": MPII_COLUMNS}
TABLE_VALUES = {"coco": _percent_coco, "mpii": _mpii_values}
RELEASED_VALUES = {
    "coco": lambda rec: {col: 100.0 * rec[col] for col in COCO_COLUMNS if rec.get(col) is not None and rec[col] >= 0},
    "mpii": lambda rec: {"mean": rec["PCKh@0.5"], "mean_at_0_1": rec["PCKh@0.1"]},
}


def shown_path(path: str | Path, base: str | Path) -> str:
    """``path`` relative to ``base`` when inside it, else its file name: no machine paths in tables."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path(base).resolve()))
    except ValueError:
        return path.name


def study_accuracy(run_dir: str | Path, data: str, profile: str) -> list[OurAccuracy]:
    """What notebook 07 measured for the study's trained models (``run_dir/eval_*/metrics.json``)."""
    found = []
    for dataset in ("coco", "mpii"):
        path = Path(run_dir) / f"eval_{dataset}" / "metrics.json"
        if not path.is_file():
            continue
        doc = read_json(path)
        metrics, settings = doc.get("metrics", {}), doc.get("settings", {})
        if not metrics or metrics.get("scored") is False:
            continue
        values = TABLE_VALUES[dataset](metrics)
        found.append(OurAccuracy(settings.get("model", "?"), dataset, values, data, profile,
                                 shown_path(doc.get("checkpoint", ""), Path(run_dir).parent),
                                 "trained in this study", settings))  # fmt: skip
    return found


def released_accuracy(evaluated: pd.DataFrame, profile: str) -> list[OurAccuracy]:
    """The rows of :func:`study.released.evaluate_released` that were scored."""
    found = []
    for rec in evaluated.to_dict("records"):
        if rec.get("note"):
            continue
        values = RELEASED_VALUES[rec["dataset"]](rec)
        settings = {k: rec[k] for k in ("geometry", "decoder", "flip", "flip alignment")}
        found.append(OurAccuracy(rec["model"], rec["dataset"], values, rec["data"], profile, Path(rec["checkpoint"]).name,
                                 "released checkpoint", settings))  # fmt: skip
    return found


def _complexity_columns(model: str, input_size=None) -> dict[str, float]:
    from mfvpose_lib.analysis.complexity import complexity_of

    if not model:
        return {"ours params (M)": np.nan, "ours GFLOPs (paper convention)": np.nan, "ours GMACs": np.nan}
    c = complexity_of(model, tuple(input_size) if input_size else None)
    return {"ours params (M)": round(c.params / 1e6, 2), "ours GFLOPs (paper convention)": round(c.gflops_paper, 3),
            "ours GMACs": round(c.gmacs, 3)}  # fmt: skip


def _accuracy_columns(acc: OurAccuracy | None, columns: dict[str, str]) -> dict[str, object]:
    out: dict[str, object] = {f"ours {col}": (acc.values.get(col, np.nan) if acc else np.nan) for col in columns}
    out.update({
        "ours data": acc.data if acc else "", "ours profile": acc.profile if acc else "",
        "ours origin": acc.origin if acc else "", "ours checkpoint": acc.checkpoint if acc else "",
    })  # fmt: skip
    return out


def _reference_rows(dataset: str, split: str | None) -> pd.DataFrame:
    from mfvpose_lib.reference import load_reference

    table = load_reference(dataset)
    if split is not None:
        table = table[table["split"] == split]
    return table.reset_index(drop=True)


def build_table(name: str, ours: list[OurAccuracy], *, submissions: list | None = None,
                base: str | Path | None = None) -> pd.DataFrame:  # fmt: skip
    """One of ``TABLES``: every published row (``paper …`` columns, status, source) with our
    complexity and accuracy beside it, then a row per measured model that no paper lists.

    ``submissions`` (test-dev: :class:`study.submission.Submission` s, paths shown relative to
    ``base``) fill ``ours submission``; test-dev has no public annotations, so our accuracy there
    stays empty."""
    from mfvpose_lib.reference import registered_name_for

    dataset, split, _ = TABLES[name]
    columns = TABLE_COLUMNS[dataset]
    test_dev = split == "test-dev"
    mine = [a for a in ours if a.dataset == dataset and not test_dev]
    by_model = {a.model: a for a in mine if not is_synthetic_label(a.data)}  # these may join published rows
    synthetic = [a for a in mine if is_synthetic_label(a.data)]
    submitted = {s.model: s for s in submissions or []}
    rows, placed = [], set()
    for rec in _reference_rows(dataset, split).to_dict("records"):
        model = registered_name_for(dataset, rec["method"], rec["input"]) or ""
        acc = by_model.get(model)
        placed.add(model)
        row = {"method": rec["method"], "input": rec["input"], "pretrain": _pretrain(rec.get("pretrain")),
               "model": model, "paper params (M)": rec["params_M"], "paper GFLOPs": rec["gflops"],
               **{f"paper {col}": rec.get(col, np.nan) for col in columns},
               "paper status": rec["status"], "paper source": rec["source"],
               **_complexity_columns(model), **_accuracy_columns(acc, columns)}  # fmt: skip
        rows.append(row)
    extra = [(a.model, a) for a in by_model.values() if a.model not in placed] + [(a.model, a) for a in synthetic]
    extra += [(m, None) for m in submitted if m not in placed and m not in {e[0] for e in extra}]
    for model, acc in extra:
        size = acc.settings.get("input_size") if acc else submitted[model].input_size
        size = size or _default_input_size(model)
        where = "synthetic data" if acc is not None and is_synthetic_label(acc.data) else "this study"
        origin = f"{acc.origin}, {where}" if acc is not None and acc.origin != "trained in this study" else where
        rows.append({"method": f"{model} (ours, {origin})", "input": "x".join(str(v) for v in size), "model": model,
                     "paper status": "not in the paper" if model not in placed else "see the published row",
                     "paper source": "", **_complexity_columns(model, size), **_accuracy_columns(acc, columns)})  # fmt: skip
    table = pd.DataFrame(rows)
    if test_dev:
        table["ours submission"] = [shown_path(submitted[m].path, base or ".") if m in submitted else ""
                                    for m in table["model"]]  # fmt: skip
    return table


#: How the MPII columns are headed where people read them (the CSV keeps the reference file's keys).
MPII_SHOWN_NAMES = {"mean": "PCKh@0.5", "mean_at_0_1": "PCKh@0.1"}
#: Besides the headline metric, the accuracy columns a notebook shows; the rest stay in the CSV.
HEADLINE_EXTRA = {"coco": ("AR",), "mpii": ("mean_at_0_1",)}


def headline_view(table: pd.DataFrame, name: str) -> pd.DataFrame:
    """``table`` with the columns a reader compares first: method, input, pretraining, model, the
    counts, the table's headline metric (and AR / PCKh@0.1) published and ours, and what says where
    each number comes from. The per-keypoint and per-threshold columns stay in the written CSV."""
    dataset, _, main = TABLES[name]
    metrics = [main, *HEADLINE_EXTRA[dataset]]
    wanted = ["method", "input", "pretrain", "model", "paper params (M)", "paper GFLOPs",
              *[f"paper {m}" for m in metrics], "ours params (M)", "ours GFLOPs (paper convention)",
              *[f"ours {m}" for m in metrics], "ours submission"]  # fmt: skip
    shown = table[[c for c in wanted + list(PROVENANCE) if c in table.columns]]
    return shown.rename(columns={f"{side} {key}": f"{side} {name}" for side in ("paper", "ours")
                                 for key, name in MPII_SHOWN_NAMES.items()})  # fmt: skip


def _pretrain(flag) -> str:
    """The reference files' Y/N pretraining flag in words; empty where the file has none."""
    return {"Y": "ImageNet", "N": "none"}.get(str(flag).strip().upper(), "")


def _default_input_size(model: str) -> tuple[int, int]:
    from mfvpose_lib.analysis.complexity import build_on_meta

    return tuple(build_on_meta(model).cfg.input_size)


def to_markdown(table: pd.DataFrame, *, digits: int = 2) -> str:
    """The table as GitHub markdown; empty cells stay empty rather than reading ``nan``."""
    shown = table.copy()
    for col in shown.columns:
        if pd.api.types.is_float_dtype(shown[col]):
            shown[col] = shown[col].map(lambda v: "" if pd.isna(v) else f"{v:.{digits}f}")
    return shown.fillna("").to_markdown(index=False)


def write_table(table: pd.DataFrame, figures: str | Path, stem: str, *, note: str = "") -> tuple[Path, Path]:
    """``stem.csv`` and ``stem.md`` (with ``note`` above the table) in ``figures``, atomically."""
    figures = Path(figures)
    csv = atomic_write_text(table.to_csv(index=False), figures / f"{stem}.csv")
    text = (note.strip() + "\n\n" if note else "") + to_markdown(table) + "\n"
    md = atomic_write_text(text, figures / f"{stem}.md")
    return csv, md


def provenance_note(name: str, ours: list[OurAccuracy]) -> str:
    """A sentence per source of our numbers, for the top of the markdown table."""
    dataset, split, _ = TABLES[name]
    lines = [f"{name}: published columns (`paper …`) from `mfvpose_lib/reference_data/{dataset}.csv`"
             + (f", split {split}" if split else "") + "; `ours …` columns from this run."]  # fmt: skip
    for acc in ours:
        if acc.dataset == dataset:
            lines.append(f"- ours, {acc.model}: {acc.origin}, profile {acc.profile}, data: {acc.data}, "
                         f"checkpoint {acc.checkpoint or '?'}")  # fmt: skip
    return "\n".join(lines)


def evaluate_study_model(profile, dataset: str, data_root: str | Path, run_dir: str | Path, *,
                         device: str = "auto") -> Path:  # fmt: skip
    """``run_dir/eval_<dataset>/metrics.json`` of the study's trained model, as notebook 07 writes
    it (COCO: detection boxes; both: flip test, the checkpoint's codec). Reused when it was written
    from the current checkpoint; the model is trained first only when no run exists."""
    from mfvpose_lib.engine.evaluate import EvalSettings, evaluate_checkpoint, write_eval_outputs
    from mfvpose_lib.study.runs import ensure_trained

    checkpoint = ensure_trained(profile, dataset, data_root, run_dir, device=device)
    metrics = Path(run_dir) / f"eval_{dataset}" / "metrics.json"
    if metrics.is_file() and metrics.stat().st_mtime >= checkpoint.stat().st_mtime:
        if Path(read_json(metrics).get("checkpoint", "")).resolve() == checkpoint.resolve():
            return metrics
    settings = EvalSettings(dataset=dataset, boxes=get_dataset_spec(dataset).boxes_for("det"), flip=True)
    result = evaluate_checkpoint(checkpoint, data_root, settings, device=device, progress=False)
    write_eval_outputs(result, metrics.parent, extra={"checkpoint": str(checkpoint)})  # as notebook 07 writes it
    return metrics


def collect_accuracy(profile, dataset: str, data_root: str | Path, run_dir: str | Path, data: str, *,
                     device: str = "auto") -> tuple[list[OurAccuracy], pd.DataFrame]:  # fmt: skip
    """Our accuracy for one table's data set: the study's model (trained once, scored as in 07)
    and every released checkpoint of that layout (``study.released``). Returns the measurements
    and the released-checkpoint evaluations (empty when no folder is given)."""
    from mfvpose_lib.study import released

    evaluate_study_model(profile, dataset, data_root, run_dir, device=device)
    ours = [a for a in study_accuracy(run_dir, data, profile.name) if a.dataset == dataset]
    folder = released.released_dir(run_dir, data_root)
    found = released.find_released(folder) if folder else []
    wanted = [c for c in found if c.model.endswith("_mpii") == (dataset == "mpii")]  # the registry's naming rule
    scored = released.evaluate_released(wanted, data_root, data, device=device) if wanted else pd.DataFrame()
    return ours + (released_accuracy(scored, profile.name) if len(scored) else []), scored
