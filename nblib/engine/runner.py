"""The runner: executes the pipeline's notebooks with Papermill into a dated run folder.

``Runner.run()`` reads as a chain of steps: lock the run folder → write params
and a fresh manifest → for each stage (cache key → reuse if its recorded outputs
still match → take a pre-started kernel → execute the notebook → check and hash
its outputs → render HTML → record) → finalize the manifest, summary and index.
A failing stage keeps its executed notebook and HTML with the traceback; no
later stage runs.

The parts live in their own modules: :mod:`~nblib.engine.kernels` (kernel pool,
interrupt, process trees), :mod:`~nblib.engine.signals` (Ctrl-C / SIGTERM),
:mod:`~nblib.engine.lock` (run-folder lock, heartbeat, abandoned runs),
:mod:`~nblib.engine.manifest` (the honest record), :mod:`~nblib.engine.integrity`
(artifact hashes) and :mod:`~nblib.engine.progress` (the display).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nblib.engine import artifacts as io
from nblib.engine.dag import Pipeline, Stage
from nblib.engine.errors import GateFailed, InputDataError, NblibError, StageFailed
from nblib.engine.integrity import changed_outputs, hash_outputs
from nblib.engine.kernels import KernelPool, reset_event_loop
from nblib.engine.lock import Heartbeat, RunLock
from nblib.engine.manifest import (
    VERSIONED_PACKAGES,
    ManifestWriter,
    RecordNotWritten,
    headline_metrics,
    new_manifest,
    read_manifest,
)
from nblib.engine.processes import Reaper
from nblib.engine.progress import Progress, progress_file
from nblib.engine.signals import Interrupted, interrupts

__all__ = ["RunResult", "Runner", "new_run_dir", "missing_artifacts", "VERSIONED_PACKAGES"]

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
        one recorded in the run's manifest, and whose recorded outputs are
        unchanged, is reused.

        Raises
        ------
        RunLocked
            Another live run holds ``run_dir`` (nothing was written).
        NotWritable
            ``run_dir`` cannot be written (nothing ran).
        """
        run_dir = Path(run_dir).resolve()
        selected = self._select(stages)
        with interrupts(), RunLock(run_dir):
            previous = read_manifest(run_dir) or {}
            self._prepare(run_dir, params_yaml)
            manifest = ManifestWriter(run_dir / "manifest.json", self._new_manifest(run_dir, params_hash, data_sha256))
            records, kept = self._plan(manifest.data, selected, previous)
            manifest.save()
            try:
                error = self._run_stages(run_dir, manifest, selected, records, kept,
                                         lambda stage: self.cache_key(stage, run_dir, sections(stage.sections),
                                                                      data_sha256), force)
            except KeyboardInterrupt as exc:  # arrived while the kernels were being stopped after the last stage
                error = Interrupted.from_exception(exc)
                _mark_running(manifest.data, "interrupted", str(error))
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

    def _prepare(self, run_dir: Path, params_yaml: str) -> None:
        """``artifacts/`` and ``params.yaml``; a folder that refuses writes stops here, nothing run."""
        try:
            (run_dir / "artifacts").mkdir(parents=True, exist_ok=True)
            io.write_text(run_dir / "params.yaml", params_yaml)
        except OSError as exc:
            raise io.NotWritable(f"{run_dir}: cannot write here ({exc.strerror or exc}); "
                                 f"choose a writable folder") from None

    def _plan(self, manifest: dict[str, Any], selected: list[Stage],
              previous: dict[str, Any]) -> tuple[dict[str, dict], dict[str, dict]]:
        """Fresh records for the selected stages; earlier records for the others (and for reuse)."""
        kept = {r["name"]: r for r in previous.get("stages", []) if isinstance(r, dict) and "name" in r}
        records = {s.name: {"name": s.name, "title": s.title, "status": "pending", "seconds": None,
                            "cache_key": None} for s in selected}
        manifest["stages"] = [records.get(s.name) or kept[s.name] for s in self.pipeline
                              if s.name in records or s.name in kept]
        return records, kept

    def _run_stages(self, run_dir: Path, manifest: ManifestWriter, selected: list[Stage],
                    records: dict[str, dict], kept: dict[str, dict],
                    cache_key: Callable[[Stage], str], force: bool) -> NblibError | None:
        """Reuse or run each stage in order; stop at the first failure or interrupt."""
        error: NblibError | None = None
        with Reaper() as reaper, KernelPool(self.kernel_name, str(self.notebooks_dir), self.warmup_code,
                                            run_dir / "kernels.log", reaper) as pool, \
                Progress(self.progress, [s.name for s in selected]) as progress, Heartbeat(manifest.beat):
            try:
                for i, stage in enumerate(selected):
                    record = records[stage.name]
                    record["cache_key"] = cache_key(stage)
                    if not force and self._reuse(stage, run_dir, record, kept.get(stage.name), progress):
                        progress.done(stage.name, "cached", 0.0)
                        continue
                    pool.prestart()
                    record["status"] = "running"
                    manifest.save()  # observers see what runs now
                    error = self._run_stage(stage, run_dir, record, progress, pool, more=i + 1 < len(selected))
                    manifest.save()
                    if error is not None:
                        break
            except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM (signals.interrupts)
                pool.close(interrupt=True)
                reset_event_loop()
                error = Interrupted.from_exception(exc)
                for name in _mark_running(manifest.data, "interrupted", str(error)):
                    progress.done(name, "interrupted", None)
            except Exception as exc:  # a bug in the runner itself: still leave an honest manifest
                traceback.print_exc()
                error = StageFailed(_running_stage(manifest.data) or "runner", f"{type(exc).__name__}: {exc}")
                _mark_running(manifest.data, "failed", error.reason)
        return error

    def _reuse(self, stage: Stage, run_dir: Path, record: dict, old: dict | None, progress: Progress) -> bool:
        """Mark ``stage`` cached when its key matches and every output it recorded is unchanged."""
        if not old or old.get("cache_key") != record["cache_key"] or old.get("status") not in ("succeeded", "cached"):
            return False
        if missing_artifacts(stage.outputs, stage.optional_outputs, run_dir):
            return False
        if old.get("outputs") is None:  # recorded before hashes were: nothing vouches for the files
            return False
        changed = changed_outputs(old["outputs"], run_dir)
        if changed:
            record["note"] = f"{'; '.join(changed)}: ran {stage.name} again"
            progress.note(f"{run_dir.name}: {'; '.join(changed)}; running {stage.name} again")
            return False
        record.update(status="cached", outputs=old["outputs"])
        return True

    def _run_stage(self, stage: Stage, run_dir: Path, record: dict, progress: Progress, pool: KernelPool,
                   *, more: bool) -> NblibError | None:
        """Run one stage's notebook in a fresh kernel; record its status, seconds and output hashes."""
        missing = missing_artifacts(stage.inputs, stage.optional_inputs, run_dir)
        if missing:
            record["status"] = "failed"
            return StageFailed(stage.name, f"missing input artifacts: {', '.join(missing)}")
        _clear_outputs(stage, run_dir)
        started = time.perf_counter()
        progress.start(stage.name, _count_cells(self.notebooks_dir / stage.notebook))
        try:
            km = pool.take()
        except NblibError as exc:  # the kernel did not start
            error = StageFailed(stage.name, str(exc))
        else:
            if more:
                pool.prestart()
            try:
                with progress.watch(stage.name, progress_file(run_dir, stage.name)):
                    error = self._execute(stage, run_dir, km, progress)
            except KeyboardInterrupt:
                pool.stop(km, interrupt=True)
                record["seconds"] = round(time.perf_counter() - started, 2)
                raise
            pool.stop(km)
        error = error or _check_outputs(stage, run_dir)
        rendered = _render_html(stage, run_dir)  # failed stages too: the HTML shows the traceback
        error = error or rendered
        record["seconds"] = round(time.perf_counter() - started, 2)
        if error is None:
            try:
                record["outputs"] = hash_outputs(stage, run_dir)
            except OSError as exc:
                error = StageFailed(stage.name, f"cannot read back its outputs ({exc.strerror or exc})")
        record["status"] = "succeeded" if error is None else "failed"
        if error is not None:
            record["error"] = getattr(error, "reason", str(error))
        progress.done(stage.name, record["status"], record["seconds"])
        return error

    def _execute(self, stage: Stage, run_dir: Path, km: Any, progress: Progress) -> NblibError | None:
        """Papermill into a temporary notebook, renamed into place once written in full."""
        import papermill as pm

        out = run_dir / stage.notebook
        error: NblibError | None = None
        try:
            with io.atomic_path(out, suffix=".tmp.ipynb") as tmp:
                try:
                    pm.execute_notebook(
                        str(self.notebooks_dir / stage.notebook),
                        str(tmp),
                        parameters={"run_dir": str(run_dir), "params_path": str(run_dir / "params.yaml")},
                        kernel_name=self.kernel_name,
                        progress_bar=False,
                        cwd=str(self.notebooks_dir),
                        km=km,
                        on_cell_executed=progress.cell_callback(stage.name),
                    )
                except pm.PapermillExecutionError as exc:  # the notebook (with its traceback) is kept
                    error = _error_from_notebook(stage.name, exc.ename, exc.evalue)
                except Exception as exc:  # kernel died, disk full, ...: keep what Papermill saved, if whole
                    error = StageFailed(stage.name, _one_line(exc))
                _name_output(tmp, out)  # raises on a partial file: then nothing is kept
        except Exception as exc:  # noqa: BLE001 - the notebook could not be written or renamed
            error = error or StageFailed(stage.name, _one_line(exc))
        return error

    def _finalize(self, run_dir: Path, manifest: ManifestWriter, error: NblibError | None) -> RunResult:
        data = manifest.data
        for record in data["stages"]:
            if record["status"] == "pending":
                record["status"] = "skipped"
        data["status"] = ("succeeded" if error is None else "interrupted" if isinstance(error, Interrupted)
                          else "gated" if isinstance(error, GateFailed) else "failed")
        if error is not None:
            data["error"] = str(error)
        data["finished"] = _now()
        complete = all(r["status"] in ("succeeded", "cached") for r in data["stages"])
        data["metrics"] = headline_metrics(run_dir) if complete or isinstance(error, GateFailed) else {}
        if not manifest.save():
            if error is None:
                error = RecordNotWritten(manifest.describe_error())
            else:
                _warn(manifest.describe_error())
        if self.on_finish is not None:
            try:
                self.on_finish(run_dir, data)
            except OSError as exc:
                _warn(f"{run_dir}: cannot write the run's summary or index ({exc.strerror or exc})")
        return RunResult(run_dir=run_dir, status=data["status"], manifest=data, error=error)

    def _code_hash(self) -> str:
        if self._code_digest is None:
            self._code_digest = io.sha256_paths(
                [f for root in self.code_paths for f in sorted(Path(root).rglob("*.py"))])
        return self._code_digest

    def _new_manifest(self, run_dir: Path, params_hash: str, data_sha256: str | None) -> dict[str, Any]:
        in_reports = run_dir.parent.parent == Path(self.reports_dir).resolve()
        return new_manifest(
            f"{run_dir.parent.name}/{run_dir.name}" if in_reports else run_dir.name,
            run_dir.name.split("-", 1)[-1], params_hash=params_hash, data_sha256=data_sha256,
            code_root=self.notebooks_dir.parent,
        )


