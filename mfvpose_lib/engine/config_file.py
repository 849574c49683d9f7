"""Training configs as YAML files: every :class:`~mfvpose_lib.engine.train_config.TrainConfig` field.

Precedence, lowest first: the profile (a named set of defaults for the same fields), the
file, the command-line flags. A key that is not a field, or a value of the wrong type, is
rejected with an error naming the key and the file. Every run folder keeps the resolved
``config.yaml``, which is itself a valid ``--config`` file.
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any

from mfvpose_lib.io_utils import atomic_write_text


class ConfigFileError(ValueError):
    """A config file that cannot be used; the message names the file and the key."""


def _fields():
    from mfvpose_lib.engine.train_config import TrainConfig

    hints = typing.get_type_hints(TrainConfig)
    return {f.name: hints[f.name] for f in dataclasses.fields(TrainConfig)}


def _check_type(key: str, value: Any, hint, source: str) -> Any:
    """``value`` converted to the field's type, or a :class:`ConfigFileError`."""
    from mfvpose_lib.data.transforms import AugmentationConfig

    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if value is None:
        if hint is Any or type(None) in args:
            return None
        raise ConfigFileError(f"{source}: key {key!r} may not be empty (null)")
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        inner = [a for a in args if a is not type(None)]
        return _check_type(key, value, inner[0], source)
    if key == "augmentation":
        if isinstance(value, AugmentationConfig):
            return value
        if not isinstance(value, dict):
            raise ConfigFileError(f"{source}: key 'augmentation' must be a mapping of AugmentationConfig fields")
        names = {f.name for f in dataclasses.fields(AugmentationConfig)}
        unknown = sorted(set(value) - names)
        if unknown:
            raise ConfigFileError(f"{source}: unknown key(s) augmentation.{', augmentation.'.join(unknown)}; "
                                  f"valid: {', '.join(sorted(names))}")  # fmt: skip
        return AugmentationConfig(**value)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigFileError(f"{source}: key {key!r} must be a list, got {value!r}")
        return tuple(_check_type(key, v, args[0], source) for v in value)
    if origin is dict:
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


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The fields a YAML file sets, type-checked against TrainConfig."""
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
    fields = _fields()
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigFileError(f"{path}: unknown key(s) {', '.join(map(repr, unknown))}; "
                              f"valid keys: {', '.join(fields)}")  # fmt: skip
    return {k: _check_type(k, v, fields[k], str(path)) for k, v in data.items()}


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
