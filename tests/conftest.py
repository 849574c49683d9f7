import os

import pytest
import torch

# Test tensors are small: threads gain nothing, and OpenMP spinning on a loaded 2-core machine
# can slow each op a hundredfold.
torch.set_num_threads(1)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def repo_root() -> str:
    return REPO_ROOT
