"""``mfvpose lab``: JupyterLab on a copy of the notebooks that points at the last reproduce run."""

from __future__ import annotations

import sys

HELP = "JupyterLab on runs/PROFILE/lab: the notebooks, pointed at that profile's run"


def add_arguments(parser) -> None:
    from mfvpose_lib.study.profiles import DEFAULT_PROFILE, PROFILES

    parser.add_argument("--profile", default=DEFAULT_PROFILE, choices=list(PROFILES))
    parser.add_argument("--out", default=None, help="the reproduce output folder (default runs/PROFILE)")
    parser.add_argument("--data-root", default=None, help="default data/synthetic")
    parser.add_argument("--figures-dir", default=None, help="default figures/PROFILE")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--no-browser", dest="browser", action="store_false")
    parser.add_argument("--prepare-only", action="store_true", help="copy the notebooks, do not start the server")


def run(args) -> int:
    from mfvpose_lib.lab import prepare_lab, run_lab

    try:
        lab = prepare_lab(args.profile, out=args.out, data_root=args.data_root, figures_dir=args.figures_dir,
                          device=args.device)  # fmt: skip
    except (FileNotFoundError, ValueError, KeyError) as err:
        print(f"mfvpose lab: {err}", file=sys.stderr)
        return 2
    print(f"notebooks for profile {args.profile} in {lab}")
    if args.prepare_only:
        return 0
    try:
        return run_lab(lab, port=args.port, browser=args.browser)
    except FileNotFoundError as err:
        print(f"mfvpose lab: {err}", file=sys.stderr)
        return 2
