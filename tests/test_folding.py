"""BatchNorm folded into convolutions: same outputs, no BatchNorm left, the original untouched,
and a model whose convolution output is used beside its BatchNorm refused."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mfvpose_lib.engine.fast_path import FastPath, inference_model, reference_path
from mfvpose_lib.models import create_model
from mfvpose_lib.models.folding import FoldingError, conv_batchnorm_pairs, fold_batch_norms


def _trained_looking(model: nn.Module) -> nn.Module:
    """Running statistics and affine parameters away from their identity initialisation."""
    gen = torch.Generator().manual_seed(0)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            c = module.num_features
            module.running_mean.copy_(torch.rand(c, generator=gen) - 0.5)
            module.running_var.copy_(0.5 + 1.5 * torch.rand(c, generator=gen))
            module.weight.data.copy_(0.5 + torch.rand(c, generator=gen))
            module.bias.data.copy_(0.4 * torch.rand(c, generator=gen) - 0.2)
    return model.eval()


def _count(model: nn.Module, kind=nn.BatchNorm2d) -> int:
    return sum(isinstance(m, kind) for m in model.modules())


@pytest.mark.parametrize(
    "name,size",
    [("mfvpose_tiny", (64, 48)), ("tokenpose_tiny", (64, 48)), ("mfvpose_tiny_mpii", (64, 64)),
     ("simplebaseline_r50", (64, 64))],
)  # fmt: skip
def test_folded_model_matches_and_has_no_batchnorm(name, size):
    torch.manual_seed(0)
    model = _trained_looking(create_model(name, input_size=size))
    x = torch.randn(3, 3, *size)
    with torch.no_grad():
        expected = model(x)
    folded = fold_batch_norms(model, x[:1])
    assert _count(folded) == 0 < _count(model), "every BatchNorm follows a convolution in these models"
    assert folded.folded_batch_norms == _count(model)
    with torch.no_grad():
        got, again = folded(x), model(x)
    assert (got - expected).abs().max() <= 1e-5 * expected.abs().max()
    assert torch.equal(again, expected), "the original model must be left as it was"


class _ConvUsedTwice(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x):
        y = self.conv(x)
        return self.bn(y) + y  # folding would change the second use


def test_conv_output_used_beside_its_batchnorm_is_refused():
    model = _trained_looking(_ConvUsedTwice())
    x = torch.randn(1, 3, 8, 8)
    assert conv_batchnorm_pairs(model, x) == [("conv", "bn")]
    with pytest.raises(FoldingError, match="_ConvUsedTwice"):
        fold_batch_norms(model, x)


def test_batchnorm_after_something_else_is_kept():
    model = _trained_looking(nn.Sequential(nn.Conv2d(3, 4, 1), nn.ReLU(), nn.BatchNorm2d(4)))
    folded = fold_batch_norms(model, torch.randn(1, 3, 4, 4))
    assert _count(folded) == 1 and folded.folded_batch_norms == 0


def test_inference_model_copies_for_a_fast_path_and_not_for_the_reference():
    model = _trained_looking(create_model("mfvpose_tiny", input_size=(64, 48)))
    assert inference_model(model, reference_path("cpu")) is model
    fast = FastPath("cpu", "fp32", True, False, "test", fold_batch_norm=True)
    runner = inference_model(model, fast)
    assert runner is not model and _count(runner) == 0 and _count(model) > 0
    conv = next(m for m in runner.modules() if isinstance(m, nn.Conv2d) and m.weight.dim() == 4 and m.kernel_size == (3, 3))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert next(model.parameters()).is_contiguous()
    assert "BatchNorm folded" in fast.describe() and not fast.is_reference and reference_path().is_reference


def test_inference_model_falls_back_to_an_unfolded_copy():
    model = _trained_looking(_ConvUsedTwice())
    fast = FastPath("cpu", "fp32", True, False, "test", fold_batch_norm=True)
    x = torch.randn(1, 3, 8, 8)
    with pytest.warns(UserWarning, match="BatchNorm left unfolded"):
        runner = inference_model(model, fast, x)
    assert runner is not model and _count(runner) == 1
    with torch.no_grad():
        assert torch.allclose(runner(x), model(x))
