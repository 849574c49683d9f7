"""The training loop on a tiny stand-in model and data set: learning, exact resume,
non-finite loss handling, refusing foreign checkpoints, schedule and RNG state."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn as nn
from torch.utils.data import Dataset

from mfvpose_lib.codecs.heatmap import HeatmapCodec
from mfvpose_lib.engine.checkpointing import capture_rng_state, load_training_checkpoint, restore_rng_state
from mfvpose_lib.engine.train import NonFiniteLossError, StepSchedule, TrainConfig, Trainer

K, H, W = 3, 16, 12


@dataclass(frozen=True)
class ToyConfig:
    num_keypoints: int = K
    input_size: tuple[int, int] = (H, W)
    heatmap_size: tuple[int, int] = (H // 4, W // 4)
    width: int = 8


class ToyPoseNet(nn.Module):
    def __init__(self, cfg: ToyConfig = ToyConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        self.body = nn.Sequential(
            nn.Conv2d(3, cfg.width, 3, stride=2, padding=1), nn.BatchNorm2d(cfg.width), nn.ReLU(),
            nn.Conv2d(cfg.width, cfg.width, 3, stride=2, padding=1), nn.ReLU(),
            nn.Dropout(0.1), nn.Conv2d(cfg.width, cfg.num_keypoints, 1),
        )  # fmt: skip
        self.model_name = "toy_pose"
        self.codec = HeatmapCodec(input_size=cfg.input_size, heatmap_size=cfg.heatmap_size)  # not a registered family
        self.blow_up_after: int | None = None  # forward calls before outputs turn NaN
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        out = self.body(x)
        if self.blow_up_after is not None and self.calls > self.blow_up_after:
            out = out * float("nan")
        return out


class ToyDataset(Dataset):
    """Bright dots at the keypoints; each item draws a random jitter (augmentation)."""

    def __init__(self, n: int = 24, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.points = rng.integers(1, [W // 4 - 1, H // 4 - 1], size=(n, K, 2))

    def __len__(self) -> int:
        return len(self.points)

    def __getitem__(self, i):
        jitter = np.random.normal(0, 0.05, size=(3, H, W)).astype(np.float32) + random.random() * 0.01
        image = torch.from_numpy(jitter)
        target = torch.zeros(K, H // 4, W // 4)
        for k, (x, y) in enumerate(self.points[i]):
            image[k % 3, 4 * y : 4 * y + 4, 4 * x : 4 * x + 4] += 1.0
            target[k, y, x] = 1.0
        meta = {"center": np.zeros(2), "scale": np.ones(2), "index": i, "image_id": i, "score": 1.0}
        return {"image": image, "target": target, "target_weight": torch.ones(K, 1), "meta": meta}


def loss_as_metric(model, val_set, config, dist, device, amp_dtype):
    model.eval()
    with torch.no_grad():
        batch = torch.utils.data.default_collate([val_set[i] for i in range(len(val_set))])
        out = model(batch["image"])
        val_loss = float(torch.nn.functional.mse_loss(out, batch["target"]))
    return {"val_loss": val_loss, "AP": -val_loss}


def make_config(tmp_path, name="run", epochs=3, **kw):
    return TrainConfig(model="toy_pose", dataset="coco", data_root=str(tmp_path), out_dir=str(tmp_path / name),
                       epochs=epochs, batch_size=4, lr=5e-3, lr_steps=(2,), warmup_epochs=0.5, device="cpu",
                       progress=False, **kw)  # fmt: skip


def fit(config, resume=None, model=None, callbacks=()):
    torch.manual_seed(config.seed)
    model = model or ToyPoseNet()
    trainer = Trainer(config, model=model, datasets=(ToyDataset(), ToyDataset(8, seed=1)),
                      evaluate_fn=loss_as_metric, resume=resume, callbacks=callbacks)  # fmt: skip
    return trainer.fit(), model


class StopAfter:
    def __init__(self, epochs: int) -> None:
        self.epochs = epochs

    def on_epoch_end(self, state):
        if state.epoch == self.epochs:
            raise KeyboardInterrupt


def test_loop_learns_writes_csv_and_checkpoints(tmp_path):
    seen = []

    class Record:
        def on_epoch_end(self, state):
            seen.append(state.history[-1]["train_loss"])

    state, _ = fit(make_config(tmp_path, epochs=4, clip_grad_norm=1.0), callbacks=[Record()])
    assert len(seen) == 4 and seen[-1] < seen[0]
    run = tmp_path / "run"
    lines = (run / "metrics.csv").read_text().splitlines()
    assert len(lines) == 5 and lines[0].startswith("epoch,lr,train_loss")
    assert not (run / "layerscale.csv").exists()  # the toy model has no LayerScale to log
    last = load_training_checkpoint(run / "last.pt")
    assert last["epoch"] == 4 and last["dataset"] == "coco" and len(last["history"]) == 4
    best = load_training_checkpoint(run / "best.pt")
    assert best["best_metric"] == max(r["AP"] for r in state.history)
    log = (run / "train.log").read_text()
    assert "effective batch 4 = 4 per process × 1" in log


def test_interrupted_and_resumed_run_ends_with_identical_weights(tmp_path):
    _, straight = fit(make_config(tmp_path, "straight"))
    with pytest.raises(KeyboardInterrupt):
        fit(make_config(tmp_path, "interrupted"), callbacks=[StopAfter(1)])
    assert load_training_checkpoint(tmp_path / "interrupted" / "last.pt")["epoch"] == 1
    state, resumed = fit(make_config(tmp_path, "interrupted"), resume="auto")
    assert state.epoch == 3 and len(state.history) == 3
    for key, value in straight.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    model = ToyPoseNet()
    model.blow_up_after = 6 + 1  # 6 training steps per epoch, then the epoch-1 evaluation
    with pytest.raises(NonFiniteLossError, match="epoch 2, step 1"):
        fit(make_config(tmp_path), model=model)
    assert load_training_checkpoint(tmp_path / "run" / "last.pt")["epoch"] == 1


def test_resume_refuses_checkpoint_of_another_dataset_or_model(tmp_path):
    fit(make_config(tmp_path, epochs=1))
    other = make_config(tmp_path, epochs=2)
    other.dataset = "mpii"
    with pytest.raises(ValueError, match="trained on data set 'coco'"):
        fit(other, resume="auto")
    wider = ToyPoseNet(ToyConfig(width=4))
    with pytest.raises(ValueError, match="configuration differs in width"):
        fit(make_config(tmp_path, epochs=2), resume="auto", model=wider)


def test_step_schedule_warmup_and_milestones():
    schedule = StepSchedule(1e-3, (200, 260), 0.1, warmup_epochs=1.0, warmup_factor=0.1)
    assert schedule.lr_at(0.0) == pytest.approx(1e-4)
    assert schedule.lr_at(0.5) == pytest.approx(0.55e-3)
    assert schedule.lr_at(1.0) == pytest.approx(1e-3)
    assert schedule.lr_at(199.9) == pytest.approx(1e-3)
    assert schedule.lr_at(200.0) == pytest.approx(1e-4)
    assert schedule.lr_at(260.0) == pytest.approx(1e-5)


def test_cosine_schedule_falls_from_the_base_rate_to_zero_after_the_warm_up(tmp_path):
    from mfvpose_lib.engine.train import CosineSchedule, build_schedule

    schedule = CosineSchedule(1e-3, 10, warmup_epochs=1.0, warmup_factor=0.1)
    assert schedule.lr_at(0.0) == pytest.approx(1e-4) and schedule.lr_at(0.5) == pytest.approx(0.55e-3)
    assert schedule.lr_at(5.0) == pytest.approx(0.5e-3)  # half-way: half the rate
    assert schedule.lr_at(2.5) == pytest.approx(1e-3 * 0.5 * (1 + math.cos(math.pi * 0.25)))
    assert schedule.lr_at(10.0) == pytest.approx(0.0, abs=1e-12)
    rates = [schedule.lr_at(e / 10) for e in range(10, 100)]
    assert rates == sorted(rates, reverse=True)
    assert isinstance(build_schedule(make_config(tmp_path, lr_schedule="cosine"), 1e-3), CosineSchedule)
    assert isinstance(build_schedule(make_config(tmp_path), 1e-3), StepSchedule)


def test_rng_state_round_trips_through_a_checkpoint(tmp_path):
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    state = capture_rng_state()
    torch.save(state, tmp_path / "rng.pt")
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    restore_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True))
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first


def test_progress_log_line_has_epoch_loss_metric_speed_and_time_left(tmp_path):
    from types import SimpleNamespace

    from mfvpose_lib.engine.callbacks import ProgressLog

    state = SimpleNamespace(config=SimpleNamespace(epochs=4), out_dir=tmp_path / "train_coco", primary_metric="AP",
                            history=[{"epoch": 1, "train_loss": 0.5, "AP": 0.1, "samples_per_s": 12.0,
                                      "train_seconds": 30.0, "val_seconds": 10.0}])  # fmt: skip
    ProgressLog(tmp_path / "progress.log").on_epoch_end(state)
    line = (tmp_path / "progress.log").read_text()
    assert "epoch 1/4" in line and "loss 0.5" in line and "AP 0.1" in line
    assert "12.0 samples/s" in line and "time left 2m00s" in line


def test_tensorboard_logs_layerscale_and_val_crops(tmp_path):
    pytest.importorskip("tensorboard")
    from types import SimpleNamespace

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from mfvpose_lib.data.synth import ensure_synthetic
    from mfvpose_lib.engine.callbacks import TensorBoardLogger
    from mfvpose_lib.models import create_model
    from mfvpose_lib.study.profiles import get_profile

    ensure_synthetic(tmp_path / "data", 2, 3, seed=4)
    model = create_model(get_profile("smoke").for_dataset("coco").model)
    config = SimpleNamespace(data_root=str(tmp_path / "data"), dataset="coco", epochs=1)
    state = SimpleNamespace(model=model, config=config, primary_metric="AP",
                            history=[{"epoch": 1, "lr": 1e-3, "train_loss": 0.1, "AP": 0.2}])  # fmt: skip
    logger = TensorBoardLogger(tmp_path / "tb", crops=2)
    logger.on_epoch_end(state)
    logger.on_train_end(state)
    events = EventAccumulator(str(tmp_path / "tb")).Reload()
    tags = events.Tags()
    assert "lr" in tags["scalars"] and "AP" in tags["scalars"]
    assert tags["images"] == ["val_crops/predicted"]
    has_lsw = any(type(m).__name__ == "LayerScale" for m in model.modules())
    assert has_lsw == any(t.startswith("layerscale_mean_abs/") for t in tags["scalars"])


def test_cache_images_decodes_every_training_and_validation_image_before_the_loader(tmp_path):
    from mfvpose_lib.data.synth import ensure_synthetic
    from mfvpose_lib.engine.train import build_datasets
    from mfvpose_lib.models import create_model
    from mfvpose_lib.study.profiles import get_profile
    from mfvpose_lib.study.runs import config_from_profile

    ensure_synthetic(tmp_path / "data", 3, 2, seed=4)
    smoke = get_profile("smoke")
    model = create_model(smoke.for_dataset("coco").model, input_size=(64, 48))
    for cache in (False, True):
        config = config_from_profile(smoke, "coco", tmp_path / "data", tmp_path / "run", cache_images=cache)
        train_set, val_set = build_datasets(config, model)
        images = {r["image_path"] for r in train_set.records}
        assert len(train_set._image_cache) == (len(images) if cache else 0)
        assert len(val_set._image_cache) == (len({r["image_path"] for r in val_set.records}) if cache else 0)
    # the cached item is the same crop as a freshly decoded one (no augmentation at validation)
    plain = build_datasets(config_from_profile(smoke, "coco", tmp_path / "data", tmp_path / "run"), model)[1]
    assert torch.equal(plain[0]["image"], val_set[0]["image"])


@pytest.mark.parametrize("setting, kind", [("init_from", "initial"), ("pretrained", "pretrained")])
def test_init_from_and_pretrained_start_from_the_checkpoint_tensors(tmp_path, setting, kind):
    source = ToyPoseNet()
    with torch.no_grad():
        source.body[0].weight.fill_(0.25)
    torch.save(source.state_dict(), tmp_path / "weights.pth")
    started = {}

    class AtStart:
        def on_train_start(self, state):
            started.update({k: v.clone() for k, v in state.model.state_dict().items()})

    fit(make_config(tmp_path, epochs=1, **{setting: str(tmp_path / "weights.pth")}), callbacks=[AtStart()])
    assert all(torch.equal(started[k], v) for k, v in source.state_dict().items())
    assert f"{kind} weights from {tmp_path / 'weights.pth'}" in (tmp_path / "run" / "train.log").read_text()


# ------------------------------------------------------------------ weight average (EMA)
def test_weight_average_follows_the_warmed_up_decay_and_copies_integer_buffers():
    from mfvpose_lib.engine.weight_average import WeightAverage

    torch.manual_seed(0)
    model = ToyPoseNet()
    average = WeightAverage(model, decay=0.9)
    expected = {k: v.clone() for k, v in model.state_dict().items()}
    for t in range(30):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
            model.body[1].num_batches_tracked += 1
        d = min(0.9, (1 + t) / (10 + t))  # the warm-up first, then the decay itself
        for k, v in model.state_dict().items():
            expected[k] = d * expected[k] + (1 - d) * v if v.is_floating_point() else v.clone()
        average.update(model)
    for k, v in average.module.state_dict().items():
        assert torch.allclose(v, expected[k], atol=1e-5), k
    assert average.module.state_dict()["body.1.num_batches_tracked"] == 30
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        WeightAverage(model, decay=1.0)


def test_a_run_with_a_weight_average_validates_it_saves_it_and_resumes_it_exactly(tmp_path):
    from mfvpose_lib.engine.weight_average import EMA_NAME
    from mfvpose_lib.models.checkpoint import load_weights

    scored = []

    def record(model, *args):
        scored.append({k: v.clone() for k, v in model.state_dict().items()})
        return loss_as_metric(model, *args)

    def fit_ema(name, **kw):
        torch.manual_seed(0)
        trainer = Trainer(make_config(tmp_path, name, ema_decay=0.95), model=ToyPoseNet(),
                          datasets=(ToyDataset(), ToyDataset(8, seed=1)), evaluate_fn=record, **kw)  # fmt: skip
        return trainer, trainer.fit()

    trainer, _ = fit_ema("straight")
    ema = trainer.weight_average.module.state_dict()
    raw = trainer.model.state_dict()
    assert any(not torch.equal(ema[k], raw[k]) for k in raw)  # the average is not the last weights
    assert all(torch.equal(scored[-1][k], ema[k]) for k in ema)  # validation scored the average
    saved = ToyPoseNet()
    load_weights(saved, tmp_path / "straight" / EMA_NAME)
    assert all(torch.equal(saved.state_dict()[k], ema[k]) for k in ema)
    with pytest.raises(KeyboardInterrupt):
        fit_ema("cut", callbacks=[StopAfter(1)])
    resumed, _ = fit_ema("cut", resume="auto")
    for k, v in resumed.weight_average.module.state_dict().items():
        assert torch.equal(v, ema[k]), k
    assert resumed.weight_average.updates == trainer.weight_average.updates
