"""The whole accuracy path with a perfect model: crop → target → (flip) → decode → image → metric.

The oracle answers every crop with the target heatmaps of its joints, and the mirrored crop with
the targets of the mirrored joints (what a perfect model sees there: crop x → W − 1 − x, left and
right swapped). It recognises crops by their bytes, so it answers evaluation, ``mfvpose predict``
and the crop inspector alike, whatever their batching. Whatever the geometry and the input size,
a perfect model must come back to its labels in x and in y, near the centre and near the border;
HRNet's one-pixel shift and integer targets are measured beside it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
import torch

from mfvpose_lib.analysis.inspection import CropInspector
from mfvpose_lib.codecs.geometry import GEOMETRIES, affine_points
from mfvpose_lib.codecs.heatmap import HeatmapCodec, default_sigma
from mfvpose_lib.engine.data_access import build_split
from mfvpose_lib.engine.evaluate import EvalSettings, evaluate_model
from mfvpose_lib.inference import Box, predict_images
from mfvpose_lib.layers.attention import Attention

# every registered input size of each layout: the public ones and the study's
SIZES = {"coco": [(256, 192), (384, 288), (64, 48)], "mpii": [(256, 256), (64, 64)]}
KEYPOINTS = {"coco": 17, "mpii": 16}
BINS = (0.0, 1 / 3, 2 / 3, 1.0)  # distance from the crop centre, as a share of the half-size
TOLERANCE_PX = 0.02


@dataclass(frozen=True)
class OracleConfig:
    num_keypoints: int
    input_size: tuple[int, int]
    heatmap_size: tuple[int, int]
    patch_grid: tuple[int, int] = (1, 1)


def crop_key(image: torch.Tensor) -> str:
    return hashlib.sha1(image.detach().cpu().contiguous().numpy().tobytes()).hexdigest()


class PerfectModel(torch.nn.Module):
    """Target heatmaps of each crop it was shown with its joints, and of its mirror image.

    One attention layer runs on a dummy token so the attention recorder of the explorers has
    something to record."""

    def __init__(self, codec: HeatmapCodec, num_keypoints: int, flip_pairs) -> None:
        super().__init__()
        self.cfg = OracleConfig(num_keypoints, codec.input_size, codec.heatmap_size)
        self.codec = codec  # the model's codec, as every model of the library carries one
        self.attention = Attention(8, heads=1)
        self.flip_pairs = flip_pairs
        self.answers: dict[str, torch.Tensor] = {}

    def learn(self, image: torch.Tensor, joints_crop: np.ndarray) -> None:
        self.answers[crop_key(image)] = torch.from_numpy(self.codec.encode(joints_crop)[0])
        mirrored = joints_crop.copy()
        mirrored[:, 0] = self.codec.input_size[1] - 1 - mirrored[:, 0]
        perm = np.arange(len(mirrored))
        for a, b in self.flip_pairs:
            perm[a], perm[b] = b, a
        self.answers[crop_key(image.flip(2))] = torch.from_numpy(self.codec.encode(mirrored[perm])[0])

    def forward(self, images):
        self.attention(torch.zeros(len(images), 2, 8))
        return torch.stack([self.answers[crop_key(image)] for image in images])


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory):
    from mfvpose_lib.data.synth import ensure_synthetic

    root = tmp_path_factory.mktemp("synth_round_trip")
    ensure_synthetic(root, 2, 10, seed=3)
    return root


def codec_for(dataset: str, input_size, geometry: str, **changes) -> HeatmapCodec:
    heatmap_size = (input_size[0] // 4, input_size[1] // 4)
    values = dict(input_size=input_size, heatmap_size=heatmap_size, geometry=geometry, target="subpixel",
                  decoder="dark", sigma=default_sigma(input_size))  # fmt: skip
    return HeatmapCodec(**{**values, **changes})


@dataclass
class Oracle:
    data: object
    samples: list[dict]
    model: PerfectModel


def oracle_for(root, dataset: str, codec: HeatmapCodec) -> Oracle:
    cfg = OracleConfig(KEYPOINTS[dataset], codec.input_size, codec.heatmap_size)
    data = build_split(root, dataset, "val", cfg, train=False, boxes="gt", codec=codec)
    samples = [data.transform(data.raw_sample(i), np.random.default_rng(0)) for i in range(len(data))]
    model = PerfectModel(codec, cfg.num_keypoints, data.meta.flip_pairs)
    for sample in samples:
        model.learn(sample["image"], sample["joints_input"])
    return Oracle(data, samples, model)


def held_whole(codec: HeatmapCodec, joints_crop: np.ndarray) -> np.ndarray:
    """Labelled joints a heatmap can hold whole, at least 2σ inside its border (outside the crop
    no heatmap decoder can answer, and a Gaussian cut by the border moves DARK's estimate)."""
    hm = codec.crop_to_heatmap(joints_crop[:, :2])
    margin = 2 * codec.sigma
    inside = (hm >= margin).all(axis=1) & (hm[:, 0] <= codec.heatmap_size[1] - 1 - margin)
    return inside & (hm[:, 1] <= codec.heatmap_size[0] - 1 - margin) & (joints_crop[:, 2] > 0)


def binned_errors(codec: HeatmapCodec, predicted: list[np.ndarray], labelled: list[np.ndarray]) -> pd.DataFrame:
    """Signed and absolute error (predicted − labelled, crop px) per axis and per bin of the
    axis' distance from the crop centre."""
    rows = []
    centre = np.array([(codec.input_size[1] - 1) / 2, (codec.input_size[0] - 1) / 2])
    for pred, label in zip(predicted, labelled, strict=True):
        keep = held_whole(codec, label)
        for axis, name in enumerate("xy"):
            share = np.abs(label[keep, axis] - centre[axis]) / centre[axis]
            for err, where in zip(pred[keep, axis] - label[keep, axis], share, strict=True):
                rows.append({"axis": name, "bin": int(np.digitize(where, BINS[1:-1])), "error": err})
    frame = pd.DataFrame(rows)
    return frame.groupby(["axis", "bin"])["error"].agg(mean="mean", mean_abs=lambda e: e.abs().mean(), n="size")


def to_crop(oracle: Oracle, image_points: np.ndarray) -> list[np.ndarray]:
    return [affine_points(p, s["trans"]) for p, s in zip(image_points, oracle.samples, strict=True)]


def labels(oracle: Oracle) -> list[np.ndarray]:
    return [s["joints_input"] for s in oracle.samples]


def evaluation_errors(oracle: Oracle, dataset: str, flip_alignment: str | None = "exact"):
    settings = EvalSettings(dataset=dataset, boxes="gt", flip=flip_alignment is not None, flip_alignment=flip_alignment)
    result = evaluate_model(oracle.model, oracle.data, settings, batch_size=4, progress=False)
    return result.metrics, binned_errors(oracle.data.codec, to_crop(oracle, result.predictions.coords), labels(oracle))


def predict_errors(oracle: Oracle) -> pd.DataFrame:
    """``mfvpose predict`` on the same images and boxes; each pose is matched to its person."""
    records = oracle.data.records
    boxes = [Box(int(r["image_id"]), tuple(float(v) for v in r["bbox"])) for r in records]
    paths = sorted({r["image_path"] for r in records})
    out = predict_images(oracle.model, paths, boxes=boxes, progress=False, precision="fp32")
    predicted = []
    for rec in records:
        mine = [np.asarray(r["keypoints"]).reshape(-1, 3)[:, :2] for r in out.results if r["image_id"] == rec["image_id"]]
        visible = rec["joints"][:, 2] > 0
        predicted.append(min(mine, key=lambda p: np.abs(p[visible] - rec["joints"][visible, :2]).mean()))
    return binned_errors(oracle.data.codec, to_crop(oracle, np.stack(predicted)), labels(oracle))


def inspector_errors(oracle: Oracle) -> pd.DataFrame:
    """The crop inspector behind the explorers (one pass, no flip): what the pictures mark."""
    items = [oracle.data[i] for i in range(len(oracle.data))]
    inspector = CropInspector(oracle.model, items, precision="fp32")
    points = [inspector[i].points for i in range(len(items))]
    marked = binned_errors(oracle.data.codec, points, labels(oracle))
    truth = binned_errors(oracle.data.codec, [inspector[i].true_points for i in range(len(items))], labels(oracle))
    return marked, truth


def assert_within(frame: pd.DataFrame, what: str, tolerance: float = TOLERANCE_PX) -> None:
    print(f"\n{what}\n{frame.round(4).to_string()}")
    assert set(frame.index.get_level_values("axis")) == {"x", "y"}
    worst = frame["mean"].abs().max()
    assert worst < tolerance, f"{what}: a binned mean error of {worst:.4f} crop px"


CASES = [(d, size, g) for d, sizes in SIZES.items() for size in sizes for g in GEOMETRIES]
CASE_IDS = [f"{d}-{h}x{w}-{g}" for d, (h, w), g in CASES]


@pytest.mark.parametrize("dataset,input_size,geometry", CASES, ids=CASE_IDS)
def test_a_perfect_model_comes_back_to_its_labels_in_x_and_y(synth_root, dataset, input_size, geometry):
    oracle = oracle_for(synth_root, dataset, codec_for(dataset, input_size, geometry))
    metrics, errors = evaluation_errors(oracle, dataset)
    label = f"{dataset} {input_size} {geometry}"
    assert_within(errors, f"evaluation, flip test: {label}")
    score = metrics["AP"] * 100 if dataset == "coco" else metrics["PCKh@0.5"]["Mean"]
    print(f"{label}: {'AP' if dataset == 'coco' else 'PCKh@0.5'} {score:.2f}")
    # A 16x12 heatmap holds most joints within 2σ of its border, where no heatmap decoder is
    # exact (DARK's blur is zero-padded): the study's sizes score a little below perfect.
    assert score >= (99.9 if input_size[0] >= 256 else 95.0)
    marked, truth = inspector_errors(oracle)
    assert_within(marked, f"crop inspector: {label}")
    assert_within(truth, f"crop inspector's labels: {label}")


@pytest.mark.parametrize("input_size", SIZES["coco"], ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_predict_puts_a_perfect_model_on_its_labels(synth_root, input_size, geometry):
    oracle = oracle_for(synth_root, "coco", codec_for("coco", input_size, geometry))
    assert_within(predict_errors(oracle), f"mfvpose predict: coco {input_size} {geometry}")


def test_hrnet_one_pixel_shift_and_integer_targets_are_labelled_and_measurably_off(synth_root, capsys):
    """HRNet's own shift stays available for reproducing its rows; it over-corrects its geometry
    by a quarter of a heatmap pixel (+0.5 input px after averaging at stride 4). Its integer
    targets cost up to half a heatmap pixel on their own."""
    oracle = oracle_for(synth_root, "coco", codec_for("coco", (256, 192), "hrnet"))
    rows = {alignment: evaluation_errors(oracle, "coco", alignment) for alignment in ("none", "hrnet_1px", "exact")}
    x_mean = {a: float(e.loc["x"]["mean"].mean()) for a, (_, e) in rows.items()}
    with capsys.disabled():
        for alignment, (metrics, _) in rows.items():
            print(f"\nHRNet geometry, DARK, flip {alignment:9s}: AP {metrics['AP']:.4f}, mean x error "
                  f"{x_mean[alignment]:+.3f} crop px")  # fmt: skip
    assert x_mean["hrnet_1px"] == pytest.approx(0.5, abs=0.05)
    assert x_mean["none"] == pytest.approx(-1.5, abs=0.05)
    assert abs(x_mean["exact"]) < TOLERANCE_PX
    assert rows["exact"][0]["AP"] >= rows["hrnet_1px"][0]["AP"] >= rows["none"][0]["AP"]
    integer = oracle_for(synth_root, "coco", codec_for("coco", (256, 192), "hrnet", target="integer"))
    _, errors = evaluation_errors(integer, "coco")
    with capsys.disabled():
        print(f"\nHRNet integer targets, DARK, exact flip: mean |error| by bin\n{errors['mean_abs'].round(3).to_string()}")
    assert errors["mean_abs"].max() > 0.3  # rounding to the heatmap grid, reported beside the exact rows


def test_flip_offset_is_derived_from_the_geometry():
    hrnet = codec_for("coco", (256, 192), "hrnet")
    assert hrnet.flip_offset == pytest.approx(0.75)
    assert codec_for("coco", (256, 192), "tokenpose").flip_offset == 0.0
    assert codec_for("coco", (256, 192), "udp").flip_offset == 0.0
    assert HeatmapCodec(input_size=(256, 192), heatmap_size=(128, 96), geometry="hrnet").flip_offset == pytest.approx(0.5)


def test_tokenpose_targets_use_one_width_derived_scale_on_both_axes():
    """TokenPose's joint → heatmap affine (get_affine_transform with the heatmap size) zooms y
    by (w − 1)/(W − 1) about the centres, not by (h − 1)/(H − 1)."""
    codec = codec_for("coco", (256, 192), "tokenpose")
    top, bottom = codec.crop_to_heatmap(np.array([[95.5, 0.0], [95.5, 255.0]]))
    assert bottom[1] - top[1] == pytest.approx(255 * 47 / 191)
    assert (top[1] + bottom[1]) / 2 == pytest.approx(31.5)  # the box centre on the heatmap centre
