"""Process-wide state a run sets (torch threads, the seeds of the global generators), scoped to the run.

A training run in a notebook kernel must not leave the kernel on one thread or with its random
generators reseeded: :func:`isolated_run_state` sets both for the duration of a ``with`` block and
puts back the thread count and the Python ``random``, NumPy global, torch CPU and (when CUDA is
available) CUDA generator states afterwards, also when the block raises.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

from mfvpose_lib.engine.checkpointing import capture_rng_state, restore_rng_state


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and every CUDA device)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@contextmanager
def isolated_run_state(*, threads: int | None = None, seed: int | None = None) -> Iterator[None]:
    """Inside the block: ``threads`` torch CPU threads (None: unchanged) and every global generator
    seeded with ``seed`` (None: unseeded); on exit, the thread count and generator states of before."""
    saved_threads = torch.get_num_threads()
    saved_rng = capture_rng_state()
    try:
        if threads:
            torch.set_num_threads(threads)
        if seed is not None:
            seed_everything(seed)
        yield
    finally:
        torch.set_num_threads(saved_threads)
        restore_rng_state(saved_rng)
