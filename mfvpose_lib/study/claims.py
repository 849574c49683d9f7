"""The paper's claims, one by one: what it says, what this study measured, and a verdict.

Each claim of the MfvPose paper becomes a :class:`Claim`: the statement (paraphrased, with the
published numbers read from ``reference_data`` and their status), the evidence this run computed
and where it came from, a verdict from the fixed set :data:`VERDICTS`, and the command that would
settle it on real data. The evidence a run measured is gathered once into :class:`ClaimInputs`
(the tables the table notebooks wrote, the ablation's training histories, receptive-field
measurements) and handed to the functions that judge, so the verdict rules are tested on
constructed inputs; the complexity claims count the registered models themselves.

Rules, fixed before any run (the numbers are module constants):

* **accuracy** (COCO AP, MPII PCKh): only numbers measured on real data in a published row count.
  A measured gain at least the published one less :data:`ACCURACY_TOLERANCE` confirms, a smaller
  positive gain is "smaller than published", none at all contradicts;
* **complexity**: "a considerable reduction" means at most :data:`CONSIDERABLE_RATIO` of the
  baseline's parameters *and* paper-convention GFLOPs; "insignificant growth" means at most
  :data:`INSIGNIFICANT_GROWTH` more of each; "fewer" means strictly fewer;
* **receptive field**: the radius holding half of the effective receptive field's gradient mass
  must be larger after HRFOV than after the backbone, on the untrained model;
* **seeded comparisons** (Table 4, training dynamics): the paired 95% interval over seeds decides;
  on the built-in synthetic data they speak only for the synthetic proxy;
* evidence that is missing gives :data:`UNCHECKABLE`, never an error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mfvpose_lib.data.source_label import is_synthetic_label

CONFIRMED_BY_COUNTS = "confirmed by the architecture's own counts"
CONTRADICTED_BY_COUNTS = "contradicted by the architecture's own counts"
CONFIRMED_ON_DATA = "confirmed on real data"
SMALLER_ON_DATA = "smaller than published on real data"
UNRESOLVED_ON_DATA = "not resolved on real data"
CONTRADICTED_ON_DATA = "contradicted on real data"
SUPPORTED_ON_PROXY = "supported on the synthetic proxy"
UNRESOLVED_ON_PROXY = "not resolved on the synthetic proxy"
CONTRADICTED_ON_PROXY = "contradicted on the synthetic proxy"
UNCHECKABLE = "cannot be checked without COCO/MPII or a GPU"
VERDICTS = (
    CONFIRMED_BY_COUNTS, CONTRADICTED_BY_COUNTS, CONFIRMED_ON_DATA, SMALLER_ON_DATA, UNRESOLVED_ON_DATA,
    CONTRADICTED_ON_DATA, SUPPORTED_ON_PROXY, UNRESOLVED_ON_PROXY, CONTRADICTED_ON_PROXY, UNCHECKABLE,
)  # fmt: skip

ERF_MASS = "radius @ 50% (px)"  # the ERF radius a widening is judged on (see widening_verdict)
ACCURACY_TOLERANCE = 0.5  # AP or PCKh points a reproduction may fall short of a published number
CONSIDERABLE_RATIO = 0.9  # "a considerable reduction": at most 90% of the baseline's count
INSIGNIFICANT_GROWTH = 0.10  # "insignificant growth": at most 10% more than the baseline's count

COLUMNS = ["claim", "topic", "the paper says", "published numbers", "our evidence", "source", "verdict",
           "settle with"]  # fmt: skip
TABLE_STEM = "paper_claims"
TABLE_FILES = {"table1": "table1_coco_val.csv", "table2": "table2_coco_test_dev.csv", "table3": "table3_mpii_val.csv",
               "table4_seeds": "table4_seeds.csv"}  # fmt: skip


@dataclass(frozen=True)
class Claim:
    """One claim of the paper and what this run makes of it."""

    key: str
    topic: str
    statement: str  # the paper's claim, paraphrased
    published: str  # the published numbers it rests on, each with its status
    evidence: str  # what this run computed
    source: str  # where that came from
    verdict: str  # one of VERDICTS
    settle: str  # the command that would settle it on real data

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"{self.key}: verdict {self.verdict!r} is not one of {VERDICTS}")

    def row(self) -> dict[str, str]:
        values = asdict(self)
        return dict(zip(COLUMNS, [values[k] for k in ("key", "topic", "statement", "published", "evidence",
                                                      "source", "verdict", "settle")]))  # fmt: skip


@dataclass
class ClaimInputs:
    """Everything the claims are judged on; any of it may be missing (None)."""

    data: str  # the run's data label (``setup_study``'s ``data_source``)
    profile: str
    table1: pd.DataFrame | None = None  # figures/table1_coco_val.csv (notebook 13)
    table2: pd.DataFrame | None = None  # figures/table2_coco_test_dev.csv (notebook 14)
    table3: pd.DataFrame | None = None  # figures/table3_mpii_val.csv (notebook 15)
    table4_seeds: pd.DataFrame | None = None  # figures/table4_seeds.csv (notebook 16)
    histories: Mapping[tuple[str, int], pd.DataFrame] = field(default_factory=dict)  # ablation metrics.csv
    erf: pd.DataFrame | None = None  # analysis.receptive_field.erf_table of the study's models
    footprint: object | None = None  # models.dilation.DilationFootprint of the study's HRFOV
    erf_source: str = ""  # what the ERF was measured on

    @property
    def synthetic(self) -> bool:
        return is_synthetic_label(self.data)


# ----------------------------------------------------------------------------------------------
# Verdict rules (pure)
# ----------------------------------------------------------------------------------------------


def _finite(value) -> bool:
    try:
        return value is not None and bool(np.isfinite(float(value)))
    except (TypeError, ValueError):
        return False


def gain_verdict(measured: float | None, published: float | None, *, tolerance: float = ACCURACY_TOLERANCE) -> str:
    """A gain measured on real data against the paper's: no gain at all contradicts; a gain of at
    least ``published - tolerance`` confirms, a smaller one is smaller than published. Without a
    published size any gain confirms."""
    if not _finite(measured):
        return UNCHECKABLE
    if measured <= 0:
        return CONTRADICTED_ON_DATA
    if not _finite(published) or measured >= published - tolerance:
        return CONFIRMED_ON_DATA
    return SMALLER_ON_DATA


def level_verdict(measured: float | None, published: float | None, *, tolerance: float = ACCURACY_TOLERANCE) -> str:
    """An absolute number (75.7 AP) measured on real data: within ``tolerance`` or above confirms."""
    if not _finite(measured) or not _finite(published):
        return UNCHECKABLE
    return CONFIRMED_ON_DATA if measured >= published - tolerance else SMALLER_ON_DATA


def interval_verdict(low: float | None, high: float | None, *, synthetic: bool, lower_is_better: bool = False) -> str:
    """A seeded difference (claim direction: positive, or negative with ``lower_is_better``) judged by
    its 95% interval: excluding zero the claimed way supports, the other way contradicts."""
    if not (_finite(low) and _finite(high)):
        return UNCHECKABLE
    if lower_is_better:
        low, high = -high, -low
    if synthetic:
        return SUPPORTED_ON_PROXY if low > 0 else CONTRADICTED_ON_PROXY if high < 0 else UNRESOLVED_ON_PROXY
    return CONFIRMED_ON_DATA if low > 0 else CONTRADICTED_ON_DATA if high < 0 else UNRESOLVED_ON_DATA


def cost_verdict(ratios: Mapping[str, float], limit: float, *, strict: bool = False) -> str:
    """Every count's ratio (model / baseline) at most ``limit`` (below it with ``strict``) confirms."""
    if not ratios or not all(_finite(r) for r in ratios.values()):
        return UNCHECKABLE
    ok = all((r < limit) if strict else (r <= limit) for r in ratios.values())
    return CONFIRMED_BY_COUNTS if ok else CONTRADICTED_BY_COUNTS


