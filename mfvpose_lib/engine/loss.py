"""Heatmap regression loss: HRNet's JointsMSELoss with per-joint target weights."""

from __future__ import annotations

import torch
import torch.nn as nn


class JointsMSELoss(nn.Module):
    """``0.5 * MSE`` per joint between predicted and target heatmaps, averaged over joints.

    Multiplying both maps by the joint's target weight (0 for unlabelled or out-of-crop
    joints) removes those joints from the gradient without changing the normaliser, which
    is what HRNet, SimpleBaseline and TokenPose train with, so loss values are comparable.
    """

    def __init__(self, use_target_weight: bool = True) -> None:
        super().__init__()
        self.use_target_weight = use_target_weight

    def forward(
        self, output: torch.Tensor, target: torch.Tensor, target_weight: torch.Tensor
    ) -> torch.Tensor:
        if output.shape != target.shape:
            raise ValueError(
                f"heatmap shapes differ: model gives {tuple(output.shape)}, target is {tuple(target.shape)}; "
                "check that the data set's heatmap_size matches the model's cfg.heatmap_size"
            )
        batch, joints = output.shape[:2]
        pred = output.float().reshape(batch, joints, -1)
        gt = target.float().reshape(batch, joints, -1)
        if self.use_target_weight:
            weight = target_weight.float().reshape(batch, joints, 1)
            pred = pred * weight
            gt = gt * weight
        # mean over batch and pixels per joint, then mean over joints == mean over everything
        return 0.5 * (pred - gt).pow(2).mean()
