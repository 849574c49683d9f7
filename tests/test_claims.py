"""The paper's claims (``study.claims``): verdict rules on constructed inputs, every claim present,
missing evidence giving "cannot be checked", and the claims table written beside Tables 1-4."""

from __future__ import annotations

import math

import nbformat
import numpy as np
import pandas as pd
import pytest

from mfvpose_lib.reproduce import NOTEBOOK_DIR, notebook_map
from mfvpose_lib.study import claims as C
from mfvpose_lib.study.ablation import ABLATION_ROWS, METRIC

SYNTHETIC = "built-in synthetic (200 train / 100 val images, seed 0)"
REAL = "user data at /data"
EXPECTED_KEYS = {
    "coco_ap", "ap_vs_hrnet_w32", "ap_vs_hrnet_w48", "ap_vs_simplebaseline_r50", "ap_vs_simplebaseline_r101",
    "ap_vs_simplebaseline_r152", "ap_vs_tokenpose_b", "ap_vs_tokenpose_l_d24", "cost_vs_hrnet_w32",
    "cost_vs_hrnet_w48", "growth_vs_tokenpose_b", "growth_vs_tokenpose_l_d24", "coco_test_dev", "pckh_vs_tokenpose",
    "mpii_fewer_params", "hrfov_receptive_field", "lsw_training_dynamics", "ablation_hrfov", "ablation_lsw_accuracy",
    "ablation_hrfov_lsw", "ablation_growth",
}  # fmt: skip
MEASURED = EXPECTED_KEYS - {"cost_vs_hrnet_w32", "cost_vs_hrnet_w48", "growth_vs_tokenpose_b",
                            "growth_vs_tokenpose_l_d24", "mpii_fewer_params", "ablation_growth"}  # fmt: skip


@pytest.fixture(scope="module")
def without_evidence():
    """Every claim judged with nothing measured: no tables, no histories, no receptive fields."""
    inputs = C.ClaimInputs(data=SYNTHETIC, profile="smoke")
    return inputs, C.paper_claims(inputs)


# ----------------------------------------------------------------------------------------------
# verdict rules
# ----------------------------------------------------------------------------------------------


def test_gain_verdict():
    assert C.gain_verdict(None, 1.3) == C.gain_verdict(math.nan, 1.3) == C.UNCHECKABLE
    assert C.gain_verdict(1.3, 1.3) == C.gain_verdict(0.9, 1.3) == C.CONFIRMED_ON_DATA  # within the tolerance
    assert C.gain_verdict(0.7, 1.3) == C.SMALLER_ON_DATA
    assert C.gain_verdict(0.0, 1.3) == C.gain_verdict(-0.4, 0.2) == C.CONTRADICTED_ON_DATA
    assert C.gain_verdict(0.1, 0.2) == C.CONFIRMED_ON_DATA  # within the tolerance of a small gain
    assert C.gain_verdict(-0.2, 0.2) == C.CONTRADICTED_ON_DATA  # ... but the direction must hold
    assert C.gain_verdict(0.1, math.nan) == C.CONFIRMED_ON_DATA  # no published size: the direction decides
    assert C.gain_verdict(-0.1, math.nan) == C.CONTRADICTED_ON_DATA


def test_level_verdict():
    assert C.level_verdict(75.3, 75.7) == C.level_verdict(76.5, 75.7) == C.CONFIRMED_ON_DATA
    assert C.level_verdict(74.0, 75.7) == C.SMALLER_ON_DATA
    assert C.level_verdict(math.nan, 75.7) == C.level_verdict(75.0, None) == C.UNCHECKABLE


def test_interval_verdict():
    assert C.interval_verdict(0.1, 2.0, synthetic=True) == C.SUPPORTED_ON_PROXY
    assert C.interval_verdict(-2.0, -0.1, synthetic=True) == C.CONTRADICTED_ON_PROXY
    assert C.interval_verdict(-1.0, 1.0, synthetic=True) == C.UNRESOLVED_ON_PROXY
    assert C.interval_verdict(0.1, 2.0, synthetic=False) == C.CONFIRMED_ON_DATA
    assert C.interval_verdict(-1.0, 1.0, synthetic=False) == C.UNRESOLVED_ON_DATA
    assert C.interval_verdict(-2.0, -0.1, synthetic=False) == C.CONTRADICTED_ON_DATA
    # a loss: lower is the claimed direction
    assert C.interval_verdict(-2.0, -0.1, synthetic=True, lower_is_better=True) == C.SUPPORTED_ON_PROXY
    assert C.interval_verdict(0.1, 2.0, synthetic=False, lower_is_better=True) == C.CONTRADICTED_ON_DATA
    assert C.interval_verdict(math.nan, math.nan, synthetic=True) == C.UNCHECKABLE


