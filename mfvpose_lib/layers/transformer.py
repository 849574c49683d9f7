"""Pre-norm Transformer encoder (TokenPose layout) with optional LayerScale, and a Recorder.

One encoder layer is::

    x = x + ls1(MSA(LN(x)))
    x = x + ls2(FFN(LN(x)))

with ``ls`` a :class:`~mfvpose_lib.layers.layer_scale.LayerScale` (MfvPose's learnable
scalar weights) or the identity (TokenPose). The module tree mirrors the public TokenPose
code -- ``layers.<i>.0`` is the attention block, ``layers.<i>.1`` the feed-forward block,
each a residual around ``fn.norm`` and ``fn.fn`` -- so public checkpoints load by name; the
LayerScale vector, when present, is the extra ``layers.<i>.<j>.ls.gamma``.

:class:`AttentionRecorder` collects every layer's softmax attention maps through forward
hooks on ``Attention.attend``; it switches the attention to its explicit path only while
recording.
"""

from __future__ import annotations

from types import TracebackType

import pandas as pd
import torch
import torch.nn as nn

from mfvpose_lib.layers.attention import Attention
from mfvpose_lib.layers.layer_scale import make_layer_scale


class PreNorm(nn.Module):
    """``fn(LayerNorm(x))``."""

    def __init__(self, dim: int, fn: nn.Module) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(self.norm(x))