def widening_verdict(erf: pd.DataFrame | None, *, model: str = "untrained", mass: str = ERF_MASS) -> str:
    """HRFOV widens the field when the backbone + HRFOV map's ERF radius exceeds the backbone's.

    The radius holding half of the gradient mass decides (the rule was fixed when fields were
    measured on the crop, whose border the 90% radius of HRNet's stage 3 reaches; on the context
    canvases it is reported beside it, unchanged as the rule)."""
    radii = _erf_radii(erf, model, mass)
    if radii is None:
        return UNCHECKABLE
    return CONFIRMED_BY_COUNTS if radii[1] > radii[0] else CONTRADICTED_BY_COUNTS


def _erf_radii(erf: pd.DataFrame | None, model: str, mass: str) -> tuple[float, float] | None:
    if erf is None or erf.empty or mass not in erf.columns:
        return None
    mine = erf[erf["model"] == model].set_index("map")[mass]
    if "backbone" not in mine.index or "backbone + HRFOV" not in mine.index:
        return None
    return float(mine["backbone"]), float(mine["backbone + HRFOV"])


# ----------------------------------------------------------------------------------------------
# Published numbers and the commands that settle a claim
# ----------------------------------------------------------------------------------------------

PLACEHOLDERS = "DATA: a folder with coco/ and mpii/; WEIGHTS: released checkpoints; IMAGENET_HRNET.pth: the backbone"
TABLE_NOTEBOOK = {"coco": "13", "mpii": "15"}


def published_row(dataset: str, method: str, input_size: str, split: str | None = "val") -> dict | None:
    """The reference row of ``method`` at ``input_size``: a ``published`` one when several exist."""
    from mfvpose_lib.reference import load_reference

    table = load_reference(dataset)
    rows = table[(table["method"] == method) & (table["input"] == input_size)]
    if split is not None and "split" in rows.columns:
        rows = rows[rows["split"] == split]
    if rows.empty:
        return None
    published = rows[rows["status"].str.startswith("published")]
    return (published if len(published) else rows).iloc[0].to_dict()


def cite(row: dict | None, column: str, unit: str = "") -> str:
    """``method value unit (status)``, or what is missing."""
    if row is None:
        return "no published row"
    value = row.get(column)
    shown = f"{float(value):g}{unit}" if _finite(value) else "not published"
    return f"{row['method']} {shown} ({row['status']})"


def _registered(dataset: str, method: str, input_size: str) -> str:
    from mfvpose_lib.reference import registered_name_for

    return registered_name_for(dataset, method, input_size) or ""


