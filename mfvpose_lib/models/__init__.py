"""Architectures of the study: HRNet, SimpleBaseline, TokenPose, HRFOV and MfvPose."""

from mfvpose_lib.models.registry import create_model, is_model, list_models, register_model

__all__ = ["create_model", "is_model", "list_models", "register_model"]
