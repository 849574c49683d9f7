"""Parameters, true GMACs and the "paper-convention GFLOPs" of a model.

Pose papers in the HRNet lineage (HRNet, SimpleBaseline, TokenPose, MfvPose) report "GFLOPs" from
the HRNet repository's ``get_model_summary``: forward hooks on every module, counting
multiply-adds of convolutions and ``nn.Linear`` only. Its arithmetic has three quirks that the
published numbers carry, and :func:`paper_convention_flops` reproduces them on purpose:

* a convolution counts ``prod(weight.shape) * prod(output.shape[2:])``, which for a stride-2
  transposed convolution is 4x its real cost (the output, not the input, is 2x larger);
* a Linear counts ``prod(output.shape) * input.size(1)``: on (B, N, D) tokens that is N, the
  number of tokens, in place of the input width D;
* attention's matrix products (no module) are left out; the total is divided by 2**30.

True cost is counted by :class:`torch.utils.flop_counter.FlopCounterMode` (every convolution,
matmul and attention product; elementwise work and normalisation are not counted) and reported
as GMACs = FLOPs / 2 / 1e9. Both come from one forward pass with batch 1; running it on the
``meta`` device costs no arithmetic at all, which :func:`complexity_table` does.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd
import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

TABLE_COLUMNS = ["model", "input", "params", "trainable_params", "gmacs", "gflops_paper"]
OTHER_PART = "other"


@dataclass(frozen=True)
class Complexity:
    """Totals and a per-part breakdown (``parts[name] = {"params", "gmacs", "gflops_paper"}``)."""

    input_size: tuple[int, int]
    params: int
    trainable_params: int
    gmacs: float
    gflops_paper: float
    parts: dict[str, dict[str, float]] = field(default_factory=dict)

    def as_dict(self) -> dict:
        """The totals as one flat row (``input`` written as ``"HxW"``)."""
        return {
            "input": f"{self.input_size[0]}x{self.input_size[1]}",
            "params": self.params,
            "trainable_params": self.trainable_params,
            "gmacs": self.gmacs,
            "gflops_paper": self.gflops_paper,
        }


def model_parts(model: nn.Module) -> dict[str, list[str]]:
    """Part name -> module/parameter name prefixes; from ``model.complexity_parts()`` if the family
    defines it, else one part per top-level child module. Prefixes must not overlap."""
    hook = getattr(model, "complexity_parts", None)
    if callable(hook):
        return {part: list(prefixes) for part, prefixes in hook().items()}
    return {name: [name] for name, _ in model.named_children()}


def _part_of(name: str, parts: dict[str, list[str]]) -> str:
    for part, prefixes in parts.items():
        if any(name == p or name.startswith(p + ".") for p in prefixes):
            return part
    return OTHER_PART


def _paper_module_flops(module: nn.Module, inputs: tuple, output) -> int | None:
    """One module's multiply-adds exactly as the HRNet summary tool computes them (or None)."""
    if "Conv" in type(module).__name__ and torch.is_tensor(getattr(module, "weight", None)):
        if not torch.is_tensor(output):
            return None
        return module.weight.numel() * int(torch.Size(output.shape[2:]).numel())
    if isinstance(module, nn.Linear):
        if not inputs or not torch.is_tensor(inputs[0]) or inputs[0].dim() < 2 or not torch.is_tensor(output):
            return None
        return output.numel() * inputs[0].size(1)
    return None


def _hooked_modules(model: nn.Module) -> Iterable[tuple[str, nn.Module]]:
    """The modules the summary tool hooks: all but the root, ModuleLists and Sequentials."""
    for name, module in model.named_modules():
        if module is model or isinstance(module, (nn.ModuleList, nn.Sequential)):
            continue
        yield name, module


