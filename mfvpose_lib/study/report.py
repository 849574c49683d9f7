"""A static report of a reproduce run: ``OUT/report/index.html`` and one page per notebook.

The index shows the run's summary (which notebooks ran, their status and seconds, from
``OUT/summary.csv``), the claims table of notebook 17 and Tables 1-4 as the notebooks wrote them
into the figures folder (``*.md``, with the ``.csv`` and ``.md`` copied beside the page and the
tables' pictures copied into ``report/figures/``), and links to every executed notebook rendered to
HTML with nbconvert. Each notebook page is self-contained and needs no network: its pictures are
embedded in the page, the page loads no script (no require.js, MathJax or widget manager from a
CDN), and an output that is only a widget view keeps its text form. The study's explorers display
as PNG pictures when papermill executes them (``viz.widgets.executed_without_frontend``), so those
pictures are on the pages.

Every file is written atomically; the report can be rebuilt from a run folder at any time
(``mfvpose report --out runs/PROFILE``).
"""

from __future__ import annotations

import copy
import html
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mfvpose_lib.io_utils import atomic_write_bytes, atomic_write_text

REPORT_DIR = "report"
INDEX = "index.html"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "widgets"
#: The tables of the index: figures-folder stem and heading, in order.
TABLES = (
    ("paper_claims", "The paper's claims, one by one (notebook 17)"),
    ("table1_coco_val", "Table 1: COCO val2017 (notebook 13)"),
    ("table2_coco_test_dev", "Table 2: COCO test-dev (notebook 14)"),
    ("table3_mpii_val", "Table 3: MPII val (notebook 15)"),
    ("table4_ablation_mpii", "Table 4: the ablation on MPII (notebook 16)"),
)
SUMMARY_COLUMNS = ["notebook", "status", "seconds", "page", "note", "error"]

# The lab template without the scripts it fetches from CDNs: a report opens offline.
_TEMPLATE_NAME = "mfvpose_static.html.j2"
_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block html_head_css -%}<link rel="icon" href="data:,">{%- endblock html_head_css -%}
"""
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 90em; padding: 0 1em; color: #222; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 2px 6px; vertical-align: top; text-align: left; }
th { background: #f3f3f3; }
.scroll { overflow-x: auto; }
.ok { color: #075; } .failed { color: #b00; font-weight: bold; } .skipped { color: #777; }
img { max-width: 100%; border: 1px solid #ddd; margin: 0.3em 0; }
code { background: #f5f5f5; padding: 0 2px; }
"""


@dataclass(frozen=True)
class Report:
    index: Path
    pages: dict[str, Path]  # notebook file name -> its HTML page
    tables: dict[str, bool]  # stem -> whether the run wrote it


def static_notebook(nb):
    """A copy of ``nb`` as it reads without a kernel: widget views give way to their other
    representations (a picture, text), outputs that were only a widget view are dropped, and the
    saved widget state, which only a widget manager from a CDN could render, is removed."""
    nb = copy.deepcopy(nb)
    nb.metadata.pop(WIDGET_STATE, None)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.get("outputs", []):
            data = output.get("data")
            if data is not None and WIDGET_VIEW in data:
                del data[WIDGET_VIEW]
                if not data:
                    continue
            kept.append(output)
        cell.outputs = kept
    return nb


def html_exporter():
    """nbconvert's HTML exporter with the offline template and images embedded."""
    import jinja2
    from nbconvert import HTMLExporter

    log = logging.getLogger("mfvpose_lib.report")
    log.setLevel(logging.ERROR)  # not a warning per notebook that its figures have no alt text
    return HTMLExporter(extra_loaders=[jinja2.DictLoader({_TEMPLATE_NAME: _TEMPLATE})], template_file=_TEMPLATE_NAME,
                        embed_images=True, log=log)  # fmt: skip


def render_notebook(path: str | Path, dest: str | Path, *, exporter=None) -> Path:
    """One executed notebook as a self-contained HTML page at ``dest``."""
    import nbformat

    path = Path(path)
    nb = static_notebook(nbformat.read(path, as_version=4))
    exporter = exporter or html_exporter()
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": path.stem, "path": str(path.parent)}})
    return atomic_write_text(body, dest)


def markdown_html(text: str) -> str:
    """Markdown (with tables) as HTML; raw HTML in the text is escaped."""
    import mistune

    return mistune.create_markdown(escape=True, plugins=["table"])(text)


def run_parameters(out: str | Path) -> dict:
    """The parameters papermill gave the run's executed notebooks (profile, data_root, run_dir,
    figures_dir, device), read from the first copy that records them; {} when none does."""
    import nbformat

    for path in sorted((Path(out) / "notebooks").glob("*.ipynb")):
        try:
            parameters = nbformat.read(path, as_version=4).metadata.get("papermill", {}).get("parameters", {})
        except Exception:  # an unreadable copy records nothing; another may
            continue
        if parameters:
            return dict(parameters)
    return {}


def figures_dir_of(out: str | Path) -> Path:
    """Where a run's notebooks saved figures: the ``figures_dir`` papermill gave the executed
    notebooks (``make reproduce`` passes ``figures/PROFILE``), else ``OUT/figures``."""
    folder = run_parameters(out).get("figures_dir")
    return Path(folder) if folder else Path(out) / "figures"


def read_summary(out: str | Path) -> pd.DataFrame:
    """``OUT/summary.csv`` (what ran, status, seconds); without one, every executed notebook."""
    path = Path(out) / "summary.csv"
    if path.is_file():
        return pd.read_csv(path, keep_default_na=False)
    found = sorted((Path(out) / "notebooks").glob("*.ipynb"))
    return pd.DataFrame({"notebook": [p.name for p in found], "status": "", "seconds": float("nan"),
                         "output": [f"notebooks/{p.name}" for p in found], "error": "", "note": ""})  # fmt: skip


