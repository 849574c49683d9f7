"""Tables 1-4: published rows beside ours, released checkpoints in their rows, the ablation's statistics."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from mfvpose_lib.data.synth import is_complete, write_synthetic
from mfvpose_lib.reference import layout_state_dict, load_reference
from mfvpose_lib.study import ablation, significance
from mfvpose_lib.study.profiles import get_profile
from mfvpose_lib.study.released import evaluate_released, find_released
from mfvpose_lib.study.submission import has_test_dev, write_test_dev_submission
from mfvpose_lib.study.tables import OurAccuracy, build_table, released_accuracy, to_markdown

SYNTH = "built-in synthetic (test set)"
USER = "user data at /data (COCO layout)"


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("tables") / "data"
    write_synthetic(root, 2, 3, seed=0, n_test=2)
    return root


# ---------------------------------------------------------------- released checkpoints


def _released_folder(tmp_path):
    folder = tmp_path / "released"
    folder.mkdir()
    torch.save(
        layout_state_dict("pose_hrnet_w32_coco_256x192", seed=1), folder / "pose_hrnet_w32_256x192.pth"
    )
    torch.save(
        {"state_dict": layout_state_dict("pose_resnet50_coco_256x192", seed=2)},
        folder / "simplebaseline_r50.pth",
    )
    torch.save(layout_state_dict("tokenpose_b_coco_256x192", seed=3), folder / "TokenPose_B.pth")
    torch.save(layout_state_dict("tokenpose_l_d24_coco_256x192", seed=4), folder / "tokenpose_l_d24.pth.tar")
    (folder / "released.json").write_text(json.dumps({"tokenpose_b": "TokenPose_B.pth"}))
    (folder / "notes.txt").write_text("not a checkpoint")
    return folder


@pytest.mark.slow
def test_released_checkpoints_in_public_layouts_land_in_their_rows_with_family_settings(tmp_path, tiny_root):
    found = find_released(_released_folder(tmp_path))
    assert [(c.model, c.found_by) for c in found] == [
        ("hrnet_w32", "model-zoo name"), ("simplebaseline_r50", "registered name"),
        ("tokenpose_b", "released.json"), ("tokenpose_l_d24", "registered name"),
    ]  # fmt: skip
    # scored on the tiny synthetic set but labelled as a user's COCO copy, to see where real numbers land
    scored = evaluate_released(found, tiny_root, USER, device="cpu").set_index("model")
    expected = {  # model: (published method, geometry, decoder, flip alignment), per codec_for_model
        "hrnet_w32": ("HRNet-W32", "hrnet", "quarter", "hrnet_1px"),
        "simplebaseline_r50": ("SimpleBaseline-R50", "hrnet", "quarter", "hrnet_1px"),
        "tokenpose_b": ("TokenPose-B", "tokenpose", "dark", "exact"),
        "tokenpose_l_d24": ("TokenPose-L/D24", "tokenpose", "dark", "exact"),
    }
    for model, (method, geometry, decoder, alignment) in expected.items():
        row = scored.loc[model]
        assert (row["table"], row["method"], row["input"]) == ("coco", method, "256x192")
        assert (row["geometry"], row["decoder"], row["flip alignment"], row["flip"]) == (
            geometry,
            decoder,
            alignment,
            "on",
        )
        assert 0.0 <= row["AP"] <= 1.0 and row["note"] == ""
    table = build_table("table1_coco_val", released_accuracy(scored.reset_index(), "smoke"))
    for model, (method, *_rest) in expected.items():
        rows = table[table["method"] == method]
        assert len(rows) >= 1 and (rows["model"] == model).all()
        assert (rows["ours origin"] == "released checkpoint").all() and (rows["ours data"] == USER).all()
        assert rows["ours AP"].iloc[0] == pytest.approx(100.0 * scored.loc[model, "AP"])
    assert table[table["ours origin"] == ""]["ours AP"].isna().all()
    # the same numbers labelled synthetic never sit in a published row
    on_synthetic = released_accuracy(scored.reset_index().assign(data=SYNTH), "smoke")
    table = build_table("table1_coco_val", on_synthetic)
    published = table[table["paper status"] != "see the published row"]
    assert published["ours AP"].isna().all()
    assert set(table[table["ours data"] == SYNTH]["method"]) == {
        f"{m} (ours, released checkpoint, synthetic data)" for m in expected
    }


def test_released_folder_errors_name_the_file(tmp_path):
    folder = tmp_path / "w"
    folder.mkdir()
    (folder / "released.json").write_text(json.dumps({"no_such_model": "x.pth"}))
    with pytest.raises(ValueError, match=r"released\.json.*no_such_model"):
        find_released(folder)
    (folder / "released.json").write_text(json.dumps({"hrnet_w32": "missing.pth"}))
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        find_released(folder)
    with pytest.raises(FileNotFoundError, match="no such folder"):
        find_released(tmp_path / "absent")


# ---------------------------------------------------------------- tables 1-3


def test_tables_keep_every_published_row_and_label_synthetic_numbers():
    ours = [OurAccuracy("mfvpose_tiny", "coco", {"AP": 31.0, "AR": 40.0}, SYNTH, "cpu", "run/train_coco/best.pt",
                        "trained in this study", {"input_size": [64, 48]})]  # fmt: skip
    table = build_table("table1_coco_val", ours)
    reference = load_reference("coco")
    val = reference[reference["split"] == "val"]
    assert len(table) == len(val) + 1
    assert list(table["paper AP"].iloc[: len(val)].fillna(-1)) == list(val["AP"].fillna(-1))
    assert table.iloc[: len(val)]["ours AP"].isna().all()  # no synthetic number in a published row
    extra = table.iloc[-1]
    assert extra["method"] == "mfvpose_tiny (ours, synthetic data)" and extra["input"] == "64x48"
    assert pd.isna(extra["paper AP"]) and extra["ours AP"] == 31.0 and extra["ours data"] == SYNTH
    assert extra["ours GFLOPs (paper convention)"] < 0.1  # computed at the trained 64x48, not 128x96
    hrnet = table[(table["model"] == "hrnet_w32")]
    assert (hrnet["ours params (M)"] - 28.5).abs().max() < 0.1
    assert "nan" not in to_markdown(table)
    mpii = build_table("table3_mpii_val", [])
    assert len(mpii) == len(load_reference("mpii")) and "paper mean" in mpii and "ours mean" in mpii


def test_test_dev_submission_from_the_synthetic_split(tmp_path, tiny_root):
    from mfvpose_lib.engine.train import TrainConfig, train

    assert has_test_dev(tiny_root)
    info = json.loads((tiny_root / "coco" / "annotations" / "image_info_test-dev2017.json").read_text())
    assert "annotations" not in info and len(info["images"]) == 2
    assert is_complete(tiny_root, 2, 3, 0, 2) and not is_complete(tiny_root, 2, 3, 0, 0)
    run = tmp_path / "run"
    train(TrainConfig(model="mfvpose_tiny", dataset="coco", data_root=str(tiny_root), out_dir=str(run), epochs=1,
                      batch_size=2, lr=1e-3, input_size=(64, 48), device="cpu", progress=False))  # fmt: skip
    sub = write_test_dev_submission(run / "best.pt", tiny_root, tmp_path / "td", device="cpu")
    assert sub.path.name == "person_keypoints_test-dev2017_mfvpose_tiny_results.json" and sub.input_size == (
        64,
        48,
    )
    results = json.loads(sub.path.read_text())
    assert results and all(r["category_id"] == 1 and len(r["keypoints"]) == 51 for r in results)
    assert {r["image_id"] for r in results} <= {im["id"] for im in info["images"]}
    table = build_table("table2_coco_test_dev", [], submissions=[sub], base=tmp_path)
    assert table.iloc[-1]["ours submission"] == "td/" + sub.path.name and table["ours AP"].isna().all()


def test_a_malformed_submission_is_refused():
    from mfvpose_lib.evaluation.coco import check_submission

    with pytest.raises(ValueError, match="entry 1"):
        check_submission([{"image_id": 1, "category_id": 1, "keypoints": [0.0] * 51, "score": 0.5},
                          {"image_id": 2, "category_id": 1, "keypoints": [0.0] * 34, "score": 0.5}], "x.json")  # fmt: skip


# ---------------------------------------------------------------- statistics


def test_paired_interval_is_the_t_interval_of_the_differences():
    b = np.array([60.0, 59.1, 61.0, 60.3])
    a = b + np.array([1.0, 0.8, 1.1, 0.9])
    interval = significance.paired_difference(a, b)
    d = a - b
    half = stats.t.ppf(0.975, 3) * d.std(ddof=1) / 2
    assert (interval.low, interval.high) == pytest.approx((d.mean() - half, d.mean() + half))
    assert interval.p_value == pytest.approx(stats.ttest_rel(a, b).pvalue) and interval.excludes_zero
    welch = significance.welch_difference(a, b)
    assert welch.p_value == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue)
    assert welch.high - welch.low > interval.high - interval.low  # the pairing removes the shared seed noise
    assert "exceeds seed noise" in significance.verdict("+X", interval, "PCKh", 4)
    flat = significance.paired_difference(np.array([1.0, 2.0, 3.0]), np.array([1.5, 1.0, 3.2]))
    assert not flat.excludes_zero and "does not exceed" in significance.verdict("+Y", flat, "PCKh", 3)


def test_minimum_detectable_difference_has_the_asked_power():
    sd, n = 1.5, 3
    mdd = significance.minimum_detectable_difference(sd, n)
    crit = stats.t.ppf(0.975, n - 1)
    nc = mdd / (sd / np.sqrt(n))
    assert stats.nct.sf(crit, n - 1, nc) + stats.nct.cdf(-crit, n - 1, nc) == pytest.approx(0.8, abs=1e-6)
    # many pairs: the normal approximation (z_0.975 + z_0.8) sd / sqrt(n)
    assert significance.minimum_detectable_difference(sd, 400) == pytest.approx(2.8016 * sd / 20, rel=0.01)
    assert significance.minimum_detectable_difference(sd, 10) < mdd


def test_bootstrap_standard_error_of_a_pooled_rate():
    counted = np.full(400, 10.0)
    assert significance.bootstrap_standard_error(counted, counted) == 0.0  # every joint right: no noise
    correct = np.random.default_rng(0).binomial(10, 0.6, size=400).astype(float)
    se = significance.bootstrap_standard_error(correct, counted)
    assert se == pytest.approx(100 * correct.std(ddof=1) / 10 / np.sqrt(400), rel=0.15)


# ---------------------------------------------------------------- the ablation


def test_ablation_cells_pair_seeds_and_reuse_the_study_run(tmp_path):
    profile = get_profile("cpu")
    cells = ablation.ablation_cells(profile, tmp_path / "data", tmp_path / "run")
    assert len(cells) == 4 * profile.ablation_seeds >= 12
    full0 = [c for c in cells if c.row is ablation.FULL_ROW and c.seed == 0]
    assert [c.out_dir for c in full0] == [tmp_path / "run" / "train_mpii"]  # notebook 06's MPII run
    for cell in cells:
        assert cell.config.seed == cell.seed and cell.config.model == profile.for_dataset("mpii").model
        assert cell.config.epochs == profile.for_dataset("mpii").epochs
        assert (cell.config.init_from is None) == (cell.row is ablation.FULL_ROW)
        assert ("hrfov" in cell.config.model_overrides) == (not cell.row.hrfov)
        assert ("layer_scale_init" in cell.config.model_overrides) == (not cell.row.lsw)
    assert len({c.out_dir for c in cells}) == len(cells)


def test_paired_rows_start_from_the_same_weights_where_they_agree(tmp_path):
    from mfvpose_lib.engine.train import build_model_for_run
    from mfvpose_lib.models.checkpoint import load_weights

    cells = [c for c in ablation.ablation_cells(get_profile("smoke"), tmp_path, tmp_path / "run", seeds=2)]
    ablation.write_initial_weights(cells, tmp_path / "run")
    models = {}
    for cell in cells:
        torch.manual_seed(cell.seed)
        model = build_model_for_run(cell.config)
        if cell.config.init_from:
            load_weights(model, cell.config.init_from, strict=False)
        models[cell.row.key, cell.seed] = model.state_dict()
    key = next(k for k in models["baseline", 0] if k.startswith("transformer.") and k.endswith("weight"))
    for seed in (0, 1):
        full = models["hrfov_lsw", seed]
        for row in ("baseline", "hrfov", "lsw"):
            shared = [k for k in models[row, seed] if k in full]
            assert all(torch.equal(models[row, seed][k], full[k]) for k in shared)
    assert not torch.equal(models["baseline", 0][key], models["baseline", 1][key])  # seeds differ


def test_ablation_table_statistics_and_sentences_are_computed():
    rng = np.random.default_rng(0)
    seed_effect = rng.normal(0, 1.0, 4)
    gains = {"baseline": 0.0, "hrfov": 0.05, "lsw": 3.0, "hrfov_lsw": 3.2}
    rows = [{"row": r.label, "key": r.key, "seed": s, "PCKh@0.5": 60 + seed_effect[s] + gains[r.key]
             + rng.normal(0, 0.1), "eval_se": 0.3, "val_people": 1000}
            for r in ablation.ABLATION_ROWS for s in range(4)]  # fmt: skip
    table, summary = ablation.ablation_table(pd.DataFrame(rows))
    assert list(table["row"]) == [r.label for r in ablation.ABLATION_ROWS]
    by_row = table.set_index("row")
    lsw = by_row.loc["+LSW"]
    assert lsw["diff to baseline"] == pytest.approx(3.0, abs=0.3) and "exceeds seed noise" in lsw["verdict"]
    assert "does not exceed" in by_row.loc["+HRFOV"]["verdict"]
    assert by_row.loc["+HRFOV +LSW (MfvPose)"]["paper status"].startswith("derived")
    assert summary["seeds"] == 4 and summary["paper_gain"] == 0.41
    assert summary["our_gain"] == pytest.approx(by_row.loc["+HRFOV +LSW (MfvPose)"]["diff to baseline"])
    assert 0 < summary["minimum_detectable_difference"] < 1.0  # paired: the 1-point seed effect cancels
    assert f"{summary['minimum_detectable_difference']:.2f}" in ablation.power_statement(summary)


def test_gpu_profile_trains_the_paper_size_members_at_their_real_sizes(tmp_path):
    from mfvpose_lib.engine.train import build_model_for_run
    from mfvpose_lib.study.runs import config_from_profile

    gpu = get_profile("gpu")
    assert gpu.synth_train >= 5000 and gpu.synth_test > 0 and gpu.ablation_seeds >= 3
    sizes = {}
    for dataset in ("coco", "mpii"):
        config = config_from_profile(gpu, dataset, tmp_path, tmp_path / dataset)
        with torch.device("meta"):
            sizes[config.model] = tuple(build_model_for_run(config).cfg.input_size)
    assert sizes == {"mfvpose_b": (256, 192), "mfvpose_l_d6_mpii": (256, 256)}
    baseline = ablation.ablation_cells(gpu, tmp_path, tmp_path / "run")[0]
    assert baseline.config.model == "mfvpose_l_d6_mpii"  # TokenPose-L/D6 once HRFOV and LSW are off
    assert baseline.config.model_overrides == {"hrfov": None, "layer_scale_init": None}


def _crowded_table(count: int = 8) -> pd.DataFrame:
    """``count`` published and ``count`` synthetic rows bunched together, two far rows setting the axes' range."""
    rng = np.random.default_rng(0)
    gflops = np.r_[1.0, 40.0, 9.0 + 0.6 * rng.random(count)]
    ap = np.r_[60.0, 78.0, 74.0 + 0.6 * rng.random(count)]
    names = [f"Model-{i} L/D{i}" for i in range(len(gflops))]
    published = pd.DataFrame({"method": names, "model": names, "input": "256x192", "paper AP": ap,
                              "paper GFLOPs": gflops, "ours GFLOPs (paper convention)": gflops})  # fmt: skip
    ours = pd.DataFrame({"method": names, "model": names, "input": "64x48", "ours AP": ap - 40,
                         "ours GFLOPs (paper convention)": gflops / 20, "ours data": SYNTH,
                         "ours origin": "trained in this study"})  # fmt: skip
    return pd.concat([published, ours], ignore_index=True)


