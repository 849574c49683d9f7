""""What this shows": the closing sentences of the analysis notebooks, computed from a run.

Every :class:`Finding` is one sentence built from this run's numbers and the caveat that bounds
it (profile, model size, seeds, data, whether the model was trained). The notebooks end with
``show_findings(...)`` so their conclusions change with the run instead of being typed in.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mfvpose_lib.analysis.attribution import ATTRIBUTION_METHODS, disc_share, mass_within, occlusion_window
from mfvpose_lib.data.source_label import is_synthetic_label

#: A map is "concentrated near the joint" when the disc holds this many times an even map's share.
CONCENTRATED = 2.0
#: Limb pairs count as "more alike" than other pairs from this difference in mean cosine on.
SKELETON_MARGIN = 0.05


@dataclass(frozen=True)
class Finding:
    text: str
    caveat: str


@dataclass(frozen=True)
class RunScope:
    """What every number of a run is conditioned on."""

    profile: str
    model: str
    input_size: tuple[int, int] | None
    epochs: int
    data: str
    seeds: int = 1
    trained: bool = True

    def caveat(self, extra: str = "") -> str:
        size = f" at {self.input_size[0]}x{self.input_size[1]}" if self.input_size else ""
        parts = [f"profile {self.profile}: {self.model}{size}, {self.epochs} epoch(s), "
                 f"{self.seeds} seed{'s' if self.seeds != 1 else ''}"]  # fmt: skip
        if is_synthetic_label(self.data):
            parts.append("built-in synthetic data, not COCO or MPII")
        if not self.trained:
            parts.append("no trained model in this run: the untrained one only, nothing here was learned")
        return "; ".join(parts + ([extra] if extra else []))


def run_scope(settings, data_source: str, dataset: str = "coco", *, trained: bool = True, seeds: int = 1) -> RunScope:
    """The :class:`RunScope` of the profile's ``dataset`` model on ``data_source``."""
    recipe = settings.for_dataset(dataset)
    size = tuple(recipe.input_size) if recipe.input_size else None
    return RunScope(settings.name, recipe.model, size, recipe.epochs, data_source, seeds, trained)


def findings_markdown(findings: Sequence[Finding]) -> str:
    return "\n".join(f"* {f.text}  \n  *Caveat: {f.caveat}.*" for f in findings)


def show_findings(findings: Sequence[Finding]):
    """The findings as Markdown for the notebook's last cell."""
    from IPython.display import Markdown

    return Markdown(findings_markdown(findings))


# ---------------------------------------------------------------------------------------------
# Notebook 10: effective receptive fields
# ---------------------------------------------------------------------------------------------

R90 = "radius @ 90% (px)"


#: A 90% field is read as inside the crop when its radius is at most this share of the crop's half-width.
INSIDE_CROP = 0.6


def receptive_field_findings(table: pd.DataFrame, boxes: pd.DataFrame | None, *, crops: int,
                             scope: RunScope, crop_size: tuple[int, int] | None = None,
                             canvas: tuple[int, int] | None = None) -> list[Finding]:  # fmt: skip
    """From :func:`~mfvpose_lib.analysis.receptive_field.erf_table` (and the branch boxes of
    :func:`~mfvpose_lib.analysis.dilation.branch_field_boxes`): what HRFOV adds to the 90% field
    of each model, what training changed, how much of the theoretical field is used, and (with
    ``crop_size``, the model's crop, and ``canvas``, the image measured on, by default the crop)
    whether each 90% field lies inside the measured image, i.e. whether its edges bound it."""
    caveat = scope.caveat(f"{crops} validation crop{'s' if crops != 1 else ''}; radii in input pixels")
    radius = table.set_index(["model", "map"])[R90]
    findings = [Finding(_hrfov_sentence(model, radius[model]), caveat) for model in dict.fromkeys(table["model"])]
    if {"trained", "untrained"} <= set(table["model"]) and "backbone + HRFOV" in radius["trained"]:
        t, u = radius["trained"]["backbone + HRFOV"], radius["untrained"]["backbone + HRFOV"]
        verb = "widened" if t > u else "narrowed" if t < u else "left"
        findings.append(Finding(f"Training {verb} the 90% field after HRFOV: ±{u:.0f} px untrained, ±{t:.0f} px "
                                "trained.", caveat))  # fmt: skip
    if boxes is not None and len(boxes) and "backbone + HRFOV" in radius[table["model"].iloc[0]]:
        model = table["model"].iloc[0]
        used = 2 * radius[model]["backbone + HRFOV"] + 1
        widest = int(boxes["field (px)"].max())
        findings.append(Finding(f"The widest HRFOV branch could read a {widest}-px square; the {model} model's 90% "
                                f"square is {used:.0f} px, {used / widest:.0%} of that width: the gradient stays "
                                "far inside the theoretical field.", caveat))  # fmt: skip
    if crop_size is not None:
        findings += [Finding(_inside_crop_sentence(model, radius[model], crop_size, canvas or crop_size), caveat)
                     for model in dict.fromkeys(table["model"])]  # fmt: skip
    return findings