def settle_accuracy(dataset: str, model: str) -> str:
    """The commands that put real-data numbers into the published rows of Table 1 / 3: the
    baselines from released checkpoints (``RELEASED``), MfvPose from the paper profile's training,
    or, for a size that profile does not train, trained once and handed in beside them."""
    from mfvpose_lib.study.profiles import get_profile

    steps = []
    if model and model != get_profile("paper").for_dataset(dataset).model:
        steps.append(f"mfvpose train --profile paper --data DATA --dataset {dataset} --model {model} "
                     f"--pretrained IMAGENET_HRNET.pth --out runs/paper/{model} && "
                     f"cp runs/paper/{model}/best.pt WEIGHTS/{model}.pt")  # fmt: skip
    only = f"--only 06 07 {TABLE_NOTEBOOK[dataset]} 17"
    steps.append(f'make reproduce PROFILE=paper PRETRAINED=IMAGENET_HRNET.pth RELEASED=WEIGHTS '
                 f'REPRODUCE_ARGS="--data-root DATA {only}"')  # fmt: skip
    return " ; ".join(steps)


SETTLE_ABLATION = 'make reproduce PROFILE=paper PRETRAINED=IMAGENET_HRNET.pth REPRODUCE_ARGS="--data-root DATA --only 06 15 16 17"'
SETTLE_ABLATION_GPU = 'make reproduce PROFILE=gpu REPRODUCE_ARGS="--only 06 16 17"'


# ----------------------------------------------------------------------------------------------
# Accuracy claims (Tables 1 and 3)
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccuracySpec:
    """MfvPose's published row against a baseline's (``baseline`` None: the level itself)."""

    key: str
    dataset: str
    ours: str
    baseline: str | None
    input: str
    metric: str  # the table column: "AP" (Table 1) or "mean" (Table 3, PCKh@0.5)


ACCURACY_CLAIMS = (
    AccuracySpec("coco_ap", "coco", "MfvPose", None, "256x192", "AP"),
    AccuracySpec("ap_vs_hrnet_w32", "coco", "MfvPose", "HRNet-W32", "256x192", "AP"),
    AccuracySpec("ap_vs_hrnet_w48", "coco", "MfvPose", "HRNet-W48", "256x192", "AP"),
    AccuracySpec("ap_vs_simplebaseline_r50", "coco", "MfvPose", "SimpleBaseline-R50", "256x192", "AP"),
    AccuracySpec("ap_vs_simplebaseline_r101", "coco", "MfvPose", "SimpleBaseline-R101", "256x192", "AP"),
    AccuracySpec("ap_vs_simplebaseline_r152", "coco", "MfvPose", "SimpleBaseline-R152", "256x192", "AP"),
    AccuracySpec("ap_vs_tokenpose_b", "coco", "MfvPose (TokenPose-B depth)", "TokenPose-B", "256x192", "AP"),
    AccuracySpec("ap_vs_tokenpose_l_d24", "coco", "MfvPose-D24", "TokenPose-L/D24", "256x192", "AP"),
    AccuracySpec("pckh_vs_tokenpose", "mpii", "MfvPose", "TokenPose-L/D24", "256x256", "mean"),
)
UNITS = {"AP": "AP", "mean": "PCKh@0.5"}
TABLE_NAMES = {"coco": "Table 1 (COCO val)", "mpii": "Table 3 (MPII val)"}
DATA_NAMES = {"coco": "COCO val2017", "mpii": "MPII val"}


def measured_in_table(table: pd.DataFrame | None, method: str, input_size: str, metric: str) -> tuple[float, str]:
    """Our value in the published row ``method`` of a table notebook's CSV, and its data label
    (NaN and "" when the row holds no measurement)."""
    column = f"ours {metric}"
    if table is None or column not in table.columns:
        return float("nan"), ""
    rows = table[(table["method"] == method) & (table["input"] == input_size) & table[column].notna()]
    if rows.empty:
        return float("nan"), ""
    return float(rows[column].iloc[0]), str(rows.get("ours data", pd.Series([""])).iloc[0])


def proxy_rows_note(table: pd.DataFrame | None, metric: str, dataset: str) -> str:
    """What the run did measure instead: the rows of its own models on the synthetic data."""
    name = TABLE_NAMES[dataset]
    if table is None:
        return f"{name} was not written by this run (its notebook did not run, or its data set was missing)."
    column = f"ours {metric}"
    if column not in table.columns:
        return f"{name} holds no measured column `{column}`."
    proxy = table[table["method"].str.contains("synthetic data", regex=False) & table[column].notna()]
    if proxy.empty:
        return f"{name} holds no measurement for these rows."
    shown = ", ".join(f"{m} {v:.1f} {UNITS[metric]}" for m, v in zip(proxy["model"], proxy[column]))
    return (f"{name} holds only this study's CPU-sized models on the built-in synthetic data ({shown}); "
            "those are neither the paper's models nor its data, so they do not enter this claim.")  # fmt: skip


def unchecked_note(table: pd.DataFrame | None, spec: AccuracySpec, sides: list[tuple[str, float, str]]) -> str:
    """Why an accuracy claim stays unchecked: which of its rows has a real-data number and which
    has none, or, when the table has no real-data number at all, what the run measured instead."""
    real = [(m, v) for m, v, d in sides if d and not is_synthetic_label(d)]
    if not real:
        return proxy_rows_note(table, spec.metric, spec.dataset)
    lacking = [m for m, _, d in sides if not d or is_synthetic_label(d)]
    return ("measured on real data: " + ", ".join(f"{m} {v:.1f} {UNITS[spec.metric]}" for m, v in real)
            + f"; no real-data number for {', '.join(lacking)} in {TABLE_NAMES[spec.dataset]}.")  # fmt: skip