def test_accuracy_vs_gflops_labels_do_not_overlap_and_stay_inside_their_axes():
    import matplotlib.pyplot as plt
    from matplotlib.text import Text

    from mfvpose_lib.viz.tables import plot_accuracy_vs_gflops

    table = _crowded_table()
    fig = plot_accuracy_vs_gflops(table, "AP")
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        for ax in fig.axes:
            # the words only, not their leader lines
            boxes = [Text.get_window_extent(text, renderer) for text in ax.texts]
            assert len(boxes) == len(table) // 2  # one label per point of the panel
            frame = ax.get_window_extent(renderer)
            for i, box in enumerate(boxes):
                assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
                assert not any(box.overlaps(other) for other in boxes[i + 1 :]), ax.texts[i].get_text()
        again = plot_accuracy_vs_gflops(table, "AP")  # the placement is deterministic
        assert [t.get_position() for a in fig.axes for t in a.texts] == [
            t.get_position() for a in again.axes for t in a.texts
        ]
        plt.close(again)
    finally:
        plt.close(fig)


def test_a_row_trained_without_pretraining_says_so_in_the_table_and_the_plot():
    import matplotlib.pyplot as plt

    from mfvpose_lib.viz.tables import plot_accuracy_vs_gflops

    table = build_table("table1_coco_val", [])
    hrnet = table[table["method"] == "HRNet-W32"].set_index("pretrain")["paper AP"]
    assert hrnet.to_dict() == {"none": 73.4, "ImageNet": 74.4}  # the two published W32 rows, told apart
    fig = plot_accuracy_vs_gflops(table, "AP")
    try:
        labels = [t.get_text() for t in fig.axes[0].texts]
        assert "HRNet-W32 (no pretrain)" in labels and "HRNet-W32" in labels
    finally:
        plt.close(fig)


