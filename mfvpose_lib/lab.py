"""JupyterLab on the study as the last ``make reproduce`` left it.

The notebooks are copied to ``runs/<profile>/lab/`` (editing and autosave never touch the
tracked sources) with their ``parameters`` cell rewritten to the run's profile, data root,
run folder and device, and figures to ``runs/<profile>/lab/figures`` (the tracked
``figures/<profile>/`` changes only with ``make reproduce``); then ``jupyter lab`` starts in that
folder, with any further options passed on to it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from mfvpose_lib.io_utils import atomic_write_text
from mfvpose_lib.reproduce import DEFAULT_DATA_ROOT, NOTEBOOK_DIR, REPO_ROOT, discover_notebooks
from mfvpose_lib.study.profiles import DEFAULT_PROFILE, get_profile


def parameters_source(profile: str, data_root: str, run_dir: str, figures_dir: str, device: str) -> str:
    return (f"profile = {profile!r}\ndata_root = {data_root!r}\nrun_dir = {run_dir!r}\n"
            f"figures_dir = {figures_dir!r}\ndevice = {device!r}")  # fmt: skip


def reproduce_paths(profile: str) -> dict[str, Path]:
    """Where ``make reproduce PROFILE=profile`` puts things: the output folder, the run folder the
    notebooks share, the figures folder and the data root. The tracked notebooks' defaults are these
    paths for the default profile (a test checks it)."""
    out = REPO_ROOT / "runs" / profile
    return {"out": out, "run_dir": out / "run", "figures_dir": REPO_ROOT / "figures" / profile,
            "data_root": DEFAULT_DATA_ROOT}  # fmt: skip


def prepare_lab(profile: str = DEFAULT_PROFILE, *, out: str | Path | None = None, data_root: str | Path | None = None,
                figures_dir: str | Path | None = None, device: str = "auto",
                notebook_dir: str | Path = NOTEBOOK_DIR) -> Path:  # fmt: skip
    """Copy the notebooks into ``OUT/lab`` (OUT default ``runs/PROFILE``) pointing at that run.

    Data and run folder are those ``make reproduce`` uses (``data/synthetic``, ``OUT/run``); the
    figures go to ``OUT/lab/figures`` unless ``figures_dir`` says otherwise, so that working in
    the lab never rewrites the tracked ``figures/PROFILE``. Notebooks already in the lab folder
    are replaced, so a lab always starts from the tracked sources."""
    import nbformat

    from mfvpose_lib.study.data_needs import datasets_available, fit_to_data

    get_profile(profile)
    paths = reproduce_paths(profile)
    out = Path(out).resolve() if out else paths["out"]
    lab = out / "lab"
    lab.mkdir(parents=True, exist_ok=True)
    root = Path(data_root).resolve() if data_root else paths["data_root"]
    params = parameters_source(
        profile,
        str(root),
        str(out / "run"),
        str(Path(figures_dir).resolve() if figures_dir else lab / "figures"),
        device,
    )
    present = datasets_available(root)  # a data root with only coco/ or mpii/ gets the parts it can run
    for path in discover_notebooks(Path(notebook_dir)):
        fitted = fit_to_data(nbformat.read(path, as_version=4), present, root)
        if fitted.notebook is None:
            print(f"{path.name}: {fitted.describe(root)}; not copied")
            (lab / path.name).unlink(missing_ok=True)
            continue
        nb = fitted.notebook
        cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        if len(cells) != 1:
            raise ValueError(f"{path}: needs exactly one cell tagged 'parameters', found {len(cells)}")
        cells[0].source = params
        atomic_write_text(nbformat.writes(nb), lab / path.name)
    return lab


def lab_command(lab: Path, port: int | None = None, browser: bool = True, extra: list[str] | None = None) -> list[str]:
    """The ``jupyter lab`` command line; ``extra`` (e.g. ``--ServerApp.token=``) goes last, as given."""
    cmd = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={lab}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    if not browser:
        cmd.append("--no-browser")
    if port:
        cmd.append(f"--port={port}")
    return cmd + list(extra or [])


def run_lab(lab: Path, **kwargs) -> int:
    """``jupyter lab`` in ``lab`` until it stops; ``kwargs`` as :func:`lab_command` takes them."""
    if shutil.which("jupyter") is None and not _has_jupyterlab():
        raise FileNotFoundError("jupyterlab is not installed (pip install jupyterlab)")
    return subprocess.call(lab_command(lab, **kwargs), cwd=lab)


def _has_jupyterlab() -> bool:
    try:
        import jupyterlab  # noqa: F401
    except ImportError:
        return False
    return True