def test_cost_verdicts():
    relative = {"params_ratio": 0.75, "gflops_paper_ratio": 0.8}
    assert C.cost_claim_verdict("reduction", relative) == C.CONFIRMED_BY_COUNTS
    relative = {"params_ratio": 0.75, "gflops_paper_ratio": 1.38}  # fewer params, more GFLOPs
    assert C.cost_claim_verdict("reduction", relative) == C.CONTRADICTED_BY_COUNTS
    assert C.cost_claim_verdict("reduction", {"params_ratio": 0.95, "gflops_paper_ratio": 0.5}) == C.CONTRADICTED_BY_COUNTS
    assert C.cost_claim_verdict("growth", {"params_ratio": 1.007, "gflops_paper_ratio": 1.05}) == C.CONFIRMED_BY_COUNTS
    assert C.cost_claim_verdict("growth", {"params_ratio": 1.2, "gflops_paper_ratio": 1.0}) == C.CONTRADICTED_BY_COUNTS
    assert C.cost_claim_verdict("fewer", {"params_ratio": 0.99, "gflops_paper_ratio": 2.0}) == C.CONFIRMED_BY_COUNTS
    assert C.cost_claim_verdict("fewer", {"params_ratio": 1.0, "gflops_paper_ratio": 0.5}) == C.CONTRADICTED_BY_COUNTS
    assert C.cost_claim_verdict("growth", None) == C.UNCHECKABLE
    assert C.cost_verdict({"params": math.nan}, 1.1) == C.UNCHECKABLE


def _erf(backbone: float, hrfov: float, model: str = "untrained") -> pd.DataFrame:
    return pd.DataFrame({"model": [model, model], "map": ["backbone", "backbone + HRFOV"],
                         "radius @ 50% (px)": [backbone / 2, hrfov / 2], "radius @ 90% (px)": [backbone, hrfov]})  # fmt: skip


def test_receptive_field_verdict():
    assert C.widening_verdict(_erf(40, 52)) == C.CONFIRMED_BY_COUNTS
    assert C.widening_verdict(_erf(40, 40)) == C.CONTRADICTED_BY_COUNTS
    capped = _erf(26, 26).assign(**{"radius @ 50% (px)": [15.0, 16.0]})  # the 90% radius at the crop's border
    assert C.widening_verdict(capped) == C.CONFIRMED_BY_COUNTS
    assert C.widening_verdict(_erf(40, 52, model="trained")) == C.UNCHECKABLE  # the architecture is judged untrained
    assert C.widening_verdict(None) == C.widening_verdict(pd.DataFrame()) == C.UNCHECKABLE
    claim = C.receptive_field_claim(pd.concat([_erf(40, 52), _erf(30, 31, "trained")]), erf_source="8 crops")
    assert claim.verdict == C.CONFIRMED_BY_COUNTS
    assert "within 20 px" in claim.evidence and "26 px after HRFOV" in claim.evidence and "trained: " in claim.evidence


def test_a_claim_takes_only_a_verdict_of_the_fixed_set():
    with pytest.raises(ValueError, match="not one of"):
        C.Claim("k", "t", "s", "p", "e", "src", "probably true", "cmd")


# ----------------------------------------------------------------------------------------------
# accuracy claims on constructed tables
# ----------------------------------------------------------------------------------------------


