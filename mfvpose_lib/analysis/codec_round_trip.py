"""How exactly the heatmap codec gives back a point: the encode -> decode error of every geometry,
target centring and decoder (notebook 05)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from mfvpose_lib.codecs.geometry import GEOMETRIES
from mfvpose_lib.codecs.heatmap import HeatmapCodec


def codec_round_trip_table(
    samples: int = 64,
    input_size: Sequence[int] = (256, 192),
    heatmap_size: Sequence[int] = (64, 48),
    seed: int = 0,
) -> pd.DataFrame:
    """Error (crop pixels, per axis) of the codec's encode → decode for each geometry, target
    centring and decoder.

    Points are uniform inside the crop but at least 7 heatmap pixels from its border, so the
    table isolates quantisation and decoding bias from border effects.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for geometry in GEOMETRIES:
        for target in ("integer", "subpixel"):
            codec = HeatmapCodec(input_size=tuple(input_size), heatmap_size=tuple(heatmap_size), geometry=geometry,
                                 target=target)  # fmt: skip
            hm_xy = rng.uniform(7, np.array([heatmap_size[1], heatmap_size[0]]) - 8, (samples, 17, 2))
            xy = codec.heatmap_to_crop(hm_xy)
            targets, _ = codec.encode(np.concatenate([xy, np.ones((samples, 17, 1))], axis=-1))
            for decoder in ("argmax", "quarter", "dark"):
                err = np.abs(codec.decode(targets, decoder=decoder)[0] - xy)
                rows.append({"geometry": geometry, "target": target, "decode": decoder,
                             "mean |dx| px": float(err[..., 0].mean()), "mean |dy| px": float(err[..., 1].mean()),
                             "max error px": float(np.linalg.norm(err, axis=-1).max())})  # fmt: skip
    return pd.DataFrame(rows)
