"""``mfvpose noise``: train and score the noise study's levers (``study.noise_levers``).

Each lever trains TokenPose and + LSW on the profile's paired seeds with one setting changed;
finished runs and their scores are reused, cut runs resume. Writes one row per run and weights
(``--out``, CSV), the lever table and figure (``--figures-dir``), and prints the table.
"""

from __future__ import annotations

import argparse

HELP = "train and score the noise study's levers (Table 4's seed noise, one setting at a time)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from mfvpose_lib.study.noise_levers import LEVERS
    from mfvpose_lib.study.profiles import DEFAULT_PROFILE

    parser.add_argument("--levers", nargs="+", default=[lever.key for lever in LEVERS],
                        choices=[lever.key for lever in LEVERS], help="which levers (default: all)")  # fmt: skip
    parser.add_argument("--profile", default=DEFAULT_PROFILE, help="the profile whose MPII recipe the levers change")
    parser.add_argument("--seeds", type=int, default=None, help="paired seeds per lever (default: the profile's)")
    parser.add_argument("--data-root", default="data/synthetic", help="data root (synthetic data is rendered there)")
    parser.add_argument("--run-dir", default=None, help="the study's run folder (default: runs/PROFILE/run)")
    parser.add_argument("--parallel", type=int, default=None, help="runs trained at once (default: the profile's)")
    parser.add_argument("--out", default=None, help="per-run scores as CSV (default: RUN_DIR/noise/scores.csv)")
    parser.add_argument("--figures-dir", default=None,
                        help="where the lever table and figure go (default: figures/PROFILE)")
    parser.add_argument("--device", default="auto")


def run(args) -> int:
    from pathlib import Path

    from mfvpose_lib.io_utils import atomic_write_text
    from mfvpose_lib.study.noise_levers import get_lever, lever_statements, run_levers, write_lever_report
    from mfvpose_lib.study.setup import setup_study

    run_dir = Path(args.run_dir or f"runs/{args.profile}/run")
    figures_dir = Path(args.figures_dir or f"figures/{args.profile}")
    study = setup_study(args.profile, args.data_root, run_dir, figures_dir, args.device)
    parallel = args.parallel or study.settings.ablation_parallel
    scores = run_levers([get_lever(key) for key in args.levers], study.settings, study.data_root, run_dir,
                        seeds=args.seeds, parallel=parallel, device=args.device)  # fmt: skip
    out = Path(args.out or run_dir / "noise" / "scores.csv")
    atomic_write_text(scores.to_csv(index=False), out)
    import matplotlib.pyplot as plt

    table, fig = write_lever_report(scores, figures_dir)
    plt.close(fig)
    print(table.round(2).to_string(index=False))
    print("\n".join(lever_statements(table)))
    print(f"per-run scores: {out}; table and figure in {figures_dir}")
    return 0