def _inside_crop_sentence(model: str, radius: pd.Series, crop_size: tuple[int, int], canvas: tuple[int, int]) -> str:
    half = min(canvas) / 2
    r = radius.get("backbone + HRFOV", radius["backbone"])
    share = r / half
    verdict = ("inside the measured image: its edges do not bound it" if share <= INSIDE_CROP
               else "not inside the measured image: its edges bound it, so the radius partly measures them")
    own = "" if tuple(canvas) == tuple(crop_size) else (
        f"; it spans {r / (min(crop_size) / 2):.0%} of the half-width of the model's own {crop_size[0]}x{crop_size[1]} crop")
    return (f"{model.capitalize()} model: its 90% field (±{r:.0f} px) is {share:.0%} of the half-width of the "
            f"{canvas[0]}x{canvas[1]} image it was measured on ({half:.0f} px); {verdict} (inside: at most "
            f"{INSIDE_CROP:.0%}){own}.")


def _hrfov_sentence(model: str, radius: pd.Series) -> str:
    backbone = radius["backbone"]
    if "backbone + HRFOV" not in radius:
        return f"{model.capitalize()} model: 90% of the centre unit's gradient lies within ±{backbone:.0f} px."
    after = radius["backbone + HRFOV"]
    return (f"{model.capitalize()} model: 90% of the centre unit's gradient lies within ±{backbone:.0f} px of it "
            f"for the backbone alone and ±{after:.0f} px after HRFOV ({after / max(backbone, 1e-9):.2f}x).")  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Notebook 11: keypoint tokens, attention distance, LayerScale
# ---------------------------------------------------------------------------------------------


def token_findings(similarity: pd.DataFrame, distances: pd.DataFrame, layer_scales: Mapping[str, pd.DataFrame], *,
                   uniform_distance: float, crops: int, scope: RunScope) -> list[Finding]:  # fmt: skip
    """``similarity``: :func:`~mfvpose_lib.analysis.tokens.similarity_summary` rows with a ``model``
    column; ``distances``: mean attention distance per layer (rows) and model (columns);
    ``layer_scales``: :func:`~mfvpose_lib.analysis.layerscale.layer_scale_table` by model."""
    caveat = scope.caveat(f"{crops} validation crop{'s' if crops != 1 else ''}")
    findings = [Finding(_similarity_sentence(model, rows), caveat) for model, rows in similarity.groupby("model", sort=False)]
    for model in distances.columns:
        d = distances[model]
        findings.append(Finding(f"{model.capitalize()} model: patch tokens attend {d.iloc[0]:.2f} patches away on "
                                f"average in layer {d.index[0]} and {d.iloc[-1]:.2f} in layer {d.index[-1]}; uniform "
                                f"attention would give {uniform_distance:.2f}.", caveat))  # fmt: skip
    findings += [Finding(_layer_scale_sentence(model, table), caveat) for model, table in layer_scales.items()
                 if len(table)]  # fmt: skip
    return findings


