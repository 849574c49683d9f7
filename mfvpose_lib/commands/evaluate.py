"""``mfvpose evaluate``: COCO keypoint AP or MPII PCKh of a checkpoint, with its settings."""

from __future__ import annotations

import sys

HELP = "COCO AP / MPII PCKh of a checkpoint (writes results.json and metrics.json)"


def add_arguments(parser) -> None:
    parser.add_argument("--checkpoint", required=True, help="a checkpoint of ours, e.g. RUN/best.pt")
    parser.add_argument("--data", required=True, help="data root holding coco/ and/or mpii/")
    parser.add_argument("--dataset", choices=["coco", "mpii"], default="coco")
    parser.add_argument("--split", choices=["val", "test"], default="val",
                        help="test: COCO test-dev, writes the submission file only")  # fmt: skip
    parser.add_argument(
        "--boxes", choices=["gt", "det"], default="det", help="COCO person boxes (default: detections)"
    )
    parser.add_argument(
        "--det-file", default=None, help="detection json (default: the layout's standard file)"
    )
    parser.add_argument("--no-flip", dest="flip", action="store_false", help="no flip test")
    parser.add_argument("--flip-alignment", choices=["exact", "hrnet_1px", "none"], default=None,
                        help="align the flipped-back heatmaps: exact for the crop geometry, HRNet's one-pixel "
                             "shift, or none (default: the checkpoint's codec)")  # fmt: skip
    parser.add_argument("--shift", action="store_true", help="same as --flip-alignment hrnet_1px")
    parser.add_argument("--decode", choices=["dark", "quarter", "argmax"], default=None,
                        help="heatmap decoder (default: the checkpoint's codec)")  # fmt: skip
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--amp", choices=["off", "auto", "bf16", "fp16"], default=None,
                        help="a fixed autocast instead of --precision (off: fp32 without the check)")  # fmt: skip
    parser.add_argument(
        "--precision", choices=["auto", "fp32", "fast"], default="auto",
        help="auto (default): the hardware's fast path when a check batch keeps decoded keypoints "
        "within 0.1 px of fp32 and runs faster; fp32: the reference path; fast: the fast path unchecked",
    )  # fmt: skip
    parser.add_argument(
        "--compare-precision", action="store_true",
        help="also evaluate on the reference path and on the fast path, and print both scores and times",
    )  # fmt: skip
    parser.add_argument("--out", required=True, help="folder for results.json and metrics.json")


def run(args) -> int:
    from mfvpose_lib.engine.evaluate import EvalSettings, evaluate_checkpoint

    try:
        settings = EvalSettings(dataset=args.dataset, boxes=args.boxes, split=args.split, flip=args.flip,
                                shift=args.shift, decode=args.decode, flip_alignment=args.flip_alignment)  # fmt: skip
        result = evaluate_checkpoint(
            args.checkpoint, args.data, settings, device=args.device, batch_size=args.batch_size,
            workers=args.workers, amp=args.amp or "off", out_dir=args.out, det_file=args.det_file,
            precision=None if args.amp is not None else args.precision,
        )  # fmt: skip
        chosen = result.settings.get("precision") or {}
        compared = {}
        if args.compare_precision:
            if chosen:  # the run above is one of the two paths: evaluate only the other
                compared["fast" if chosen["used_fast_path"] else "fp32"] = result
            for path in [p for p in ("fp32", "fast") if p not in compared]:
                compared[path] = evaluate_checkpoint(
                    args.checkpoint, args.data, settings, device=args.device, batch_size=args.batch_size,
                    workers=args.workers, det_file=args.det_file, precision=path, progress=False,
                )  # fmt: skip
    except (FileNotFoundError, ValueError, KeyError) as err:
        print(f"mfvpose evaluate: {err}", file=sys.stderr)
        return 2
    print(result.table())
    if chosen:
        print(f"precision: {chosen['path']}")
        print(f"  {chosen['reason']}")
    if compared:
        ref, fast = compared["fp32"], compared["fast"]
        ref_s, fast_s = ref.settings["evaluation_seconds"], fast.settings["evaluation_seconds"]
        print(f"compared: fp32 {ref_s:.1f} s, fast path {fast_s:.1f} s ({fast.settings['precision']['path']})")
        ref_m, fast_m = ref.flat_metrics(), fast.flat_metrics()
        for key in [k for k in ref_m if k in fast_m][:4]:
            print(f"  {key}: fp32 {ref_m[key]:.4f}, fast path {fast_m[key]:.4f} ({fast_m[key] - ref_m[key]:+.4f})")
    print(f"wrote {args.out}/results.json and {args.out}/metrics.json")
    return 0
