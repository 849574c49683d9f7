"""``mfvpose predict IMAGE_OR_DIR ...``: keypoints of the people in given boxes, drawn and saved."""

from __future__ import annotations

import sys

HELP = "top-down keypoints on your images (detection file, one box, or the whole image)"


def add_arguments(parser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="IMAGE_OR_DIR", help="image files or folders of images")
    parser.add_argument("--checkpoint", required=True, help="our checkpoint, or a public state dict with --model")
    parser.add_argument("--model", default=None, help="registered model name for a public state dict")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--boxes", metavar="DETS.json", help="COCO detection results (image_id = file name number)")
    where.add_argument("--box", type=float, nargs=4, metavar=("X", "Y", "W", "H"), help="one person box per image")
    where.add_argument("--whole-image", action="store_true", help="the whole image as one person (default)")
    parser.add_argument("--score-threshold", type=float, default=0.0, help="drop detections below this score")
    parser.add_argument("--out", default="predictions", help="folder for results.json and the pictures")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--no-draw", dest="draw", action="store_false", help="results.json only")
    parser.add_argument("--precision", choices=["auto", "fp32", "fast"], default="auto",
                        help="auto (default): the hardware's fast path where the first batch shows it within "
                             "0.1 px of fp32 and faster; fp32: the reference path; fast: the fast path unchecked")  # fmt: skip


def run(args) -> int:
    from mfvpose_lib.device import resolve_device
    from mfvpose_lib.inference import (
        boxes_from_detections,
        load_any_model,
        predict_images,
    )

    try:
        device = resolve_device(args.device)
        model = load_any_model(args.checkpoint, args.model, map_location=device)
        boxes = boxes_from_detections(args.boxes, args.score_threshold) if args.boxes else None
        out = predict_images(model, args.inputs, boxes=boxes, box=args.box, out_dir=args.out, device=device,
                             batch_size=args.batch_size, draw=args.draw, precision=args.precision)  # fmt: skip
        skipped = out.settings["skipped_images"]  # each one was listed on stderr as it was found
    except (FileNotFoundError, ValueError, KeyError, TypeError) as err:
        print(f"mfvpose predict: {err}", file=sys.stderr)
        return 2
    s = out.settings
    print(f"{s['people']} people in {s['images']} images; {len(out.results)} poses after OKS-NMS "
          f"(flip {s['flip_test']}, alignment {s['flip_alignment']}, decode {s['decode']}); wrote {args.out}/")  # fmt: skip
    if skipped:
        print(f"skipped {len(skipped)} unreadable image files (listed above and in settings.json)")
    if "precision" in s:
        print(f"precision: {s['precision']['reason']}")
    return 0