# ----------------------------------------------------------------------------------------------
# The index page
# ----------------------------------------------------------------------------------------------


def _copy(src: Path, dest: Path) -> Path:
    return atomic_write_bytes(src.read_bytes(), dest)


def table_section(figures: Path, stem: str, title: str, report: Path) -> tuple[str, bool]:
    """A table the notebooks wrote (``stem.md``, else ``stem.csv``), its files copied into
    ``report/tables/`` and linked, and its pictures (``stem*.png``) copied into ``report/figures/``."""
    head = f"<h2 id='{stem}'>{html.escape(title)}</h2>"
    md, csv = figures / f"{stem}.md", figures / f"{stem}.csv"
    if not md.is_file() and not csv.is_file():
        return head + f"<p class='skipped'>Not written by this run: no {stem}.md or .csv in the figures folder.</p>", False
    links = []
    for src in (csv, md):
        if src.is_file():
            _copy(src, report / "tables" / src.name)
            links.append(f"<a href='tables/{src.name}'>{src.name}</a>")
    if md.is_file():
        body = markdown_html(md.read_text(encoding="utf-8"))
    else:
        body = pd.read_csv(csv).to_html(index=False, na_rep="", escape=True)
    pictures = []
    for png in sorted(figures.glob(f"{stem}*.png")):
        _copy(png, report / "figures" / png.name)
        pictures.append(f"<p><img src='figures/{png.name}' alt='{html.escape(png.stem)}'></p>")
    return head + f"<p>files: {', '.join(links)}</p><div class='scroll'>{body}</div>" + "".join(pictures), True


def summary_section(summary: pd.DataFrame, pages: dict[str, Path], report: Path) -> str:
    """The run's notebooks with status, seconds and a link to each rendered page."""
    rows = []
    for rec in summary.to_dict("records"):
        name = str(rec["notebook"])
        page = pages.get(name)
        link = f"<a href='{page.relative_to(report).as_posix()}'>{html.escape(name)}</a>" if page else html.escape(name)
        status = str(rec.get("status", ""))
        seconds = rec.get("seconds")
        shown = f"{float(seconds):.1f}" if str(seconds).strip() not in ("", "nan") else ""
        rows.append(f"<tr><td>{link}</td><td class='{html.escape(status)}'>{html.escape(status)}</td>"
                    f"<td style='text-align:right'>{shown}</td><td>{html.escape(str(rec.get('note', '')))}</td>"
                    f"<td>{html.escape(str(rec.get('error', '')))}</td></tr>")  # fmt: skip
    total = pd.to_numeric(summary.get("seconds", pd.Series(dtype=float)), errors="coerce").sum()
    counts = summary["status"].value_counts() if "status" in summary else pd.Series(dtype=int)
    said = ", ".join(f"{n} {s}" for s, n in counts.items() if s)
    return ("<h2 id='summary'>What ran</h2>"
            f"<p>{len(summary)} notebooks{': ' + said if said else ''}; {total:.1f} s of notebook wall time "
            "(from <code>summary.csv</code> of the run).</p>"
            "<table><tr><th>notebook</th><th>status</th><th>seconds</th><th>note</th><th>error</th></tr>"
            + "".join(rows) + "</table>")  # fmt: skip


def index_page(title: str, parts: list[str]) -> str:
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><link rel='icon' href='data:,'>"
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
            f"<h1>{html.escape(title)}</h1>" + "".join(parts) + "</body></html>")  # fmt: skip


def render_pages(out: Path, summary: pd.DataFrame, report: Path) -> dict[str, Path]:
    """Every executed notebook of the summary as ``report/notebooks/NAME.html``; pages of an
    earlier run that this one did not write are removed."""
    exporter = html_exporter()
    pages = {}
    for rec in summary.to_dict("records"):
        executed = out / str(rec.get("output") or "")
        if not rec.get("output") or not executed.is_file():
            continue
        pages[str(rec["notebook"])] = render_notebook(executed, report / "notebooks" / f"{executed.stem}.html",
                                                      exporter=exporter)  # fmt: skip
    for old in (report / "notebooks").glob("*.html"):
        if old not in pages.values():
            old.unlink()
    return pages


def build_report(out: str | Path, figures_dir: str | Path | None = None) -> Report:
    """``OUT/report/index.html`` and a page per executed notebook; ``figures_dir`` defaults to
    the one the run's notebooks were given (:func:`figures_dir_of`)."""
    out = Path(out).resolve()
    report = out / REPORT_DIR
    figures = Path(figures_dir).resolve() if figures_dir else figures_dir_of(out)
    summary = read_summary(out)
    pages = render_pages(out, summary, report)
    parameters = run_parameters(out)
    profile = parameters.get("profile", "?")
    intro = (f"<p>Profile <code>{html.escape(str(profile))}</code>; written {time.strftime('%Y-%m-%d %H:%M %Z')} "
             f"from <code>{html.escape(out.name)}/summary.csv</code>, the executed notebooks and the tables in the "
             f"figures folder <code>{html.escape(figures.name)}/</code>. Each notebook page opens without a kernel "
             "or a network.</p>")  # fmt: skip
    toc = "<p>" + " · ".join(f"<a href='#{s}'>{html.escape(t.split(' (')[0])}</a>" for s, t in TABLES) + "</p>"
    parts, written = [intro, toc, summary_section(summary, pages, report)], {}
    for stem, title in TABLES:
        section, written[stem] = table_section(figures, stem, title, report)
        parts.append(section)
    index = atomic_write_text(index_page(f"MfvPose study: the {profile} run", parts), report / INDEX)
    return Report(index, pages, written)