def new_run_dir(reports_dir: Path, name: str, now: dt.datetime | None = None) -> Path:
    """``reports/YYYY-MM-DD/HHMMSS-<name>``, made unique with a ``-2``, ``-3``, ... suffix.

    Safe when many runs start in the same second: the folder is claimed by an
    atomic ``mkdir``, and a name another process claimed first is skipped.
    """
    now = now or dt.datetime.now()
    day = Path(reports_dir) / now.strftime("%Y-%m-%d")
    day.mkdir(parents=True, exist_ok=True)
    base = f"{now.strftime('%H%M%S')}-{_slug(name)}"
    for n in range(1, 10_000):
        run_dir = day / (base if n == 1 else f"{base}-{n}")
        try:
            run_dir.mkdir()
        except FileExistsError:
            continue
        return run_dir
    raise FileExistsError(f"{day / base}: too many runs with this name in one second")


def missing_artifacts(declared: dict[str, str], optional: tuple[str, ...], run_dir: Path) -> list[str]:
    """Declared, non-optional artifacts that are not in ``run_dir/artifacts``."""
    return [p for k, p in declared.items() if k not in optional and not (run_dir / "artifacts" / p).exists()]


# --------------------------------------------------------------------------- helpers


def _check_outputs(stage: Stage, run_dir: Path) -> NblibError | None:
    missing = missing_artifacts(stage.outputs, stage.optional_outputs, run_dir)
    if missing:
        return StageFailed(stage.name, f"did not write declared outputs: {', '.join(missing)}")
    return None


