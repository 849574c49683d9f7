"""An exponential moving average (EMA) of a model's weights, kept beside the training.

After every optimizer step each floating-point parameter and buffer (BatchNorm statistics
included) moves towards the trained model's: ``avg = d · avg + (1 − d) · w``. The decay warms up
as ``d_t = min(decay, (1 + t) / (10 + t))`` (t: updates so far), the schedule of TensorFlow's
``ExponentialMovingAverage(num_updates=t)``, so the average forgets the random initial weights
within the first few hundred steps instead of carrying them through a short run. Integer buffers
(BatchNorm's batch counter) are copied.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn as nn

#: The checkpoint beside ``last.pt`` holding the averaged weights (model checkpoint format).
EMA_NAME = "ema.pt"


class WeightAverage:
    """The EMA of ``model``'s weights; :attr:`module` is a frozen copy in eval mode."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"the EMA decay must lie strictly between 0 and 1, not {decay}")
        self.decay = float(decay)
        self.updates = 0
        self.module = copy.deepcopy(model).eval().requires_grad_(False)

    def current_decay(self) -> float:
        return min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        d = self.current_decay()
        averaged = self.module.state_dict()
        for name, value in model.state_dict().items():
            target = averaged[name]
            if target.is_floating_point():
                target.mul_(d).add_(value.detach().to(target.dtype), alpha=1.0 - d)
            else:
                target.copy_(value)
        self.updates += 1

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "updates": self.updates, "weights": self.module.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state["weights"])
        self.updates = int(state["updates"])
