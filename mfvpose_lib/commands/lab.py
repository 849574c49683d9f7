"""``mfvpose lab``: JupyterLab on a copy of the notebooks that points at the last reproduce run.

Options it does not know go to ``jupyter lab`` as given: ``mfvpose lab --ServerApp.token=''``,
or after ``--``.
"""

from __future__ import annotations

import sys

HELP = "JupyterLab on runs/PROFILE/lab: the notebooks, pointed at that profile's run"
PASSES_UNKNOWN_OPTIONS = True  # the rest of the command line is jupyter lab's (see cli.py)


def add_arguments(parser) -> None:
    from mfvpose_lib.study.profiles import DEFAULT_PROFILE, PROFILES

    parser.add_argument("--profile", default=DEFAULT_PROFILE, choices=list(PROFILES))
    parser.add_argument("--out", default=None, help="the reproduce output folder (default runs/PROFILE)")
    parser.add_argument("--data-root", default=None, help="default data/synthetic")
    parser.add_argument("--figures-dir", default=None,
                        help="default OUT/lab/figures, so the tracked figures/PROFILE changes only with reproduce")  # fmt: skip
    parser.add_argument("--device", default="auto")
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--no-browser", dest="browser", action="store_false")
    parser.add_argument("--prepare-only", action="store_true", help="copy the notebooks, do not start the server")
    parser.epilog = "Any other option goes to jupyter lab unchanged, e.g. --ServerApp.token='' (or after --)."


def run(args) -> int:
    from mfvpose_lib.lab import prepare_lab, run_lab

    extra = getattr(args, "passthrough", [])  # set by cli.main: the options that are jupyter's
    try:
        lab = prepare_lab(args.profile, out=args.out, data_root=args.data_root, figures_dir=args.figures_dir,
                          device=args.device)  # fmt: skip
    except (FileNotFoundError, ValueError, KeyError) as err:
        print(f"mfvpose lab: {err}", file=sys.stderr)
        return 2
    print(f"notebooks for profile {args.profile} in {lab}; figures to {args.figures_dir or lab / 'figures'}")
    if args.prepare_only:
        if extra:
            print(f"mfvpose lab: no server started, so not used: {' '.join(extra)}", file=sys.stderr)
        return 0
    try:
        return run_lab(lab, port=args.port, browser=args.browser, extra=extra)
    except FileNotFoundError as err:
        print(f"mfvpose lab: {err}", file=sys.stderr)
        return 2
