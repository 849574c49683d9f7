"""``mfvpose bench {data,train}``: benchmarks that print measurements.

Each benchmark lives beside the code it measures and exposes ``add_arguments``/``run``.
"""

from __future__ import annotations

import sys

from mfvpose_lib.optional import import_if_present

HELP = "benchmarks that print measurements (data pipeline, training throughput)"

BENCHMARKS = {
    "data": ("mfvpose_lib.data.bench", "training-pipeline samples/s per worker vs a reference"),
    "train": ("mfvpose_lib.engine.bench", "forward+backward+step samples/s of a model"),
}


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    for name, (module_name, help_text) in BENCHMARKS.items():
        module = import_if_present(module_name)
        sp = sub.add_parser(name, help=help_text if module else f"{help_text} (not built yet)")
        if module is not None:
            module.add_arguments(sp)
            sp.set_defaults(_bench_run=module.run)
        else:
            sp.set_defaults(_bench_run=None)


def run(args) -> int:
    if args._bench_run is None:
        print(f"mfvpose bench {args.benchmark}: not built yet", file=sys.stderr)
        return 2
    return int(args._bench_run(args) or 0)
