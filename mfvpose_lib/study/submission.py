"""Table 2: a COCO test-dev submission from the study's COCO model.

test-dev has no public annotations: the evaluation server scores the results file. When the
data root holds test-dev images, their image-info file and person detections (the built-in
synthetic set has such a split), the model predicts on the detection boxes with its family's
test settings and the file is written under the name the server expects.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Submission:
    model: str  # registered name
    path: Path
    input_size: tuple[int, int]


def has_test_dev(data_root: str | Path) -> bool:
    """True when ``data_root/coco`` holds the test-dev image list and detections."""
    from mfvpose_lib.data.coco import coco_paths

    paths = coco_paths(Path(data_root) / "coco", "test")
    return paths["ann_file"].is_file() and paths["det_file"].is_file()


def write_test_dev_submission(checkpoint: str | Path, data_root: str | Path, out_dir: str | Path, *,
                              device: str = "auto", progress: bool = False) -> Submission:  # fmt: skip
    """Predict test-dev with ``checkpoint`` and write ``person_keypoints_test-dev2017_<model>_results.json``
    (and ``metrics.json`` with the settings) into ``out_dir``."""
    from mfvpose_lib.engine.evaluate import EvalSettings, evaluate_checkpoint
    from mfvpose_lib.evaluation.coco import submission_file_name

    if not has_test_dev(data_root):
        raise FileNotFoundError(f"{Path(data_root) / 'coco'}: no test-dev image list and detections")
    settings = EvalSettings(dataset="coco", boxes="det", split="test", flip=True)
    result = evaluate_checkpoint(checkpoint, data_root, settings, device=device, out_dir=out_dir, progress=progress)
    model = result.settings["model"]
    return Submission(model, Path(out_dir) / submission_file_name(model), tuple(result.settings["input_size"]))
