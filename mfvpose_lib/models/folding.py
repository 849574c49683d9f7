"""BatchNorm folded into the convolution before it, for inference.

In eval mode a BatchNorm is an affine map per channel, so ``bn(conv(x))`` equals one convolution
with scaled weights and a bias. HRNet and the TokenPose/MfvPose backbones have a BatchNorm after
almost every convolution; folding removes that many passes over the feature maps (about a tenth
of ``mfvpose_b``'s CPU inference time) and lets the convolution's bias add happen in its kernel.

The pairs are found by running the model once on an example input: a BatchNorm whose input is
the output tensor of a ``Conv2d`` (or, as in SimpleBaseline's head, a ``ConvTranspose2d``) is
that convolution's. This follows the real data flow rather than module names, so it works for
every model here. A convolution whose output is also used elsewhere (never the case in these
models) would change the result; that is why the folded model is checked against the original on
the same input, and :class:`FoldingError` raised when they disagree.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

FOLDABLE = (nn.Conv2d, nn.ConvTranspose2d)


class FoldingError(RuntimeError):
    """The folded model does not reproduce the original's output."""


def conv_batchnorm_pairs(model: nn.Module, example: torch.Tensor) -> list[tuple[str, str]]:
    """``(conv name, batchnorm name)`` for every BatchNorm2d with running statistics fed directly
    by a convolution in one forward pass of ``model`` on ``example``."""
    return _traced_pairs(model, example)[0]


def _traced_pairs(model: nn.Module, example: torch.Tensor) -> tuple[list[tuple[str, str]], torch.Tensor]:
    """The pairs of :func:`conv_batchnorm_pairs` and the model's output of the same pass."""
    produced: dict[int, tuple[str, torch.Tensor]] = {}
    pairs: list[tuple[str, str]] = []
    handles = []

    def conv_hook(name):
        def record(_module, _inputs, output):
            produced[id(output)] = (name, output)  # the tensor is kept so its id is not reused

        return record

    def bn_hook(name):
        def check(module, inputs):
            hit = produced.get(id(inputs[0]))
            if hit is not None and hit[1] is inputs[0] and module.track_running_stats:
                pairs.append((hit[0], name))

        return check

    for name, module in model.named_modules():
        if isinstance(module, FOLDABLE):
            handles.append(module.register_forward_hook(conv_hook(name)))
        elif isinstance(module, nn.BatchNorm2d):
            handles.append(module.register_forward_pre_hook(bn_hook(name)))
    try:
        with torch.no_grad():
            output = model(example)
    finally:
        for handle in handles:
            handle.remove()
    # a convolution called more than once, or a BatchNorm fed by two, cannot be folded
    convs = [c for c, _ in pairs]
    bns = [b for _, b in pairs]
    return [(c, b) for c, b in dict.fromkeys(pairs) if convs.count(c) == 1 and bns.count(b) == 1], output


def fold_into_conv(conv: nn.Conv2d | nn.ConvTranspose2d, bn: nn.BatchNorm2d) -> None:
    """Rewrite ``conv`` in place so that it computes ``bn(conv(x))`` of eval mode."""
    with torch.no_grad():
        inv_std = torch.rsqrt(bn.running_var.float() + bn.eps)
        gamma = bn.weight.float() if bn.affine else torch.ones_like(inv_std)
        beta = bn.bias.float() if bn.affine else torch.zeros_like(inv_std)
        scale = gamma * inv_std
        bias = conv.bias.float() if conv.bias is not None else torch.zeros_like(scale)
        # output channels are dim 0 of a Conv2d weight, dim 1 (per group) of a ConvTranspose2d's
        if isinstance(conv, nn.ConvTranspose2d):
            per_group = scale.reshape(conv.groups, 1, -1, 1, 1)
            shape = conv.weight.shape
            weight = (conv.weight.float().reshape(conv.groups, -1, *shape[1:]) * per_group).reshape(shape)
        else:
            weight = conv.weight.float() * scale.reshape(-1, 1, 1, 1)
        conv.weight.copy_(weight.to(conv.weight.dtype))
        new_bias = (bias - bn.running_mean.float()) * scale + beta
        if conv.bias is None:
            conv.bias = nn.Parameter(new_bias.to(conv.weight.dtype), requires_grad=conv.weight.requires_grad)
        else:
            conv.bias.copy_(new_bias.to(conv.bias.dtype))


def _replace(model: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)


def fold_batch_norms(model: nn.Module, example: torch.Tensor, *, rtol: float = 1e-4) -> nn.Module:
    """An eval-mode copy of ``model`` with every BatchNorm that directly follows a convolution
    folded into it and replaced by ``nn.Identity`` (``model`` itself is untouched).

    The copy's output on ``example`` must match the original's within ``rtol`` of the output's
    largest magnitude; :class:`FoldingError` otherwise."""
    original = model.training
    model.eval()
    try:
        pairs, expected = _traced_pairs(model, example)  # the copy has the same module names
        folded = copy.deepcopy(model)
        for conv_name, bn_name in pairs:
            fold_into_conv(folded.get_submodule(conv_name), folded.get_submodule(bn_name))
            _replace(folded, bn_name, nn.Identity())
        with torch.no_grad():
            got = folded(example)
    finally:
        model.train(original)
    expected, got = expected.float(), got.float()
    finite = expected.isfinite()
    if not torch.equal(finite, got.isfinite()):
        error = float("inf")  # folding made values finite or non-finite that were not before
    else:
        scale = float(expected[finite].abs().max()) if finite.any() else 1.0
        error = float((got[finite] - expected[finite]).abs().max()) / (scale or 1.0) if finite.any() else 0.0
    if not error <= rtol:
        raise FoldingError(
            f"{type(model).__name__}: folding {len(pairs)} BatchNorm layers changed the output by "
            f"{error:.2e} of its range (allowed {rtol:.0e}); a convolution's output is probably used "
            "beside its BatchNorm"
        )
    folded.folded_batch_norms = len(pairs)
    return folded
