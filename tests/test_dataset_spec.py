"""A data set is one spec: the library asks it instead of comparing names, and a new layout plugs in."""

from __future__ import annotations

import ast
import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import mfvpose_lib
from mfvpose_lib.data.coco import coco_format_spec
from mfvpose_lib.data.meta import COCO_META, DatasetMeta
from mfvpose_lib.data.spec import (
    DATASETS,
    available_datasets,
    dataset_for_keypoints,
    get_dataset_spec,
    get_meta,
    list_datasets,
    register_dataset,
)
from mfvpose_lib.data.synth import write_synthetic

PACKAGE = Path(mfvpose_lib.__file__).parent
NAMES = {"coco", "mpii"}


def _compares_a_dataset_name(node: ast.Compare) -> bool:
    """``x == "coco"``, ``"mpii" != x``, ``x in ("coco", "mpii")`` and the like."""
    for side in (node.left, *node.comparators):
        if isinstance(side, ast.Constant) and side.value in NAMES:
            return True
        if isinstance(side, ast.Tuple | ast.List | ast.Set) and any(
            isinstance(e, ast.Constant) and e.value in NAMES for e in side.elts
        ):
            return True
    return False


def files_comparing_dataset_names() -> dict[str, int]:
    found: dict[str, int] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        hits = sum(isinstance(n, ast.Compare) and _compares_a_dataset_name(n) for n in ast.walk(tree))
        if hits:
            found[str(path.relative_to(PACKAGE))] = hits
    return found


def test_dataset_names_are_compared_in_at_most_two_files():
    found = files_comparing_dataset_names()
    print("files comparing a data-set name:", found)
    assert len(found) <= 2, f"ask the DatasetSpec instead of comparing names: {found}"


def test_the_counter_sees_a_comparison(tmp_path):
    tree = ast.parse('if dataset == "coco" or name in ("x", "mpii"):\n    pass\n')
    assert sum(isinstance(n, ast.Compare) and _compares_a_dataset_name(n) for n in ast.walk(tree)) == 2


def test_builtin_specs():
    assert list_datasets()[:2] == ["coco", "mpii"]
    coco, mpii = get_dataset_spec("coco"), get_dataset_spec("MPII")
    assert (coco.num_keypoints, mpii.num_keypoints) == (17, 16)
    assert (coco.primary_metric, mpii.primary_metric) == ("AP", "PCKh@0.5")
    assert coco.boxes_for("det") == "det" and mpii.boxes_for("det") == "gt"
    # the reference recipes: HRNet's COCO and MPII augmentation
    assert coco.augmentation.half_body_prob == 0.3 and mpii.augmentation.half_body_prob == 0.0
    assert mpii.augmentation.rotation_factor == 30.0 and coco.augmentation.rotation_factor == 45.0
    assert get_meta("coco") is COCO_META
    assert dataset_for_keypoints(16) == "mpii"
    with pytest.raises(KeyError, match="unknown data set 'crowdpose'"):
        get_dataset_spec("crowdpose")
    with pytest.raises(KeyError, match="no registered data set has 3 keypoints"):
        dataset_for_keypoints(3)


def test_available_datasets_and_layout_root(tmp_path):
    (tmp_path / "coco" / "annotations").mkdir(parents=True)
    assert available_datasets(tmp_path) == ["coco"]
    spec = get_dataset_spec("coco")
    assert spec.layout_root(tmp_path) == tmp_path / "coco"
    assert spec.layout_root(tmp_path / "coco") == tmp_path / "coco"  # the folder itself
    with pytest.raises(FileNotFoundError, match="no mpii/ folder"):
        get_dataset_spec("mpii").layout_root(tmp_path)


# --- a third layout through one spec: 5 keypoints in COCO's file format ---------------------

TOY_KEYPOINTS = ("nose", "left_shoulder", "right_shoulder", "left_hip", "right_hip")
TOY_FROM_COCO = [COCO_META.index(name) for name in TOY_KEYPOINTS]
TOY_META = DatasetMeta(
    name="toy5",
    keypoint_names=TOY_KEYPOINTS,
    flip_pairs=((1, 2), (3, 4)),
    skeleton=((0, 1), (0, 2), (1, 3), (2, 4), (3, 4)),
    sigmas=tuple(COCO_META.sigmas[i] for i in TOY_FROM_COCO),
    joint_weights=(1.0,) * 5,
    colors=tuple(COCO_META.colors[i] for i in TOY_FROM_COCO),
    upper_body_ids=(0, 1, 2),
    lower_body_ids=(3, 4),
)


def _write_toy_root(tmp_path: Path) -> Path:
    """The synthetic COCO set cut down to 5 keypoints, in COCO's folders and files."""
    source = tmp_path / "synthetic"
    write_synthetic(source, n_train=16, n_val=6, seed=2)
    root = tmp_path / "data"
    (root / "toy5" / "annotations").mkdir(parents=True)
    os.symlink(source / "coco" / "images", root / "toy5" / "images")
    for split in ("train", "val"):
        name = f"person_keypoints_{split}2017.json"
        doc = json.loads((source / "coco" / "annotations" / name).read_text())
        for ann in doc["annotations"]:
            kps = np.asarray(ann["keypoints"], dtype=float).reshape(17, 3)[TOY_FROM_COCO]
            ann["keypoints"] = kps.reshape(-1).tolist()
            ann["num_keypoints"] = int((kps[:, 2] > 0).sum())
        for cat in doc["categories"]:
            cat["keypoints"] = list(TOY_KEYPOINTS)
            cat["skeleton"] = [[a + 1, b + 1] for a, b in TOY_META.skeleton]
        (root / "toy5" / "annotations" / name).write_text(json.dumps(doc))
    return root


@pytest.fixture
def toy_dataset():
    spec = register_dataset(coco_format_spec("toy5", TOY_META))
    yield spec
    DATASETS.pop("toy5", None)


def test_a_toy_layout_trains_and_evaluates_at_smoke(tmp_path, toy_dataset):
    from mfvpose_lib.engine.evaluate import EvalSettings, evaluate_checkpoint
    from mfvpose_lib.engine.train import train
    from mfvpose_lib.study.profiles import DatasetRecipe, get_profile
    from mfvpose_lib.study.runs import config_from_profile

    root = _write_toy_root(tmp_path)
    assert "toy5" in available_datasets(root) and dataset_for_keypoints(5) == "toy5"
    # the smoke profile with a recipe for the toy layout: the COCO model with a 5-keypoint head
    smoke = get_profile("smoke")
    profile = replace(smoke, datasets={**smoke.datasets, "toy5": DatasetRecipe("mfvpose_tiny", input_size=(64, 48))})
    config = config_from_profile(profile, "toy5", root, tmp_path / "run", val_boxes="gt", progress=False,
                                 model_overrides={"num_keypoints": 5})  # fmt: skip
    state = train(config)
    assert state.primary_metric == "AP" and state.best_metric is not None
    assert state.model.cfg.num_keypoints == 5
    result = evaluate_checkpoint(tmp_path / "run" / "best.pt", root, EvalSettings(dataset="toy5", boxes="gt"),
                                 device="cpu", progress=False)  # fmt: skip
    assert 0.0 <= result.metrics["AP"] <= 1.0 and result.settings["people"] > 0
    assert len(result.results[0]["keypoints"]) == 15  # 5 keypoints x (x, y, score)