def accuracy_claim(spec: AccuracySpec, table: pd.DataFrame | None) -> Claim:
    """One accuracy claim judged on the real-data measurements of a table notebook's CSV."""
    unit = UNITS[spec.metric]
    split = "val" if spec.dataset == "coco" else None
    ours_row = published_row(spec.dataset, spec.ours, spec.input, split)
    base_row = published_row(spec.dataset, spec.baseline, spec.input, split) if spec.baseline else None
    ours_model = _registered(spec.dataset, spec.ours, spec.input)
    measured, data = measured_in_table(table, spec.ours, spec.input, spec.metric)
    pub = float(ours_row[spec.metric]) if ours_row and _finite(ours_row.get(spec.metric)) else float("nan")
    where = TABLE_NAMES[spec.dataset]
    if spec.baseline is None:
        statement = f"{spec.ours} reaches {pub:g} {unit} on {DATA_NAMES[spec.dataset]} at {spec.input}."
        published = cite(ours_row, spec.metric)
        verdict = level_verdict(measured, pub) if data and not is_synthetic_label(data) else UNCHECKABLE
        evidence = (f"{spec.ours} ({ours_model or 'not registered'}) measured {measured:.1f} {unit} on {data}."
                    if verdict != UNCHECKABLE else unchecked_note(table, spec, [(spec.ours, measured, data)]))  # fmt: skip
    else:
        base_model = _registered(spec.dataset, spec.baseline, spec.input)
        base_pub = float(base_row[spec.metric]) if base_row and _finite(base_row.get(spec.metric)) else float("nan")
        gain = pub - base_pub
        said = f"{gain:+.1f} {unit} over" if _finite(gain) else f"a better {unit} than"
        statement = f"{spec.ours} scores {said} {spec.baseline} ({where}, {spec.input})."
        published = f"{cite(ours_row, spec.metric)}; {cite(base_row, spec.metric)}"
        base_measured, base_data = measured_in_table(table, spec.baseline, spec.input, spec.metric)
        real = data and base_data and not is_synthetic_label(data) and not is_synthetic_label(base_data)
        verdict = gain_verdict(measured - base_measured, gain) if real else UNCHECKABLE
        evidence = (f"measured: {spec.ours} ({ours_model}) {measured:.1f}, {spec.baseline} ({base_model}) "
                    f"{base_measured:.1f}, a gain of {measured - base_measured:+.1f} {unit} ({data})."
                    if verdict != UNCHECKABLE else
                    unchecked_note(table, spec, [(spec.ours, measured, data), (spec.baseline, base_measured, base_data)]))  # fmt: skip
    settle = settle_accuracy(spec.dataset, ours_model)
    source = f"{TABLE_FILES['table1' if spec.dataset == 'coco' else 'table3']} (notebook {TABLE_NOTEBOOK[spec.dataset]})"
    return Claim(spec.key, f"accuracy ({spec.dataset.upper()})", statement, published, evidence, source, verdict, settle)


def coco_test_dev_claim(table2: pd.DataFrame | None) -> Claim:
    """Table 2: MfvPose on COCO test-dev; its annotations are private, so only the server can judge."""
    row = published_row("coco", "MfvPose", "256x192", "test-dev")
    files = [] if table2 is None or "ours submission" not in table2 else [f for f in table2["ours submission"].dropna() if f]
    evidence = (f"notebook 14 wrote {', '.join(files)} in the evaluation server's format." if files
                else "no submission file was written in this run (notebook 14 needs COCO test-dev images).")  # fmt: skip
    return Claim("coco_test_dev", "accuracy (COCO)", "MfvPose is competitive with the compared methods on COCO test-dev.",
                 cite(row, "AP"), evidence, "table2_coco_test_dev.csv (notebook 14)", UNCHECKABLE,
                 'make reproduce PROFILE=paper PRETRAINED=IMAGENET_HRNET.pth REPRODUCE_ARGS="--data-root DATA --only 06 14", '
                 "then submit the results file to the COCO keypoint evaluation server")  # fmt: skip


# ----------------------------------------------------------------------------------------------
# Complexity claims (counted on the registered models)
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CostSpec:
    """MfvPose's row against a baseline's: ``kind`` "reduction" (a considerable one), "growth"
    (an insignificant one) or "fewer" (fewer parameters)."""

    key: str
    dataset: str
    ours: str
    baseline: str
    input: str
    kind: str


COST_CLAIMS = (
    CostSpec("cost_vs_hrnet_w32", "coco", "MfvPose", "HRNet-W32", "256x192", "reduction"),
    CostSpec("cost_vs_hrnet_w48", "coco", "MfvPose", "HRNet-W48", "256x192", "reduction"),
    CostSpec("growth_vs_tokenpose_b", "coco", "MfvPose (TokenPose-B depth)", "TokenPose-B", "256x192", "growth"),
    CostSpec("growth_vs_tokenpose_l_d24", "coco", "MfvPose-D24", "TokenPose-L/D24", "256x192", "growth"),
    CostSpec("mpii_fewer_params", "mpii", "MfvPose", "TokenPose-L/D24", "256x256", "fewer"),
)
COST_WORDS = {
    "reduction": "needs considerably fewer parameters and GFLOPs than",
    "growth": "adds an insignificant number of parameters and GFLOPs to",
    "fewer": "has fewer parameters than",
}
COST_SOURCE = "mfvpose_lib.analysis.complexity (relative_complexity, complexity_of) on the registered models"
# The paper's ablation (Table 4) at its own size: MfvPose-L/D6 on MPII against itself without HRFOV
# and LSW, i.e. TokenPose-L/D6, exactly as notebook 16 builds its rows.
ABLATION_MODEL = "mfvpose_l_d6_mpii"


