"""``mfvpose models [PATTERN]``: the registered models with family, input size and keypoints."""

from __future__ import annotations

import argparse

import pandas as pd

HELP = "list registered models (family, input size, keypoints, heatmap size)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pattern", nargs="?", default="*", help="shell-style name filter, e.g. 'hrnet*'")


def models_table(pattern: str = "*") -> pd.DataFrame:
    """One row per registered model matching ``pattern``; models are built on the meta device."""
    from mfvpose_lib.analysis.complexity import build_on_meta
    from mfvpose_lib.models import list_models

    rows = []
    for name in list_models(pattern):
        model = build_on_meta(name)
        cfg = model.cfg
        rows.append(
            {
                "model": name,
                "family": type(model).__name__,
                "input": "x".join(map(str, cfg.input_size)),
                "keypoints": cfg.num_keypoints,
                "heatmap": "x".join(map(str, cfg.heatmap_size)),
            }
        )
    return pd.DataFrame(rows, columns=["model", "family", "input", "keypoints", "heatmap"])


def run(args: argparse.Namespace) -> int:
    table = models_table(args.pattern)
    if table.empty:
        print(f"no registered model matches {args.pattern!r}")
        return 1
    print(table.to_string(index=False))
    return 0
