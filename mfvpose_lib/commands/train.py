"""``mfvpose train``: train a model at a profile, resumable, DDP under torchrun.

Every training setting is a flag generated from its :class:`~mfvpose_lib.engine.train_config.TrainConfig`
field; this module adds only what is not a setting: ``--config``, ``--print-config`` and ``--resume``.
"""

from __future__ import annotations

import argparse
import os
import sys
import typing
from typing import Any

from mfvpose_lib.engine import train_config

HELP = "train a model (profiles smoke/cpu/paper; --resume; DDP via torchrun)"


def add_arguments(parser) -> None:
    parser.add_argument("--config", default=None, metavar="FILE.yaml",
                        help="TrainConfig fields; flags override the file, the file overrides the profile")  # fmt: skip
    parser.add_argument("--print-config", action="store_true", help="print the resolved config.yaml and exit")
    parser.add_argument("--resume", nargs="?", const="auto", default=None, metavar="CKPT",
                        help="continue from CKPT, or from OUT/last.pt when given without a value")  # fmt: skip
    _add_setting_flags(parser)


def _yaml_mapping(text: str) -> dict[str, Any]:
    import yaml

    value = yaml.safe_load(text)
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a YAML mapping such as '{{key: value}}', got {text!r}")
    return value


def _argument_options(hint: Any, metadata: dict[str, Any]) -> dict[str, Any]:
    """How argparse reads a field of type ``hint``; every default is None, meaning "not given"."""
    hint = train_config.without_none(hint)
    options: dict[str, Any] = {"default": None, "help": metadata["help"]}
    if metadata.get("choices"):
        options["choices"] = metadata["choices"]
    if metadata.get("metavar"):
        options["metavar"] = metadata["metavar"]
    if hint is bool:
        return {**options, "action": argparse.BooleanOptionalAction}
    if typing.get_origin(hint) is tuple:
        args = typing.get_args(hint)
        variadic = len(args) == 2 and args[1] is Ellipsis
        return {**options, "type": args[0], "nargs": "*" if variadic else len(args)}
    if hint in (int, float, str):
        return {**options, "type": hint}
    return {**options, "type": _yaml_mapping}  # mappings and dataclasses: '{key: value, ...}'


def _add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per field: ``--field-name`` (or the field's ``flag``), bools as ``--x/--no-x``."""
    types = train_config.setting_types()
    for name, f in train_config.setting_fields().items():
        flag = f.metadata.get("flag") or "--" + name.replace("_", "-")
        parser.add_argument(flag, dest=name, **_argument_options(types[name], dict(f.metadata)))


def _settings_given(args: argparse.Namespace) -> dict[str, Any]:
    """The fields given on the command line (a flag left out is None)."""
    given = {name: getattr(args, name) for name in train_config.setting_fields()}
    return {name: value for name, value in given.items() if value is not None}


def _resolved_config(args) -> train_config.TrainConfig:
    """The run's TrainConfig from the profile, the ``--config`` file and the flags."""
    from mfvpose_lib.engine.config_file import check_settings, read_config_file
    from mfvpose_lib.study.runs import resolve_config

    file_values = read_config_file(args.config) if args.config else {}
    flags = check_settings(_settings_given(args), "command line")
    return resolve_config(file_values, flags, source=args.config or "command line")


def _warn_without_pretrained(config) -> None:
    from mfvpose_lib.study.profiles import get_profile

    profile = get_profile(config.profile)
    if profile.needs_pretrained and not config.pretrained:
        bar = "!" * 78
        print(
            f"{bar}\nWARNING: profile {profile.name!r} follows the paper, which starts from an ImageNet-"
            f"pretrained HRNet backbone;\nno --pretrained checkpoint was given, so the backbone starts from "
            f"random weights and\nthe results will fall well short of the paper's.\n{bar}",
            file=sys.stderr,
        )


def run(args) -> int:
    from mfvpose_lib.engine.config_file import ConfigFileError, config_to_yaml
    from mfvpose_lib.engine.train import NonFiniteLossError, train

    try:
        config = _resolved_config(args)
    except ConfigFileError as err:
        print(f"mfvpose train: {err}", file=sys.stderr)
        return 2
    if args.print_config:
        sys.stdout.write(config_to_yaml(config))
        return 0
    _warn_without_pretrained(config)
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
              f"checkpoints in {config.out_dir}")  # fmt: skip
    return 0
