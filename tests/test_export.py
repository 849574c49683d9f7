"""ONNX export: onnxruntime reproduces torch on a batch size other than the export's."""

from __future__ import annotations

import pytest
import torch

from mfvpose_lib.cli import main
from mfvpose_lib.export import export_onnx, onnx_parity
from mfvpose_lib.models import create_model
from mfvpose_lib.models.checkpoint import save_model_checkpoint
from mfvpose_lib.study.profiles import get_profile

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")


@pytest.mark.parametrize("dataset", ["coco"])
def test_onnx_matches_torch(tmp_path, dataset):
    torch.manual_seed(0)
    model = create_model(get_profile("smoke").for_dataset(dataset).model)
    path = export_onnx(model, tmp_path / "model.onnx")
    assert onnx_parity(model, path, batch=3) < 1e-4
    assert all(m.fused for m in model.modules() if hasattr(m, "fused"))  # restored after export


def test_export_command(tmp_path):
    model = create_model(get_profile("smoke").for_dataset("coco").model)
    ckpt = save_model_checkpoint(tmp_path / "best.pt", model)
    assert main(["export", "--checkpoint", str(ckpt), "--onnx", str(tmp_path / "m.onnx")]) == 0
    assert (tmp_path / "m.onnx").stat().st_size > 0