def _similarity_sentence(model: str, rows: pd.DataFrame) -> str:
    last = rows.iloc[-1]
    limbs, rest = last["mean cos (limbs)"], last["mean cos (not limbs)"]
    reading = ("joints joined by a limb are more alike" if limbs - rest >= SKELETON_MARGIN
               else "no skeleton structure beyond the other pairs")  # fmt: skip
    return (f"{model.capitalize()} model, tokens after {last['tokens']}: mean cosine {limbs:.2f} between joints "
            f"joined by a limb, {rest:.2f} between the others ({reading}).")  # fmt: skip


def _layer_scale_sentence(model: str, table: pd.DataFrame) -> str:
    init = table["init"].iloc[0]
    if np.allclose(table["mean |λ| / init"], 1.0, rtol=1e-6):
        return f"{model.capitalize()} model: every LayerScale λ is still at its init value {init:g}."
    ratio = table.groupby("branch", sort=False)["mean |λ| / init"].agg(["min", "max"])
    spans = "; ".join(f"{branch} {row['min']:.3g}x to {row['max']:.3g}x" for branch, row in ratio.iterrows())
    return f"{model.capitalize()} model: mean |λ| per layer, against its init {init:g}, spans {spans}."


# ---------------------------------------------------------------------------------------------
# Notebook 12: attributions
# ---------------------------------------------------------------------------------------------


def attribution_findings(inspectors: Mapping, *, sample: int, keypoint: int, scope: RunScope) -> list[Finding]:
    """From :class:`~mfvpose_lib.analysis.inspection.CropInspector` objects by model label (their
    cached attributions of ``keypoint`` on crop ``sample``): which maps are flat, whether integrated
    gradients pass completeness, and what Grad-CAM's map says about the region the model uses."""
    caveat = scope.caveat("one crop and one keypoint")
    findings = []
    for label, inspector in inspectors.items():
        results = {m: inspector.attribution(sample, keypoint, m) for m in ATTRIBUTION_METHODS}
        findings.append(Finding(_flat_sentence(label, results), caveat))
        if not results["integrated_gradients"].flat:  # a flat map's completeness says nothing
            findings.append(Finding(f"{label.capitalize()} model, integrated gradients: "
                                    f"{results['integrated_gradients'].completeness()}.", caveat))  # fmt: skip
        inspection = inspector[sample]
        if not results["gradcam"].flat:
            findings.append(Finding(gradcam_sentence(label, results["gradcam"].attribution,
                                                     inspection.points[keypoint], inspection.keypoint_label(keypoint)),
                                    caveat))  # fmt: skip
    return findings


def _flat_sentence(label: str, results: Mapping) -> str:
    flat = [m.replace("_", " ") for m, r in results.items() if r.flat]
    if not flat:
        return f"{label.capitalize()} model: every method's map has a readable scale (none is flat)."
    if len(flat) == len(results):
        return (f"{label.capitalize()} model: all {len(flat)} maps are flat (largest |attribution| "
                f"{max(r.scale for r in results.values()):.1e}): the prediction does not depend on the crop.")  # fmt: skip
    return f"{label.capitalize()} model: flat maps for {', '.join(flat)}; the others can be read."


def gradcam_sentence(label: str, cam: np.ndarray, point, name: str) -> str:
    """Where a Grad-CAM map lies against the predicted joint: the share of its mass near it
    (against an even map's) and the distance of its maximum."""
    radius = occlusion_window(cam.shape)
    near, even = mass_within(cam, point, radius), disc_share(cam.shape, point, radius)
    y, x = np.unravel_index(int(np.argmax(cam)), cam.shape)
    far = float(np.hypot(x - point[0], y - point[1]))
    reading = ("the features the Transformer reads for this joint come from around it" if near >= CONCENTRATED * even
               else "the features it reads are spread over the crop, not centred on the joint")  # fmt: skip
    return (f"{label.capitalize()} model, Grad-CAM: {near:.0%} of the map within {radius} px of the predicted "
            f"{name} (an even map: {even:.0%}), its maximum {far:.0f} px from it: {reading}.")  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Notebooks 14 and 15: the published tables beside ours