def cost_ratios(kind: str, relative: Mapping[str, float]) -> dict[str, float]:
    """The ratios a claim of ``kind`` is judged on, from a :func:`relative_complexity` row."""
    if kind == "fewer":
        return {"params": relative["params_ratio"]}
    return {"params": relative["params_ratio"], "GFLOPs (paper convention)": relative["gflops_paper_ratio"]}


def cost_claim_verdict(kind: str, relative: Mapping[str, float] | None) -> str:
    if relative is None:
        return UNCHECKABLE
    ratios = cost_ratios(kind, relative)
    if kind == "reduction":
        return cost_verdict(ratios, CONSIDERABLE_RATIO)
    if kind == "growth":
        return cost_verdict(ratios, 1.0 + INSIGNIFICANT_GROWTH)
    return cost_verdict(ratios, 1.0, strict=True)


def describe_counts(model: str, ours, baseline: str, base) -> str:
    """Both models' params, paper-convention GFLOPs and GMACs, with the ratios."""
    return (f"{model}: {ours.params / 1e6:.2f} M params ({ours.params / base.params:.3f}x), "
            f"{ours.gflops_paper:.2f} GFLOPs in the paper convention ({ours.gflops_paper / base.gflops_paper:.3f}x), "
            f"{ours.gmacs:.2f} GMACs ({ours.gmacs / base.gmacs:.3f}x); {baseline}: {base.params / 1e6:.2f} M, "
            f"{base.gflops_paper:.2f} GFLOPs, {base.gmacs:.2f} GMACs.")  # fmt: skip


def _rule(kind: str) -> str:
    if kind == "reduction":
        return f"rule: at most {CONSIDERABLE_RATIO:g}x the baseline's params and GFLOPs."
    if kind == "growth":
        return f"rule: at most {1 + INSIGNIFICANT_GROWTH:g}x the baseline's params and GFLOPs."
    return "rule: strictly fewer params."


def cost_claim(spec: CostSpec) -> Claim:
    """A complexity claim, counted on the models that rebuild both published rows."""
    from mfvpose_lib.analysis.complexity import complexity_of, relative_complexity

    split = "val" if spec.dataset == "coco" else None
    ours_row = published_row(spec.dataset, spec.ours, spec.input, split)
    base_row = published_row(spec.dataset, spec.baseline, spec.input, split)
    model, baseline = _registered(spec.dataset, spec.ours, spec.input), _registered(spec.dataset, spec.baseline, spec.input)
    statement = f"{spec.ours} {COST_WORDS[spec.kind]} {spec.baseline} ({spec.dataset.upper()}, {spec.input})."
    published = f"{cite(base_row, 'params_M', ' M params')}, {cite(base_row, 'gflops', ' GFLOPs')}; " + (
        cite(ours_row, "params_M", " M params") if ours_row and _finite(ours_row.get("params_M"))
        else f"no count of {spec.ours} survives in the paper's text")  # fmt: skip
    if not model or not baseline:
        evidence, relative = f"no registered model rebuilds {spec.ours if not model else spec.baseline}.", None
    else:
        relative = relative_complexity([(model, baseline)]).iloc[0].to_dict()
        evidence = describe_counts(model, complexity_of(model), baseline, complexity_of(baseline)) + " " + _rule(spec.kind)
    return Claim(spec.key, "complexity", statement, published, evidence, COST_SOURCE,
                 cost_claim_verdict(spec.kind, relative), f"mfvpose complexity {model} {baseline} --csv")  # fmt: skip


def ablation_cost_claim(model: str = ABLATION_MODEL) -> Claim:
    """Table 4's "the growth in parameters and GFLOPs can be ignored": the full row against the
    baseline row built from the same registered model with HRFOV and LSW switched off."""
    from mfvpose_lib.analysis.complexity import build_on_meta, complexity, complexity_of
    from mfvpose_lib.reference import load_reference
    from mfvpose_lib.study.ablation import ABLATION_ROWS

    base_row = ABLATION_ROWS[0]
    ours, base = complexity_of(model), complexity(build_on_meta(model, **base_row.model_overrides()))
    relative = {"params_ratio": ours.params / base.params, "gflops_paper_ratio": ours.gflops_paper / base.gflops_paper}
    baseline = f"{model} without HRFOV and LSW ({base_row.paper_row})"
    published = load_reference("ablation_mpii")
    counted = published[published["params_M"].notna() | published["gflops"].notna()]
    shown = "; ".join(f"{r['row']}: {r['params_M']:g} M params, {r['gflops']:g} GFLOPs ({r['status']})"
                      for r in counted.to_dict("records")) or \
        f"Table 4's params and GFLOPs columns were not recovered ({len(published)} rows, none with a count)"  # fmt: skip
    return Claim("ablation_growth", "complexity", "Adding HRFOV and LSW to TokenPose-L/D6 (Table 4) adds a "
                 "negligible number of parameters and GFLOPs.", shown,
                 describe_counts(model, ours, baseline, base) + " " + _rule("growth"), COST_SOURCE,
                 cost_claim_verdict("growth", relative), f"mfvpose complexity {model} --csv")  # fmt: skip


