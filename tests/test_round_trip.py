"""The whole accuracy path with a perfect model: crop → target → (flip) → decode → image → metric.

The oracle answers every crop with the target heatmaps of its joints, and the mirrored crop with
the targets of the mirrored joints (what a perfect model sees there: input x → W − 1 − x, left and
right swapped). Whatever the geometry, a perfect model must score perfectly with and without the
flip test; HRNet's one-pixel shift is measured beside the exact alignment for comparison.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from mfvpose_lib.data.codec import HeatmapCodec
from mfvpose_lib.data.geometry import GEOMETRIES
from mfvpose_lib.engine.data_access import build_split
from mfvpose_lib.engine.evaluate import EvalSettings, evaluate_model

LAYOUTS = {"coco": (17, (256, 192), (64, 48)), "mpii": (16, (256, 256), (64, 64))}


@dataclass(frozen=True)
class OracleConfig:
    num_keypoints: int
    input_size: tuple[int, int]
    heatmap_size: tuple[int, int]


class PerfectModel(torch.nn.Module):
    """Target heatmaps of each crop in loader order; each second call (the flip test's mirrored
    batch) gets the targets of the mirrored joints."""

    def __init__(self, joints_input: np.ndarray, codec: HeatmapCodec, flip_pairs, cfg: OracleConfig) -> None:
        super().__init__()
        self.cfg, self.codec = cfg, codec
        self.plain = torch.from_numpy(codec.encode(joints_input)[0])
        mirrored = joints_input.copy()
        mirrored[..., 0] = codec.input_size[1] - 1 - mirrored[..., 0]
        perm = np.arange(joints_input.shape[1])
        for a, b in flip_pairs:
            perm[a], perm[b] = b, a
        self.mirrored = torch.from_numpy(codec.encode(mirrored[:, perm])[0])
        self.position, self.flip_test = 0, False
        self.calls = 0

    def forward(self, images):
        self.calls += 1
        if self.flip_test and self.calls % 2 == 0:
            return self.mirrored[self.position - len(images) : self.position]
        out = self.plain[self.position : self.position + len(images)]
        self.position += len(images)
        return out


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory):
    from mfvpose_lib.data.synth import ensure_synthetic

    root = tmp_path_factory.mktemp("synth_round_trip")
    ensure_synthetic(root, 2, 10, seed=3)
    return root


def round_trip(root, dataset: str, codec: HeatmapCodec, flip_alignment: str | None):
    """Metrics and the signed / absolute mean x error in input pixels of the perfect model, over
    the joints a heatmap can hold whole: at least 2σ inside its border (outside the crop no
    heatmap decoder can answer, and a Gaussian cut by the border moves DARK's estimate)."""
    k, input_size, heatmap_size = LAYOUTS[dataset]
    cfg = OracleConfig(k, input_size, heatmap_size)
    data = build_split(root, dataset, "val", cfg, train=False, boxes="gt", codec=codec)
    samples = [data.transform(data.raw_sample(i), np.random.default_rng(0)) for i in range(len(data))]
    joints_input = np.stack([s["joints_input"] for s in samples]).astype(np.float32)
    model = PerfectModel(joints_input, codec, data.meta.flip_pairs, cfg)
    model.flip_test = flip_alignment is not None
    settings = EvalSettings(dataset=dataset, boxes="gt", flip=flip_alignment is not None, flip_alignment=flip_alignment)
    result = evaluate_model(model, data, settings, batch_size=4, progress=False)
    errors = []
    for i, sample in enumerate(samples):
        hm = codec.input_to_heatmap(joints_input[i, :, :2])
        margin = 2 * codec.sigma
        inside = (hm >= margin).all(axis=1) & (hm[:, 0] <= heatmap_size[1] - 1 - margin) & (
            hm[:, 1] <= heatmap_size[0] - 1 - margin
        )
        visible = (sample["joints"][:, 2] > 0) & inside
        predicted = result.predictions.coords[i][visible] @ sample["trans"][:, :2].T + sample["trans"][:, 2]
        errors.append(predicted[:, 0] - joints_input[i, visible, 0])
    errors = np.concatenate(errors)
    return result.metrics, float(errors.mean()), float(np.abs(errors).mean())


def _codec(dataset: str, geometry: str) -> HeatmapCodec:
    _, input_size, heatmap_size = LAYOUTS[dataset]
    return HeatmapCodec(input_size=input_size, heatmap_size=heatmap_size, geometry=geometry, target="subpixel",
                        decoder="dark")  # fmt: skip


@pytest.mark.parametrize("geometry", GEOMETRIES)
@pytest.mark.parametrize("flip", [None, "exact"])
def test_perfect_model_scores_perfect_coco_ap(synth_root, geometry, flip):
    metrics, mean_err, abs_err = round_trip(synth_root, "coco", _codec("coco", geometry), flip)
    print(f"coco {geometry:9s} flip {flip}: AP {metrics['AP']:.4f}, mean x error {mean_err:+.4f} px, |x| {abs_err:.4f} px")
    assert metrics["AP"] >= 0.999
    assert abs_err < 0.05


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_perfect_model_scores_perfect_mpii_pckh_with_flip(synth_root, geometry):
    metrics, mean_err, abs_err = round_trip(synth_root, "mpii", _codec("mpii", geometry), "exact")
    print(f"mpii {geometry:9s} exact flip: PCKh@0.1 {metrics['PCKh@0.1']['Mean']:.2f}, |x| {abs_err:.4f} px")
    assert metrics["PCKh@0.1"]["Mean"] >= 99.5
    assert metrics["PCKh@0.5"]["Mean"] == pytest.approx(100.0)
    assert abs_err < 0.05


def test_hrnet_one_pixel_shift_is_labelled_and_measurably_off(synth_root, capsys):
    """HRNet's own shift stays available for reproducing its rows; it over-corrects its geometry
    by a quarter of a heatmap pixel (+0.5 input px after averaging at stride 4)."""
    codec = _codec("coco", "hrnet")
    rows = {}
    for alignment in ("none", "hrnet_1px", "exact"):
        metrics, mean_err, _ = round_trip(synth_root, "coco", codec, alignment)
        rows[alignment] = (metrics["AP"], mean_err)
    with capsys.disabled():
        for alignment, (ap, err) in rows.items():
            print(f"\nHRNet geometry, DARK, flip alignment {alignment:9s}: AP {ap:.4f}, mean x error {err:+.3f} input px")
    assert rows["hrnet_1px"][1] == pytest.approx(0.5, abs=0.05)
    assert rows["none"][1] == pytest.approx(-1.5, abs=0.05)
    assert abs(rows["exact"][1]) < 0.05
    assert rows["exact"][0] >= rows["hrnet_1px"][0] >= rows["none"][0]


def test_flip_offset_is_derived_from_the_geometry():
    hrnet = _codec("coco", "hrnet")
    assert hrnet.flip_offset == pytest.approx(0.75)
    assert _codec("coco", "tokenpose").flip_offset == 0.0
    assert _codec("coco", "udp").flip_offset == 0.0
    assert HeatmapCodec(input_size=(256, 192), heatmap_size=(128, 96), geometry="hrnet").flip_offset == pytest.approx(0.5)
