"""The runner: executes the pipeline's notebooks with Papermill into a dated run folder.

``run()`` reads as a chain of steps: make the run folder → write params → for
each stage (check inputs → cache key → execute → render HTML → record) →
write the manifest, summary and index. A failing stage keeps its executed
notebook and HTML with the traceback; no later stage runs.

Kernels are started one stage ahead, in a background thread, with the heavy
imports already done, so a stage does not wait for kernel start-up. A kernel
is never reused by a second stage.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import platform
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from nblib.engine import artifacts as io
from nblib.engine.dag import Pipeline, Stage
from nblib.engine.errors import GateFailed, InputDataError, NblibError, StageFailed

__all__ = ["RunResult", "Runner", "new_run_dir", "missing_artifacts", "VERSIONED_PACKAGES"]

VERSIONED_PACKAGES = (
    "nblib", "papermill", "nbconvert", "nbdime", "jupyterlab", "pandas", "numpy",
    "scikit-learn", "matplotlib", "pyarrow", "pydantic", "skops",
)
# Exceptions raised inside a notebook (matched by class name, so ML code needs no
# engine import) that mean "bad input" (exit 2) or "a gate said no" (exit 3).
_NOTEBOOK_ERRORS = {"InputDataError": InputDataError, "GateFailed": GateFailed}


@dataclass
class RunResult:
    run_dir: Path
    status: str
    manifest: dict[str, Any]
    error: NblibError | None = None

    @property
    def exit_code(self) -> int:
        return 0 if self.error is None else self.error.exit_code


@dataclass
class Runner:
    """Runs stages of ``pipeline`` from ``notebooks_dir`` into run folders.

    Parameters
    ----------
    pipeline : Pipeline
    notebooks_dir : Path
    reports_dir : Path
        Where dated run folders and ``index.html`` live.
    on_finish : callable, optional
        ``on_finish(run_dir, manifest)`` after every run (e.g. write summary and index).
    progress : bool
        Show a live progress display on the terminal.
    code_paths : tuple of Path
        Source folders whose ``*.py`` files are part of every cache key.
    """

    pipeline: Pipeline
    notebooks_dir: Path
    reports_dir: Path
    on_finish: Callable[[Path, dict[str, Any]], None] | None = None
    progress: bool = True
    kernel_name: str = "python3"
    warmup_code: str = "import pandas, numpy, sklearn, matplotlib.pyplot"
    code_paths: tuple[Path, ...] = ()
    _next_kernel: Any = field(default=None, init=False, repr=False)
    _code_digest: str | None = field(default=None, init=False, repr=False)

    # ------------------------------------------------------------------ public

    def run(
        self,
        run_dir: Path,
        params_yaml: str,
        *,
        params_hash: str,
        sections: Callable[[tuple[str, ...]], dict[str, Any]],
        data_sha256: str | None = None,
        stages: list[str] | None = None,
        force: bool = True,
    ) -> RunResult:
        """Execute ``stages`` (default: all, with whatever they need upstream) in ``run_dir``.

        ``sections(names)`` returns the params sections a stage depends on, for
        its cache key. With ``force=False`` a stage whose cache key matches the
        one recorded in the run's manifest, and whose outputs exist, is reused.
        """
        run_dir = Path(run_dir).resolve()
        (run_dir / "artifacts").mkdir(parents=True, exist_ok=True)
        io.write_text(run_dir / "params.yaml", params_yaml)
        previous = _read_manifest(run_dir)
        manifest = self._new_manifest(run_dir, params_hash, data_sha256)
        selected = self._select(stages)
        kept = {r["name"]: r for r in (previous or {}).get("stages", [])}  # stages not run this time
        records = {s.name: {"name": s.name, "title": s.title, "status": "pending", "seconds": None,
                            "cache_key": None} for s in selected}
        manifest["stages"] = [records.get(s.name) or kept[s.name] for s in self.pipeline
                              if s.name in records or s.name in kept]
        io.write_json(run_dir / "manifest.json", manifest)
        error: NblibError | None = None
        with _Progress(self.progress, [s.name for s in selected]) as progress, _sigterm_as_interrupt():
            try:
                for i, stage in enumerate(selected):
                    record = records[stage.name]
                    record["cache_key"] = self.cache_key(stage, run_dir, sections(stage.sections), data_sha256)
                    if not force and self._is_cached(stage, run_dir, record["cache_key"], kept):
                        record["status"] = "cached"
                        progress.done(stage.name, "cached", 0.0)
                        continue
                    self._prestart_kernel(run_dir)
                    record["status"] = "running"
                    io.write_json(run_dir / "manifest.json", manifest)  # observers see what runs now
                    error = self._run_stage(stage, run_dir, record, progress, selected[i + 1:])
                    io.write_json(run_dir / "manifest.json", manifest)
                    if error is not None:
                        break
            except KeyboardInterrupt:
                manifest["status"] = "interrupted"
                _fail_running(manifest, "interrupted")
                error = NblibError("interrupted")
            except Exception as exc:  # a bug in the runner itself: still leave an honest manifest
                traceback.print_exc()
                error = StageFailed(_running_stage(manifest) or "runner", f"{type(exc).__name__}: {exc}")
                _fail_running(manifest, error.reason)
            finally:
                self._discard_kernel()
        return self._finalize(run_dir, manifest, error)

    def cache_key(self, stage: Stage, run_dir: Path, sections: dict[str, Any], data_sha256: str | None = None) -> str:
        """Hash of the notebook, the params sections it reads, its input artifacts,
        the input data and the code of the package."""
        digest = hashlib.sha256()
        digest.update(io.sha256_file(self.notebooks_dir / stage.notebook).encode())
        digest.update(json.dumps(sections, sort_keys=True, default=str).encode())
        inputs = [run_dir / "artifacts" / p for p in stage.inputs.values()]
        digest.update(io.sha256_paths([p for p in inputs if p.exists()]).encode())
        digest.update((data_sha256 or "").encode())
        digest.update(self._code_hash().encode())
        return digest.hexdigest()[:16]

    # ------------------------------------------------------------------ steps

    def _select(self, names: list[str] | None) -> list[Stage]:
        if names is None:
            return list(self.pipeline)
        wanted = {n for name in names for n in [name, *(s.name for s in self.pipeline.upstream(name))]}
        return [s for s in self.pipeline if s.name in wanted]

    def _finalize(self, run_dir: Path, manifest: dict[str, Any], error: NblibError | None) -> RunResult:
        for record in manifest["stages"]:
            if record["status"] == "pending":
                record["status"] = "skipped"
        if manifest["status"] != "interrupted":
            manifest["status"] = "succeeded" if error is None else (
                "gated" if isinstance(error, GateFailed) else "failed")
        if error is not None and manifest["status"] != "interrupted":
            manifest["error"] = str(error)
        manifest["finished"] = _now()
        complete = all(r["status"] in ("succeeded", "cached") for r in manifest["stages"])
        manifest["metrics"] = _headline_metrics(run_dir) if complete or isinstance(error, GateFailed) else {}
        io.write_json(run_dir / "manifest.json", manifest)
        if self.on_finish is not None:
            self.on_finish(run_dir, manifest)
        return RunResult(run_dir=run_dir, status=manifest["status"], manifest=manifest, error=error)

    def _run_stage(self, stage: Stage, run_dir: Path, record: dict, progress: "_Progress",
                   later: list[Stage]) -> NblibError | None:
        import papermill as pm

        missing = missing_artifacts(stage.inputs, stage.optional_inputs, run_dir)
        if missing:
            record["status"] = "failed"
            return StageFailed(stage.name, f"missing input artifacts: {', '.join(missing)}")
        _clear_outputs(stage, run_dir)
        km = self._take_kernel()
        if later:
            self._prestart_kernel(run_dir)
        out_nb = run_dir / stage.notebook
        started = time.perf_counter()
        progress.start(stage.name, _count_cells(self.notebooks_dir / stage.notebook))
        error: NblibError | None = None
        try:
            pm.execute_notebook(
                str(self.notebooks_dir / stage.notebook),
                str(out_nb),
                parameters={"run_dir": str(run_dir), "params_path": str(run_dir / "params.yaml")},
                kernel_name=self.kernel_name,
                progress_bar=False,
                cwd=str(self.notebooks_dir),
                km=km,
                on_cell_executed=progress.cell_callback(stage.name),
            )
        except pm.PapermillExecutionError as exc:
            error = _error_from_notebook(stage.name, exc.ename, exc.evalue)
        except Exception as exc:  # kernel died, notebook unreadable, ...
            error = StageFailed(stage.name, f"{type(exc).__name__}: {exc}".splitlines()[0])
        finally:
            _shutdown(km)
        if error is None:
            missing_out = missing_artifacts(stage.outputs, stage.optional_outputs, run_dir)
            if missing_out:
                error = StageFailed(stage.name, f"did not write declared outputs: {', '.join(missing_out)}")
        record["seconds"] = round(time.perf_counter() - started, 2)
        record["status"] = "succeeded" if error is None else "failed"
        if error is not None:
            record["error"] = getattr(error, "reason", str(error))
        if out_nb.exists():
            from nblib.engine.report import render_notebook_html

            render_notebook_html(out_nb, out_nb.with_suffix(".html"))
        progress.done(stage.name, record["status"], record["seconds"])
        return error

    def _is_cached(self, stage: Stage, run_dir: Path, key: str, previous: dict[str, dict]) -> bool:
        old = previous.get(stage.name)
        if not old or old.get("cache_key") != key or old.get("status") not in ("succeeded", "cached"):
            return False
        return not missing_artifacts(stage.outputs, stage.optional_outputs, run_dir)

    def _code_hash(self) -> str:
        if self._code_digest is None:
            self._code_digest = io.sha256_paths(
                [f for root in self.code_paths for f in sorted(Path(root).rglob("*.py"))])
        return self._code_digest

    def _new_manifest(self, run_dir: Path, params_hash: str, data_sha256: str | None) -> dict[str, Any]:
        return {
            "run_id": run_dir.name if run_dir.parent.parent != self.reports_dir else
            f"{run_dir.parent.name}/{run_dir.name}",
            "name": run_dir.name.split("-", 1)[-1],
            "status": "running",
            "started": _now(),
            "finished": None,
            "params_sha256": params_hash,
            "data_sha256": data_sha256,
            "git_commit": _git_commit(self.notebooks_dir.parent),
            "versions": {"python": platform.python_version(),
                         **{p: _version(p) for p in VERSIONED_PACKAGES}},
            "host": {"platform": platform.platform(), "cpus": os.cpu_count()},
            "stages": [],
            "metrics": {},
        }

    # ------------------------------------------------------------------ kernels

    def _prestart_kernel(self, run_dir: Path) -> None:
        if self._next_kernel is None:
            self._next_kernel = _KernelStarter(self.kernel_name, str(self.notebooks_dir), self.warmup_code,
                                               run_dir / "kernels.log")

    def _take_kernel(self):
        starter, self._next_kernel = self._next_kernel, None
        return starter.result() if starter is not None else None

    def _discard_kernel(self) -> None:
        starter, self._next_kernel = self._next_kernel, None
        if starter is not None:
            try:
                _shutdown(starter.result())
            except BaseException:  # noqa: BLE001 - a second Ctrl-C while cleaning up
                pass


def new_run_dir(reports_dir: Path, name: str, now: dt.datetime | None = None) -> Path:
    """``reports/YYYY-MM-DD/HHMMSS-<name>``, made unique with a suffix if needed."""
    now = now or dt.datetime.now()
    base = reports_dir / now.strftime("%Y-%m-%d") / f"{now.strftime('%H%M%S')}-{_slug(name)}"
    run_dir, n = base, 1
    while run_dir.exists():
        n += 1
        run_dir = base.with_name(f"{base.name}-{n}")
    run_dir.mkdir(parents=True)
    return run_dir


# --------------------------------------------------------------------------- helpers


class _KernelStarter:
    """Start a kernel in a background thread and import the heavy modules in it."""

    def __init__(self, kernel_name: str, cwd: str, warmup_code: str, log: Path):
        self._km = None
        self._thread = threading.Thread(
            target=self._start, args=(kernel_name, cwd, warmup_code, log), daemon=True
        )
        self._thread.start()

    def _start(self, kernel_name: str, cwd: str, warmup_code: str, log: Path) -> None:
        from jupyter_client.manager import KernelManager

        km = KernelManager(kernel_name=kernel_name)
        try:
            with open(log, "ab") as sink:  # kernel chatter goes to the run's kernels.log
                km.start_kernel(cwd=cwd, stdout=sink, stderr=sink)
            kc = km.client()
            kc.start_channels()
            try:
                kc.wait_for_ready(timeout=60)
                kc.execute_interactive(warmup_code, timeout=60, store_history=False)
            finally:
                kc.stop_channels()
            self._km = km
        except Exception:  # fall back to papermill starting its own kernel; leave no orphan behind
            _shutdown(km if km.has_kernel else None)
            self._km = None

    def result(self):
        self._thread.join()
        return self._km


def _shutdown(km) -> None:
    if km is not None:
        try:
            km.shutdown_kernel(now=True)
        except BaseException:  # noqa: BLE001 - cleanup after an interrupt must not raise again
            pass


def _running_stage(manifest: dict[str, Any]) -> str | None:
    return next((r["name"] for r in manifest["stages"] if r["status"] == "running"), None)


def _fail_running(manifest: dict[str, Any], reason: str) -> None:
    for record in manifest["stages"]:
        if record["status"] == "running":
            record["status"] = "failed"
            record["error"] = reason


def _count_cells(path: Path) -> int:
    """Cells papermill will walk through: all of them plus its injected parameters cell."""
    return len(json.loads(path.read_text(encoding="utf-8")).get("cells", [])) + 1


def missing_artifacts(declared: dict[str, str], optional: tuple[str, ...], run_dir: Path) -> list[str]:
    """Declared, non-optional artifacts that are not in ``run_dir/artifacts``."""
    return [p for k, p in declared.items() if k not in optional and not (run_dir / "artifacts" / p).exists()]


def _clear_outputs(stage: Stage, run_dir: Path) -> None:
    """Remove what an earlier run of this stage left, so nothing stale passes for new."""
    import shutil

    for rel in stage.outputs.values():
        (run_dir / "artifacts" / rel).unlink(missing_ok=True)
    shutil.rmtree(run_dir / "artifacts" / stage.figures_dir, ignore_errors=True)
    for suffix in (".ipynb", ".html"):
        (run_dir / stage.notebook).with_suffix(suffix).unlink(missing_ok=True)


def _error_from_notebook(stage: str, ename: str, evalue: str) -> NblibError:
    """The exception a notebook raised, as the error the CLI exits with."""
    reason = f"{ename}: {evalue}".strip().splitlines()[-1]
    if ename in _NOTEBOOK_ERRORS:
        return _NOTEBOOK_ERRORS[ename](f"{stage}: {evalue}".splitlines()[0])
    return StageFailed(stage, reason)


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """A SIGTERM (cron, CI timeout) ends the run like Ctrl-C: recorded as interrupted."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _read_manifest(run_dir: Path) -> dict | None:
    try:
        return io.read_json(run_dir / "manifest.json")
    except (OSError, ValueError):
        return None


