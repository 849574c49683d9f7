import os
import shutil

import pytest
import torch

# Test tensors are small: threads gain nothing, and OpenMP spinning on a loaded 2-core machine
# can slow each op a hundredfold.
torch.set_num_threads(1)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def repo_root() -> str:
    return REPO_ROOT


@pytest.fixture
def close_figures():
    """Closes every pyplot figure a test left open (use with ``pytest.mark.usefixtures``)."""
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture(scope="module")
def model():
    """An untrained ``mfvpose_tiny`` in eval mode, the same weights in every module that asks."""
    from mfvpose_lib.models import create_model

    torch.manual_seed(0)
    return create_model("mfvpose_tiny").eval()


# Headless Chromium as the probe of this machine kind starts it: without the background-networking
# flags its connections are refused by the closed network. Under CI (CI=true) a missing browser is
# a failure, not a skip.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _need(condition: bool, what: str) -> None:
    if condition:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{what} is required under CI (.ci/run installs it)")
    pytest.skip(f"{what} is not installed")


@pytest.fixture(scope="module")
def browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    _need(chromium is not None, "Chromium (Debian package chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _need(False, "the playwright Python package")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()
