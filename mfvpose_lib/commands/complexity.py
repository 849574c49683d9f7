"""``mfvpose complexity [NAME ...] [--csv]``: params, GMACs and paper-convention GFLOPs per model.

GMACs count every convolution and matmul, attention included (FLOPs / 2 / 1e9). "gflops_paper"
is the HRNet summary-tool convention the pose papers publish (conv + Linear multiply-adds,
attention left out, tokens in place of widths for Linear layers, / 2**30); see
``mfvpose_lib.analysis.complexity``.
"""

from __future__ import annotations

import argparse
import sys

HELP = "params, GMACs and paper-convention GFLOPs per model"


def _input_size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"input size must look like 256x192, got {text!r}") from None
    return h, w


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help="registered model names or shell patterns (default: all)"
    )
    parser.add_argument("--csv", action="store_true", help="print CSV instead of an aligned table")
    parser.add_argument(
        "--input", type=_input_size, default=None, metavar="HxW", help="override the input size"
    )
    parser.add_argument("--parts", action="store_true", help="print the per-part breakdown instead")


def resolve_names(names: list[str]) -> list[str]:
    """Expand shell patterns; an unknown plain name is an error naming it."""
    from mfvpose_lib.models import is_model, list_models

    if not names:
        return list_models()
    resolved: list[str] = []
    for name in names:
        if any(ch in name for ch in "*?["):
            matches = list_models(name)
            if not matches:
                raise KeyError(f"no registered model matches {name!r}")
            resolved += matches
        elif is_model(name):
            resolved.append(name)
        else:
            raise KeyError(f"unknown model {name!r}; see `mfvpose models`")
    return list(dict.fromkeys(resolved))


def run(args: argparse.Namespace) -> int:
    from mfvpose_lib.analysis.complexity import complexity_parts_table, complexity_table

    try:
        names = resolve_names(args.names)
    except KeyError as err:
        print(f"mfvpose complexity: {err.args[0]}", file=sys.stderr)
        return 2
    table = (complexity_parts_table if args.parts else complexity_table)(names, input_size=args.input)
    if args.csv:
        sys.stdout.write(table.to_csv(index=False, float_format="%.4f"))
    else:
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        print(
            "gmacs: all convs and matmuls incl. attention, /1e9; gflops_paper: HRNet summary-tool convention, /2**30"
        )
    return 0