class Residual(nn.Module):
    """``x + ls(fn(x))``: a residual branch scaled by LayerScale (or not, when ``ls`` is Identity)."""

    def __init__(self, fn: nn.Module, ls: nn.Module) -> None:
        super().__init__()
        self.fn = fn
        self.ls = ls

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        """The scaled residual branch alone; used to measure its size against the stream."""
        return self.ls(self.fn(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.branch(x)


class FeedForward(nn.Module):
    """Linear -> GELU -> Linear (TokenPose's FFN; ``net.0`` and ``net.3`` hold the weights)."""

    def __init__(self, dim: int, hidden_dim: int, *, dropout: float = 0.0) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(dim, hidden_dim),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_dim, dim),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class EncoderLayer(nn.Sequential):
    """One pre-norm layer: the attention residual (index 0), then the FFN residual (index 1)."""

    def __init__(
        self,
        dim: int,
        *,
        heads: int,
        mlp_ratio: float = 3.0,
        dropout: float = 0.0,
        layer_scale_init: float | None = None,
    ) -> None:
        attn = Residual(
            PreNorm(dim, Attention(dim, heads=heads, dropout=dropout)),
            make_layer_scale(dim, layer_scale_init),
        )
        ffn = Residual(
            PreNorm(dim, FeedForward(dim, int(dim * mlp_ratio), dropout=dropout)),
            make_layer_scale(dim, layer_scale_init),
        )
        super().__init__(attn, ffn)


class TransformerEncoder(nn.Module):
    """A stack of :class:`EncoderLayer` over ``[keypoint tokens; visual tokens]``.

    As in TokenPose's "sine-full" setting, the position embedding ``pos`` (one row per
    visual token) is added again to the visual tokens before every layer but the first
    of the stack -- the caller adds it once before the first layer.
    """

    def __init__(
        self,
        dim: int,
        depth: int,
        *,
        heads: int,
        mlp_ratio: float = 3.0,
        dropout: float = 0.0,
        layer_scale_init: float | None = None,
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            EncoderLayer(
                dim, heads=heads, mlp_ratio=mlp_ratio, dropout=dropout, layer_scale_init=layer_scale_init
            )
            for _ in range(depth)
        )

    def forward(self, x: torch.Tensor, pos: torch.Tensor | None = None, num_prefix: int = 0) -> torch.Tensor:
        """``x``: (B, num_prefix + N, D); ``pos``: (1, N, D) added to the last N tokens."""
        for idx, layer in enumerate(self.layers):
            if idx > 0 and pos is not None:
                x = add_to_visual_tokens(x, pos, num_prefix)
            x = layer(x)
        return x


def add_to_visual_tokens(x: torch.Tensor, pos: torch.Tensor, num_prefix: int) -> torch.Tensor:
    """``x`` with ``pos`` added to every token after the first ``num_prefix`` (out of place)."""
    return torch.cat((x[:, :num_prefix], x[:, num_prefix:] + pos), dim=1)


class AttentionRecorder:
    """Context manager that records the attention maps of every :class:`Attention` in a model.

    Usage::

        with AttentionRecorder(model) as rec:
            model(images)
        rec.maps  # list, one (B, heads, N, N) tensor per attention layer, in module order

    Each call of the model appends one map per layer; ``rec.maps`` holds the maps of the
    last call and ``rec.calls`` all of them. Maps are detached and moved to ``device``
    (CPU by default) as they are produced. On exit the hooks are removed and every
    attention's ``fused`` flag is restored.
    """

    def __init__(self, model: nn.Module, *, device: str | torch.device = "cpu") -> None:
        self.model = model
        self.device = torch.device(device)
        self.names = [name for name, m in model.named_modules() if isinstance(m, Attention)]
        if not self.names:
            raise ValueError(f"{type(model).__name__} contains no Attention module to record")
        self.calls: list[list[torch.Tensor]] = []
        self._handles: list[torch.utils.hooks.RemovableHandle] = []
        self._saved_fused: dict[str, bool] = {}
        self._pending: dict[int, torch.Tensor] = {}

    @property
    def maps(self) -> list[torch.Tensor]:
        """Maps of the last forward call, one per attention layer."""
        return self.calls[-1] if self.calls else []

    def _hook(self, index: int):
        def record(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
            self._pending[index] = output.detach().to(self.device)
            if len(self._pending) == len(self.names):
                self.calls.append([self._pending[i] for i in range(len(self.names))])
                self._pending = {}

        return record

    def __enter__(self) -> AttentionRecorder:
        modules = dict(self.model.named_modules())
        for index, name in enumerate(self.names):
            attn = modules[name]
            self._saved_fused[name] = attn.fused
            attn.fused = False
            self._handles.append(attn.attend.register_forward_hook(self._hook(index)))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
        if self._pending:  # a forward that ran only some of the layers
            self.calls.append([self._pending[i] for i in sorted(self._pending)])
            self._pending = {}
        modules = dict(self.model.named_modules())
        for name, fused in self._saved_fused.items():
            modules[name].fused = fused
        self._saved_fused = {}


@torch.no_grad()
def residual_branch_ratios(model: nn.Module, *inputs: torch.Tensor) -> list[tuple[str, float]]:
    """``||branch|| / ||stream||`` for every :class:`Residual` block of ``model`` on ``inputs``.

    The ratio says how much one residual branch (attention or FFN, after LayerScale)
    changes the token stream it is added to. Without LayerScale a freshly initialised
    pre-norm layer adds a branch comparable to the stream; with LayerScale at ``init_values``
    the ratio shrinks by that factor, so the network starts near the identity (CaiT's aim).
    Returns ``(module name, ratio)`` in execution order.
    """
    names = {m: name for name, m in model.named_modules() if isinstance(m, Residual)}
    if not names:
        raise ValueError(f"{type(model).__name__} contains no Residual block")
    ratios: list[tuple[str, float]] = []

    def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
        stream = args[0]
        branch = output - stream
        ratios.append((names[module], float(branch.norm() / stream.norm().clamp_min(1e-12))))

    handles = [m.register_forward_hook(hook) for m in names]
    try:
        model(*inputs)
    finally:
        for h in handles:
            h.remove()
    return ratios


def residual_ratio_table(ratios: dict[str, list[tuple[str, float]]]) -> pd.DataFrame:
    """Ratios of several variants (label -> :func:`residual_branch_ratios` output) as a
    DataFrame, one row per residual block, one column per variant."""
    labels = list(ratios)
    index = [name for name, _ in ratios[labels[0]]]
    return pd.DataFrame({label: [r for _, r in ratios[label]] for label in labels}, index=index)
