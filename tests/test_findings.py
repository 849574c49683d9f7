"""The "What this shows" sentences: computed from the numbers they are given, each with its caveat;
the attribution verdicts they rely on (flat occlusion, integrated gradients' completeness); and the
small helpers behind the notebooks' printed text and tables (skeleton order, parts per model)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from mfvpose_lib.analysis.attribution import ATTRIBUTION_METHODS, KeypointAttribution
from mfvpose_lib.study.findings import (
    RunScope,
    ablation_findings,
    attribution_findings,
    cost_findings,
    findings_markdown,
    gradcam_sentence,
    noise_findings,
    published_findings,
    receptive_field_findings,
    submission_findings,
    token_findings,
)

SYNTH = "built-in synthetic (2000 train / 1000 val images, seed 0)"
SCOPE = RunScope("cpu", "mfvpose_tiny", (64, 48), 45, SYNTH)


def _attribution(method="saliency", scale=1.0, value=0.8, **extra) -> KeypointAttribution:
    a = np.zeros((64, 48))
    a[10, 10] = scale
    return KeypointAttribution(a, method, 0, (2, 2), value, **extra)


def test_the_caveat_names_profile_size_seeds_data_and_training():
    text = RunScope("smoke", "mfvpose_tiny", (64, 48), 1, SYNTH, trained=False).caveat("2 crops")
    for part in ("profile smoke", "64x48", "1 epoch", "1 seed", "synthetic", "untrained one only", "2 crops"):
        assert part in text
    assert "synthetic" not in RunScope("paper", "mfvpose_b", None, 300, "COCO 2017", seeds=3).caveat()


def test_occlusion_of_an_untrained_model_is_flat_relative_to_its_peak():
    assert _attribution("occlusion", scale=3.3e-7, value=0.801).flat  # notebook 12's untrained occlusion
    assert "does not depend" in _attribution("occlusion", scale=3.3e-7, value=0.801).warning()
    assert not _attribution("occlusion", scale=0.02, value=0.801).flat
    assert not _attribution("saliency", scale=3.3e-7).flat  # gradients keep the absolute threshold


@pytest.mark.parametrize(("gap", "verdict"), [(0.001, "passes"), (0.02, "loose"), (0.09, "fails")])
def test_integrated_gradients_completeness_verdict(gap, verdict):
    result = _attribution("integrated_gradients", value=0.5, baseline_value=0.4, completeness_gap=gap, delta=gap)
    assert result.completeness().endswith(verdict)
    assert f"{gap / 0.1 * 100:.2g}% of the change" in result.completeness()
    assert (result.warning() is not None) == (verdict == "fails")
    assert _attribution("saliency").completeness() is None
    unchanged = _attribution("integrated_gradients", value=0.5, baseline_value=0.5, completeness_gap=1e-9)
    assert unchanged.completeness().endswith("no verdict")


def test_receptive_field_sentences_carry_the_run_numbers():
    table = pd.DataFrame({"model": ["trained"] * 2 + ["untrained"] * 2,
                          "map": ["backbone", "backbone + HRFOV"] * 2,
                          "radius @ 90% (px)": [10.0, 15.0, 8.0, 9.0]})  # fmt: skip
    boxes = pd.DataFrame({"field (px)": [12, 28, 68, 140]})
    findings = receptive_field_findings(table, boxes, crops=16, scope=SCOPE)
    text = [f.text for f in findings]
    assert "±10 px" in text[0] and "±15 px" in text[0] and "1.50x" in text[0]
    assert "widened" in text[2] and "±9 px untrained, ±15 px trained" in text[2]
    assert "140-px" in text[3] and "31 px" in text[3] and "22%" in text[3]
    assert all("16 validation crops" in f.caveat for f in findings)
    on_canvas = [f.text for f in receptive_field_findings(table, boxes, crops=16, scope=SCOPE, crop_size=(64, 48),
                                                         canvas=(128, 96))][-2:]  # fmt: skip
    # trained ±15 px: 31% of the canvas' 48-px half-width (inside), 62% of the crop's 24 px
    assert "31% of the half-width of the 128x96 image" in on_canvas[0] and "inside the measured image" in on_canvas[0]
    assert "62% of the half-width of the model's own 64x48 crop" in on_canvas[0]
    on_crop = [f.text for f in receptive_field_findings(table, boxes, crops=16, scope=SCOPE, crop_size=(64, 48))]
    assert "62% of the half-width of the 64x48 image" in on_crop[-2] and "not inside" in on_crop[-2]
    assert "own" not in on_crop[-2]


def test_token_sentences_read_the_skeleton_structure():
    similarity = pd.DataFrame({"tokens": ["input", "layer 4"] * 2, "mean cos (limbs)": [0.1, 0.6, 0.1, 0.2],
                               "mean cos (not limbs)": [0.1, 0.3, 0.1, 0.19],
                               "model": ["trained", "trained", "untrained", "untrained"]})  # fmt: skip
    distances = pd.DataFrame({"trained": [2.5, 1.2], "untrained": [2.9, 2.9]}, index=pd.Index([1, 4], name="layer"))
    scales = {"trained": pd.DataFrame({"branch": ["MSA", "FFN"], "mean |λ| / init": [3.0, 0.5], "init": [0.1, 0.1]})}
    text = [f.text for f in token_findings(similarity, distances, scales, uniform_distance=2.9, crops=4, scope=SCOPE)]
    assert "0.60" in text[0] and "0.30" in text[0] and "more alike" in text[0]
    assert "no skeleton structure" in text[1]
    assert "1.20 in layer 4" in text[2] and "uniform attention would give 2.90" in text[2]
    assert "MSA 3x to 3x" in text[4] and "FFN 0.5x to 0.5x" in text[4]
    at_init = {"untrained": pd.DataFrame({"branch": ["MSA"], "mean |λ| / init": [1.0], "init": [0.1]})}
    text = [f.text for f in token_findings(similarity, distances, at_init, uniform_distance=2.9, crops=4, scope=SCOPE)]
    assert "still at its init value 0.1" in text[-1]


def test_gradcam_near_the_joint_or_spread():
    cam = np.zeros((64, 48))
    cam[30:34, 20:24] = 1.0
    assert "come from around it" in gradcam_sentence("trained", cam, (21.5, 31.5), "nose")
    assert "spread over the crop" in gradcam_sentence("trained", np.ones((64, 48)), (21.5, 31.5), "nose")


class _Inspector:
    """Stands in for a CropInspector: cached attributions and one inspection."""

    def __init__(self, scale: float):
        self.results = {m: _attribution(m, scale=scale, value=0.8, **({"baseline_value": 0.7, "completeness_gap": 1e-3}
                                                                         if m == "integrated_gradients" else {}))
                        for m in ATTRIBUTION_METHODS}  # fmt: skip

    def attribution(self, sample, keypoint, method):
        return self.results[method]

    def __getitem__(self, sample):
        return SimpleNamespace(points=np.array([[10.0, 10.0]]), keypoint_label=lambda k: "nose")


def test_attribution_sentences_flag_flat_maps_and_read_gradcam():
    findings = attribution_findings({"trained": _Inspector(1.0), "untrained": _Inspector(1e-9)}, sample=0, keypoint=0,
                                    scope=SCOPE)  # fmt: skip
    text = [f.text for f in findings]
    assert text[0].startswith("Trained model: every method")
    assert "passes" in text[1] and "Grad-CAM" in text[2] and "come from around it" in text[2]
    assert any("all 4 maps are flat" in t for t in text)
    assert not any(t.startswith("Untrained model, Grad-CAM") for t in text)  # a flat map is not read


def test_published_and_our_rows(tmp_path: Path):
    table = pd.DataFrame({"method": ["HRNet-W32", "MfvPose", "mfvpose_tiny_mpii (ours)"], "input": ["256x256"] * 2 + ["64x64"],
                          "paper mean": [90.3, np.nan, np.nan], "paper status": ["published", "not recovered", ""],
                          "ours mean": [np.nan, np.nan, 42.61], "ours data": ["", "", SYNTH]})  # fmt: skip
    text = [f"{f.text} | {f.caveat}" for f in published_findings(table, "mean", scope=SCOPE, name="PCKh@0.5 mean")]
    assert "1 published row carries PCKh@0.5 mean; the highest is HRNet-W32 at 256x256, 90.3" in text[0]
    assert "not given; its status: not recovered" in text[1]
    assert "42.6" in text[2] and "not comparable" in text[2]
    path = tmp_path / "person_keypoints_test-dev2017_mfvpose_tiny_results.json"
    path.write_text(json.dumps([{"image_id": 1}, {"image_id": 2}]))
    done = submission_findings([SimpleNamespace(model="mfvpose_tiny", path=path)], scope=SCOPE)
    assert "2 person results" in done[0].text and "evaluation server" in done[0].caveat
    assert "no submission file" in submission_findings([], scope=SCOPE)[0].text


def test_markdown_puts_each_caveat_under_its_sentence():
    text = findings_markdown(published_findings(pd.DataFrame({"method": ["A"], "input": ["1x1"], "paper AP": [70.0]}),
                                                "AP", scope=SCOPE))  # fmt: skip
    assert text.startswith("* 1 published row carries AP") and "*Caveat: published numbers" in text


def test_the_skeleton_order_breaks_between_names():
    from mfvpose_lib.analysis.tokens import order_text, skeleton_order
    from mfvpose_lib.data.spec import get_meta

    meta = get_meta("coco")
    text = order_text(skeleton_order(meta.num_keypoints, meta.skeleton), meta.keypoint_names, width=40)
    lines = text.splitlines()
    assert len(lines) > 1 and all(len(line) <= 40 for line in lines)
    names = {n for line in lines for n in line.replace("→", " ").split()}
    assert names == set(meta.keypoint_names)  # no name cut in two


def test_parts_pivot_keeps_forward_order_and_leaves_missing_parts_empty():
    from mfvpose_lib.analysis.complexity import parts_pivot

    parts = pd.DataFrame({"model": ["tokenpose_b"] * 3 + ["mfvpose_b"] * 4,
                          "part": ["backbone", "transformer", "head", "backbone", "hrfov", "transformer", "head"],
                          "params": [7685632, 4570752, 1257984, 7685632, 91840, 4575360, 1257984]})  # fmt: skip
    table = parts_pivot(parts, "params")
    assert list(table.columns) == ["backbone", "hrfov", "transformer", "head"]
    assert np.isnan(table.loc["tokenpose_b", "hrfov"]) and table.loc["mfvpose_b", "hrfov"] == 91840


def test_cost_sentences_compare_our_counts_of_the_same_architectures():
    table = pd.DataFrame({
        "method": ["HRNet-W32", "HRNet-W32", "MfvPose"], "model": ["hrnet_w32", "hrnet_w32", "mfvpose_l_d8"],
        "input": ["256x192"] * 3, "ours params (M)": [28.5, 28.5, 21.3], "ours GFLOPs (paper convention)": [7.1, 7.1, 9.8],
    })  # fmt: skip
    (only,) = cost_findings(table, against=("HRNet-W32", "TokenPose-B"))  # no TokenPose-B row: no sentence
    assert only.text == "MfvPose against HRNet-W32: -25% params (21.3 against 28.5) and +38% GFLOPs (9.8 against 7.1)."
    assert "mfvpose_l_d8" in only.caveat
    assert cost_findings(table[table["method"] != "MfvPose"]) == []


@pytest.mark.parametrize(("mdd", "resolves"), [(8.8, "neither confirm nor refute"), (0.3, "could resolve")])
def test_ablation_sentences_say_whether_the_design_resolves_the_paper(mdd, resolves):
    table = pd.DataFrame({"row": ["base", "+LSW"], "verdict": ["base: the reference row.", "+LSW: -5.88 PCKh ..."]})
    lambdas = pd.DataFrame({"mean |λ| / init": [0.93, 1.06], "init": [0.1, 0.1]})
    found = ablation_findings(table, {"minimum_detectable_difference": mdd, "paper_gain": 0.41}, lambdas, scope=SCOPE)
    assert [f.text for f in found][0] == "+LSW: -5.88 PCKh ..."
    assert resolves in found[1].text and f"{mdd:.2f} PCKh" in found[1].text
    assert found[2].text.endswith("0.93 to 1.06 times its initial value 0.1: λ hardly trained in this schedule.")
    moved = ablation_findings(table, {"minimum_detectable_difference": mdd, "paper_gain": 0.41},
                              lambdas.assign(**{"mean |λ| / init": [0.5, 2.0]}), scope=SCOPE)  # fmt: skip
    assert "hardly" not in moved[2].text


def test_noise_sentences_say_whether_the_finer_statistic_agrees_with_pckh():
    from mfvpose_lib.study.noise import noise_table

    rng = np.random.default_rng(0)
    model_effect = np.repeat(rng.normal(0, 2.0, 4), 3) + np.tile(rng.normal(0, 1.0, 3), 4)
    per_seed = pd.DataFrame({
        "row": np.repeat(["base", "a", "b", "c"], 3), "key": np.repeat(["baseline", "hrfov", "lsw", "hrfov_lsw"], 3),
        "seed": np.tile([0, 1, 2], 4), "PCKh@0.5": 50 + model_effect, "PCKh@0.1": 5 + model_effect / 4,
        "MNE": 80 - model_effect, "eval_se": 0.7, "eval_se MNE": 1.5, "val_people": 500, "epochs": 8,
    })  # fmt: skip
    found = noise_findings(noise_table(per_seed), per_seed, scope=SCOPE)
    assert found[-1].text.startswith("Over the 12 trained cells, PCKh@0.5 and MNE correlate at r = -1.00")
    assert "does not remove the noise" in found[-1].text
    assert any(f.text.startswith("PCKh@0.5: with 3 paired seeds this design detects") for f in found)
    shuffled = per_seed.assign(MNE=rng.permutation(per_seed["MNE"].to_numpy()))
    assert "threshold itself adds noise" in noise_findings(noise_table(shuffled), shuffled, scope=SCOPE)[-1].text