# ----------------------------------------------------------------------------------------------
# Receptive field, training dynamics and the ablation (measured in this run)
# ----------------------------------------------------------------------------------------------

ERF_SETTLE = ('make reproduce PROFILE=paper PRETRAINED=IMAGENET_HRNET.pth REPRODUCE_ARGS="--data-root DATA '
              '--only 02 06 10 17" (the trained paper-size model\'s field, notebook 10)')  # fmt: skip


def receptive_field_claim(erf: pd.DataFrame | None, footprint=None, erf_source: str = "") -> Claim:
    """HRFOV widens the receptive field: ERF radii of the backbone and of backbone + HRFOV, judged
    on the untrained architecture; a trained model's radii are shown beside it when measured."""
    lines = []
    for model in ("untrained", "trained"):
        r90, r50 = _erf_radii(erf, model, "radius @ 90% (px)"), _erf_radii(erf, model, "radius @ 50% (px)")
        if r90 is not None and r50 is not None:
            lines.append(f"{model}: half of the gradient mass within {r50[0]:.0f} px of the centre at the backbone, "
                         f"{r50[1]:.0f} px after HRFOV (90%: {r90[0]:.0f} → {r90[1]:.0f} px)")  # fmt: skip
    if footprint is not None:
        lines.append(f"the fused HRFOV output reads {footprint.field} x {footprint.field} cells of the 1/4 map "
                     f"({footprint.describe()})")  # fmt: skip
    evidence = ("; ".join(lines) + (f" ({erf_source})" if erf_source else "")
                + ". rule: the untrained model's 50% radius grows.") if lines else \
        "no receptive-field measurement was given."  # fmt: skip
    return Claim("hrfov_receptive_field", "receptive field",
                 "HRFOV widens the receptive field of the backbone while keeping its 1/4 resolution.",
                 "no number (a statement of the text and of Figure 3)", evidence,
                 "mfvpose_lib.analysis.receptive_field (model_erf_maps, erf_table); models.dilation.dilation_footprint_info",
                 widening_verdict(erf), ERF_SETTLE)  # fmt: skip



def lsw_loss_pairs(histories: Mapping[tuple[str, int], pd.DataFrame]) -> pd.DataFrame:
    """One row per (pair of Table 4 rows differing only in LSW, seed) with both runs' mean
    training loss over all epochs (the area under the loss curve per epoch) and final loss."""
    from mfvpose_lib.study.ablation import LSW_PAIRS

    rows = []
    for with_lsw, without in LSW_PAIRS:
        for (key, seed), history in sorted(histories.items()):
            partner = histories.get((without, seed))
            if key != with_lsw or partner is None or history is None:
                continue
            a, b = history["train_loss"].dropna(), partner["train_loss"].dropna()
            if a.empty or b.empty:
                continue
            rows.append({"with LSW": with_lsw, "without": without, "seed": seed, "epochs": len(a),
                         "mean loss with": float(a.mean()), "mean loss without": float(b.mean()),
                         "final loss with": float(a.iloc[-1]), "final loss without": float(b.iloc[-1])})  # fmt: skip
    return pd.DataFrame(rows)


def training_dynamics_claim(histories: Mapping[tuple[str, int], pd.DataFrame], *, synthetic: bool) -> Claim:
    """LSW improves the training dynamics: a lower mean training loss than the same row without
    LSW, paired by seed (same data order and initial weights)."""
    from mfvpose_lib.study import significance

    pairs = lsw_loss_pairs(histories)
    if len(pairs) >= 2:
        interval = significance.paired_difference(pairs["mean loss with"].to_numpy(), pairs["mean loss without"].to_numpy())
        verdict = interval_verdict(interval.low, interval.high, synthetic=synthetic, lower_is_better=True)
        evidence = (f"mean training loss with LSW minus without, over {len(pairs)} seed-paired runs of Table 4 "
                    f"({', '.join(sorted(set(pairs['with LSW'] + ' vs ' + pairs['without'])))}): "
                    f"{interval.estimate:+.3g} (95% CI {interval.low:+.3g} to {interval.high:+.3g}); final loss "
                    f"lower with LSW in {int((pairs['final loss with'] < pairs['final loss without']).sum())} of {len(pairs)}.")  # fmt: skip
    else:
        verdict, evidence = UNCHECKABLE, f"{len(pairs)} seed-paired LSW runs found (Table 4's run folders); 2 are needed."
    return Claim("lsw_training_dynamics", "training", "The learnable scalar weights (LSW) improve the dynamics of "
                 "training and help the model converge.", "no number (a statement of the text and of Figure 4)",
                 evidence, "metrics.csv of Table 4's runs (notebook 16; seed 0 of the full row is notebook 06's MPII run)",
                 verdict, f"{SETTLE_ABLATION} (or on a GPU without MPII: {SETTLE_ABLATION_GPU})")  # fmt: skip


SEED_COLUMNS = {"key", "seed", "PCKh@0.5", "eval_se", "val_people"}  # what study.ablation.ablation_table reads
ABLATION_CLAIMS = (
    # key, row, the row it is compared with, what the paper says
    ("ablation_hrfov", "hrfov", "baseline", "Adding HRFOV to TokenPose-L/D6 improves PCKh@0.5 on MPII (Table 4)."),
    ("ablation_lsw_accuracy", "hrfov_lsw", "hrfov", "Adding LSW on top of HRFOV improves PCKh@0.5 further (Table 4)."),
    ("ablation_hrfov_lsw", "hrfov_lsw", "baseline", "HRFOV and LSW together gain +{gain:.2f} PCKh@0.5 over TokenPose-L/D6 (Table 4)."),
)


