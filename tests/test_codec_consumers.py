"""Every consumer converts between pixels and heatmaps through the model's codec, and nothing else.

The pictures of the explorers mark exactly the keypoints evaluation writes; no module outside
``mfvpose_lib/codecs`` re-derives heatmap ↔ pixel arithmetic or imports the codec's internals;
every dotted path the README names imports.
"""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from mfvpose_lib.analysis.inspection import CropInspector
from mfvpose_lib.codecs.geometry import affine_points
from mfvpose_lib.engine.data_access import build_split
from mfvpose_lib.engine.evaluate import EvalSettings, evaluate_model
from mfvpose_lib.models import create_model
from mfvpose_lib.models.codec import model_codec

REPO = Path(__file__).resolve().parents[1]
LIBRARY = REPO / "mfvpose_lib"


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory):
    from mfvpose_lib.data.synth import ensure_synthetic

    root = tmp_path_factory.mktemp("synth_consumers")
    ensure_synthetic(root, 2, 4, seed=5)
    return root


def test_the_explorers_mark_the_keypoints_evaluation_writes(synth_root):
    """Same model, same crops: the crop inspector behind the explorers and evaluation (one pass,
    no flip) agree to 0.01 crop px, with the model's own codec and a TokenPose geometry whose y
    scale differs from a per-axis stride."""
    torch.manual_seed(0)
    model = create_model("mfvpose_tiny", input_size=(64, 48)).eval()
    data = build_split(synth_root, "coco", "val", model.cfg, train=False, boxes="gt", codec=model_codec(model))
    result = evaluate_model(model, data, EvalSettings(dataset="coco", boxes="gt", flip=False), progress=False)
    count = min(6, len(data))
    inspector = CropInspector(model, [data[i] for i in range(count)], precision="fp32")
    for i in range(count):
        trans = data.transform(data.raw_sample(i), np.random.default_rng(0))["trans"]
        written = affine_points(result.predictions.coords[i], trans)  # evaluation's image px → this crop
        np.testing.assert_allclose(inspector[i].points, written, atol=0.01)


# Lines that compute heatmap ↔ pixel conversions by hand: a stride, or an input size divided by
# a heatmap size (either way round).
SLASH = r"[^#\n]*(?<!/)/(?!/)[^#\n]*"  # one division (not //, the size rule of the presets)
HAND_CONVERSION = re.compile(
    r"\bfeat_stride\b|\b(coords|points|peak\w*)\s*\*\s*(stride|\d)"
    rf"|(input_size|in_w|in_h|crop\.shape){SLASH}(heatmap_size|hm_w|hm_h|target\.shape|heatmaps?\.shape)"
    rf"|(heatmap_size|hm_w|hm_h|target\.shape|heatmaps?\.shape){SLASH}(input_size|in_w|in_h|crop\.shape)"
)
# The codec's internals and the helpers it replaced: only the codec calls them.
RETIRED = re.compile(
    r"\b(encode_heatmaps|decode_heatmaps|gaussian_targets|heatmap_to_image_coords|labelled_crop_points"
    r"|codec_for_model|codec_from_checkpoint|codec_for_checkpoint|heatmap_factor|crop_keypoints)\b"
    r"|(?<![.\w])heatmap_to_crop\(|\.to_image\(|\.input_to_heatmap\("
)
ALLOWED = {
    # HRNet's generate_target transcribed as the benchmark's straightforward side
    ("benchmarks/reference_pipeline.py", "stride = (in_w / hm_w, in_h / hm_h)"),
    ("benchmarks/reference_pipeline.py", "mu_x = int(joints[joint_id][0] / stride[0] + 0.5)"),
    ("benchmarks/reference_pipeline.py", "mu_y = int(joints[joint_id][1] / stride[1] + 0.5)"),
}


def _library_lines():
    for path in sorted(LIBRARY.rglob("*.py")):
        rel = path.relative_to(LIBRARY).as_posix()
        if rel.startswith("codecs/"):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            yield rel, number, line
    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] == "code":
                for number, line in enumerate("".join(cell["source"]).splitlines(), 1):
                    yield f"notebooks/{path.name}", number, line


def hand_conversions(lines) -> list[str]:
    found = []
    for rel, number, line in lines:
        code = line.split("#", 1)[0]
        if (rel, line.strip()) in ALLOWED or "``" in line or line.lstrip().startswith(('"', "'")):
            continue
        if HAND_CONVERSION.search(code) or RETIRED.search(code):
            found.append(f"{rel}:{number}: {line.strip()}")
    return found


def test_no_conversion_between_pixels_and_heatmaps_outside_the_codec():
    found = hand_conversions(_library_lines())
    assert not found, "convert through the model's codec (models.codec.model_codec):\n" + "\n".join(found)


@pytest.mark.parametrize("line", [
    "    return coords * stride, maxvals",
    "    stride = (input_size[1] / w, crop.shape[0] / target.shape[1])",
    "    x = heatmap_size[1] / input_size[1] * p",
    "from mfvpose_lib.codecs.heatmap import decode_heatmaps",
    "    peak = heatmap_to_crop(result.peak_xy, size, shape)",
])  # fmt: skip
def test_the_guard_sees_a_hand_conversion_come_back(line):
    assert hand_conversions([("analysis/new.py", 1, line)])


def test_the_guard_lets_the_codec_methods_pass():
    assert not hand_conversions([("viz/x.py", 1, "    peak = codec.heatmap_to_crop(result.peak_xy)")])


def readme_dotted_paths() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return sorted(set(re.findall(r"\bmfvpose_lib(?:\.[A-Za-z_]\w*)+", text)))


@pytest.mark.parametrize("dotted", readme_dotted_paths())
def test_every_dotted_path_the_readme_names_imports(dotted):
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            obj = getattr(obj, name)  # AttributeError names what the README promises and lacks
        return
    raise AssertionError(f"README names {dotted}, which does not import")
