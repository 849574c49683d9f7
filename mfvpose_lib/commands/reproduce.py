"""``mfvpose reproduce``: the whole study, notebook by notebook, with papermill."""

from __future__ import annotations

import sys

HELP = "run the study notebooks in order with papermill (generates synthetic data when absent)"


def add_arguments(parser) -> None:
    from mfvpose_lib.study.profiles import DEFAULT_PROFILE, PROFILES

    parser.add_argument("--profile", default=DEFAULT_PROFILE, choices=list(PROFILES))
    parser.add_argument(
        "--data-root", default=None, help="data folder with coco/ and/or mpii/ (default data/synthetic)"
    )
    parser.add_argument("--out", default=None, help="executed notebooks and runs (default runs/PROFILE)")
    parser.add_argument(
        "--figures-dir", default=None, help="where notebooks save figures (default OUT/figures)"
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 ...")
    parser.add_argument("--pretrained", default=None,
                        help="ImageNet HRNet checkpoint for the trainings' backbone (recorded in OUT/run/pretrained.json)")  # fmt: skip
    parser.add_argument("--released", default=None, metavar="DIR",
                        help="folder of released HRNet/SimpleBaseline/TokenPose checkpoints scored in Tables 1 and 3 "
                             "(recorded in OUT/run/released.json; default DATA_ROOT/released when present)")  # fmt: skip
    parser.add_argument("--notebooks", default=None, metavar="DIR",
                        help="folder of the study's notebooks (default: notebooks/ beside the source tree)")
    parser.add_argument("--only", nargs="+", metavar="NN", help="only these notebooks (numbers or names)")


def run(args) -> int:
    from mfvpose_lib.reproduce import REPO_ROOT, NotebookFailed, run_study, summary_table, where_things_went

    try:
        runs = run_study(
            profile=args.profile,
            data_root=args.data_root,
            out=args.out,
            only=args.only,
            device=args.device,
            figures_dir=args.figures_dir,
            pretrained=args.pretrained,
            released=args.released,
            **({"notebook_dir": args.notebooks} if args.notebooks else {}),
        )
    except NotebookFailed as err:
        print(f"\nreproduce stopped: {err}", file=sys.stderr)
        return 1
    except FileNotFoundError as err:
        print(f"reproduce: {err}", file=sys.stderr)
        return 2
    table = summary_table(runs)
    print(table[["notebook", "status", "seconds"]].to_string(index=False))
    print(f"total wall time: {table['seconds'].sum():.1f} s")
    out = args.out or REPO_ROOT / "runs" / args.profile
    for line in where_things_went(out, args.figures_dir):
        print(line)
    return 0
