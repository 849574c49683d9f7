"""Training configs as YAML: precedence, the resolved file in the run folder, clear errors."""

from __future__ import annotations

import json

import pytest
import yaml

from mfvpose_lib.cli import main
from mfvpose_lib.engine.config_file import ConfigFileError, read_config_file
from mfvpose_lib.study.runs import resolve_config


def test_flags_override_file_override_profile(tmp_path):
    cfg = tmp_path / "run.yaml"
    cfg.write_text("profile: smoke\ndataset: mpii\ndata_root: D\nout_dir: O\nepochs: 7\nlr: 0.002\n"
                   "lr_steps: [3, 5]\naugmentation: {flip_prob: 0.0}\n")
    config = resolve_config(read_config_file(cfg), {"epochs": 9, "lr": None})
    assert config.epochs == 9 and config.lr == 0.002 and config.lr_steps == (3, 5)
    assert config.dataset == "mpii" and config.augmentation.flip_prob == 0.0 and config.profile == "smoke"


def test_each_layer_of_the_precedence_from_a_json_file(tmp_path):
    cfg = tmp_path / "run.json"
    values = {"profile": "smoke", "data_root": "D", "out_dir": "O", "epochs": 4, "input_size": [32, 24]}
    cfg.write_text(json.dumps(values))
    config = resolve_config(read_config_file(cfg), {"profile": "cpu", "lr": 0.5})
    assert config.profile == "cpu" and config.lr == 0.5  # the flags over the file
    assert config.epochs == 4 and config.input_size == (32, 24)  # the file over the profile
    assert config.batch_size == 32 and config.cache_images  # the cpu profile's COCO recipe
    assert config.lr_gamma == 0.1 and config.optimizer == "adam"  # TrainConfig's defaults


@pytest.mark.parametrize("text, key", [("epoch: 3\n", "epoch"), ("epochs: three\n", "epochs"),
                                       ("val_flip: 2\n", "val_flip"), ("augmentation: {flip: 1}\n", "flip"),
                                       ("input_size: [64]\n", "input_size"), ("amp: fast\n", "amp")])
def test_bad_key_or_value_names_key_and_file(tmp_path, text, key):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    with pytest.raises(ConfigFileError, match=rf"bad\.yaml.*{key}"):
        read_config_file(cfg)


def test_print_config_round_trips(tmp_path, capsys):
    assert main(["train", "--profile", "smoke", "--data", "D", "--out", str(tmp_path), "--epochs", "2",
                 "--print-config"]) == 0
    text = capsys.readouterr().out
    saved = tmp_path / "config.yaml"
    saved.write_text(text)
    again = resolve_config(read_config_file(saved), {})
    assert again.epochs == 2 and again.data_root == "D"
    assert yaml.safe_load(text)["epochs"] == 2


def test_cli_rejects_bad_file(tmp_path, capsys):
    cfg = tmp_path / "typo.yaml"
    cfg.write_text("learning_rate: 0.1\n")
    assert main(["train", "--config", str(cfg), "--data", "D", "--out", "O"]) == 2
    err = capsys.readouterr().err
    assert "typo.yaml" in err and "learning_rate" in err


def test_run_pretrained_file_round_trip(tmp_path):
    from mfvpose_lib.study.runs import run_pretrained, write_run_pretrained

    assert run_pretrained(tmp_path) is None
    ckpt = tmp_path / "hrnet_w32.pth"
    ckpt.write_bytes(b"x")
    write_run_pretrained(tmp_path / "run", ckpt)
    assert run_pretrained(tmp_path / "run") == str(ckpt.resolve())
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        write_run_pretrained(tmp_path / "run", tmp_path / "missing.pth")


def test_run_folder_keeps_resolved_config_yaml(tmp_path):
    from mfvpose_lib.data.synth import ensure_synthetic

    ensure_synthetic(tmp_path / "data", 4, 3, seed=5)
    cfg = tmp_path / "run.yaml"
    cfg.write_text(f"profile: smoke\ndata_root: {tmp_path / 'data'}\nepochs: 1\nbatch_size: 2\n"
                   "progress: false\ndevice: cpu\n")
    assert main(["train", "--config", str(cfg), "--out", str(tmp_path / "run")]) == 0
    saved = read_config_file(tmp_path / "run" / "config.yaml")
    assert saved["epochs"] == 1 and saved["batch_size"] == 2 and saved["out_dir"] == str(tmp_path / "run")
    assert (tmp_path / "run" / "progress.log").read_text().startswith("run: epoch 1/1")
