"""``mfvpose train``: train a model at a profile, resumable, DDP under torchrun."""

from __future__ import annotations

import os
import sys

from mfvpose_lib.study.profiles import PROFILES

HELP = "train a model (profiles smoke/cpu/paper; --resume; DDP via torchrun)"


def add_arguments(parser) -> None:
    parser.add_argument(
        "--model", default=None, help="registered model name (default: the profile's for --dataset)"
    )
    parser.add_argument("--config", default=None, metavar="FILE.yaml",
                        help="TrainConfig fields; flags override the file, the file overrides the profile")  # fmt: skip
    parser.add_argument("--print-config", action="store_true", help="print the resolved config.yaml and exit")
    parser.add_argument("--data", default=None, help="data root holding coco/ and/or mpii/ (or one of them)")
    parser.add_argument("--dataset", choices=["coco", "mpii"], default=None, help="default coco")
    parser.add_argument("--profile", choices=list(PROFILES), default=None, help="default smoke")
    parser.add_argument("--out", default=None, help="run folder: last.pt, best.pt, metrics.csv, train.log")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int, help="per process; the effective batch is this × processes")
    parser.add_argument("--total-batch", type=int,
                        help="total batch of a recipe, split over processes and accumulation steps "
                             "(the paper profile sets each model's public value)")  # fmt: skip
    parser.add_argument("--accumulate-steps", type=int,
                        help="gradient accumulation: one optimizer step every N batches (when a GPU cannot hold the batch)")  # fmt: skip
    parser.add_argument("--lr", type=float)
    parser.add_argument("--lr-steps", type=int, nargs="*", help="epochs where the lr is multiplied by 0.1")
    parser.add_argument(
        "--lr-scaling", choices=["none", "linear"], help="scale --lr with the effective batch"
    )
    parser.add_argument("--warmup-epochs", type=float)
    parser.add_argument("--optimizer", choices=["adam", "adamw"])
    parser.add_argument("--weight-decay", type=float)
    parser.add_argument("--clip-grad-norm", type=float)
    parser.add_argument("--device", default=None, help="auto, cpu, cuda, cuda:1 ...")
    parser.add_argument("--workers", type=int)
    parser.add_argument("--threads", type=int, help="torch CPU threads (1 is faster on a busy machine)")
    parser.add_argument("--amp", choices=["auto", "off", "bf16", "fp16"])
    parser.add_argument("--compile", action="store_true", default=None, help="torch.compile the model")
    parser.add_argument("--channels-last", action="store_true", default=None)
    parser.add_argument(
        "--input-size", type=int, nargs=2, metavar=("H", "W"), help="override the model's crop size"
    )
    parser.add_argument("--sigma", type=float, help="Gaussian target σ in heatmap pixels")
    parser.add_argument("--val-boxes", choices=["gt", "det"], help="COCO boxes for the per-epoch validation")
    parser.add_argument("--no-val-flip", dest="val_flip", action="store_false", default=None)
    parser.add_argument("--eval-every", type=int)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--resume", nargs="?", const="auto", default=None, metavar="CKPT",
                        help="continue from CKPT, or from OUT/last.pt when given without a value")  # fmt: skip
    parser.add_argument("--pretrained", default=None, help="ImageNet HRNet checkpoint for the backbone")
    parser.add_argument("--no-progress", dest="progress", action="store_false", default=None)


def run(args) -> int:
    from mfvpose_lib.engine.config_file import ConfigFileError, config_to_yaml, read_config_file
    from mfvpose_lib.engine.train import NonFiniteLossError, train
    from mfvpose_lib.study.profiles import get_profile
    from mfvpose_lib.study.runs import resolve_config

    overrides = {
        "dataset": args.dataset,
        "data_root": args.data,
        "out_dir": args.out,
        "model": args.model,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "lr_steps": tuple(args.lr_steps) if args.lr_steps is not None else None,
        "lr_scaling": args.lr_scaling,
        "total_batch": args.total_batch,
        "accumulate_steps": args.accumulate_steps,
        "warmup_epochs": args.warmup_epochs,
        "optimizer": args.optimizer,
        "weight_decay": args.weight_decay,
        "clip_grad_norm": args.clip_grad_norm,
        "device": args.device,
        "workers": args.workers,
        "threads": args.threads,
        "amp": args.amp,
        "compile": args.compile,
        "channels_last": args.channels_last,
        "input_size": tuple(args.input_size) if args.input_size else None,
        "sigma": args.sigma,
        "val_boxes": args.val_boxes,
        "val_flip": args.val_flip,
        "eval_every": args.eval_every,
        "seed": args.seed,
        "pretrained": args.pretrained,
        "progress": args.progress,
    }
    try:
        file_values = read_config_file(args.config) if args.config else {}
        config = resolve_config(args.profile, file_values, overrides, source=args.config or "command line")
    except (ConfigFileError, ValueError) as err:
        print(f"mfvpose train: {err}", file=sys.stderr)
        return 2
    if args.print_config:
        sys.stdout.write(config_to_yaml(config))
        return 0
    profile = get_profile(config.profile)
    if profile.needs_pretrained and not config.pretrained:
        bar = "!" * 78
        print(
            f"{bar}\nWARNING: profile {profile.name!r} follows the paper, which starts from an ImageNet-"
            f"pretrained HRNet backbone;\nno --pretrained checkpoint was given, so the backbone starts from "
            f"random weights and\nthe results will fall well short of the paper's.\n{bar}",
            file=sys.stderr,
        )
    try:
        state = train(config, resume=args.resume)
    except NonFiniteLossError as err:
        print(f"mfvpose train: {err}", file=sys.stderr)
        return 1
    except (FileNotFoundError, ValueError, KeyError) as err:
        print(f"mfvpose train: {err}", file=sys.stderr)
        return 2
    if state.best_metric is not None and os.environ.get("RANK", "0") == "0":
        print(f"best {state.primary_metric} {state.best_metric:.4f} at epoch {state.best_epoch}; "
              f"checkpoints in {args.out}")  # fmt: skip
    return 0
