"""The ``mfvpose`` command line: one subcommand per module in ``mfvpose_lib.commands``.

Each command module defines ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int``. A subcommand whose module does not exist yet is listed and
exits with status 2 when called. A module that sets ``PASSES_UNKNOWN_OPTIONS = True``
gets the options it does not declare as ``args.passthrough`` (``mfvpose lab`` hands them
to ``jupyter lab``); every other command rejects them.
"""

from __future__ import annotations

import argparse
import os
import sys

from mfvpose_lib.optional import import_if_present

SUBCOMMANDS = {
    "models": "list registered models",
    "complexity": "params, GMACs and paper-convention GFLOPs per model",
    "synth": "render the synthetic people data set in COCO and MPII layouts",
    "train": "train a model (resumable, optional DDP via torchrun)",
    "evaluate": "COCO AP / MPII PCKh of a checkpoint",
    "predict": "keypoints on your images, drawn and saved as COCO results",
    "export": "write a model to ONNX (dynamic batch)",
    "reproduce": "run the study notebooks in order with papermill",
    "report": "the static HTML report of a reproduce run",
    "bench": "benchmarks that print measurements",
    "noise": "train and score the noise study's levers",
    "lab": "JupyterLab on a copy of the notebooks pointed at the last reproduce run",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mfvpose", description="MfvPose study: models, data, training, evaluation, notebooks."
    )
    from mfvpose_lib import __version__

    parser.add_argument("--version", action="version", version=f"mfvpose_lib {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, default_help in SUBCOMMANDS.items():
        module = import_if_present(f"mfvpose_lib.commands.{name}")
        if module is None:
            sp = sub.add_parser(name, help=f"{default_help} (not built yet)")
            sp.set_defaults(_run=_not_built(name))
        else:
            passes = getattr(module, "PASSES_UNKNOWN_OPTIONS", False)
            # no abbreviations there: `--no` must not be taken for `--no-browser`, it is passed on
            sp = sub.add_parser(name, help=getattr(module, "HELP", default_help), allow_abbrev=not passes)
            module.add_arguments(sp)
            sp.set_defaults(_run=module.run, _passes_unknown=passes)
    return parser


def _not_built(name: str):
    def run(_args) -> int:
        print(f"mfvpose {name}: not built yet", file=sys.stderr)
        return 2

    return run


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown and not getattr(args, "_passes_unknown", False):
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")  # exits 2, as parse_args would
    if "--" in unknown:  # `mfvpose lab ... -- OPTIONS`: the separator is ours, not jupyter's
        unknown.remove("--")
    args.passthrough = unknown
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