def _ablation_row_cited(published: pd.DataFrame, row) -> str:
    """A Table 4 row's published mean with its status (``reference_data/ablation_mpii.csv``)."""
    if row.paper_row not in published.index:
        return f"{row.label}: not a row of the paper"
    mean, status = published.loc[row.paper_row, "mean"], published.loc[row.paper_row, "status"]
    return f"{row.paper_row}: {f'{mean:g}' if _finite(mean) else 'mean not recovered'} ({status})"


def ablation_claims(per_seed: pd.DataFrame | None, *, synthetic: bool) -> list[Claim]:
    """Table 4's claims from the per-seed scores notebook 16 saved (``table4_seeds.csv``)."""
    from mfvpose_lib.reference import load_reference
    from mfvpose_lib.study import significance
    from mfvpose_lib.study.ablation import ABLATION_ROWS, METRIC, PAPER_GAIN, ablation_table, power_statement

    published = load_reference("ablation_mpii").set_index("row")
    labels = {r.key: r for r in ABLATION_ROWS}
    summary = None
    if per_seed is not None and not per_seed.empty and SEED_COLUMNS <= set(per_seed.columns):
        _, summary = ablation_table(per_seed)
    claims = []
    for key, row, against, said in ABLATION_CLAIMS:
        shown = "; ".join(_ablation_row_cited(published, labels[k]) for k in (row, against))
        verdict, evidence = UNCHECKABLE, "Table 4's per-seed scores (table4_seeds.csv) were not written by this run."
        if summary is not None:
            a = per_seed[per_seed["key"] == row].sort_values("seed")
            b = per_seed[per_seed["key"] == against].sort_values("seed")
            both = a.merge(b, on="seed", suffixes=("", " base"))
            if len(both):
                interval = significance.paired_difference(both[METRIC].to_numpy(), both[f"{METRIC} base"].to_numpy())
                verdict = interval_verdict(interval.low, interval.high, synthetic=synthetic)
                evidence = (f"{labels[row].label} minus {labels[against].label}: {interval.estimate:+.2f} PCKh@0.5 "
                            f"(95% CI {interval.low:+.2f} to {interval.high:+.2f}, paired over {len(both)} seeds). "
                            + power_statement(summary))  # fmt: skip
        if row == "hrfov_lsw" and against == "baseline":
            shown += f"; the text's gain +{PAPER_GAIN:.2f} (study.ablation.PAPER_GAIN)"
        claims.append(Claim(key, "ablation (MPII)", said.format(gain=PAPER_GAIN), shown, evidence,
                            "table4_seeds.csv (notebook 16), study.ablation.ablation_table", verdict, SETTLE_ABLATION))
    return claims


# ----------------------------------------------------------------------------------------------
# All claims, their table, and the sentences that sum them up
# ----------------------------------------------------------------------------------------------


def paper_claims(inputs: ClaimInputs) -> list[Claim]:
    """Every claim of the paper, in the order the paper makes them."""
    table = {spec.key: accuracy_claim(spec, inputs.table1 if spec.dataset == "coco" else inputs.table3)
             for spec in ACCURACY_CLAIMS}  # fmt: skip
    cost = {spec.key: cost_claim(spec) for spec in COST_CLAIMS}
    coco = [table[s.key] for s in ACCURACY_CLAIMS if s.dataset == "coco"]
    return [
        *coco[:3], cost["cost_vs_hrnet_w32"], cost["cost_vs_hrnet_w48"], *coco[3:],
        cost["growth_vs_tokenpose_b"], cost["growth_vs_tokenpose_l_d24"],
        coco_test_dev_claim(inputs.table2),
        table["pckh_vs_tokenpose"], cost["mpii_fewer_params"],
        receptive_field_claim(inputs.erf, inputs.footprint, inputs.erf_source),
        training_dynamics_claim(inputs.histories, synthetic=inputs.synthetic),
        *ablation_claims(inputs.table4_seeds, synthetic=inputs.synthetic),
        ablation_cost_claim(),
    ]  # fmt: skip


def claims_table(claims: Iterable[Claim]) -> pd.DataFrame:
    return pd.DataFrame([c.row() for c in claims], columns=COLUMNS)


#: The claims table read in two parts on a screen (the written files keep every column together):
#: what the paper says against what this run found, and how each claim is settled on real data.
CLAIM_VIEWS = {
    "evidence": ["claim", "the paper says", "verdict", "our evidence"],
    "settle": ["claim", "published numbers", "source", "settle with"],
}


def verdict_counts(claims: Iterable[Claim]) -> pd.Series:
    """How many claims got each verdict (verdicts no claim got are left out), in VERDICTS order."""
    counts = pd.Series([c.verdict for c in claims]).value_counts()
    return pd.Series({v: int(counts[v]) for v in VERDICTS if v in counts.index}, name="claims", dtype=int)


