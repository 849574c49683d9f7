"""The static report of a reproduce run (``OUT/report/index.html``), built from a tiny fake run."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path
from urllib.parse import unquote, urlparse

import nbformat
import pandas as pd
import pytest
from PIL import Image

from mfvpose_lib.study.report import (
    TABLES,
    WIDGET_VIEW,
    build_report,
    figures_dir_of,
    markdown_html,
    static_notebook,
)


def png_bytes(color: str = "red", size: tuple[int, int] = (12, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def executed_notebook(title: str, figures_dir: str) -> nbformat.NotebookNode:
    """An executed notebook as papermill leaves it: a matplotlib-like picture, an explorer in a
    batch run (a widget view beside its PNG and text), a widget with only a view, a stream."""
    nb = nbformat.v4.new_notebook()
    png = base64.b64encode(png_bytes()).decode("ascii")
    picture = nbformat.v4.new_output("display_data", data={"image/png": png, "text/plain": "<Figure>"})
    explorer = nbformat.v4.new_output("display_data", data={
        "image/png": base64.b64encode(png_bytes("blue")).decode("ascii"),
        "text/plain": "<FigureExplorer: the figure of {'sample': 0}>",
        WIDGET_VIEW: {"model_id": "abc", "version_major": 2, "version_minor": 0},
    })  # fmt: skip
    widget_only = nbformat.v4.new_output("display_data", data={WIDGET_VIEW: {"model_id": "def", "version_major": 2,
                                                                          "version_minor": 0}})  # fmt: skip
    stream = nbformat.v4.new_output("stream", name="stdout", text="profile smoke\n")
    code = nbformat.v4.new_code_cell("show()", execution_count=1, outputs=[picture, explorer, widget_only, stream])
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {title}\n\nSome prose with `code`."), code]
    nb.metadata["papermill"] = {"parameters": {"profile": "smoke", "figures_dir": figures_dir}}
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}, "version_major": 2}}
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


@pytest.fixture
def fake_run(tmp_path):
    """OUT with two executed notebooks, one skipped, summary.csv, and a figures folder (outside
    OUT, as `make reproduce` has it) holding the claims table and Table 1 with its picture."""
    out, figures = tmp_path / "runs" / "smoke", tmp_path / "figures" / "smoke"
    (out / "notebooks").mkdir(parents=True)
    figures.mkdir(parents=True)
    for name in ("00_first", "01_second"):
        nbformat.write(executed_notebook(name, str(figures)), out / "notebooks" / f"{name}.ipynb")
    pd.DataFrame({
        "notebook": ["00_first.ipynb", "01_second.ipynb", "02_third.ipynb"], "status": ["ok", "ok", "skipped"],
        "seconds": [1.25, 2.5, 0.0], "output": ["notebooks/00_first.ipynb", "notebooks/01_second.ipynb", ""],
        "error": ["", "", ""], "note": ["", "", "skipped: needs mpii/ under DATA"],
    }).to_csv(out / "summary.csv", index=False)  # fmt: skip
    (figures / "paper_claims.md").write_text("paper_claims: a note <b>\n\n| claim | verdict |\n|---|---|\n| a | b |\n")
    pd.DataFrame({"claim": ["a"], "verdict": ["b"]}).to_csv(figures / "paper_claims.csv", index=False)
    pd.DataFrame({"method": ["HRNet-W32"], "paper AP": [74.4]}).to_csv(figures / "table1_coco_val.csv", index=False)
    (figures / "table1_coco_val_ap_vs_gflops.png").write_bytes(png_bytes("green"))
    return out, figures


def test_static_notebook_keeps_pictures_and_drops_widget_views():
    nb = static_notebook(executed_notebook("x", "f"))
    outputs = nb.cells[1].outputs
    assert len(outputs) == 3  # the widget with nothing but a view is gone
    assert all(WIDGET_VIEW not in o.get("data", {}) for o in outputs)
    assert "image/png" in outputs[1].data  # the explorer's picture stays
    assert "widgets" not in nb.metadata
    original = executed_notebook("x", "f")
    assert WIDGET_VIEW in original.cells[1].outputs[1].data  # a copy: the input is untouched


def test_report_of_a_fake_run(fake_run):
    out, figures = fake_run
    assert figures_dir_of(out) == figures  # read from the executed notebooks' papermill parameters
    report = build_report(out)
    index = report.index.read_text()
    assert report.index == out.resolve() / "report" / "index.html"
    assert set(report.pages) == {"00_first.ipynb", "01_second.ipynb"}
    # the summary: every notebook, its status and seconds, links to the rendered pages only
    for text in ("00_first.ipynb", "02_third.ipynb", "skipped", "1.2", "2.5", "needs mpii/"):
        assert text in index
    assert "href='notebooks/00_first.html'" in index and "02_third.html" not in index
    # tables: the ones written are shown and copied; the missing ones say so
    assert report.tables["paper_claims"] and report.tables["table1_coco_val"]
    assert not report.tables["table4_ablation_mpii"]
    assert index.count("Not written by this run") == len(TABLES) - 2
    assert "&lt;b&gt;" in index and "<b>" not in index  # markdown from the tables is escaped
    assert "<td>HRNet-W32</td>" in index  # a table with only a CSV is shown from the CSV
    assert (out / "report" / "tables" / "paper_claims.csv").is_file()
    assert (out / "report" / "figures" / "table1_coco_val_ap_vs_gflops.png").read_bytes() == png_bytes("green")
    assert "src='figures/table1_coco_val_ap_vs_gflops.png'" in index


def test_notebook_pages_are_self_contained(fake_run):
    out, _ = fake_run
    page = build_report(out).pages["00_first.ipynb"].read_text()
    sources = re.findall(r"<(?:script|link|img)[^>]*(?:src|href)=\"([^\"]*)\"", page)
    assert sources and all(s.startswith("data:") for s in sources), sources  # nothing fetched from anywhere
    assert "<script src" not in page and "cdn" not in page.lower()
    assert len(re.findall(r"<img [^>]*src=\"data:image/png;base64", page)) == 2  # the figure and the explorer
    assert "profile smoke" in page and "Some prose" in page


def test_pages_of_an_earlier_run_are_removed(fake_run):
    out, _ = fake_run
    stale = out / "report" / "notebooks" / "99_old.html"
    stale.parent.mkdir(parents=True)
    stale.write_text("old")
    build_report(out)
    assert not stale.exists()


def test_report_without_summary_lists_the_executed_notebooks(fake_run):
    out, _ = fake_run
    (out / "summary.csv").unlink()
    report = build_report(out)
    assert set(report.pages) == {"00_first.ipynb", "01_second.ipynb"}


def test_markdown_tables_render():
    text = markdown_html("note\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    assert "<table>" in text and "<td>1</td>" in text


def test_report_command(fake_run, capsys, tmp_path):
    from mfvpose_lib.cli import main

    out, _ = fake_run
    assert main(["report", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "2 notebook pages" in printed and "table4_ablation_mpii" in printed
    assert main(["report", "--out", str(tmp_path / "nothing")]) == 2


# ----------------------------------------------------------------------------------------------
# In a browser: every page linked from the index loads with no broken picture, link or console error
# ----------------------------------------------------------------------------------------------

# The `browser` fixture (conftest.py) launches headless Chromium; under CI a missing browser fails.


def _check_page(page, url: str) -> tuple[list[str], list, list[str]]:
    """Open ``url``; return the problems found (console errors, failed loads, pictures that did
    not decode, links to nothing) and the report pages it links to."""
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"failed to load {r.url[-120:]}"))
    page.goto(url, wait_until="load")
    images = page.eval_on_selector_all("img", "els => els.map(e => [e.src.slice(-120), e.complete, e.naturalWidth])")
    problems += [f"broken image {src}" for src, complete, width in images if not complete or width == 0]
    links = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
    linked = []
    for href in links:
        parsed = urlparse(href)
        target = Path(unquote(parsed.path))
        if parsed.scheme != "file":
            problems.append(f"link leaves the report: {href}")
        elif target == Path(unquote(urlparse(url).path)) and parsed.fragment:
            # as browsers resolve a fragment: the id as written, then percent-decoded
            found = page.evaluate("ids => ids.some(id => document.getElementById(id) !== null)",
                                  [parsed.fragment, unquote(parsed.fragment)])  # fmt: skip
            if not found:
                problems.append(f"anchor to nothing: #{parsed.fragment}")
        elif not target.is_file():
            problems.append(f"broken link {href}")
        elif target.suffix == ".html":
            linked.append(target.as_uri())
    return problems, images, linked


@pytest.mark.browser
@pytest.mark.slow
def test_report_pages_in_chromium(fake_run, browser):
    out, _ = fake_run
    report = build_report(out)
    page = browser.new_page()
    problems, images, linked = _check_page(page, report.index.as_uri())
    page.close()
    assert not problems, problems
    assert len(images) == 1  # Table 1's picture, copied beside the index
    assert sorted(Path(urlparse(u).path).name for u in linked) == ["00_first.html", "01_second.html"]
    for url in linked:
        page = browser.new_page()
        problems, images, _ = _check_page(page, url)
        text = page.inner_text("body")
        page.close()
        assert not problems, (url, problems)
        assert len(images) == 2, url  # the figure and the explorer's picture, decoded
        assert "profile smoke" in text and "FigureExplorer" not in text


@pytest.mark.browser
@pytest.mark.slow
def test_the_page_check_sees_what_is_broken(fake_run, browser, tmp_path):
    """The check above can fail: a missing picture, a dead link, a CDN script and a script error."""
    broken = tmp_path / "broken.html"
    broken.write_text("<!DOCTYPE html><html><head><link rel='icon' href='data:,'></head><body>"
                      "<img src='missing.png'><a href='nowhere.html'>x</a><a href='#nothing'>y</a>"
                      "<script>undefined_function()</script></body></html>")  # fmt: skip
    page = browser.new_page()
    problems, _, _ = _check_page(page, broken.as_uri())
    page.close()
    kinds = {p.split(" ")[0] for p in problems}
    assert {"broken", "anchor", "page"} <= kinds, problems
    assert any("missing.png" in p for p in problems) and any("nowhere.html" in p for p in problems)
