"""Pixels ↔ heatmaps: the crop geometry of each public code base and the heatmap codec.

Below ``models`` in the package order, so that a model can own its codec and save it.
"""

from mfvpose_lib.codecs.geometry import GEOMETRIES
from mfvpose_lib.codecs.heatmap import FAMILY_CODECS, HeatmapCodec, family_codec

__all__ = ["FAMILY_CODECS", "GEOMETRIES", "HeatmapCodec", "family_codec"]
