"""TrainConfig is the one declaration of the training settings: a field added there alone reaches
the Trainer from a profile, a config file and a command-line flag, and shows in --print-config."""

from __future__ import annotations

import dataclasses
import sys

import pytest
import yaml

import mfvpose_lib.commands.train  # noqa: F401  (imported before TrainConfig is replaced below)
import mfvpose_lib.study.runs  # noqa: F401
from mfvpose_lib.cli import main
from mfvpose_lib.engine import train_config
from mfvpose_lib.engine.train import Trainer, TrainState
from mfvpose_lib.engine.train_config import TrainConfig, setting


@pytest.fixture
def declared(monkeypatch):
    """TrainConfig with one more field, ``travel_marker``, as if it had been written into the
    declaration: every library module that names TrainConfig gets the extended class."""
    new_field = ("travel_marker", int, setting("a setting only this test declares", 0))
    extended = dataclasses.make_dataclass("TrainConfig", [new_field], bases=(TrainConfig,))
    for module in list(sys.modules.values()):
        library = getattr(module, "__name__", "").startswith("mfvpose_lib")
        if library and getattr(module, "TrainConfig", None) is TrainConfig:
            monkeypatch.setattr(module, "TrainConfig", extended)
    assert train_config.TrainConfig is extended
    return extended


@pytest.fixture
def received(monkeypatch):
    """The configs Trainer.fit is called with (nothing is trained)."""
    configs = []

    def fit(self):
        configs.append(self.config)
        return TrainState(config=self.config, model=None, out_dir=self.out_dir)

    monkeypatch.setattr(Trainer, "fit", fit)
    return configs


@pytest.fixture
def travel_profile(declared, monkeypatch):
    """The smoke profile with a COCO recipe that sets the new field."""
    from mfvpose_lib.study.profiles import PROFILES, DatasetRecipe

    smoke = PROFILES["smoke"]
    recipe = DatasetRecipe("mfvpose_tiny", input_size=(64, 48), travel_marker=3)
    profile = dataclasses.replace(smoke, name="travel", datasets={**smoke.datasets, "coco": recipe})
    monkeypatch.setitem(PROFILES, "travel", profile)
    return profile


def _train(tmp_path, *extra):
    return main(["train", "--profile", "travel", "--data", str(tmp_path / "data"),
                 "--out", str(tmp_path / "run"), *extra])  # fmt: skip


def test_a_new_field_travels_from_profile_file_and_flag_to_the_trainer(tmp_path, travel_profile, received):
    assert _train(tmp_path) == 0
    config_file = tmp_path / "run.yaml"
    config_file.write_text("travel_marker: 5\n")
    assert _train(tmp_path, "--config", str(config_file)) == 0
    assert _train(tmp_path, "--config", str(config_file), "--travel-marker", "7") == 0
    assert [c.travel_marker for c in received] == [3, 5, 7]  # profile < file < flag
    assert all(c.profile == "travel" and c.epochs == 1 for c in received)


def test_a_new_field_reaches_the_trainer_from_a_notebook_call(tmp_path, travel_profile, received):
    from mfvpose_lib.study.runs import ensure_trained

    ensure_trained(travel_profile, "coco", tmp_path / "data", tmp_path / "runs")
    ensure_trained(travel_profile, "coco", tmp_path / "data", tmp_path / "runs", travel_marker=8)
    assert [c.travel_marker for c in received] == [3, 8]


def test_a_new_field_is_printed_read_back_and_checked(tmp_path, travel_profile, capsys):
    assert _train(tmp_path, "--travel-marker", "9", "--print-config") == 0
    printed = capsys.readouterr().out
    assert yaml.safe_load(printed)["travel_marker"] == 9
    assert "--travel-marker" in _help(capsys) and "a setting only this test declares" in _help(capsys)
    bad = tmp_path / "bad.yaml"
    bad.write_text("travel_marker: nine\n")
    assert _train(tmp_path, "--config", str(bad)) == 2
    assert "bad.yaml: key 'travel_marker' must be an integer" in capsys.readouterr().err


def test_a_new_field_left_unset_takes_its_declared_default(tmp_path, declared, received):
    assert main(["train", "--profile", "smoke", "--data", "D", "--out", str(tmp_path / "run")]) == 0
    assert received[0].travel_marker == 0


def _help(capsys) -> str:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    return capsys.readouterr().out


def test_every_field_has_a_flag_with_help_and_every_flag_but_three_is_a_field(capsys):
    from mfvpose_lib.cli import build_parser

    parser = build_parser()
    train = parser._subparsers._group_actions[0].choices["train"]
    dests = {a.dest: a for a in train._actions if a.dest != "help"}
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    assert set(dests) - fields == {"config", "print_config", "resume"}
    assert fields <= set(dests)
    assert all(dests[name].help for name in fields)


def test_flags_of_every_kind_parse_to_the_field_types(tmp_path, capsys):
    args = ["train", "--profile", "smoke", "--data", "D", "--out", "O", "--print-config", "--no-val-flip",
            "--cache-images", "--lr-steps", "3", "5", "--input-size", "32", "24", "--codec", "{geometry: udp}",
            "--augmentation", "{flip_prob: 0.0}", "--model-overrides", "{hrfov: null}", "--clip-grad-norm", "2",
            "--amp", "off"]  # fmt: skip
    assert main(args) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["val_flip"] is False and printed["cache_images"] is True
    assert printed["lr_steps"] == [3, 5] and printed["input_size"] == [32, 24]
    assert printed["codec"] == {"geometry": "udp"} and printed["augmentation"]["flip_prob"] == 0.0
    assert printed["model_overrides"] == {"hrfov": None} and printed["clip_grad_norm"] == 2.0
    with pytest.raises(SystemExit):
        main(["train", "--data", "D", "--out", "O", "--codec", "udp"])  # not a mapping
    assert main(["train", "--data", "D", "--out", "O", "--profile", "nope"]) == 2
    assert "unknown profile 'nope'" in capsys.readouterr().err