def test_ablation_scores_are_reused_until_the_checkpoint_or_labels_change(tmp_path, tiny_root, monkeypatch):
    import shutil

    from mfvpose_lib.engine import evaluate
    from mfvpose_lib.engine.train import build_model_for_run
    from mfvpose_lib.io_utils import atomic_write_json, read_json
    from mfvpose_lib.models.checkpoint import save_model_checkpoint

    root = shutil.copytree(tiny_root, tmp_path / "data")  # its labels are edited below
    cell = ablation.ablation_cells(get_profile("smoke"), root, tmp_path / "run", seeds=1)[0]
    torch.manual_seed(0)
    model = build_model_for_run(cell.config)
    save_model_checkpoint(cell.out_dir / "last.pt", model)
    scored = []
    real = evaluate.evaluate_checkpoint
    monkeypatch.setattr(evaluate, "evaluate_checkpoint", lambda *a, **k: scored.append(a[0]) or real(*a, **k))
    first = ablation.evaluate_cells([cell], root, device="cpu")
    again = ablation.evaluate_cells([cell], root, device="cpu")
    assert len(scored) == 1 and again.equals(first)  # the second table comes from score.json
    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    save_model_checkpoint(cell.out_dir / "last.pt", model)  # new weights: scored again
    ablation.evaluate_cells([cell], root, device="cpu")
    record = read_json(cell.out_dir / ablation.SCORE_NAME)
    atomic_write_json({**record, "gt_sha256": "0" * 64}, cell.out_dir / ablation.SCORE_NAME)  # other labels
    ablation.evaluate_cells([cell], root, device="cpu")
    assert len(scored) == 3


@pytest.mark.parametrize("name", ["table1_coco_val", "table2_coco_test_dev", "table3_mpii_val"])
def test_the_headline_view_keeps_what_a_reader_compares_first(name):
    from mfvpose_lib.study.tables import MPII_SHOWN_NAMES, TABLES, headline_view

    table = build_table(name, [], submissions=[])
    shown = headline_view(table, name)
    main = MPII_SHOWN_NAMES.get(TABLES[name][2], TABLES[name][2])
    assert {"method", "input", "model", f"paper {main}", f"ours {main}", "paper status"} <= set(shown.columns)
    assert not any(c.endswith(("AP50", "head", "ankle")) for c in shown.columns)  # detail stays in the CSV
    assert len(shown) == len(table) and len(shown.columns) == len(set(shown.columns))
