"""The study layer: what every notebook does before its first real cell."""

from mfvpose_lib.study.setup import Study, resolve_data_root, setup_study

__all__ = ["Study", "resolve_data_root", "setup_study"]