def _example_input(
    model: nn.Module, input_size: tuple[int, int] | None
) -> tuple[tuple[int, int], torch.Tensor]:
    if input_size is None:
        cfg = getattr(model, "cfg", None)
        if cfg is None or not hasattr(cfg, "input_size"):
            raise ValueError(f"{type(model).__name__} has no cfg.input_size; pass input_size=(H, W)")
        input_size = cfg.input_size
    h, w = (int(v) for v in input_size)
    first = next(model.parameters(), None)
    device = first.device if first is not None else torch.device("cpu")
    dtype = first.dtype if first is not None and first.is_floating_point() else torch.float32
    return (h, w), torch.zeros(1, 3, h, w, device=device, dtype=dtype)


def _flops_under(counts: dict, name: str) -> int:
    """FLOPs of module ``name`` and everything below it.

    The counter records each module that was *called*; a ModuleList (HRNet's transitions) is
    only indexed, so its children are summed instead, taking the outermost recorded ones.
    """
    under = [k for k in counts if k == name or k.startswith(name + ".")]
    outermost = [k for k in under if not any(k.startswith(o + ".") for o in under)]
    return sum(sum(counts[k].values()) for k in outermost)


def complexity(
    model: nn.Module,
    input_size: tuple[int, int] | None = None,
    *,
    parts: dict[str, list[str]] | None = None,
) -> Complexity:
    """Params (all, including frozen ones such as a sine position embedding), trainable params,
    GMACs and paper-convention GFLOPs of one forward pass at ``input_size`` (default: the model's
    ``cfg.input_size``), with a per-part breakdown: ``parts`` (part name -> module-name prefixes)
    or, by default, :func:`model_parts`. Whatever no part covers is reported as ``"other"``.

    The forward runs with batch 1 in eval mode without gradients on the model's own device (use
    a model built on the ``meta`` device for speed); the model's mode is restored afterwards.
    """
    size, x = _example_input(model, input_size)
    parts = model_parts(model) if parts is None else {k: list(v) for k, v in parts.items()}
    per_part = {p: {"params": 0, "gmacs": 0.0, "gflops_paper": 0.0} for p in [*parts, OTHER_PART]}
    for name, p in model.named_parameters():
        per_part[_part_of(name, parts)]["params"] += p.numel()
    paper, counter = _count_forward(model, x)
    for name, flops in paper:
        per_part[_part_of(name, parts)]["gflops_paper"] += flops / 2**30
    total_flops = counter.get_total_flops()
    _add_gmacs_per_part(per_part, parts, counter.get_flop_counts(), total_flops, root=type(model).__name__)
    if not any(per_part[OTHER_PART].values()):
        del per_part[OTHER_PART]
    return Complexity(
        input_size=size,
        params=sum(p.numel() for p in model.parameters()),
        trainable_params=sum(p.numel() for p in model.parameters() if p.requires_grad),
        gmacs=total_flops / 2 / 1e9,
        gflops_paper=sum(f for _, f in paper) / 2**30,
        parts=per_part,
    )


def _count_forward(model: nn.Module, x: torch.Tensor) -> tuple[list[tuple[str, int]], FlopCounterMode]:
    """One eval-mode forward of ``x`` under both counters: the summary tool's per-module
    multiply-adds, in call order, and torch's FLOP counter."""
    paper: list[tuple[str, int]] = []
    handles = []
    for name, module in _hooked_modules(model):

        def hook(mod, inputs, output, _name=name):
            flops = _paper_module_flops(mod, inputs, output)
            if flops is not None:
                paper.append((_name, flops))

        handles.append(module.register_forward_hook(hook))

    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False)
    try:
        with torch.no_grad(), counter:
            model(x)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return paper, counter


def _add_gmacs_per_part(
    per_part: dict[str, dict[str, float]],
    parts: dict[str, list[str]],
    counts: dict,
    total_flops: int,
    root: str,
) -> None:
    """Each part's GMACs from the counter's per-module FLOPs; the rest of the total goes to "other"."""
    covered = 0
    for part, prefixes in parts.items():
        flops = sum(_flops_under(counts, f"{root}.{p}") for p in prefixes)
        per_part[part]["gmacs"] = flops / 2 / 1e9
        covered += flops
    per_part[OTHER_PART]["gmacs"] = (total_flops - covered) / 2 / 1e9