def _headline_metrics(run_dir: Path) -> dict[str, Any]:
    try:
        metrics = io.read_json(run_dir / "artifacts" / "metrics.json")
    except (OSError, ValueError):
        return {}
    test = metrics.get("test", {})
    return {k: v for k, v in test.items() if isinstance(v, (int, float))}


def _now() -> str:
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name) or "run"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _git_commit(root: Path) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"],
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, timeout=5).stdout.strip()
    return out.stdout.strip() + ("-dirty" if dirty else "")


class _Progress:
    """A live display: one line per stage with status, cells done and seconds."""

    def __init__(self, enabled: bool, names: list[str]):
        self.enabled = enabled and (sys.stderr.isatty() or os.environ.get("NBLIB_PROGRESS") == "1")
        self.plain = enabled and not self.enabled
        self.names = names
        self._tasks: dict[str, Any] = {}

    def __enter__(self):
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description:<16}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[status]}"), TimeElapsedColumn(), transient=False,
            )
            self._progress.start()
            for name in self.names:
                self._tasks[name] = self._progress.add_task(name, total=None, start=False, status="waiting")
        return self

    def __exit__(self, *exc):
        if self.enabled:
            self._progress.stop()
        return False

    def start(self, name: str, n_cells: int) -> None:
        if self.enabled:
            self._progress.start_task(self._tasks[name])
            self._progress.update(self._tasks[name], status="running", total=n_cells)
        elif self.plain:
            print(f"[nblib] {name} ...", file=sys.stderr, flush=True)

    def cell_callback(self, name: str):
        def on_cell(cell, cell_index, **_):
            if self.enabled:
                self._progress.update(self._tasks[name], completed=cell_index + 1)
        return on_cell

    def done(self, name: str, status: str, seconds: float) -> None:
        if self.enabled:
            task = self._tasks[name]
            self._progress.update(task, status=status, total=self._progress.tasks[task].completed or 1)
            self._progress.stop_task(task)
        elif self.plain:
            print(f"[nblib] {name} {status} ({seconds:.1f}s)", file=sys.stderr, flush=True)
