"""Architectures of the study: HRNet, SimpleBaseline, TokenPose, HRFOV and MfvPose."""

from mfvpose_lib.models.factory import create_model, is_model, list_models, load_model
from mfvpose_lib.models.registry import register_model

__all__ = ["create_model", "is_model", "list_models", "load_model", "register_model"]
