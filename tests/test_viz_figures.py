"""The readability check on saved figures: it finds what it should and passes a clean figure."""

from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from mfvpose_lib.viz.figures import (  # noqa: E402
    STRICT_ENV,
    FigureProblemsError,
    FigureProblemsWarning,
    figure_problems,
    save_figure,
)


def _clean():
    fig, axes = plt.subplots(1, 2, figsize=(7, 3), layout="constrained")
    axes[0].plot([0, 1, 2], [1, 3, 2], label="train")
    axes[0].set(title="loss", xlabel="epoch", ylabel="MSE")
    axes[0].legend(fontsize=8)
    im = axes[1].imshow(np.arange(12).reshape(3, 4))
    fig.colorbar(im, ax=axes[1]).set_label("value")
    axes[1].set_title("a map")
    fig.suptitle("a clean figure")
    return fig


def _kinds(fig) -> list[str]:
    return [p.kind for p in figure_problems(fig)]


def test_a_clean_figure_has_no_problems():
    fig = _clean()
    assert figure_problems(fig) == []
    plt.close(fig)


def test_a_suptitle_over_a_panel_title_is_an_overlap():
    fig, axes = plt.subplots(1, 2, figsize=(6, 3), subplot_kw={"xticks": [], "yticks": []})
    axes[0].set_title("val 0, right_hip: peak 0.801", fontsize=9)
    fig.tight_layout()
    fig.suptitle("untrained model, one keypoint", fontsize=10)  # after the layout, as notebook 12 did
    problems = figure_problems(fig)
    assert [p.kind for p in problems] == ["overlap"]
    assert "peak 0.801" in problems[0].detail and "untrained model" in problems[0].detail
    plt.close(fig)


def test_an_annotation_under_a_legend_is_an_overlap():
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([0, 1], [0, 1], label="a long legend entry")
    ax.legend(loc="upper left")
    ax.annotate("here", (0.02, 0.97), xycoords="axes fraction", ha="left", va="top")
    assert _kinds(fig) == ["overlap"]
    plt.close(fig)


def test_a_5pt_label_is_small_text():
    fig = _clean()
    fig.axes[0].set_xlabel("epoch", fontsize=5)
    problems = figure_problems(fig)
    assert [p.kind for p in problems] == ["small text"]
    assert "5 pt" in problems[0].detail and "'epoch'" in problems[0].detail
    plt.close(fig)


def test_a_tiny_panel_is_found_and_colour_bars_are_not_panels():
    fig, (big, tiny) = plt.subplots(1, 2, figsize=(4, 3), width_ratios=(6, 1), layout="constrained")
    im = big.imshow(np.ones((4, 4)))
    fig.colorbar(im, ax=big)  # thin, but a colour bar
    tiny.set(title="x", xticks=[], yticks=[])
    problems = figure_problems(fig)
    assert [p.kind for p in problems] == ["small panel"]
    assert "'x'" in problems[0].detail
    plt.close(fig)


def test_ticks_outside_the_view_and_empty_texts_are_ignored():
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([0, 1], [0, 1])
    ax.set_xlim(0.2, 0.8)  # the locator's 0.0 and 1.0 labels are not drawn
    ax.set_title("")
    ax.text(0.5, 0.5, "hidden", visible=False)
    ax.text(0.5, 0.5, "   ")
    assert figure_problems(fig) == []
    plt.close(fig)


def test_the_check_restores_the_figure_dpi():
    fig = _clean()
    fig.set_dpi(72)
    figure_problems(fig, dpi=120)
    assert fig.dpi == 72
    plt.close(fig)


def test_save_figure_writes_then_warns_or_raises(tmp_path, monkeypatch):
    fig = _clean()
    fig.axes[0].set_xlabel("epoch", fontsize=5)
    monkeypatch.delenv(STRICT_ENV, raising=False)
    with pytest.warns(FigureProblemsWarning, match="small.png: small text"):
        save_figure(fig, tmp_path / "small.png")
    assert (tmp_path / "small.png").stat().st_size > 0
    monkeypatch.setenv(STRICT_ENV, "1")
    with pytest.raises(FigureProblemsError, match="strict.png: small text"):
        save_figure(fig, tmp_path / "strict.png")
    assert (tmp_path / "strict.png").is_file()  # written first, so it can be looked at
    plt.close(fig)


def test_save_figure_is_silent_on_a_clean_figure(tmp_path, monkeypatch):
    monkeypatch.setenv(STRICT_ENV, "1")
    fig = _clean()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        save_figure(fig, tmp_path / "clean.png")
    plt.close(fig)


def test_explorers_draw_at_the_resolution_of_the_saved_figures():
    import ipywidgets as widgets

    from mfvpose_lib.viz.figures import DEFAULT_DPI
    from mfvpose_lib.viz.widgets import FigureExplorer, png_size

    def render(n):
        fig, ax = plt.subplots(figsize=(2.0, 1.5))
        ax.plot(range(n))
        return fig

    explorer = FigureExplorer(render, {"n": widgets.IntSlider(value=3)})
    assert explorer.dpi == DEFAULT_DPI
    width, _ = png_size(bytes(explorer.image.value))
    assert width == pytest.approx(2.0 * DEFAULT_DPI, rel=0.1)  # the tight box trims a little


def test_a_one_epoch_run_ticks_at_whole_epochs_only():
    import pandas as pd

    from mfvpose_lib.viz.training import plot_training_curves

    history = pd.DataFrame({"epoch": [1], "train_loss": [0.04], "AP": [0.0]})
    fig = plot_training_curves(history, metric="AP")
    fig.canvas.draw()
    for ax in fig.axes:
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks
    plt.close(fig)


def test_coco_fractions_are_drawn_in_percent():
    import pandas as pd

    from mfvpose_lib.viz.training import plot_training_curves

    fig = plot_training_curves(pd.DataFrame({"epoch": [1, 2], "train_loss": [0.04, 0.03], "AP": [0.12, 0.24]}),
                               metric="AP")  # fmt: skip
    ax = fig.axes[1]
    assert ax.get_ylabel() == "AP (%)" and list(ax.lines[0].get_ydata()) == pytest.approx([12.0, 24.0])
    plt.close(fig)