# ---------------------------------------------------------------------------------------------


def published_findings(table: pd.DataFrame, metric: str, *, scope: RunScope, name: str = "") -> list[Finding]:
    """The best published row, MfvPose's published number (or its status), and our measurements
    with the data they were measured on. ``name``: how the sentences call ``metric``."""
    column = f"paper {metric}"
    name = name or metric
    published = table.dropna(subset=[column])
    caveat = "published numbers as the paper and its baselines report them; see each row's status and source"
    findings = []
    if len(published):
        best = published.loc[published[column].idxmax()]
        rows = f"{len(published)} published rows carry" if len(published) > 1 else "1 published row carries"
        findings.append(Finding(f"{rows} {name}; the highest is {best['method']} at {best['input']}, "
                                f"{best[column]:.1f}.", caveat))  # fmt: skip
    for _, row in table[table["method"] == "MfvPose"].iterrows():
        value = f"{row[column]:.1f}" if pd.notna(row.get(column)) else f"not given; its status: {row.get('paper status', '')}"
        findings.append(Finding(f"MfvPose at {row['input']}: published {name} {value}.", caveat))
    findings += [_ours_sentence(row, metric, name, scope) for _, row in table.iterrows()
                 if pd.notna(row.get(f"ours {metric}"))]  # fmt: skip
    return findings


def _ours_sentence(row: pd.Series, metric: str, name: str, scope: RunScope) -> Finding:
    text = f"Ours, {row['method']}: {name} {row[f'ours {metric}']:.1f} measured on {row['ours data']}."
    extra = "not comparable with the published rows" if is_synthetic_label(str(row["ours data"])) else ""
    return Finding(text, scope.caveat(extra))


def submission_findings(submissions: Sequence, *, scope: RunScope) -> list[Finding]:
    """What the test-dev files hold (``submissions``: :class:`~mfvpose_lib.study.submission.Submission`)."""
    caveat = scope.caveat("test-dev has no public labels: only the evaluation server can score the file")
    if not submissions:
        return [Finding("No test-dev images and detections in the data root: no submission file was written.", caveat)]
    findings = []
    for submission in submissions:
        with open(submission.path, encoding="utf-8") as fh:
            people = len(json.load(fh))
        findings.append(Finding(f"{submission.model} wrote {people} person results to {submission.path.name}, in "
                                "the server's format.", caveat))  # fmt: skip
    return findings


def cost_findings(table: pd.DataFrame, *, model_row: str = "MfvPose",
                  against: Sequence[str] = ("HRNet-W32", "TokenPose-L/D6")) -> list[Finding]:  # fmt: skip
    """MfvPose's parameters and GFLOPs as counted on our rebuilt architecture, each compared with
    a published baseline's (its own count of the same registered model)."""
    counts = table.drop_duplicates("method").set_index("method")
    columns = {"params": "ours params (M)", "GFLOPs": "ours GFLOPs (paper convention)"}
    if model_row not in counts.index or pd.isna(counts.loc[model_row, columns["params"]]):
        return []
    mine = counts.loc[model_row]
    caveat = (f"counted on our rebuild of the architecture ({mine['model']}, {mine['input']}); the paper "
              "prints no counts for MfvPose; counts do not depend on the data")  # fmt: skip
    findings = []
    for other in against:
        if other not in counts.index or pd.isna(counts.loc[other, columns["params"]]):
            continue
        changes = [f"{(mine[col] / counts.loc[other, col] - 1) * 100:+.0f}% {name} "
                   f"({mine[col]:.1f} against {counts.loc[other, col]:.1f})" for name, col in columns.items()]  # fmt: skip
        findings.append(Finding(f"{model_row} against {other}: {' and '.join(changes)}.", caveat))
    return findings


# ---------------------------------------------------------------------------------------------
# Notebook 16: the ablation
# ---------------------------------------------------------------------------------------------


