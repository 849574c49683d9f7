"""Training configs as YAML (or JSON) files: every :class:`~mfvpose_lib.engine.train_config.TrainConfig` field.

Precedence, lowest first: TrainConfig's defaults, the profile (a named set of values for the
same fields), the file, the command-line flags. A key that is not a field, or a value of the wrong type, is
rejected with an error naming the key and the file; keys and types are the fields' own
(:func:`check_settings`, which also checks profiles and flags). Every run folder keeps the resolved
``config.yaml``, which is itself a valid ``--config`` file.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mfvpose_lib.engine import train_config
from mfvpose_lib.engine.train_config import without_none
from mfvpose_lib.io_utils import atomic_write_text


class ConfigFileError(ValueError):
    """A config file that cannot be used; the message names the file and the key."""


def _check_type(key: str, value: Any, hint, source: str) -> Any:
    """``value`` converted to the field's annotation ``hint``, or a :class:`ConfigFileError`."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if value is None:
        if hint is Any or type(None) in args:
            return None
        raise ConfigFileError(f"{source}: key {key!r} may not be empty (null)")
    if type(None) in args:
        return _check_type(key, value, without_none(hint), source)
    if dataclasses.is_dataclass(hint):
        return _check_dataclass(key, value, hint, source)
    if origin is tuple:
        return _check_tuple(key, value, args, source)
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise ConfigFileError(f"{source}: key {key!r} must be a mapping, got {value!r}")
        return dict(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigFileError(f"{source}: key {key!r} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigFileError(f"{source}: key {key!r} must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigFileError(f"{source}: key {key!r} must be a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigFileError(f"{source}: key {key!r} must be a string, got {value!r}")
        return value
    return value


def _check_tuple(key: str, value: Any, args: tuple, source: str) -> tuple:
    if not isinstance(value, list | tuple):
        raise ConfigFileError(f"{source}: key {key!r} must be a list, got {value!r}")
    variadic = len(args) == 2 and args[1] is Ellipsis
    if not variadic and len(value) != len(args):
        raise ConfigFileError(f"{source}: key {key!r} must be a list of {len(args)}, got {value!r}")
    item_types = [args[0]] * len(value) if variadic else list(args)
    return tuple(_check_type(key, v, t, source) for v, t in zip(value, item_types))


def _check_dataclass(key: str, value: Any, cls, source: str) -> Any:
    """A mapping of ``cls``'s fields (e.g. ``augmentation: {flip_prob: 0.0}``) as a ``cls``."""
    if isinstance(value, cls):
        return value
    if not isinstance(value, dict):
        raise ConfigFileError(f"{source}: key {key!r} must be a mapping of {cls.__name__} fields")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(value) - names)
    if unknown:
        raise ConfigFileError(f"{source}: unknown key(s) {key}.{f', {key}.'.join(unknown)}; "
                              f"valid: {', '.join(sorted(names))}")  # fmt: skip
    return cls(**value)


def check_settings(values: Mapping[str, Any], source: str) -> dict[str, Any]:
    """``values`` checked against the TrainConfig fields: an unknown key, a value of the wrong
    type or not among the field's choices is a :class:`ConfigFileError` naming ``source`` and the key."""
    types = train_config.setting_types()
    unknown = sorted(set(values) - set(types))
    if unknown:
        raise ConfigFileError(f"{source}: unknown key(s) {', '.join(map(repr, unknown))}; "
                              f"valid keys: {', '.join(types)}")  # fmt: skip
    checked = {k: _check_type(k, v, types[k], source) for k, v in values.items()}
    fields = train_config.setting_fields()
    for key, value in checked.items():
        choices = fields[key].metadata.get("choices")
        if choices and value not in choices:
            raise ConfigFileError(f"{source}: key {key!r} must be one of {', '.join(choices)}, got {value!r}")
    return checked


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The fields a YAML (or JSON) file sets, type-checked against TrainConfig."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigFileError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise ConfigFileError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(data, dict):
        raise ConfigFileError(f"{path}: expected a mapping of TrainConfig fields, got {type(data).__name__}")
    return check_settings(data, str(path))


def config_to_yaml(config) -> str:
    import yaml

    def plain(value):
        if dataclasses.is_dataclass(value):
            return plain(dataclasses.asdict(value))
        if isinstance(value, tuple | list):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    body = yaml.safe_dump(plain(dataclasses.asdict(config)), sort_keys=False)
    return "# resolved training config: profile defaults < config file < command-line flags\n" + body


def write_config_yaml(config, path: str | Path) -> Path:
    return atomic_write_text(config_to_yaml(config), path)
