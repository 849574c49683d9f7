"""Batch reproduction: execute ``notebooks/NN_*.ipynb`` in order with papermill.

Every notebook gets the same ``parameters`` (profile, data_root, run_dir, figures_dir,
device), so a batch run and an interactive JupyterLab run share one code path. The
runner stops at the first failure and says which notebook and which cell failed.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from mfvpose_lib.io_utils import atomic_write_text
from mfvpose_lib.study.profiles import DEFAULT_PROFILE, get_profile

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
DEFAULT_DATA_ROOT = REPO_ROOT / "data" / "synthetic"
NOTEBOOK_NAME = re.compile(r"^(\d\d)_[A-Za-z0-9_]+\.ipynb$")


@dataclass
class NotebookRun:
    notebook: str
    status: str  # "ok", "failed" or "skipped"
    seconds: float
    output: str
    error: str = ""
    note: str = ""  # what of the notebook did not run for want of data


# The Jupyter client warns on every kernel start that it talks to the kernel over local TCP
# without encryption; for a kernel this process starts on localhost that says nothing useful.
_TCP_WARNING = "Kernel is running over TCP without encryption"


KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=ERROR"]


class _DropTcpWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return _TCP_WARNING not in record.getMessage()


def silence_kernel_tcp_warning() -> None:
    warnings.filterwarnings("ignore", message=f".*{_TCP_WARNING}.*")
    for name in ("", "traitlets", "jupyter_client", "papermill", "NotebookApp"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropTcpWarning) for f in logger.filters):
            logger.addFilter(_DropTcpWarning())
        for handler in logger.handlers:
            if not any(isinstance(f, _DropTcpWarning) for f in handler.filters):
                handler.addFilter(_DropTcpWarning())


class ProgressTail:
    """Print the new lines of every ``progress.log`` under ``run_dir`` while a notebook runs
    (the trainer appends one line per epoch there)."""

    def __init__(self, run_dir: Path, write=print, interval: float = 1.0) -> None:
        self.run_dir = Path(run_dir)
        self.write = write
        self.interval = interval
        self.offsets: dict[Path, int] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        for path in self.run_dir.rglob("progress.log"):  # old lines were shown by an earlier run
            self.offsets[path] = path.stat().st_size

    def poll(self) -> None:
        for path in sorted(self.run_dir.rglob("progress.log")):
            start = self.offsets.get(path, 0)
            size = path.stat().st_size
            if size < start:
                start = 0
            if size > start:
                with open(path, encoding="utf-8") as fh:
                    fh.seek(start)
                    text = fh.read()
                complete = text[: text.rfind("\n") + 1]
                for line in complete.splitlines():
                    self.write(f"  {line}")
                self.offsets[path] = start + len(complete.encode("utf-8"))

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.poll()

    def __enter__(self) -> ProgressTail:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.poll()


class NotebookFailed(RuntimeError):
    """A notebook raised; the message names the notebook, the cell and the error."""


def discover_notebooks(notebook_dir: Path = NOTEBOOK_DIR, only: list[str] | None = None) -> list[Path]:
    """``NN_*.ipynb`` files in numeric order, optionally only the numbers (or names) in ``only``."""
    if not Path(notebook_dir).is_dir():
        raise FileNotFoundError(
            f"{notebook_dir}: no notebooks folder (an installed package has no source tree); pass "
            "--notebooks DIR, the repository's notebooks/ folder"
        )
    notebooks = sorted(p for p in Path(notebook_dir).iterdir() if NOTEBOOK_NAME.match(p.name))
    if only:
        wanted = {o.removesuffix(".ipynb") for o in only}
        notebooks = [p for p in notebooks if p.name[:2] in wanted or p.stem in wanted]
        missing = wanted - {p.name[:2] for p in notebooks} - {p.stem for p in notebooks}
        if missing:
            raise FileNotFoundError(f"no notebook matches {sorted(missing)} in {notebook_dir}")
    if not notebooks:
        raise FileNotFoundError(f"no NN_*.ipynb notebooks in {notebook_dir}")
    return notebooks


def run_order(notebooks: list[Path]) -> list[Path]:
    """``notebooks`` in numeric order, except that one whose metadata names notebooks it shows the
    results of (``{"mfvpose": {"after": ["06"]}}``: notebook 03 looks at the model 06 trains) waits
    until those of them in the list have run."""
    import nbformat

    after = {p: set(nbformat.read(p, as_version=4).metadata.get("mfvpose", {}).get("after", [])) for p in notebooks}
    ordered: list[Path] = []
    waiting = list(notebooks)
    while waiting:
        pending = {p.name[:2] for p in waiting}
        ready = next((p for p in waiting if not after[p] & pending), None)
        if ready is None:
            raise ValueError(f"notebooks wait for each other: {', '.join(p.name for p in waiting)}")
        ordered.append(ready)
        waiting.remove(ready)
    return ordered


def _describe_failure(notebook: Path, err: Exception) -> str:
    cell = getattr(err, "cell_index", None)
    ename = getattr(err, "ename", type(err).__name__)
    evalue = getattr(err, "evalue", str(err))
    where = f"cell {cell}" if cell is not None else "before any cell ran"
    return f"{notebook.name} failed at {where}: {ename}: {evalue}"


def run_study(
    profile: str = DEFAULT_PROFILE,
    data_root: str | Path | None = None,
    out: str | Path | None = None,
    only: list[str] | None = None,
    device: str = "auto",
    figures_dir: str | Path | None = None,
    notebook_dir: str | Path = NOTEBOOK_DIR,
    prepare: bool = True,
    progress: bool = True,
    pretrained: str | Path | None = None,
    released: str | Path | None = None,
    report: bool = True,
) -> list[NotebookRun]:
    """Execute the study's notebooks; raise :class:`NotebookFailed` at the first failure.

    Executed copies go to ``out/notebooks``; training runs shared between notebooks go to
    ``out/run``; figures to ``figures_dir`` (default ``out/figures``). A wall-time summary
    is written to ``out/summary.csv`` in every case. A data root with only ``coco/`` or only
    ``mpii/`` runs what it can: notebooks and cells that need the other are skipped, and the
    summary's ``note`` says what and why (:mod:`mfvpose_lib.study.data_needs`). With ``report``
    (the default) the run ends with a static report, ``out/report/index.html``
    (:mod:`mfvpose_lib.study.report`), also when a notebook failed.
    """
    from tqdm.auto import tqdm

    get_profile(profile)  # fail early on an unknown name
    silence_kernel_tcp_warning()
    data_root = Path(data_root or DEFAULT_DATA_ROOT).resolve()
    out = Path(out or REPO_ROOT / "runs" / profile).resolve()
    layout = StudyLayout(data_root, out, Path(figures_dir).resolve() if figures_dir else out / "figures",
                         Path(notebook_dir))  # fmt: skip
    notebooks = run_order(discover_notebooks(layout.notebook_dir, only))
    present = _prepare_study(profile, layout, prepare, pretrained, released)
    write = tqdm.write if progress else (lambda _line: None)
    runs = _run_notebooks(notebooks, layout.parameters(profile, device), layout, present, progress, write)
    _write_summary(runs, layout, partial=bool(only))
    report_error = _write_report(layout, write) if report else None
    failure = next((r.error for r in runs if r.status == "failed"), None)
    if failure:
        raise NotebookFailed(f"{failure}\n(executed copy with the traceback: {layout.executed_dir})")
    if report_error is not None:
        raise report_error
    return runs


@dataclass(frozen=True)
class StudyLayout:
    """Where one reproduction reads its data and notebooks and writes its outputs (resolved paths)."""

    data_root: Path
    out: Path
    figures_dir: Path
    notebook_dir: Path

    @property
    def executed_dir(self) -> Path:
        return self.out / "notebooks"

    @property
    def run_dir(self) -> Path:
        """Training runs and evaluations shared between notebooks."""
        return self.out / "run"

    def parameters(self, profile: str, device: str) -> dict[str, str]:
        """The papermill parameters every notebook gets."""
        return {
            "profile": profile,
            "data_root": str(self.data_root),
            "run_dir": str(self.run_dir),
            "figures_dir": str(self.figures_dir),
            "device": device,
        }


def _prepare_study(profile: str, layout: StudyLayout, prepare: bool, pretrained, released) -> list[str]:
    """Create the output folders, render the synthetic set when asked and missing, record the
    pretrained and released checkpoints for the notebooks; returns the data sets present."""
    from mfvpose_lib.study import resolve_data_root
    from mfvpose_lib.study.data_needs import datasets_available

    for folder in (layout.executed_dir, layout.run_dir, layout.figures_dir):
        folder.mkdir(parents=True, exist_ok=True)
    if prepare:
        resolve_data_root(profile, layout.data_root)  # renders the synthetic set when it is missing
    present = datasets_available(layout.data_root)
    if pretrained:
        from mfvpose_lib.study.runs import write_run_pretrained

        write_run_pretrained(layout.run_dir, pretrained)  # read by the notebooks' ensure_trained
    if released:
        from mfvpose_lib.study.released import write_run_released

        write_run_released(layout.run_dir, released)  # read by the table notebooks
    return present


def _run_notebooks(notebooks: list[Path], parameters: dict[str, str], layout: StudyLayout, present: list[str],
                   progress: bool, write) -> list[NotebookRun]:  # fmt: skip
    """Every notebook in order, fitted to the data present, up to the first failure; the ones
    after it are listed as skipped."""
    import nbformat
    from tqdm.auto import tqdm

    from mfvpose_lib.study.data_needs import fit_to_data

    runs: list[NotebookRun] = []
    bar = tqdm(notebooks, desc=f"reproduce[{parameters['profile']}]", unit="notebook", disable=not progress)
    for notebook in bar:
        bar.set_postfix_str(notebook.name)
        fitted = fit_to_data(nbformat.read(notebook, as_version=4), present, layout.data_root)
        note = fitted.describe(layout.data_root)
        if note:
            write(f"{notebook.name}: {note}")
        if fitted.notebook is None:
            runs.append(NotebookRun(notebook.name, "skipped", 0.0, "", note=note))
            continue
        runs.append(_execute_notebook(notebook, fitted.notebook, parameters, layout, note, write))
        if runs[-1].status == "failed":
            break
    done = {r.notebook for r in runs}
    return runs + [NotebookRun(n.name, "skipped", 0.0, "") for n in notebooks if n.name not in done]


def _execute_notebook(notebook: Path, fitted, parameters: dict[str, str], layout: StudyLayout, note: str,
                      write) -> NotebookRun:  # fmt: skip
    """One papermill run, with the trainer's progress lines echoed while it runs."""
    import papermill

    executed = layout.executed_dir / notebook.name
    output = _relative(executed, layout.out)
    start = time.perf_counter()
    try:
        with ProgressTail(layout.run_dir, write=write):
            papermill.execute_notebook(
                fitted,
                str(executed),
                parameters=parameters,
                cwd=str(layout.notebook_dir.resolve()),
                progress_bar=False,
                kernel_name="python3",
                # the kernel process logs the TCP warning itself; keep its errors only
                extra_arguments=KERNEL_ARGUMENTS,
            )
    except Exception as err:  # papermill wraps cell errors; anything else is a failure too
        seconds = time.perf_counter() - start
        return NotebookRun(notebook.name, "failed", seconds, output, _describe_failure(notebook, err), note)
    return NotebookRun(notebook.name, "ok", time.perf_counter() - start, output, note=note)