def ablation_findings(table: pd.DataFrame, summary: Mapping, layer_scales: pd.DataFrame, *,
                      scope: RunScope) -> list[Finding]:  # fmt: skip
    """Each row's paired verdict, whether the design can resolve the paper's gain, and how far
    the LSW rows' λ moved from its initial value."""
    caveat = scope.caveat("paired seeds, final weights, flip test")
    findings = [Finding(str(v), caveat) for v in table["verdict"].iloc[1:]]
    mdd, gain = summary["minimum_detectable_difference"], summary["paper_gain"]
    if np.isfinite(mdd):
        resolves = ("so it could resolve the paper's +{gain:.2f}" if mdd <= gain else
                    "{ratio:.0f} times the paper's +{gain:.2f}: this table can neither confirm nor refute it")
        findings.append(Finding(f"This design detects a true difference of {mdd:.2f} PCKh (80% power, 5% level), "
                                + resolves.format(gain=gain, ratio=mdd / gain) + ".", caveat))  # fmt: skip
    if len(layer_scales):
        ratio = layer_scales["mean |λ| / init"]
        findings.append(Finding(
            f"The LSW rows' mean |λ| per layer and branch ended at {ratio.min():.2f} to {ratio.max():.2f} times its "
            f"initial value {layer_scales['init'].iloc[0]:g}"
            + (": λ hardly trained in this schedule." if (ratio - 1).abs().max() < 0.1 else "."),
            scope.caveat("final weights of every LSW cell")))  # fmt: skip
    return findings


def noise_findings(noise: pd.DataFrame, per_seed: pd.DataFrame, *, scope: RunScope) -> list[Finding]:
    """How much seed noise each statistic carries (``study.noise.noise_table``) and whether the
    finer statistic moves with PCKh@0.5 across the trained cells (then the spread lies between
    the trained models, not in joints flipping across the PCKh threshold)."""
    from mfvpose_lib.study.ablation import FINE_METRIC, METRIC
    from mfvpose_lib.study.noise import noise_statements

    caveat = scope.caveat("the spread of few seeds is itself uncertain")
    findings = [Finding(s, caveat) for s in noise_statements(noise)]
    if {METRIC, FINE_METRIC} <= set(per_seed) and len(per_seed) > 2:
        r = float(np.corrcoef(per_seed[METRIC], per_seed[FINE_METRIC])[0, 1])
        reading = ("they rank the trained models alike, so a finer statistic alone does not remove the noise"
                   if abs(r) >= 0.9 else "they disagree often enough that the threshold itself adds noise")  # fmt: skip
        findings.append(Finding(f"Over the {len(per_seed)} trained cells, {METRIC} and {FINE_METRIC} correlate at "
                                f"r = {r:+.2f}: {reading}.", caveat))  # fmt: skip
    return findings


# ---------------------------------------------------------------------------------------------
# Notebook 16: training dynamics
# ---------------------------------------------------------------------------------------------


def dynamics_findings(curves: pd.DataFrame, layer_scales: pd.DataFrame, *, scope: RunScope) -> list[Finding]:
    """Whether the LSW rows train faster or slower than the same rows without LSW (final training
    loss and, where the runs validated on at least three epochs, the validation score; seed-paired),
    the epoch each row reaches a common level, and how far λ moved."""
    from mfvpose_lib.study.ablation import METRIC
    from mfvpose_lib.study.dynamics import curve_score

    caveat = scope.caveat("training loss on the training crops, every epoch; seeds paired")
    findings = _paired_final_findings(curves, "train_loss", "final training loss", "{:.5f}", caveat)
    findings.append(_reach_finding(curves, "train_loss", "a training loss of {:.5f} (the highest final loss of any "
                                   "run)", caveat))  # fmt: skip
    if curve_score(curves) is not None:
        val_caveat = scope.caveat("validation PCKh@0.5 without the flip test, on the epochs validated; seeds paired")
        findings += _paired_final_findings(curves, METRIC, f"final validation {METRIC}", "{:.2f}", val_caveat)
        findings.append(_reach_finding(curves, METRIC, f"a validation {METRIC} of {{:.2f}} (the lowest final score "
                                       "of any run)", val_caveat))  # fmt: skip
    if len(layer_scales):
        moved = float((layer_scales["λ / init"] - 1).abs().max())
        findings.append(Finding(f"Over training, λ stayed within {moved * 100:.1f}% of its initial value (mean |λ| "
                                "over layers and branches, every LSW run and epoch).", caveat))  # fmt: skip
    return findings


