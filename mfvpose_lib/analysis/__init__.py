"""Computations behind the analysis pictures: receptive fields, dilation footprints, keypoint
tokens, attention statistics, LayerScale weights and input attributions.

``analysis`` computes (arrays, DataFrames, dataclasses); :mod:`mfvpose_lib.viz` draws them.
"""
