"""``mfvpose synth OUT``: render the synthetic people set in the COCO and MPII layouts."""

from __future__ import annotations

import argparse

HELP = "render the synthetic people data set in COCO and MPII layouts"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", help="output folder (receives coco/ and mpii/)")
    parser.add_argument("--train", type=int, default=2000, help="training images per layout (default 2000)")
    parser.add_argument("--val", type=int, default=200, help="validation images per layout (default 200)")
    parser.add_argument("--test", type=int, default=0,
                        help="COCO test-dev-style images (images and detections, no annotations; default 0)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same images)")
    parser.add_argument("--force", action="store_true", help="rewrite even when a complete set is there")


def run(args: argparse.Namespace) -> int:
    from mfvpose_lib.data.synth import is_complete, write_synthetic

    if args.train < 1 or args.val < 1:
        print("mfvpose synth: --train and --val must be at least 1")
        return 2
    if not args.force and is_complete(args.out, args.train, args.val, args.seed, args.test):
        print(f"{args.out}: complete synthetic set already there (use --force to rewrite)")
        return 0
    stats = write_synthetic(args.out, args.train, args.val, args.seed, n_test=args.test)
    print(
        f"wrote {stats['images']} images ({args.train}+{args.val} per layout, COCO and MPII) to {args.out} "
        f"in {stats['seconds']:.1f} s: {stats['images_per_s']:.1f} images/s; "
        f"{stats['detections']} detection boxes"
    )
    return 0
