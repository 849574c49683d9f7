"""Tables as the notebooks show them: units, digits, column order, caption, empty columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mfvpose_lib.viz.present import FRACTION_METRICS, format_table, present


def _released():
    """Shaped like ``study.released.evaluate_released``: COCO metrics as fractions, provenance columns."""
    return pd.DataFrame({
        "checkpoint": ["w/hrnet_w32.pth", "w/tokenpose_b.pth"],
        "model": ["hrnet_w32", "tokenpose_b"],
        "AP": [0.74412, 0.7468],
        "AR": [0.7981, -1.0],  # COCO's "not computed"
        "params (M)": [28.536, 13.5],
        "lr": [0.001, 0.002],
        "epochs": [210, 300],
        "data": ["COCO val2017", "COCO val2017"],
        "note": ["", ""],
        "empty": [np.nan, np.nan],
    })  # fmt: skip


def test_fractions_in_percent_with_the_papers_decimals():
    text = format_table(_released(), percent=FRACTION_METRICS).frame
    assert list(text["AP"]) == ["74.4", "74.7"]
    assert list(text["AR"]) == ["79.8", ""]  # -1 is shown empty, not as -100.0
    assert list(format_table(_released(), percent=("AP",), decimals=2).frame["AP"]) == ["74.41", "74.68"]
    # per-column exceptions; whole numbers without places; small numbers with a digit showing
    text = format_table(_released(), digits={"params (M)": 2}).frame
    assert list(text["params (M)"]) == ["28.54", "13.50"]
    assert list(text["epochs"]) == ["210", "300"] and list(text["lr"]) == ["0.001", "0.002"]
    assert list(text["AP"]) == ["0.7", "0.7"]  # not named in percent: left as stored
    # a float column of whole numbers keeps its places, so it reads like its neighbours
    scores = format_table(pd.DataFrame({"PCKh@0.5": [8.0, 12.5], "PCKh@0.1": [0.0, 0.0]})).frame
    assert list(scores["PCKh@0.1"]) == ["0.0", "0.0"] and list(scores["PCKh@0.5"]) == ["8.0", "12.5"]


def test_percent_refuses_a_column_already_in_percent():
    with pytest.raises(ValueError, match="'AP'.*already in percent"):
        format_table(pd.DataFrame({"AP": [74.4]}), percent=("AP",))


def test_key_columns_first_and_empty_columns_left_out():
    shown = format_table(_released(), key_columns=("model", "AP"))
    assert list(shown.frame.columns) == ["model", "AP", "AR", "params (M)", "lr", "epochs"]
    assert "empty" not in shown.frame and "note" not in shown.frame
    with pytest.raises(KeyError, match="'method'.*columns: checkpoint, model"):
        format_table(_released(), key_columns=("method",))


def test_provenance_goes_to_the_caption():
    shown = format_table(_released(), caption="Released checkpoints", key_columns=("model",))
    assert "checkpoint" not in shown.frame and "data" not in shown.frame
    lines = shown.caption.splitlines()
    assert lines[0] == "Released checkpoints"
    assert "data: COCO val2017" in lines  # shared by every row: said once
    assert "[1] checkpoint: w/hrnet_w32.pth" in lines and "[2] checkpoint: w/tokenpose_b.pth" in lines
    assert list(shown.frame["model"]) == ["hrnet_w32 [1]", "tokenpose_b [2]"]


def test_rows_with_the_same_provenance_share_a_note_and_rows_without_get_none():
    table = pd.DataFrame({"method": ["A", "B", "C"], "AP": [70.1, 71.2, 72.3],
                          "paper status": ["published", "published", ""], "ours origin": ["", "", "this study"]})  # fmt: skip
    shown = format_table(table)
    assert list(shown.frame["method"]) == ["A [1]", "B [1]", "C [2]"]
    assert shown.caption.splitlines() == ["[1] paper status: published", "[2] ours origin: this study"]
    # a column the rows are told apart by is a key, not provenance
    recipes = pd.DataFrame({"profile": ["paper", "cpu"], "epochs": [300, 45]})
    assert list(format_table(recipes, key_columns=("profile",)).frame.columns) == ["profile", "epochs"]


def test_long_text_is_wrapped():
    sentence = "+HRFOV: +0.36 PCKh over the baseline (95% CI -6.96 to +7.67, paired t over 3 seeds)"
    cell = format_table(pd.DataFrame({"verdict": [sentence]}), wrap=30).frame.iloc[0, 0]
    assert all(len(line) <= 30 for line in cell.splitlines()) and cell.replace("\n", " ") == sentence


def test_present_is_a_styler_with_the_caption_above_and_row_numbers_hidden():
    styler = present(
        _released(), caption="Released <checkpoints>", percent=FRACTION_METRICS, key_columns=("model",)
    )
    html = styler.to_html()
    assert "Released &lt;checkpoints&gt;<br>data: COCO val2017" in html
    assert "caption-side: top" in html and "white-space: pre;" in html
    assert "text-align: right" in html and "text-align: left" in html  # numbers right, text left
    assert "74.4" in html and "0.74412" not in html
    assert 'class="row_heading' not in html  # 0, 1 are not worth a column
    named = present(pd.Series({"python": "3.11"}, name="value").to_frame()).to_html()
    assert "python" in named  # a meaningful index stays


def test_a_mixed_column_shows_whole_numbers_without_places():
    recipes = pd.DataFrame(
        {"threads": [2.0, "torch default", None], "milestones": [(200, 260), (), (34, 41)]}
    )
    text = format_table(recipes).frame
    assert list(text["threads"]) == ["2", "torch default", ""]
    assert list(text["milestones"]) == ["(200, 260)", "()", "(34, 41)"]


def test_scientific_columns_show_two_significant_digits():
    frame = pd.DataFrame({"ratio": [0.025665, 2.584753e-07], "share": [0.5, 0.25]})
    shown = format_table(frame, scientific=("ratio",), decimals=2).frame
    assert list(shown["ratio"]) == ["2.6e-02", "2.6e-07"] and list(shown["share"]) == ["0.50", "0.25"]


def test_long_snake_case_headers_may_break_instead_of_running_into_the_next():
    html = present(pd.DataFrame({"params_M_published": [1.0], "params_M_ours": [2.0]})).to_html()
    assert "overflow-wrap: break-word" in html and "max-width: 9em" in html
