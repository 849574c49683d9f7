"""``mfvpose export --checkpoint CK --onnx OUT.onnx``: the model as ONNX with a dynamic batch."""

from __future__ import annotations

import sys

HELP = "write a model to ONNX (dynamic batch) and check it against onnxruntime"


def add_arguments(parser) -> None:
    parser.add_argument("--checkpoint", required=True, help="our checkpoint, or a public state dict with --model")
    parser.add_argument("--model", default=None, help="registered model name for a public state dict")
    parser.add_argument("--onnx", required=True, metavar="OUT.onnx")
    parser.add_argument("--opset", type=int, default=17)
    parser.add_argument("--no-check", dest="check", action="store_false", help="skip the onnxruntime check")


def run(args) -> int:
    from mfvpose_lib.export import export_onnx, onnx_parity
    from mfvpose_lib.inference import load_any_model

    try:
        model = load_any_model(args.checkpoint, args.model)
        path = export_onnx(model, args.onnx, opset=args.opset)
    except (FileNotFoundError, ValueError, KeyError, TypeError) as err:
        print(f"mfvpose export: {err}", file=sys.stderr)
        return 2
    print(f"wrote {path} (input 'image' Bx3x{model.cfg.input_size[0]}x{model.cfg.input_size[1]}, batch dynamic)")
    if args.check:
        try:
            rel = onnx_parity(model, path)
        except ImportError:
            print("onnxruntime not installed: no parity check")
            return 0
        print(f"onnxruntime vs torch, batch 3: max relative difference {rel:.2e}")
        if rel > 1e-4:
            print("mfvpose export: outputs differ by more than 1e-4 relative", file=sys.stderr)
            return 1
    return 0
