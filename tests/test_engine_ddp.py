"""A two-process DDP smoke run on CPU with gloo, launched through torchrun."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
import torch

pytestmark = pytest.mark.subprocess  # torchrun starts two training processes


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory):
    from mfvpose_lib.data.synth import ensure_synthetic

    root = tmp_path_factory.mktemp("synth_ddp")
    ensure_synthetic(root, 16, 6, seed=0)
    return root


def test_ddp_two_cpu_processes_with_gloo(synth_root, tmp_path):
    run = tmp_path / "ddp"
    train = ["train", "--data", str(synth_root), "--dataset", "coco", "--profile", "smoke", "--out", str(run),
             "--batch-size", "4", "--epochs", "1", "--input-size", "64", "48", "--no-progress", "--device", "cpu"]  # fmt: skip
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "mfvpose_lib", *train]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # fmt: skip
    try:
        _, stderr = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # torchrun and both workers
        proc.communicate()
        raise
    assert proc.returncode == 0, stderr[-3000:]
    log = (run / "train.log").read_text()
    assert "2 process(es)" in log and "effective batch 8 = 4 per process × 2" in log
    ckpt = torch.load(run / "last.pt", map_location="cpu", weights_only=True)
    assert ckpt["world_size"] == 2 and ckpt["epoch"] == 1
    assert not any(k.startswith("module.") for k in ckpt["state_dict"])
