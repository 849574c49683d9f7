"""One codec per model, saved with it; each family's public test settings and training recipe;
a user's data is never written."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

from mfvpose_lib.codecs.heatmap import HeatmapCodec
from mfvpose_lib.data.synth import check_writable_synthetic_root, write_synthetic
from mfvpose_lib.engine.train import per_process_batch
from mfvpose_lib.models import create_model, load_model
from mfvpose_lib.models.checkpoint import save_model_checkpoint
from mfvpose_lib.models.codec import codec_from_payload, model_codec, set_codec
from mfvpose_lib.study import resolve_data_root, setup_study
from mfvpose_lib.study.profiles import get_profile
from mfvpose_lib.study.runs import config_from_profile

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.mark.parametrize(
    "name,geometry,target,decoder,flip",
    [
        ("hrnet_w32", "hrnet", "integer", "quarter", "hrnet_1px"),
        ("simplebaseline_r50", "hrnet", "integer", "quarter", "hrnet_1px"),
        ("tokenpose_b", "tokenpose", "subpixel", "dark", "exact"),
        ("mfvpose_b", "tokenpose", "subpixel", "dark", "exact"),
    ],
)
def test_each_family_gets_the_test_settings_of_its_public_code(name, geometry, target, decoder, flip):
    codec = model_codec(_meta_model(name))
    assert (codec.geometry, codec.target, codec.decoder, codec.flip_alignment) == (geometry, target, decoder, flip)
    assert codec.target_window == (geometry == "hrnet")  # TokenPose draws the Gaussian over the whole map
    assert codec.input_size == (256, 192) and codec.heatmap_size == (64, 48) and codec.sigma == 2.0


def _meta_model(name):
    with torch.device("meta"):
        return create_model(name)


def test_sigma_is_three_at_384x288():
    assert model_codec(_meta_model("tokenpose_b_384")).sigma == 3.0


@pytest.mark.parametrize("name,width", [("tokenpose_b", 384), ("tokenpose_b_384", 864), ("tokenpose_b_mpii", 512),
                                        ("mfvpose_b", 384), ("mfvpose_b_mpii", 512)])  # fmt: skip
def test_tokenpose_b_head_width_is_heatmap_area_over_eight(name, width):
    assert _meta_model(name).cfg.hidden_heatmap_dim == width


def test_codec_round_trips_through_a_dict_and_rejects_unknown_fields():
    codec = HeatmapCodec(input_size=(64, 48), heatmap_size=(16, 12), sigma=1.0, geometry="udp")
    assert HeatmapCodec.from_dict(json.loads(json.dumps(codec.to_dict()))) == codec
    with pytest.raises(ValueError, match="run.json: unknown codec field"):
        HeatmapCodec.from_dict({**codec.to_dict(), "blur": 3}, source="run.json")
    with pytest.raises(ValueError, match="geometry"):
        HeatmapCodec(input_size=(64, 48), heatmap_size=(16, 12), geometry="mmpose")


def test_checkpoints_without_a_codec_fall_back_to_what_they_were_trained_with():
    model = _meta_model("mfvpose_tiny")
    saved = HeatmapCodec(input_size=(128, 96), heatmap_size=(32, 24), sigma=1.0)
    assert codec_from_payload({"codec": saved.to_dict()}, model) == saved
    legacy = codec_from_payload({"train_config": {"sigma": 1.0}}, model)
    assert (legacy.geometry, legacy.target, legacy.target_window, legacy.sigma) == ("hrnet", "subpixel", True, 1.0)
    assert codec_from_payload({"weight": 1}, model) == model_codec(model)


def test_the_codec_is_the_models_saved_and_restored_with_it(tmp_path):
    model = create_model("mfvpose_tiny")
    trained = model_codec(model).replace(sigma=1.5, geometry="udp")
    set_codec(model, trained)
    path = save_model_checkpoint(tmp_path / "m.pt", model)
    assert torch.load(path, weights_only=True)["codec"] == trained.to_dict()
    assert model_codec(load_model(path)) == trained
    fresh = create_model("mfvpose_tiny", checkpoint_path=str(path))  # our weights into a built model
    assert model_codec(fresh) == trained
    with pytest.raises(ValueError, match="does not fit the model"):
        set_codec(model, trained.replace(input_size=(256, 192)))


def test_a_model_of_an_unknown_family_has_no_codec_and_says_so():
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class StrangeConfig:
        input_size: tuple = (64, 48)
        heatmap_size: tuple = (16, 12)

    class Strange(torch.nn.Module):
        cfg = StrangeConfig()

    with pytest.raises(KeyError, match="StrangeConfig belongs to no registered model family"):
        model_codec(Strange())


# The public yaml values: total batch over 4 GPUs, lr, epochs, lr steps; fp32 training.
PUBLIC_RECIPES = {
    "mfvpose_b": ("coco", 128, 1e-3, 300, (200, 260)),
    "tokenpose_b": ("coco", 128, 1e-3, 300, (200, 260)),
    "tokenpose_l_d24": ("coco", 64, 1e-3, 300, (200, 260)),
    "hrnet_w32": ("coco", 128, 1e-3, 210, (170, 200)),
    "simplebaseline_r50": ("coco", 128, 1e-3, 140, (90, 120)),
    "mfvpose_l_d24_mpii": ("mpii", 64, 1e-3, 300, (200, 260)),
    "tokenpose_l_d6_mpii": ("mpii", 64, 1e-3, 300, (200, 260)),
}


@pytest.mark.parametrize("model", sorted(PUBLIC_RECIPES))
def test_paper_profile_resolves_to_the_public_recipe(model, tmp_path):
    dataset, total, lr, epochs, steps = PUBLIC_RECIPES[model]
    config = config_from_profile(get_profile("paper"), dataset, tmp_path, tmp_path / "run", model=model)
    assert (config.total_batch, config.lr, config.epochs, config.lr_steps) == (total, lr, epochs, steps)
    assert config.amp == "off" and config.lr_scaling == "none"
    # whatever the number of processes, the total batch stays the recipe's
    for world, accumulate in ((1, 1), (4, 1), (8, 1), (1, 4), (2, 2)):
        config.accumulate_steps = accumulate
        assert per_process_batch(config, world) * world * accumulate == total
    config.accumulate_steps = 3
    with pytest.raises(ValueError, match="does not split"):
        per_process_batch(config, 1)
    explicit = config_from_profile(get_profile("paper"), dataset, tmp_path, tmp_path / "run", model=model, batch_size=8)
    assert explicit.total_batch is None and per_process_batch(explicit, 2) == 8


# --------------------------------------------------------------------------- user data


def _user_data_root(root: Path) -> dict[str, str]:
    files = {
        "coco/annotations/person_keypoints_train2017.json": '{"images": [], "annotations": [], "categories": []}',
        "coco/annotations/person_keypoints_val2017.json": '{"images": [], "annotations": [], "categories": []}',
        "mpii/annot/train.json": "[]",
        "mpii/annot/valid.json": "[]",
        "notes.txt": "mine",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return _digest(root)


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def _setup_cells(notebook: Path) -> list[str]:
    """The parameters cell and the cell that makes the set-up call, up to that call."""
    cells = [("".join(c["source"])) for c in json.loads(notebook.read_text())["cells"] if c["cell_type"] == "code"]
    setup = [c for c in cells[1:] if "setup_study(" in c][:1]
    return [cells[0]] + [c[: c.index("\n", c.index("setup_study(")) if "\n" in c[c.index("setup_study("):] else None]
                         for c in setup]


def test_every_notebook_set_up_at_paper_leaves_user_data_byte_identical(tmp_path):
    data = tmp_path / "data"
    before = _user_data_root(data)
    notebooks = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    with_setup = [nb for nb in notebooks if len(_setup_cells(nb)) == 2]
    assert len(with_setup) == len(notebooks)  # every notebook sets up with the one call
    for notebook in with_setup:
        params, setup = _setup_cells(notebook)
        scope: dict = {}
        exec(params, scope)  # noqa: S102 - the notebook's own cells
        scope.update(profile="paper", data_root=str(data), run_dir=str(tmp_path / "run"),
                     figures_dir=str(tmp_path / "fig"), device="cpu")  # fmt: skip
        exec(setup, scope)  # noqa: S102
        assert Path(scope["data_root"]) == data, notebook.name
    from mfvpose_lib.study import resolve_data_root

    assert resolve_data_root("paper", data)[0] == data
    assert resolve_data_root("smoke", data)[0] == data  # user data is used, not replaced
    assert _digest(data) == before


def test_synthetic_writer_refuses_foreign_folders_and_empty_counts(tmp_path):
    _user_data_root(tmp_path / "user")
    with pytest.raises(FileExistsError, match="notes.txt"):
        write_synthetic(tmp_path / "user", 2, 2)
    with pytest.raises(ValueError, match="at least one"):
        write_synthetic(tmp_path / "empty", 0, 0)
    check_writable_synthetic_root(tmp_path / "missing")  # a new folder is fine


def test_synthetic_sets_of_different_sizes_live_side_by_side(tmp_path):
    smoke, _ = resolve_data_root("smoke", tmp_path)
    marker = _digest(smoke)
    other = setup_study("smoke", tmp_path, tmp_path / "run", tmp_path / "fig", "cpu", prepare=False)
    assert other.data_root == smoke and "synthetic" in other.data_source
    cpu_root, _ = resolve_data_root("cpu", tmp_path, prepare=False)
    assert cpu_root != smoke and cpu_root.parent == smoke.parent
    assert _digest(smoke) == marker
    with pytest.raises(FileNotFoundError, match="needs real data"):
        resolve_data_root("paper", tmp_path / "nothing")
