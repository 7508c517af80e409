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
import json
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nblib.common.text import one_line, slug
from nblib.engine import artifacts as io
from nblib.engine import packages
from nblib.engine.cache import Claim, StageCache, key_of, notebook_source_hash, reasons, values_hash
from nblib.engine.dag import Pipeline, Stage
from nblib.engine.errors import GateFailed, InputDataError, NblibError, StageFailed
from nblib.engine.integrity import changed_outputs, hash_outputs
from nblib.engine.kernels import KernelPool, imported_modules, reset_event_loop
from nblib.engine.lock import Heartbeat, RunLock
from nblib.engine.manifest import (
    ManifestWriter,
    RecordNotWritten,
    new_manifest,
    read_manifest,
)
from nblib.engine.processes import Reaper
from nblib.engine.progress import Progress, progress_file
from nblib.engine.signals import Interrupted, interrupts

__all__ = ["RunResult", "Runner", "new_run_dir", "missing_artifacts"]

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
    cell_timeout_s : float, optional
        A cell that runs longer fails its stage.
    cache_dir : Path, optional
        The cross-run store of stage results (default ``reports_dir/.cache``).
    parallel_stages : int
        Stages that do not depend on each other run this many at a time.
    """

    pipeline: Pipeline
    notebooks_dir: Path
    reports_dir: Path
    on_finish: Callable[[Path, dict[str, Any]], None] | None = None
    progress: bool = True
    kernel_name: str = "python3"
    warmup_code: str = ""
    code_paths: tuple[Path, ...] = ()
    versioned_packages: tuple[str, ...] = ()
    cell_timeout_s: float | None = None
    cache_dir: Path | None = None
    parallel_stages: int = 2
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
        force: bool | list[str] = True,
        label: str | None = None,
        lineage: str | None = None,
    ) -> RunResult:
        """Execute ``stages`` (default: all, with whatever they need upstream) in ``run_dir``.

        ``sections(names)`` returns the params sections a stage depends on, for
        its cache key. A stage is reused instead of run when its key matches
        the one recorded in ``run_dir``'s manifest (and its recorded outputs are
        unchanged), or an entry of the cross-run cache (:mod:`~nblib.engine.cache`).
        ``force=True`` runs every stage; a list of stage names runs those and
        every stage downstream of them. ``lineage`` names the runs this one is
        compared with to say why a stage runs (default: its label): the app passes the
        params' name, so a run is never explained against another dataset's run.

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
            history = self._keep_history(run_dir, previous)
            manifest = ManifestWriter(run_dir / "manifest.json", self._new_manifest(run_dir, params_hash, data_sha256))
            manifest.data["label"] = label or manifest.data["name"]
            manifest.data["lineage"] = lineage or manifest.data["label"]
            if history:
                manifest.data["history"] = history
            records, kept = self._plan(manifest.data, selected, previous)
            manifest.save()
            try:
                error = self._run_stages(
                    run_dir,
                    manifest,
                    selected,
                    records,
                    kept,
                    lambda stage, inputs=True: self.key_parts(
                        stage, run_dir, sections(stage.sections), data_sha256, inputs=inputs
                    ),
                    self._forced(selected, force),
                    sections,
                )
            except KeyboardInterrupt as exc:  # arrived while the kernels were being stopped after the last stage
                error = Interrupted.from_exception(exc)
                _mark_running(manifest.data, "interrupted", str(error))
            return self._finalize(run_dir, manifest, error)

    def cache_key(self, stage: Stage, run_dir: Path, sections: dict[str, Any], data_sha256: str | None = None) -> str:
        """The stage's cache key (see :meth:`key_parts`)."""
        return key_of(self.key_parts(stage, run_dir, sections, data_sha256))

    def key_parts(
        self,
        stage: Stage,
        run_dir: Path,
        sections: dict[str, Any],
        data_sha256: str | None = None,
        *,
        inputs: bool = True,
    ) -> dict[str, Any]:
        """What a stage's result depends on, each part hashed: the notebook's source
        (not its outputs), each params section it reads, each input artifact (left out
        with ``inputs=False``), the input data, the package's code and the Python version.

        The versions of the distributions the stage's kernel imports are not in the key
        (they are known once it ran): its cache entry records them, and an entry is a
        hit only while they are still the installed ones (:mod:`~nblib.engine.packages`)."""
        art = Path(run_dir) / "artifacts"
        parts = {
            "notebook": notebook_source_hash(self.notebooks_dir / stage.notebook),
            "params": {name: values_hash(value) for name, value in sections.items()},
            "data": data_sha256 or "",
            "code": self._code_hash(),
            "python": _python(),
        }
        if inputs:
            parts["inputs"] = {
                name: io.sha256_file(art / rel) if (art / rel).is_file() else None for name, rel in stage.inputs.items()
            }
        return parts

    @property
    def cache(self) -> StageCache:
        return StageCache(self.cache_dir or Path(self.reports_dir) / ".cache")

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
            raise io.NotWritable(
                f"{run_dir}: cannot write here ({exc.strerror or exc}); choose a writable folder"
            ) from None

    def _keep_history(self, run_dir: Path, previous: dict[str, Any]) -> list[str]:
        """A re-run in an existing folder keeps each earlier attempt's manifest (and params) under
        ``history/``; returns those files, oldest first. Nothing earlier is replaced silently."""
        history = list(previous.get("history", [])) if isinstance(previous.get("history"), list) else []
        if not previous.get("started"):
            return history
        stamp = "".join(c for c in str(previous["started"])[:19] if c.isalnum())
        folder = run_dir / "history"
        kept, n = folder / f"manifest-{stamp}.json", 1
        while kept.exists():  # two attempts in one second
            n += 1
            kept = folder / f"manifest-{stamp}-{n}.json"
        try:
            folder.mkdir(exist_ok=True)
            io.write_json(kept, {k: v for k, v in previous.items() if k != "history"})
        except OSError as exc:
            _warn(f"{run_dir}: cannot keep the earlier attempt's manifest ({exc.strerror or exc})")
            return history
        note = (
            f"{run_dir.name}: attempt {len(history) + 2}; "
            f"the earlier attempt's record is kept in {kept.relative_to(run_dir)}"
        )
        print(f"nblib: {note}", file=sys.stderr, flush=True)
        return [*history, kept.relative_to(run_dir).as_posix()]

    def _plan(
        self, manifest: dict[str, Any], selected: list[Stage], previous: dict[str, Any]
    ) -> tuple[dict[str, dict], dict[str, dict]]:
        """Fresh records for the selected stages; earlier records for the others (and for reuse)."""
        kept = {r["name"]: r for r in previous.get("stages", []) if isinstance(r, dict) and "name" in r}
        records = {
            s.name: {"name": s.name, "title": s.title, "status": "pending", "seconds": None, "cache_key": None}
            for s in selected
        }
        manifest["stages"] = [
            records.get(s.name) or kept[s.name] for s in self.pipeline if s.name in records or s.name in kept
        ]
        return records, kept

    def _run_stages(
        self,
        run_dir: Path,
        manifest: ManifestWriter,
        selected: list[Stage],
        records: dict[str, dict],
        kept: dict[str, dict],
        parts_of: Callable[..., dict[str, Any]],
        forced: dict[str, str],
        sections: Callable[[tuple[str, ...]], dict[str, Any]],
    ) -> NblibError | None:
        """Reuse or run each stage, independent ones side by side; stop at the first failure or interrupt."""
        error: NblibError | None = None
        cache = self.cache
        early = {s.name: parts_of(s, inputs=False) for s in selected}  # enough to tell a sure miss
        may_run = [
            s.name
            for s in selected
            if s.name in forced or not s.cacheable or not cache.could_hit(s.name, early[s.name])
        ]
        with (
            Reaper() as reaper,
            _LazyPool(
                lambda: KernelPool(
                    self.kernel_name, str(self.notebooks_dir), self.warmup_code, run_dir / "kernels.log", reaper
                )
            ) as pool,
            Progress(self.progress, [s.name for s in selected]) as progress,
            Heartbeat(manifest.beat),
            _Finisher() as finisher,
        ):
            loop = _Loop(
                run_dir, manifest, records, kept, parts_of, forced, sections, cache, pool, progress, finisher, may_run
            )
            try:
                if may_run:
                    pool.prestart()  # the first stage that surely runs will not wait for its kernel
                error = self._schedule(selected, loop)
                error = finisher.wait() or error
            except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM (signals.interrupts)
                pool.close(interrupt=True)
                reset_event_loop()
                error = Interrupted.from_exception(exc)
                for name in _mark_running(manifest.data, "interrupted", str(error)):
                    progress.done(name, "interrupted", None)
            except Exception as exc:  # noqa: BLE001 (a bug in the runner itself: still leave an honest manifest)
                traceback.print_exc()
                error = StageFailed(_running_stage(manifest.data) or "runner", f"{type(exc).__name__}: {exc}")
                _mark_running(manifest.data, "failed", error.reason)
        return error

    def _schedule(self, selected: list[Stage], loop: _Loop) -> NblibError | None:
        """Start each stage once the stages it reads from are done, up to :attr:`parallel_stages` at a time.

        A stage that is the only one ready runs in this thread (a linear pipeline never starts a
        thread); stages ready together run in worker threads. After a failure no stage starts;
        those running finish.
        """
        names = {s.name for s in selected}
        remaining, done, running = list(selected), set(), {}
        error: NblibError | None = None
        threads = None
        try:
            while remaining or running:
                ready = [s for s in remaining if self.pipeline.dependencies(s.name) & names <= done]
                launch = [] if error is not None else ready[: max(0, self.parallel_stages - len(running))]
                if not launch and not running:
                    break
                if len(launch) == 1 and not running and len(ready) == 1:
                    stage = launch[0]
                    remaining.remove(stage)
                    error = self._advance(stage, loop, later=self._more(stage, remaining, loop))
                    done.add(stage.name)
                    continue
                if threads is None:
                    from concurrent.futures import ThreadPoolExecutor

                    threads = ThreadPoolExecutor(max_workers=self.parallel_stages, thread_name_prefix="nblib-stage")
                for stage in launch:
                    remaining.remove(stage)
                    running[threads.submit(self._advance, stage, loop, self._more(stage, remaining, loop))] = stage
                error = self._collect(running, done) or error
        except KeyboardInterrupt:
            if running:  # the kernels are stopped first, so the stages' threads end
                loop.pool.close(interrupt=True)
                for future, stage in running.items():
                    future.exception()
                    if loop.records[stage.name]["status"] in ("failed", "succeeded"):
                        loop.records[stage.name]["status"] = "running"  # marked interrupted by the caller
            raise
        finally:
            if threads is not None:
                threads.shutdown(wait=True)
        return error

    @staticmethod
    def _collect(running: dict[Any, Stage], done: set[str]) -> NblibError | None:
        """Wait (interruptibly) until a running stage ends; return the first error among those that ended."""
        from concurrent.futures import FIRST_COMPLETED, wait

        error = None
        while running:
            finished, _ = wait(list(running), timeout=0.2, return_when=FIRST_COMPLETED)
            if finished:
                for future in finished:
                    stage = running.pop(future)
                    done.add(stage.name)
                    error = error or future.result()
                return error
        return None

    @staticmethod
    def _more(stage: Stage, remaining: list[Stage], loop: _Loop) -> bool:
        """Whether a stage after ``stage`` may need a kernel (then one is started ahead)."""
        return any(s.name in loop.may_run for s in remaining)

    def _advance(self, stage: Stage, loop: _Loop, later: bool) -> NblibError | None:
        """Reuse ``stage`` from its folder or the cache, or run it; return its error, if any."""
        record, run_dir, cache, progress = loop.records[stage.name], loop.run_dir, loop.cache, loop.progress
        parts = loop.parts_of(stage)
        record["cache_key"] = key_of(parts)
        reusable = stage.name not in loop.forced and stage.cacheable
        if reusable and (
            self._reuse(stage, run_dir, record, loop.kept.get(stage.name), progress)
            or self._restore(stage, run_dir, record, cache, progress)
        ):
            return None
        claim = (
            cache.claim(
                stage.name,
                record["cache_key"],
                on_wait=lambda: progress.note(
                    f"{stage.name}: another run is computing it with the same inputs; waiting to reuse it"
                ),
            )
            if stage.cacheable
            else Claim(None)
        )
        if reusable and self._restore(stage, run_dir, record, cache, progress):  # the other run's result
            claim.release()
            return None
        values = loop.sections(stage.sections)
        record["why"] = self._why(
            stage,
            parts,
            record,
            loop.kept.get(stage.name),
            loop.forced,
            cache,
            values,
            lineage=loop.manifest.data.get("lineage"),
        )
        record["status"] = "running"
        loop.manifest.save()  # observers see what runs now
        try:
            error = self._run_stage(stage, run_dir, record, progress, loop.pool, more=later)
        except BaseException:
            claim.release()
            raise
        loop.manifest.save()
        loop.finisher.submit(
            self._finish_stage, stage, run_dir, record, parts, loop.manifest, values, store=error is None, claim=claim
        )
        return error

    def _reuse(self, stage: Stage, run_dir: Path, record: dict, old: dict | None, progress: Progress) -> bool:
        """Mark ``stage`` cached when its key matches its record in this folder and every output is unchanged."""
        if not old or old.get("cache_key") != record["cache_key"] or old.get("status") not in ("succeeded", "cached"):
            return False
        if missing_artifacts(stage.outputs, stage.optional_outputs, run_dir):
            return False
        if old.get("outputs") is None:  # recorded before hashes were: nothing vouches for the files
            return False
        if packages.changed(old.get("packages")):  # an upgrade since: _why says which
            return False
        changed = changed_outputs(old["outputs"], run_dir)
        if changed:
            record["note"] = f"{'; '.join(changed)}: ran {stage.name} again"
            progress.note(f"{run_dir.name}: {'; '.join(changed)}; running {stage.name} again")
            return False
        record.update(
            status="cached",
            outputs=old["outputs"],
            seconds=0.0,
            **{k: old[k] for k in ("cached_from", "saved_seconds", "executed_in", "packages", "ran_here") if k in old},
        )
        if old.get("status") == "succeeded" and "cached_from" not in old:
            record["ran_here"] = old.get("seconds")  # by an earlier attempt in this folder (--run-dir, --resume)
        progress.done(stage.name, "cached", 0.0)
        return True

    def _restore(self, stage: Stage, run_dir: Path, record: dict, cache: StageCache, progress: Progress) -> bool:
        """Link the stage's result from the cross-run cache into ``run_dir``, if the cache holds its key."""
        entry = cache.get(stage.name, record["cache_key"])
        if entry is None:
            return False
        started = time.perf_counter()
        _clear_outputs(stage, run_dir)
        problems = cache.restore(entry, run_dir)
        if problems:  # a damaged entry (it is gone now): run the stage
            _clear_outputs(stage, run_dir)
            record["note"] = f"{problems[0]}: ran {stage.name} again"
            progress.note(f"cache: {problems[0]}; running {stage.name} again")
            return False
        record.update(
            status="cached",
            outputs=entry.outputs,
            cached_from=entry.run_id,
            seconds=round(time.perf_counter() - started, 2),
            saved_seconds=entry.data.get("seconds"),
        )
        if entry.packages is not None:
            record["packages"] = entry.packages
        progress.done(stage.name, f"cached from {entry.run_id}", record["seconds"])
        return True

    def _why(
        self,
        stage: Stage,
        parts: dict[str, Any],
        record: dict,
        old: dict | None,
        forced: dict[str, str],
        cache: StageCache,
        values: dict[str, Any],
        *,
        lineage: str | None = None,
    ) -> list[str]:
        """Why ``stage`` runs, in words (the manifest and the progress display show it), compared
        with this folder's earlier record, else the newest cached run of the same lineage or data."""
        if stage.name in forced:
            return [forced[stage.name]]
        if not stage.cacheable:
            return ["declared not cacheable: runs every time"]
        before = (
            cache.get(stage.name, old["cache_key"], current=False)  # outdated too: it says what changed
            if old and old.get("cache_key")
            else None
        ) or cache.latest(stage.name, lineage=lineage, data=parts.get("data"))
        if before is None and cache.latest(stage.name) is not None:  # only other params' runs are cached
            return ([record["note"]] if record.get("note") else []) + ["no earlier run of these params"]
        why = reasons(
            parts,
            before.data.get("parts") if before else None,
            notebook=stage.notebook,
            values=values,
            values_before=before.data.get("params") if before else None,
            packages_before=before.packages if before else None,
        )
        return ([record["note"]] if record.get("note") else []) + why

    def _finish_stage(
        self,
        stage: Stage,
        run_dir: Path,
        record: dict,
        parts: dict[str, Any],
        manifest: ManifestWriter,
        values: dict[str, Any],
        *,
        store: bool,
        claim: Any,
    ) -> NblibError | None:
        """Off the critical path: render the stage's HTML, then keep a successful result in the cache."""
        try:
            error = _render_html(stage, run_dir)
            if error is not None:
                record.update(status="failed", error=error.reason)
                manifest.save()
                return error
            if store and stage.cacheable and record.get("outputs") is not None:
                self.cache.store(
                    stage.name,
                    record["cache_key"],
                    run_dir,
                    outputs=record["outputs"],
                    extras=[stage.notebook, Path(stage.notebook).with_suffix(".html").as_posix()],
                    meta={
                        "stage": stage.name,
                        "run_id": manifest.data["run_id"],
                        "lineage": manifest.data.get("lineage"),
                        "parts": parts,
                        "params": values,
                        "seconds": record.get("seconds"),
                        "packages": record.get("packages"),
                    },
                )
            return None
        finally:
            claim.release()  # a run waiting for this stage finds it in the cache now

    def _run_stage(
        self, stage: Stage, run_dir: Path, record: dict, progress: Progress, pool: _LazyPool, *, more: bool
    ) -> NblibError | None:
        """Run one stage's notebook in a fresh kernel; record its status, seconds and output hashes."""
        missing = missing_artifacts(stage.inputs, stage.optional_inputs, run_dir)
        if missing:
            record["status"] = "failed"
            return StageFailed(stage.name, f"missing input artifacts: {', '.join(missing)}")
        _clear_outputs(stage, run_dir)
        started = time.perf_counter()
        progress.start(stage.name, _count_cells(self.notebooks_dir / stage.notebook), "; ".join(record.get("why", [])))
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
                if error is None:
                    record["packages"] = self._packages(km)
            except KeyboardInterrupt:
                pool.stop(km, interrupt=True)
                record["seconds"] = round(time.perf_counter() - started, 2)
                raise
            pool.retire(km)
        error = error or _check_outputs(stage, run_dir)
        record["seconds"] = round(time.perf_counter() - started, 2)
        if error is None:
            try:
                record["outputs"] = hash_outputs(stage, run_dir)
            except OSError as exc:
                error = StageFailed(stage.name, f"cannot read back its outputs ({exc.strerror or exc})")
        record["status"] = "succeeded" if error is None else "failed"
        if error is not None:
            record["error"] = getattr(error, "reason", str(error))
        progress.done(stage.name, "gated" if isinstance(error, GateFailed) else record["status"], record["seconds"])
        return error

    def _execute(self, stage: Stage, run_dir: Path, km: Any, progress: Progress) -> NblibError | None:
        """Papermill into a temporary notebook, renamed into place once written in full."""
        import logging

        import papermill as pm

        # nbclient logs e.g. "Timeout waiting for execute reply" through papermill's logger, which has no
        # handler (Python then prints it bare); the stage's error says it in one line instead.
        logging.getLogger("papermill").addHandler(logging.NullHandler())

        out = run_dir / stage.notebook
        error: NblibError | None = None
        # An asynchronous client: a blocking one stalls nbclient's event loop while it waits for
        # output, so neither a cell timeout nor a dead kernel would ever be noticed.
        km.client_class = "jupyter_client.asynchronous.AsyncKernelClient"
        try:
            with io.atomic_path(out, suffix=".tmp.ipynb") as tmp:
                try:
                    pm.execute_notebook(
                        str(self.notebooks_dir / stage.notebook),
                        str(tmp),
                        parameters={"run_dir": str(run_dir), "params_path": str(run_dir / "params.yaml")},
                        kernel_name=self.kernel_name,
                        progress_bar=False,
                        km=km,  # started in the notebooks folder (no cwd=: papermill would chdir the process)
                        execution_timeout=self.cell_timeout_s,
                        **progress.cell_hooks(stage.name),
                    )
                except pm.PapermillExecutionError as exc:  # the notebook (with its traceback) is kept
                    error = _error_from_notebook(stage.name, exc.ename, exc.evalue)
                except Exception as exc:  # noqa: BLE001 (kernel died, disk full, ...: keep what Papermill saved)
                    error = StageFailed(stage.name, self._fault(exc, km, progress.where(stage.name)))
                _name_output(tmp, out)  # raises on a partial file: then nothing is kept
        except Exception as exc:  # noqa: BLE001 - the notebook could not be written or renamed
            error = error or StageFailed(stage.name, one_line(exc, first=True, typed=True))
        return error

    def _fault(self, exc: BaseException, km: Any, where: str) -> str:
        """One line for a kernel that died or a cell that ran too long, saying where."""
        kind = type(exc).__name__
        if kind == "CellTimeoutError" and self.cell_timeout_s:
            return f"{where} ran past compute.cell_timeout_s ({self.cell_timeout_s:g} s) and was stopped"
        if kind == "DeadKernelError":
            return f"the kernel died in {where}: {_kernel_exit(km)}"
        return one_line(exc, first=True, typed=True)

    def _finalize(self, run_dir: Path, manifest: ManifestWriter, error: NblibError | None) -> RunResult:
        data = manifest.data
        for record in data["stages"]:
            if record["status"] == "pending":
                record["status"] = "skipped"
        data["status"] = (
            "succeeded"
            if error is None
            else "interrupted"
            if isinstance(error, Interrupted)
            else "gated"
            if isinstance(error, GateFailed)
            else "failed"
        )
        if error is not None:
            data["error"] = str(error)
        data["finished"] = _now()
        complete = all(r["status"] in ("succeeded", "cached") for r in data["stages"])
        headline = self.pipeline.headline if complete or isinstance(error, GateFailed) else None
        data["metrics"] = headline(run_dir) if headline else {}
        if not manifest.save():
            if error is None:
                error = RecordNotWritten(manifest.describe_error())
            else:
                _warn(manifest.describe_error())
        if self.on_finish is not None:
            try:
                late = self.on_finish(run_dir, data)
            except OSError as exc:
                _warn(f"{run_dir}: cannot write the run's summary or index ({exc.strerror or exc})")
            else:  # a gate that could only be judged after the stages (the app sets the status it means)
                if error is None and isinstance(late, NblibError):
                    error = late
        return RunResult(run_dir=run_dir, status=data["status"], manifest=data, error=error)

    def _forced(self, selected: list[Stage], force: bool | list[str]) -> dict[str, str]:
        """Stage name -> why it is forced: all of them, or the named ones and everything downstream."""
        if force is True:
            return {s.name: "forced (--force)" for s in selected}
        forced: dict[str, str] = {}
        for name in force or []:
            forced.setdefault(name, f"forced (--force {name})")
            for stage in self.pipeline.downstream(name):
                forced.setdefault(stage.name, f"forced: downstream of {name}")
        return {s.name: forced[s.name] for s in selected if s.name in forced}

    def _packages(self, km: Any) -> dict[str, str]:
        """``{distribution: version}`` of what the stage's kernel imported (its source in
        :attr:`code_paths` aside: hashed already); every installed one if the kernel cannot say."""
        modules = imported_modules(km)
        if modules is None:
            return packages.all_installed()
        return packages.distribution_versions(modules, self.code_paths)

    def _code_hash(self) -> str:
        if self._code_digest is None:
            self._code_digest = io.sha256_paths(
                [f for root in self.code_paths for f in sorted(Path(root).rglob("*.py"))]
            )
        return self._code_digest

    def _new_manifest(self, run_dir: Path, params_hash: str, data_sha256: str | None) -> dict[str, Any]:
        in_reports = run_dir.parent.parent == Path(self.reports_dir).resolve()
        return new_manifest(
            f"{run_dir.parent.name}/{run_dir.name}" if in_reports else run_dir.name,
            run_dir.name.split("-", 1)[-1],
            params_hash=params_hash,
            data_sha256=data_sha256,
            code_root=self.notebooks_dir.parent,
            versioned=self.versioned_packages,
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


@dataclass
class _Loop:
    """What every stage of one run needs while the run loop goes on."""

    run_dir: Path
    manifest: ManifestWriter
    records: dict[str, dict]
    kept: dict[str, dict]
    parts_of: Callable[..., dict[str, Any]]
    forced: dict[str, str]
    sections: Callable[[tuple[str, ...]], dict[str, Any]]
    cache: StageCache
    pool: _LazyPool
    progress: Progress
    finisher: _Finisher
    may_run: list[str]


class _LazyPool:
    """The run's :class:`KernelPool`, made only when a stage is about to run (a run that only
    reuses cached stages starts no kernel)."""

    def __init__(self, make: Callable[[], KernelPool]):
        import threading

        self._make = make
        self._pool: KernelPool | None = None
        self._lock = threading.RLock()  # stages running side by side take kernels in turn
        self._retiring: list[threading.Thread] = []

    def __enter__(self) -> _LazyPool:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        self._join_retiring()
        if self._pool is not None:
            self._pool.__exit__(exc_type, exc, tb)
        return False

    def retire(self, km: Any) -> None:
        """Stop a used kernel in the background: the next stage need not wait (about 0.2 s each)."""
        import threading

        thread = threading.Thread(target=self.stop, args=(km,), daemon=True, name="nblib-kernel-retire")
        thread.start()
        self._retiring.append(thread)

    def _join_retiring(self) -> None:
        for thread in self._retiring:
            thread.join(timeout=10)
        self._retiring.clear()

    def _get(self) -> KernelPool:
        with self._lock:
            if self._pool is None:
                self._pool = self._make()
            return self._pool

    def prestart(self) -> None:
        with self._lock:
            self._get().prestart()

    def take(self) -> Any:
        with self._lock:
            return self._get().take()

    def stop(self, km: Any, *, interrupt: bool = False) -> None:
        self._get().stop(km, interrupt=interrupt)

    def close(self, *, interrupt: bool = False) -> None:
        self._join_retiring()
        if self._pool is not None:
            self._pool.close(interrupt=interrupt)


class _Finisher:
    """One background thread for the work after a stage that the next stage need not wait for
    (rendering HTML, storing in the cache). :meth:`wait` returns the first error."""

    def __init__(self):
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nblib-finish", initializer=_yield_cpu)
        self._futures: list[Any] = []

    def __enter__(self) -> _Finisher:
        return self

    def __exit__(self, *exc) -> bool:
        self._pool.shutdown(wait=True)
        return False

    def submit(self, func: Callable[..., NblibError | None], *args: Any, **kwargs: Any) -> None:
        self._futures.append(self._pool.submit(func, *args, **kwargs))

    def wait(self) -> NblibError | None:
        errors = []
        for future in self._futures:
            try:
                errors.append(future.result())
            except Exception as exc:  # noqa: BLE001 - a bug while finishing: one line, the run goes on
                _warn(f"finishing a stage failed: {one_line(exc, first=True, typed=True)}")
        return next((e for e in errors if e is not None), None)


def _yield_cpu() -> None:
    """Lower the calling thread's CPU priority (nice 10), so that rendering and caching a finished stage
    yields the cores to the stage running beside it. Linux only, where a thread has its own priority."""
    if sys.platform.startswith("linux"):
        import os
        import threading

        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        except OSError:  # not allowed here: the work is the same, only less polite
            pass


def _python() -> str:
    """The interpreter, a part of every key: ``CPython 3.11.7``."""
    import platform

    return f"{platform.python_implementation()} {platform.python_version()}"


def _kernel_exit(km: Any) -> str:
    """How a dead kernel ended: its exit code, or the signal that killed it."""
    import signal

    process = getattr(getattr(km, "provisioner", None), "process", None)
    code = None
    if process is not None:
        try:
            code = process.wait(timeout=2) if hasattr(process, "wait") else process.poll()
        except Exception:  # noqa: BLE001 - still running or unknown
            code = None
    if code is None:
        return "it stopped answering"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = " (the system may have run out of memory)" if -code == signal.SIGKILL else ""
        return f"killed by {name}{hint}"
    return f"it exited with code {code}"


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
    from nblib.engine.notebooks import render_notebook_html

    try:
        render_notebook_html(notebook, notebook.with_suffix(".html"))
    except OSError as exc:
        return StageFailed(stage.name, f"cannot write {notebook.with_suffix('.html').name} ({exc.strerror or exc})")
    except Exception as exc:  # noqa: BLE001 - an unrenderable notebook fails its stage, not the run
        return StageFailed(stage.name, f"cannot render {notebook.name}: {one_line(exc, first=True, typed=True)}")
    return None


def _name_output(tmp: Path, final: Path) -> None:
    """Papermill recorded the temporary path as the notebook's ``output_path``: name the real one;
    make the notebook diff cleanly (:func:`~nblib.engine.notebooks.stabilize`).

    Raises ``ValueError`` when ``tmp`` is not a whole notebook (nothing or half of one was written).
    """
    from nblib.engine.notebooks import stabilize

    nb = json.loads(tmp.read_text(encoding="utf-8"))
    papermill = nb.get("metadata", {}).get("papermill")
    if isinstance(papermill, dict) and papermill.get("output_path") == str(tmp):
        papermill["output_path"] = str(final)
    nb = stabilize(nb)  # fixed ids, no kernel timestamps: two runs differ only where their outputs do
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
        if not rel.endswith("/"):
            (run_dir / "artifacts" / rel).unlink(missing_ok=True)
    for folder in stage.output_folders:
        shutil.rmtree(run_dir / "artifacts" / folder, ignore_errors=True)
    for suffix in (".ipynb", ".html"):
        (run_dir / stage.notebook).with_suffix(suffix).unlink(missing_ok=True)


def _error_from_notebook(stage: str, ename: str, evalue: str) -> NblibError:
    """The exception a notebook raised, as the error the CLI exits with."""
    reason = f"{ename}: {evalue}".strip().splitlines()[-1]
    if ename in _NOTEBOOK_ERRORS:
        return _NOTEBOOK_ERRORS[ename](f"{stage}: {one_line(evalue, first=True)}")
    return StageFailed(stage, reason)


def _warn(text: str) -> None:
    print(f"nblib: warning: {text}", file=sys.stderr, flush=True)


def _now() -> str:
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


def _slug(name: str) -> str:
    """A folder-safe name: ``smoke-models={dummy: {}}`` -> ``smoke-models-dummy``."""
    return slug(name, allowed=r"\w.", sep="-", default="run")