def _paired_final_findings(curves: pd.DataFrame, column: str, what: str, number: str, caveat: str) -> list[Finding]:
    from mfvpose_lib.study.ablation import LSW_PAIRS

    final = curves.dropna(subset=[column]).sort_values("epoch").groupby(["key", "seed"]).last()
    labels = curves.drop_duplicates("key").set_index("key")["row"]
    findings = []
    for with_lsw, without in LSW_PAIRS:
        if with_lsw not in labels or without not in labels:
            continue
        a, b = final.loc[with_lsw, column], final.loc[without, column]
        seeds = a.index.intersection(b.index)
        higher = int((a[seeds] > b[seeds]).sum())
        findings.append(Finding(f"{labels[with_lsw]}: {what} {number.format(a[seeds].mean())} against "
                                f"{number.format(b[seeds].mean())} without LSW, higher in {higher} of {len(seeds)} "
                                "paired seeds.", caveat))  # fmt: skip
    return findings


def _reach_finding(curves: pd.DataFrame, column: str, level_text: str, caveat: str) -> Finding:
    from mfvpose_lib.study.dynamics import epochs_to_reach

    reached = epochs_to_reach(curves, column=column)
    mean_epoch = reached.groupby("row", sort=False)["epoch"].mean()
    return Finding(f"Epochs to reach {level_text.format(reached['level'].iloc[0])}, mean over seeds: "
                   + ", ".join(f"{row} {epoch:.1f}" for row, epoch in mean_epoch.items()) + ".", caveat)


def lever_findings(levers: pd.DataFrame, *, scope: RunScope) -> list[Finding]:
    """One sentence per lever and weights of :func:`~mfvpose_lib.study.noise_levers.lever_table`."""
    from mfvpose_lib.study.noise_levers import lever_statements

    caveat = scope.caveat("the MPII recipe with one setting changed per lever; TokenPose and + LSW, paired seeds")
    return [Finding(text, caveat) for text in lever_statements(levers)]


def scale_findings(scaling, designs: pd.DataFrame, *, seeds: int, epochs: int, scope: RunScope) -> list[Finding]:
    """What :mod:`~mfvpose_lib.study.scale_design` predicts for a Table 4 of ``seeds`` paired seeds
    and ``epochs`` epochs (the gpu profile's), labelled as the prediction it is."""
    from mfvpose_lib.study import significance
    from mfvpose_lib.study.scale_design import PAPER_TARGET

    caveat = scope.caveat(f"a power law through {scaling.epochs[0]} and {scaling.epochs[1]} epochs on this profile, "
                          "carried to another model and data set: a prediction, not a measurement")  # fmt: skip
    mdd = significance.minimum_detectable_difference(scaling.spread_at(epochs), seeds)
    cheapest = designs.loc[designs["GPU-hours (assumed rate)"].idxmin()]
    return [
        Finding(f"The paired spread fell from {scaling.spreads[0]:.2f} to {scaling.spreads[1]:.2f} PCKh between "
                f"{scaling.epochs[0]} and {scaling.epochs[1]} epochs (epochs^-{scaling.exponent:.2f}).", caveat),
        Finding(f"Predicted: {seeds} paired seeds of {epochs} epochs detect {mdd:.2f} PCKh, against the paper's "
                f"+{PAPER_TARGET}; the cheapest design in the table is {cheapest['paired seeds']:g} seeds of "
                f"{cheapest['epochs']:g} epochs, {cheapest['GPU-hours (assumed rate)']:.1f} GPU-hours at the assumed "
                "rate.", caveat),
    ]  # fmt: skip