def build_on_meta(name: str, **overrides) -> nn.Module:
    """A registered model with no storage behind its tensors: enough to count, free to build.

    Falls back to an ordinary CPU build when a family's constructor cannot run on ``meta``.
    """
    from mfvpose_lib.models import create_model

    try:
        with torch.device("meta"):
            model = create_model(name, **overrides)
    except (NotImplementedError, RuntimeError):
        return create_model(name, **overrides)
    return model.to("meta")  # tensors a constructor made outside the device context


def _overrides(input_size: tuple[int, int] | None) -> dict:
    return {} if input_size is None else {"input_size": tuple(int(v) for v in input_size)}


@functools.cache
def _complexity_of(name: str, input_size: tuple[int, int] | None) -> Complexity:
    return complexity(build_on_meta(name, **_overrides(input_size)))


def complexity_of(name: str, input_size: tuple[int, int] | None = None) -> Complexity:
    """Complexity of a registered model, built at ``input_size`` (default: its own).

    Results are cached per (name, input size) for the life of the process, so tables that
    share models (the notebooks build several) measure each one once.
    """
    key = None if input_size is None else (int(input_size[0]), int(input_size[1]))
    return _complexity_of(name, key)


def complexity_table(names: Iterable[str], input_size: tuple[int, int] | None = None) -> pd.DataFrame:
    """One row per registered model: ``model, input, params, trainable_params, gmacs, gflops_paper``."""
    rows = [{"model": name, **complexity_of(name, input_size).as_dict()} for name in names]
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def complexity_parts_table(names: Iterable[str], input_size: tuple[int, int] | None = None) -> pd.DataFrame:
    """Long table of the per-part breakdown: ``model, part, params, gmacs, gflops_paper``."""
    rows = []
    for name in names:
        result = complexity_of(name, input_size)
        rows += [{"model": name, "part": part, **values} for part, values in result.parts.items()]
    return pd.DataFrame(rows, columns=["model", "part", "params", "gmacs", "gflops_paper"])


def parts_pivot(parts: pd.DataFrame, value: str) -> pd.DataFrame:
    """:func:`complexity_parts_table` as one row per model and one column per part, in forward
    order (that of the model with the most parts); NaN where a model has no such part."""
    order = max(parts.groupby("model", sort=False)["part"].apply(list), key=len)
    order += [p for p in parts["part"].unique() if p not in order]
    return parts.pivot(index="model", columns="part", values=value).reindex(columns=order)


def relative_complexity(pairs: Iterable[tuple[str, str]]) -> pd.DataFrame:
    """Each (model, baseline) pair: ratios of params, paper-convention GFLOPs and GMACs, and
    whether the model is the cheaper one by each count (the form in which papers state claims)."""
    rows = []
    for name, baseline in pairs:
        ours, base = complexity_of(name), complexity_of(baseline)
        rows.append(
            {
                "model": name,
                "baseline": baseline,
                "params_ratio": ours.params / base.params,
                "gflops_paper_ratio": ours.gflops_paper / base.gflops_paper,
                "gmacs_ratio": ours.gmacs / base.gmacs,
                "fewer_params": ours.params < base.params,
                "fewer_gflops_paper": ours.gflops_paper < base.gflops_paper,
                "fewer_gmacs": ours.gmacs < base.gmacs,
            }
        )
    return pd.DataFrame(rows)


__all__ = [
    "Complexity",
    "TABLE_COLUMNS",
    "build_on_meta",
    "complexity",
    "complexity_of",
    "complexity_parts_table",
    "complexity_table",
    "model_parts",
    "parts_pivot",
    "relative_complexity",
]