def what_this_shows(claims: list[Claim], inputs: ClaimInputs) -> list[str]:
    """The closing sentences of notebook 17, computed from the verdicts."""
    where = "the built-in synthetic data" if inputs.synthetic else inputs.data
    lines = [f"The paper makes {len(claims)} claims that this study can state; this run (profile {inputs.profile}, "
             f"data: {where}) judged each one."]  # fmt: skip
    for verdict, n in verdict_counts(claims).items():
        keys = ", ".join(c.key for c in claims if c.verdict == verdict)
        lines.append(f"{verdict[0].upper()}{verdict[1:]}: {n} ({keys}).")
    if inputs.synthetic:
        lines.append("Numbers measured on the synthetic data come from CPU-sized models on procedurally drawn people: "
                     "they test the study's machinery and the direction of an effect on that proxy, not the paper's "
                     "COCO or MPII results.")  # fmt: skip
    return lines


def claims_note(inputs: ClaimInputs) -> str:
    return (f"{TABLE_STEM}: every claim of the MfvPose paper with this run's evidence (profile {inputs.profile}, "
            f"data: {inputs.data}); published numbers from `mfvpose_lib/reference_data/`; placeholders in the "
            f"commands: {PLACEHOLDERS}.")  # fmt: skip


def write_claims(claims: list[Claim], figures: str | Path, inputs: ClaimInputs) -> tuple[Path, Path]:
    """``paper_claims.csv`` and ``.md`` in the figures folder (as the table notebooks write theirs)."""
    from mfvpose_lib.study.tables import write_table

    return write_table(claims_table(claims), figures, TABLE_STEM, note=claims_note(inputs))


# ----------------------------------------------------------------------------------------------
# Gathering the evidence of a run
# ----------------------------------------------------------------------------------------------


def read_table(path: str | Path) -> pd.DataFrame | None:
    """A CSV a notebook wrote, or None when it is missing or empty."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return None


def ablation_histories(cells) -> dict[tuple[str, int], pd.DataFrame]:
    """``metrics.csv`` of every Table 4 run that has one: (row key, seed) -> its history."""
    found = {}
    for cell in cells:
        history = read_table(Path(cell.out_dir) / "metrics.csv")
        if history is not None and "train_loss" in history.columns:
            found[(cell.row.key, cell.seed)] = history
    return found


def measure_receptive_fields(models: Mapping[str, object], images=None, *, num_samples: int = 4) -> pd.DataFrame:
    """ERF radii of the backbone and backbone + HRFOV maps of each model (label "trained" is
    measured with its running statistics, any other label as an untrained network)."""
    from mfvpose_lib.analysis.receptive_field import erf_table, model_erf_maps

    only = ("backbone", "backbone + HRFOV")
    maps = {label: model_erf_maps(model, images=images, trained=label == "trained", num_samples=num_samples,
                                  only=only) for label, model in models.items()}  # fmt: skip
    return erf_table(maps)


def hrfov_footprint(model):
    """The theoretical footprint of a model's HRFOV (None for a model without one)."""
    from mfvpose_lib.models.dilation import dilation_footprint_info

    hrfov = getattr(model, "hrfov", None)
    return None if hrfov is None else dilation_footprint_info(hrfov.cfg.rates, hrfov.cfg.topology)


def load_claim_inputs(figures: str | Path, *, data: str, profile: str, histories=None, erf=None, footprint=None,
                      erf_source: str = "") -> ClaimInputs:  # fmt: skip
    """The tables the table notebooks wrote into ``figures`` (missing ones stay None), with the
    measurements the caller made."""
    figures = Path(figures)
    return ClaimInputs(
        data=data, profile=profile, table1=read_table(figures / TABLE_FILES["table1"]),
        table2=read_table(figures / TABLE_FILES["table2"]), table3=read_table(figures / TABLE_FILES["table3"]),
        table4_seeds=read_table(figures / TABLE_FILES["table4_seeds"]), histories=dict(histories or {}),
        erf=erf, footprint=footprint, erf_source=erf_source,
    )  # fmt: skip


def receptive_field_evidence(settings, data_root: str | Path, run_dir: str | Path, *, device="cpu",
                             crops: int = 8) -> tuple[pd.DataFrame, object, str]:  # fmt: skip
    """ERF radii of the study's COCO model, untrained and (when notebook 06 trained it) trained,
    on the first validation people's context canvases (as notebook 10 measures them: twice the
    crop's height and width, so the crop's border does not cut the field; random normal inputs
    when the data root has no COCO layout), with the theoretical footprint of its HRFOV. Returns
    the table, the footprint and a line saying what was measured."""
    import torch

    from mfvpose_lib.study.data_needs import datasets_available
    from mfvpose_lib.study.trained import CONTEXT_FACTOR, context_crops, load_study_models

    study = load_study_models(settings, run_dir, device=device)
    name = getattr(study.trained, "model_name", None) or settings.for_dataset("coco").model
    if "coco" in datasets_available(data_root):
        items, _ = context_crops(data_root, study.untrained, crops)
        h, w = items[0]["image"].shape[-2:] if items else (0, 0)
        images = torch.stack([item["image"] for item in items]).to(device)
        what = f"{len(items)} validation people on {h}x{w} context canvases ({CONTEXT_FACTOR}x the crop)"
    else:
        images, what = None, f"{crops} random normal inputs (no COCO layout in the data root)"
    erf = measure_receptive_fields(study.by_label(), images, num_samples=crops)
    trained = "trained and untrained" if study.trained is not None else "untrained only; no trained run yet"
    return erf, hrfov_footprint(study.untrained), f"{name}, {trained}, over {what}"
