"""Published numbers and public state-dict layouts, shipped with the package.

``reference_data/`` holds ``coco.csv``, ``mpii.csv`` and ``ablation_mpii.csv`` (every published
number we could verify for the rows of the paper's Tables 1-4, each with a ``status`` and a
``source`` column) and ``state_dicts/*.tsv`` (key, shape, dtype of public checkpoints). This
module reads them, maps each published row to the registered model that rebuilds it, and puts
our measured complexity beside the published one.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

REFERENCE_DIR = Path(__file__).resolve().parent / "reference_data"
TABLES = ("coco", "mpii", "ablation_mpii")

# (dataset, method, input) of a published row -> registered names that build it, first one found
# wins (a family not built yet simply has no match). TransPose is not part of this study.
REFERENCE_MODELS: dict[tuple[str, str, str], tuple[str, ...]] = {
    ("coco", "SimpleBaseline-R50", "256x192"): ("simplebaseline_r50",),
    ("coco", "SimpleBaseline-R101", "256x192"): ("simplebaseline_r101",),
    ("coco", "SimpleBaseline-R152", "256x192"): ("simplebaseline_r152",),
    ("coco", "SimpleBaseline-R152", "384x288"): ("simplebaseline_r152_384",),
    ("coco", "HRNet-W32", "256x192"): ("hrnet_w32",),
    ("coco", "HRNet-W48", "256x192"): ("hrnet_w48",),
    ("coco", "HRNet-W32", "384x288"): ("hrnet_w32_384",),
    ("coco", "HRNet-W48", "384x288"): ("hrnet_w48_384",),
    ("coco", "TokenPose-B", "256x192"): ("tokenpose_b",),
    ("coco", "TokenPose-L/D6", "256x192"): ("tokenpose_l_d6",),
    ("coco", "TokenPose-L/D24", "256x192"): ("tokenpose_l_d24",),
    ("coco", "TokenPose-L/D24", "384x288"): ("tokenpose_l_d24_384",),
    ("coco", "MfvPose", "256x192"): ("mfvpose_d8", "mfvpose_l_d8", "mfvpose"),
    ("coco", "MfvPose (TokenPose-B depth)", "256x192"): ("mfvpose_b",),
    ("coco", "MfvPose-D24", "256x192"): ("mfvpose_l_d24", "mfvpose_d24"),
    ("mpii", "SimpleBaseline-R50", "256x256"): ("simplebaseline_r50_mpii",),
    ("mpii", "SimpleBaseline-R101", "256x256"): ("simplebaseline_r101_mpii",),
    ("mpii", "SimpleBaseline-R152", "256x256"): ("simplebaseline_r152_mpii",),
    ("mpii", "HRNet-W32", "256x256"): ("hrnet_w32_mpii",),
    ("mpii", "TokenPose-L/D24", "256x256"): ("tokenpose_l_d24_mpii",),
    ("mpii", "MfvPose", "256x256"): ("mfvpose_l_d24_mpii", "mfvpose_d8_mpii", "mfvpose_mpii"),
}


def reference_dir() -> Path:
    """The folder of the shipped reference tables."""
    return REFERENCE_DIR


def load_reference(table: str) -> pd.DataFrame:
    """One of the published-number tables: ``"coco"``, ``"mpii"`` or ``"ablation_mpii"``."""
    if table not in TABLES:
        raise KeyError(f"unknown reference table {table!r}; choose one of {', '.join(TABLES)}")
    path = REFERENCE_DIR / f"{table}.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: reference table missing from the package")
    return pd.read_csv(path)


def state_dict_layouts() -> list[str]:
    """Names of the shipped public state-dict layouts (e.g. ``pose_hrnet_w32_coco_256x192``)."""
    return sorted(p.stem for p in (REFERENCE_DIR / "state_dicts").glob("*.tsv"))


def load_state_dict_layout(name: str) -> pd.DataFrame:
    """A public checkpoint's layout: columns ``key``, ``shape`` (tuple; ``()`` for scalars), ``dtype``."""
    path = REFERENCE_DIR / "state_dicts" / f"{name}.tsv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such layout; available: {', '.join(state_dict_layouts())}")
    table = pd.read_csv(path, sep="\t", dtype=str)
    if list(table.columns) != ["key", "shape", "dtype"]:
        raise ValueError(f"{path}: expected columns key, shape, dtype; found {list(table.columns)}")
    table["shape"] = [() if s == "scalar" else tuple(int(v) for v in s.split("x")) for s in table["shape"]]
    return table


def layout_state_dict(name: str, *, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors with the keys, shapes and dtypes of a public checkpoint.

    Stands in for the real file wherever the weights themselves do not matter (loader tests,
    demonstrations): it has exactly the layout that users' downloaded checkpoints have.
    """
    generator = torch.Generator().manual_seed(seed)
    out = {}
    for key, shape, dtype in load_state_dict_layout(name).itertuples(index=False):
        torch_dtype = getattr(torch, dtype)
        if torch_dtype.is_floating_point:
            value = torch.randn(shape, generator=generator, dtype=torch_dtype)
            if key.endswith("running_var"):
                value = value.abs() + 0.5  # a variance must be positive
        else:
            value = torch.randint(0, 1000, shape, generator=generator, dtype=torch_dtype)
        out[key] = value
    return out


def registered_name_for(dataset: str, method: str, input_size: str) -> str | None:
    """The registered model that rebuilds a published row, or None when the study has none."""
    from mfvpose_lib.models import is_model

    for name in REFERENCE_MODELS.get((dataset, method, input_size), ()):
        if is_model(name):
            return name
    return None


def reference_row_for(model: str) -> tuple[str, str, str] | None:
    """(dataset, method, input) of the published row a registered model rebuilds, or None."""
    for key, names in REFERENCE_MODELS.items():
        if model in names:
            return key
    return None


def complexity_comparison(dataset: str) -> pd.DataFrame:
    """Published params / GFLOPs beside ours, one row per (method, input) of ``dataset``.

    Columns: ``method, input, model`` (registered name, empty when not rebuilt),
    ``params_M_published, params_M_ours, gflops_published, gflops_paper_ours`` (both in the HRNet
    summary-tool convention), ``gmacs_ours`` (true cost), ``status, source`` of the published
    numbers. COCO rows come from the validation table, test-dev rows only for settings that
    the validation table lacks; where a setting has several rows, a ``published`` one is shown.
    """
    from mfvpose_lib.analysis.complexity import complexity_of

    table = load_reference(dataset)
    # One row per setting: validation before test-dev, published before quoted or recalled.
    order = ~table["status"].str.startswith("published")
    if "split" in table.columns:
        order = order + 2 * (table["split"] != "val")
    table = table.assign(_order=order.astype(int)).sort_values("_order", kind="stable")
    table = table.drop_duplicates(subset=["method", "input"], keep="first").sort_index()
    rows = []
    for rec in table.to_dict("records"):
        name = registered_name_for(dataset, rec["method"], rec["input"])
        ours = complexity_of(name) if name else None
        rows.append(
            {
                "method": rec["method"],
                "input": rec["input"],
                "model": name or "",
                "params_M_published": rec["params_M"],
                "params_M_ours": round(ours.params / 1e6, 2) if ours else float("nan"),
                "gflops_published": rec["gflops"],
                "gflops_paper_ours": round(ours.gflops_paper, 3) if ours else float("nan"),
                "gmacs_ours": round(ours.gmacs, 3) if ours else float("nan"),
                "status": rec["status"],
                "source": rec["source"],
            }
        )
    return pd.DataFrame(rows)