def _write_summary(runs: list[NotebookRun], layout: StudyLayout, *, partial: bool = False) -> None:
    """``out/summary.csv``: this run. ``figures/reproduce_summary.csv``: the study's record, each
    notebook with when and on which machine it last ran; a run of some notebooks (``--only``)
    replaces their rows and keeps the others."""
    table = summary_table(runs)
    atomic_write_text(table.to_csv(index=False), layout.out / "summary.csv")
    finished = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    record = table[["notebook", "status", "seconds"]].assign(finished=finished, machine=machine_label())
    path = layout.figures_dir / "reproduce_summary.csv"
    if partial and path.is_file():
        earlier = pd.read_csv(path, keep_default_na=False)
        kept = earlier[~earlier["notebook"].isin(record["notebook"])]
        record = pd.concat([kept, record], ignore_index=True).sort_values("notebook", kind="stable")
    atomic_write_text(record.to_csv(index=False), path)


def machine_label() -> str:
    """The CPU model and core count, and the GPU where one is used: which machine a time is from."""
    import os

    import torch

    from mfvpose_lib.engine.fast_path import read_cpu_info

    label = f"{read_cpu_info()['model_name']}, {os.cpu_count()} cores"
    return label + (f", {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "")


def _write_report(layout: StudyLayout, write) -> Exception | None:
    """Build the static report; its error is returned, to be raised only after a notebook's."""
    from mfvpose_lib.study.report import build_report

    try:
        build_report(layout.out, layout.figures_dir)
    except Exception as err:  # a failed notebook is the news; the report's own failure comes second
        write(f"report: not written ({type(err).__name__}: {err})")
        return err
    return None


def _relative(path: Path, base: Path) -> str:
    """``path`` relative to the output folder when inside it (no machine paths in summaries)."""
    try:
        return str(Path(path).resolve().relative_to(Path(base).resolve()))
    except ValueError:
        return Path(path).name


def where_things_went(out: str | Path, figures_dir: str | Path | None = None) -> list[str]:
    """Lines for the end of a run: executed notebooks, run folder, figures, summary."""
    out = Path(out)
    figures = Path(figures_dir) if figures_dir else out / "figures"
    return [
        f"executed notebooks: {out / 'notebooks'}",
        f"training runs and evaluations: {out / 'run'} (tensorboard --logdir {out / 'run'})",
        f"figures and tables: {figures}",
        f"wall times: {out / 'summary.csv'}",
        f"report: {out / 'report' / 'index.html'}",
    ]


def summary_table(runs: list[NotebookRun]) -> pd.DataFrame:
    table = pd.DataFrame(
        [asdict(r) for r in runs], columns=["notebook", "status", "seconds", "output", "error", "note"]
    )
    return table.round({"seconds": 1})


def notebook_map(notebook_dir: str | Path = NOTEBOOK_DIR) -> pd.DataFrame:
    """Number, file and title (first Markdown heading) of every study notebook."""
    import nbformat

    rows = []
    for path in discover_notebooks(Path(notebook_dir)):
        nb = nbformat.read(path, as_version=4)
        title = next(
            (
                line.lstrip("# ").strip()
                for cell in nb.cells
                if cell.cell_type == "markdown"
                for line in cell.source.splitlines()
                if line.startswith("#")
            ),
            path.stem,
        )
        rows.append({"number": path.name[:2], "notebook": path.name, "title": title})
    return pd.DataFrame(rows)
