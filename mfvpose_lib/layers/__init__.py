"""Reusable building blocks: attention, LayerScale, position embedding, Transformer encoder."""

from mfvpose_lib.layers.attention import Attention
from mfvpose_lib.layers.layer_scale import (
    LayerScale,
    cait_layer_scale_init,
    layer_scale_param_names,
    make_layer_scale,
)
from mfvpose_lib.layers.position_embedding import frozen_sine_position_embedding, sine_position_embedding
from mfvpose_lib.layers.transformer import (
    EncoderLayer,
    FeedForward,
    PreNorm,
    Residual,
    TransformerEncoder,
)

__all__ = [
    "Attention",
    "EncoderLayer",
    "FeedForward",
    "LayerScale",
    "PreNorm",
    "Residual",
    "TransformerEncoder",
    "cait_layer_scale_init",
    "frozen_sine_position_embedding",
    "layer_scale_param_names",
    "make_layer_scale",
    "sine_position_embedding",
]
