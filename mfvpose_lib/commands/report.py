"""``mfvpose report --out runs/PROFILE``: the static HTML report of a reproduce run, rebuilt.

``mfvpose reproduce`` writes it at the end of every run; this command writes it again from what
the run folder holds (``summary.csv``, the executed notebooks, the tables in the figures folder).
"""

from __future__ import annotations

import sys

HELP = "write OUT/report/index.html: summary, claims, Tables 1-4 and every executed notebook as HTML"


def add_arguments(parser) -> None:
    parser.add_argument("--out", required=True, help="the reproduce output folder, e.g. runs/cpu")
    parser.add_argument("--figures-dir", default=None,
                        help="where the notebooks saved tables (default: the folder the run's notebooks were given)")  # fmt: skip


def run(args) -> int:
    from pathlib import Path

    from mfvpose_lib.study.report import build_report

    out = Path(args.out)
    if not (out / "summary.csv").is_file() and not (out / "notebooks").is_dir():
        print(f"report: {out} holds no summary.csv and no notebooks/ (run `mfvpose reproduce` first)", file=sys.stderr)
        return 2
    report = build_report(out, args.figures_dir)
    missing = [stem for stem, written in report.tables.items() if not written]
    print(f"report: {report.index} ({len(report.pages)} notebook pages)")
    if missing:
        print(f"not written by this run: {', '.join(missing)}")
    return 0