def _render_html(stage: Stage, run_dir: Path) -> NblibError | None:
    """The executed notebook as HTML beside it (failed stages too: it shows the traceback)."""
    notebook = run_dir / stage.notebook
    if not notebook.exists():
        return None
    from nblib.engine.report import render_notebook_html

    try:
        render_notebook_html(notebook, notebook.with_suffix(".html"))
    except OSError as exc:
        return StageFailed(stage.name, f"cannot write {notebook.with_suffix('.html').name} "
                                       f"({exc.strerror or exc})")
    except Exception as exc:  # noqa: BLE001 - an unrenderable notebook fails its stage, not the run
        return StageFailed(stage.name, f"cannot render {notebook.name}: {_one_line(exc)}")
    return None


def _name_output(tmp: Path, final: Path) -> None:
    """Papermill recorded the temporary path as the notebook's ``output_path``: name the real one.

    Raises ``ValueError`` when ``tmp`` is not a whole notebook (nothing or half of one was written).
    """
    nb = json.loads(tmp.read_text(encoding="utf-8"))
    papermill = nb.get("metadata", {}).get("papermill")
    if isinstance(papermill, dict) and papermill.get("output_path") == str(tmp):
        papermill["output_path"] = str(final)
        tmp.write_text(json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


def _running_stage(manifest: dict[str, Any]) -> str | None:
    return next((r["name"] for r in manifest["stages"] if r["status"] == "running"), None)


def _mark_running(manifest: dict[str, Any], status: str, reason: str) -> list[str]:
    """Give the running stage(s) ``status``; return their names."""
    names = []
    for record in manifest["stages"]:
        if record["status"] == "running":
            record["status"] = status
            record["error"] = reason
            names.append(record["name"])
    return names


def _count_cells(path: Path) -> int:
    """Cells papermill will walk through: all of them plus its injected parameters cell."""
    return len(json.loads(path.read_text(encoding="utf-8")).get("cells", [])) + 1


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


def _one_line(exc: BaseException) -> str:
    lines = f"{type(exc).__name__}: {exc}".strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _warn(text: str) -> None:
    print(f"nblib: warning: {text}", file=sys.stderr, flush=True)


def _now() -> str:
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name) or "run"