def _table1(rows: list[tuple[str, str, float, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["method", "input", "ours AP", "ours data"]).assign(model="")


def _spec(key: str) -> C.AccuracySpec:
    return next(s for s in C.ACCURACY_CLAIMS if s.key == key)


def test_accuracy_claims_on_real_data():
    table = _table1([("MfvPose", "256x192", 75.9, REAL), ("HRNet-W32", "256x192", 74.5, REAL),
                     ("HRNet-W48", "256x192", 76.0, REAL)])  # fmt: skip
    w32 = C.accuracy_claim(_spec("ap_vs_hrnet_w32"), table)
    assert w32.verdict == C.CONFIRMED_ON_DATA and "+1.4 AP" in w32.evidence
    assert "+1.3 AP" in w32.statement and "74.4 (published)" in w32.published  # read from reference_data
    assert C.accuracy_claim(_spec("ap_vs_hrnet_w48"), table).verdict == C.CONTRADICTED_ON_DATA
    assert C.accuracy_claim(_spec("coco_ap"), table).verdict == C.CONFIRMED_ON_DATA
    # a baseline without a measurement leaves the comparison unchecked, and the evidence says which
    r50 = C.accuracy_claim(_spec("ap_vs_simplebaseline_r50"), table)
    assert r50.verdict == C.UNCHECKABLE and "MfvPose 75.9 AP" in r50.evidence
    assert "no real-data number for SimpleBaseline-R50" in r50.evidence


def test_accuracy_claims_ignore_synthetic_and_missing_tables():
    proxy = _table1([("mfvpose_tiny (ours, synthetic data)", "64x48", 26.1, SYNTHETIC)]).assign(model="mfvpose_tiny")
    claim = C.accuracy_claim(_spec("coco_ap"), proxy)
    assert claim.verdict == C.UNCHECKABLE and "mfvpose_tiny 26.1 AP" in claim.evidence
    # a synthetic number never sits in a published row; were it there, it still would not count
    wrong = _table1([("MfvPose", "256x192", 80.0, SYNTHETIC), ("HRNet-W32", "256x192", 10.0, SYNTHETIC)])
    assert C.accuracy_claim(_spec("ap_vs_hrnet_w32"), wrong).verdict == C.UNCHECKABLE
    missing = C.accuracy_claim(_spec("pckh_vs_tokenpose"), None)
    assert missing.verdict == C.UNCHECKABLE and "not written" in missing.evidence
    assert "make reproduce PROFILE=paper" in missing.settle and "RELEASED=WEIGHTS" in missing.settle


def test_the_settling_command_trains_what_the_paper_profile_does_not():
    assert "mfvpose train" in C.settle_accuracy("coco", "mfvpose_l_d8")
    assert "mfvpose train" not in C.settle_accuracy("coco", "mfvpose_b")  # the paper profile's own model


# ----------------------------------------------------------------------------------------------
# seeded comparisons: the ablation and the training dynamics
# ----------------------------------------------------------------------------------------------


def _per_seed(gains: dict[str, list[float]]) -> pd.DataFrame:
    rows = []
    for row in ABLATION_ROWS:
        for seed, gain in enumerate(gains.get(row.key, [0.0, 0.0, 0.0])):
            rows.append({"row": row.label, "key": row.key, "seed": seed, METRIC: 50.0 + seed + gain,
                         "PCKh@0.1": 10.0, "eval_se": 0.5, "val_people": 100})  # fmt: skip
    return pd.DataFrame(rows)


def test_ablation_claims_from_per_seed_scores():
    per_seed = _per_seed({"hrfov": [1.0, 1.2, 0.9], "lsw": [0.0, 0.1, -0.1], "hrfov_lsw": [-3.0, -2.8, -3.1]})
    verdicts = {c.key: c.verdict for c in C.ablation_claims(per_seed, synthetic=True)}
    assert verdicts == {"ablation_hrfov": C.SUPPORTED_ON_PROXY, "ablation_lsw_accuracy": C.CONTRADICTED_ON_PROXY,
                        "ablation_hrfov_lsw": C.CONTRADICTED_ON_PROXY}  # fmt: skip
    real = {c.key: c.verdict for c in C.ablation_claims(per_seed, synthetic=False)}
    assert real["ablation_hrfov"] == C.CONFIRMED_ON_DATA
    noisy = _per_seed({"hrfov": [3.0, -3.0, 0.5]})
    assert C.ablation_claims(noisy, synthetic=True)[0].verdict == C.UNRESOLVED_ON_PROXY
    full = next(c for c in C.ablation_claims(per_seed, synthetic=True) if c.key == "ablation_hrfov_lsw")
    assert "+0.41" in full.statement and "80% power" in full.evidence
    for broken in (None, pd.DataFrame(), per_seed.drop(columns="eval_se")):
        assert {c.verdict for c in C.ablation_claims(broken, synthetic=True)} == {C.UNCHECKABLE}


def _history(losses: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"epoch": range(1, len(losses) + 1), "train_loss": losses})


def test_training_dynamics_from_paired_histories():
    histories = {}
    for seed in range(3):
        for key, offset in (("baseline", 0.0), ("lsw", -0.1), ("hrfov", 0.02), ("hrfov_lsw", -0.05)):
            histories[(key, seed)] = _history(list(np.linspace(1.0, 0.5, 4) + offset + 0.01 * seed))
    pairs = C.lsw_loss_pairs(histories)
    assert len(pairs) == 6 and set(pairs["without"]) == {"baseline", "hrfov"}
    assert C.training_dynamics_claim(histories, synthetic=True).verdict == C.SUPPORTED_ON_PROXY
    assert C.training_dynamics_claim(histories, synthetic=False).verdict == C.CONFIRMED_ON_DATA
    worse = {k: _history(list(h["train_loss"] + (0.2 if k[0].endswith("lsw") else 0.0))) for k, h in histories.items()}
    assert C.training_dynamics_claim(worse, synthetic=True).verdict == C.CONTRADICTED_ON_PROXY
    one = {("lsw", 0): histories[("lsw", 0)], ("baseline", 0): histories[("baseline", 0)]}
    assert C.training_dynamics_claim(one, synthetic=True).verdict == C.UNCHECKABLE  # one pair: no interval
    assert C.training_dynamics_claim({}, synthetic=True).verdict == C.UNCHECKABLE


# ----------------------------------------------------------------------------------------------
# every claim, the table, the files
# ----------------------------------------------------------------------------------------------


def test_every_claim_is_present_once(without_evidence):
    _, claims = without_evidence
    keys = [c.key for c in claims]
    assert len(keys) == len(set(keys)) and set(keys) == EXPECTED_KEYS


def test_missing_evidence_is_cannot_be_checked(without_evidence):
    _, claims = without_evidence
    by_key = {c.key: c for c in claims}
    assert {by_key[k].verdict for k in MEASURED} == {C.UNCHECKABLE}
    for key in EXPECTED_KEYS - MEASURED:  # counted on the registered models whatever the run has
        assert by_key[key].verdict in (C.CONFIRMED_BY_COUNTS, C.CONTRADICTED_BY_COUNTS), key
    for claim in claims:
        assert claim.statement and claim.published and claim.evidence and claim.source and claim.settle, claim.key


def test_complexity_evidence_is_counted(without_evidence):
    from mfvpose_lib.analysis.complexity import complexity_of

    _, claims = without_evidence
    growth = next(c for c in claims if c.key == "growth_vs_tokenpose_b")
    ours, base = complexity_of("mfvpose_b"), complexity_of("tokenpose_b")
    assert f"{ours.params / 1e6:.2f} M params" in growth.evidence and f"{base.gflops_paper:.2f} GFLOPs" in growth.evidence
    rule = ours.params / base.params <= 1 + C.INSIGNIFICANT_GROWTH and ours.gflops_paper / base.gflops_paper <= 1.1
    assert growth.verdict == (C.CONFIRMED_BY_COUNTS if rule else C.CONTRADICTED_BY_COUNTS)


def test_claims_table_and_files(without_evidence, tmp_path):
    inputs, claims = without_evidence
    csv, md = C.write_claims(claims, tmp_path, inputs)
    written = pd.read_csv(csv)
    assert list(written.columns) == C.COLUMNS and list(written["claim"]) == [c.key for c in claims]
    assert set(written["verdict"]) <= set(C.VERDICTS)
    text = md.read_text()
    assert text.startswith("paper_claims:") and "profile smoke" in text and "| claim" in text


def test_what_this_shows_counts_every_claim(without_evidence):
    inputs, claims = without_evidence
    lines = C.what_this_shows(claims, inputs)
    counts = C.verdict_counts(claims)
    assert counts.sum() == len(claims) == int(lines[0].split()[3])
    for verdict, n in counts.items():
        assert any(line.startswith(f"{verdict[0].upper()}{verdict[1:]}: {n} (") for line in lines), verdict
    assert "synthetic" in lines[-1]


def test_inputs_from_a_figures_folder(tmp_path):
    (tmp_path / "table1_coco_val.csv").write_text("")  # an empty file counts as missing
    _table1([("MfvPose", "256x192", 75.9, REAL)]).to_csv(tmp_path / "table3_mpii_val.csv", index=False)
    inputs = C.load_claim_inputs(tmp_path, data=REAL, profile="paper")
    assert inputs.table1 is None and inputs.table2 is None and inputs.table4_seeds is None
    assert inputs.table3 is not None and not inputs.synthetic


def test_notebook_17_is_a_study_notebook():
    titles = notebook_map().set_index("number")["title"]
    assert titles["17"].startswith("17 · The paper's claims")
    nb = nbformat.read(NOTEBOOK_DIR / "17_paper_claims.ipynb", as_version=4)
    assert "mfvpose" not in nb.metadata  # it needs no data set of its own: it reads what 13-16 wrote
    source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "paper_claims(" in source and "write_claims(" in source and "what_this_shows(" in source


def test_the_two_screen_views_cover_the_claims_table():
    shown = {column for view in C.CLAIM_VIEWS.values() for column in view}
    assert shown <= set(C.COLUMNS) and set(C.COLUMNS) - shown == {"topic"}
    assert all(view[0] == "claim" for view in C.CLAIM_VIEWS.values())  # each part names its claims
