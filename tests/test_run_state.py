"""A training run leaves no process-wide state behind: threads and the global generators are
the caller's again afterwards, also after an exception, and a run stays reproducible."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from test_engine_train import ToyDataset, ToyPoseNet, loss_as_metric, make_config

from mfvpose_lib.engine.run_state import isolated_run_state


def _process_state() -> dict:
    """Everything a run may change globally; comparing two of them compares every generator."""
    state = {
        "threads": torch.get_num_threads(),
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _assert_same(before: dict, after: dict) -> None:
    assert after["threads"] == before["threads"]
    assert after["python"] == before["python"]
    (kind, keys, *rest), (kind_after, keys_after, *rest_after) = before["numpy"], after["numpy"]
    assert kind_after == kind and np.array_equal(keys_after, keys) and rest_after == rest
    assert torch.equal(after["torch"], before["torch"])
    for mine, theirs in zip(after.get("cuda", []), before.get("cuda", []), strict=True):
        assert torch.equal(mine, theirs)


def _other_thread_count() -> int:
    return 1 if torch.get_num_threads() != 1 else 2


def _draw_from_every_generator() -> None:
    random.random(), np.random.rand(), torch.rand(1)
    if torch.cuda.is_available():
        torch.rand(1, device="cuda")


@pytest.fixture
def caller_state():
    """A caller with its own seeds and thread count, put back after the test whatever happens."""
    threads = torch.get_num_threads()
    random.seed(11), np.random.seed(12), torch.manual_seed(13)
    _draw_from_every_generator()  # a state no seed call gives
    yield
    torch.set_num_threads(threads)


def test_block_sets_threads_and_seeds_then_restores_them(caller_state):
    before = _process_state()
    threads = _other_thread_count()
    with isolated_run_state(threads=threads, seed=5):
        assert torch.get_num_threads() == threads
        inside = (random.random(), float(np.random.rand()), float(torch.rand(1)))
    _assert_same(before, _process_state())
    random.seed(5), np.random.seed(5), torch.manual_seed(5)
    assert inside == (random.random(), float(np.random.rand()), float(torch.rand(1)))


def test_state_is_restored_after_an_exception_inside_the_block(caller_state):
    before = _process_state()
    with pytest.raises(RuntimeError, match="inside"):
        with isolated_run_state(threads=_other_thread_count(), seed=3):
            _draw_from_every_generator()
            raise RuntimeError("inside")
    _assert_same(before, _process_state())


def _fit(tmp_path, name, threads=None, model=None):
    from mfvpose_lib.engine.train import Trainer

    config = make_config(tmp_path, name, epochs=2, threads=threads)
    with isolated_run_state(seed=config.seed):  # the same initial weights for every run
        model = model or ToyPoseNet()
    datasets = (ToyDataset(), ToyDataset(8, seed=1))
    Trainer(config, model=model, datasets=datasets, evaluate_fn=loss_as_metric).fit()
    return model


def test_a_fit_leaves_threads_and_generators_as_it_found_them(tmp_path, caller_state):
    before = _process_state()
    _fit(tmp_path, "run", threads=_other_thread_count())
    _assert_same(before, _process_state())


def test_a_fit_that_fails_leaves_threads_and_generators_as_it_found_them(tmp_path, caller_state):
    from mfvpose_lib.engine.train import NonFiniteLossError

    model = ToyPoseNet()
    model.blow_up_after = 2
    before = _process_state()
    with pytest.raises(NonFiniteLossError):
        _fit(tmp_path, "run", threads=_other_thread_count(), model=model)
    _assert_same(before, _process_state())


def test_two_fits_with_the_same_seed_end_with_the_same_weights(tmp_path, caller_state):
    first = _fit(tmp_path, "first")
    _draw_from_every_generator()  # what ran in between does not matter
    second = _fit(tmp_path, "second")
    for key, value in first.state_dict().items():
        assert torch.equal(value, second.state_dict()[key]), key
