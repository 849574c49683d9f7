"""The JupyterLab walkthrough, driven in headless Chromium with Playwright.

Under CI (CI=true) a missing browser is a failure, not a skip.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Each test opens its notebook in a fresh workspace, so the one notebook panel is the active one.
ACTIVE = ".jp-NotebookPanel"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def trained_lab(tmp_path_factory):
    """What `make lab PROFILE=smoke` opens after a reproduction: a trained smoke COCO model in the
    run folder and the notebooks copied to OUT/lab with their parameters pointed at it."""
    from mfvpose_lib.lab import prepare_lab
    from mfvpose_lib.study.profiles import get_profile
    from mfvpose_lib.study.runs import ensure_trained
    from mfvpose_lib.study.setup import resolve_data_root

    base = tmp_path_factory.mktemp("reproduced")
    data_root, _ = resolve_data_root("smoke", base / "data")
    ensure_trained(get_profile("smoke"), "coco", data_root, base / "out" / "run", device="cpu")
    return prepare_lab("smoke", out=base / "out", data_root=base / "data", figures_dir=base / "out" / "figures")


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory, trained_lab):
    """The JupyterLab server `mfvpose lab` starts, on the lab copies (autosave never touches the sources)."""
    from mfvpose_lib.lab import lab_command

    work = tmp_path_factory.mktemp("lab")
    port, token = _free_port(), "mfvpose-test"
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(work / "cfg"),
        JUPYTER_DATA_DIR=str(work / "jdata"),
        JUPYTER_RUNTIME_DIR=str(work / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(work / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(work / "workspaces"),
    )
    # every cell in the page, off-screen ones too: JupyterLab 4 otherwise renders only what is in
    # view, and an output the test waits for may be scrolled out by the time it appears
    tracker = work / "settings" / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True)
    tracker.write_text('{"windowingMode": "none"}')
    cmd = lab_command(
        trained_lab,
        port=port,
        browser=False,
        extra=[
            "--ServerApp.ip=127.0.0.1",
            f"--IdentityProvider.token={token}",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ],
    )
    log = open(work / "server.log", "w")
    server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=trained_lab)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
            break
        except OSError:
            if server.poll() is not None:
                break
            time.sleep(0.5)
    else:
        server.kill()
        pytest.fail(f"JupyterLab did not start; log: {(work / 'server.log').read_text()[-2000:]}")
    if server.poll() is not None:
        pytest.fail(f"JupyterLab exited; log: {(work / 'server.log').read_text()[-2000:]}")
    yield url, token, work
    server.terminate()
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
    log.close()




def test_overview_runs_in_jupyterlab(jupyterlab, browser, tmp_path):
    url, token, work = jupyterlab
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        _open_and_run_all(page, url, token, "00_overview.ipynb")
        device_line = f"{ACTIVE} .jp-OutputArea-output:has-text('selected device:')"
        try:
            page.wait_for_selector(device_line, timeout=90_000)
        except Exception:  # the first kernel of a fresh server can drop the first Run All: run again once
            _open_and_run_all(page, url, token, "00_overview.ipynb")
            page.wait_for_selector(device_line, timeout=120_000)
        page.wait_for_selector(
            f"{ACTIVE} .jp-OutputArea-output:has-text('registered models')", timeout=120_000
        )
        text = page.locator(ACTIVE).inner_text()
        assert "Traceback (most recent call last)" not in text
        assert "00 · The MfvPose study: overview" in text
    finally:
        page.screenshot(path=str(tmp_path / "overview.png"))
        page.close()


def _open_and_run_all(page, url: str, token: str, notebook: str) -> None:
    """Open a notebook and run all cells, retrying the command if the kernel was not ready for it."""
    # a workspace of its own, reset, so no tab of an earlier test is open beside it
    workspace = notebook.removesuffix(".ipynb")
    page.goto(f"{url}/lab/workspaces/{workspace}/tree/{notebook}?reset&token={token}", timeout=60_000)
    page.wait_for_selector(f"{ACTIVE} .jp-Cell", timeout=60_000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=90_000)
    started = (
        f"() => [...document.querySelectorAll('{ACTIVE} .jp-InputArea-prompt')]"
        ".some(p => /\\[(\\*|\\d+)\\]/.test(p.innerText))"
    )
    for _attempt in range(8):  # a loaded machine starts the first kernel slowly
        try:
            # JupyterLab asks for a kernel when the one it started is slow to answer: take the default
            dialog = page.locator(".jp-Dialog .jp-mod-accept")
            if dialog.count() and dialog.first.is_visible():
                dialog.first.click()
            page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click(timeout=10_000)
            page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click(timeout=10_000)
            page.wait_for_function(started, timeout=45_000)
            return
        except Exception:  # playwright's TimeoutError: a dialog or a busy kernel; try again
            continue
    pytest.fail(f"{notebook}: JupyterLab never started running the cells")


def _move_every_explorer(page, notebook: str, expected: int) -> list[float]:
    """Change the last dropdown of every explorer and wait for its picture to change; returns the
    seconds from the change to the new picture, one per explorer."""
    explorers = page.locator(f"{ACTIVE} .jupyter-widgets.widget-vbox")
    explorers.nth(expected - 1).wait_for(timeout=300_000)
    timings = []
    for i in range(explorers.count()):
        explorer = explorers.nth(i)
        picture = explorer.locator("img").first
        picture.wait_for(timeout=120_000)
        before = picture.get_attribute("src")
        assert before, f"{notebook}: explorer {i + 1} shows no picture"
        control = explorer.locator("select").last
        options = control.locator("option").all_inner_texts()
        assert len(options) >= 2, options
        current = control.input_value()
        values = control.locator("option").evaluate_all("os => os.map(o => o.value)")
        target = next(v for v in values if v != current)
        start = time.perf_counter()
        control.select_option(value=target)
        page.wait_for_function(
            "([el, old]) => el.getAttribute('src') !== old",
            arg=[picture.element_handle(), before],
            timeout=120_000,
        )
        timings.append(time.perf_counter() - start)
        error = explorer.locator("pre").all_inner_texts()
        assert not any(e.strip() for e in error), f"{notebook}: explorer {i + 1} error {error}"
    return timings


@pytest.mark.parametrize(
    ("notebook", "explorers"),
    [
        ("08_attention_widgets.ipynb", 3),
        ("10_receptive_fields_trained.ipynb", 1),
        ("12_attributions.ipynb", 1),
    ],
)
def test_explorers_redraw_in_jupyterlab(jupyterlab, trained_lab, browser, tmp_path, notebook, explorers):
    """In the lab `make lab` opens after a reproduction, every explorer renders as a live widget on
    the trained model, and changing a control redraws its picture."""
    url, token, work = jupyterlab
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        _open_and_run_all(page, url, token, notebook)
        model_note = page.locator(f"{ACTIVE} .jp-OutputArea-output", has_text="trained model: ")
        model_note.or_(page.locator(f"{ACTIVE} .jp-OutputArea-output", has_text="does not exist")).first.wait_for(
            timeout=300_000
        )
        assert f"trained model: {trained_lab.parent / 'run'}" in model_note.first.inner_text(), (
            f"{notebook}: the explorers are not on the run's trained model"
        )
        timings = _move_every_explorer(page, notebook, explorers)
        print(f"{notebook}: control change to redraw (s): {', '.join(f'{t:.2f}' for t in timings)}")
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=300_000)
        text = page.locator(ACTIVE).inner_text()
        assert "Traceback (most recent call last)" not in text
    finally:
        page.screenshot(path=str(tmp_path / f"{notebook}.png"), full_page=True)
        page.close()


def test_keypoint_tokens_notebook_runs_in_jupyterlab(jupyterlab, browser, tmp_path):
    url, token, work = jupyterlab
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        _open_and_run_all(page, url, token, "11_keypoint_tokens.ipynb")
        page.wait_for_selector(f"{ACTIVE} .jp-OutputArea-output:has-text('mean |λ|')", timeout=300_000)
        text = page.locator(ACTIVE).inner_text()
        assert "Traceback (most recent call last)" not in text
    finally:
        page.screenshot(path=str(tmp_path / "tokens.png"), full_page=True)
        page.close()
