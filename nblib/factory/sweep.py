"""Several runs from one command: ``nblib run a.yaml b.yaml`` or ``--sweep train.cv_folds=3,5``.

Every combination of params file and swept values is one run in its own dated
folder, labelled by what makes it different (``default · train.cv_folds=3``).
All params are checked before anything runs. Runs share cached stages (a
stage that is the same in two runs is computed once: the second waits for the
first and reuses its result), go ``jobs`` at a time, and end on a sweep page
that sets their params and metrics side by side.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from nblib.engine.errors import ParamsError

__all__ = ["Variant", "expand", "run_sweep", "split_values"]


@dataclass
class Variant:
    """One run of a sweep."""

    params_file: Path
    overrides: list[str]
    swept: dict[str, str] = field(default_factory=dict)
    label: str = ""
    run_dir: Path | None = None
    status: str = "pending"
    exit_code: int | None = None
    seconds: float | None = None


def split_values(text: str) -> list[str]:
    """Values of ``--sweep KEY=V1,V2``: commas inside brackets or quotes do not split.

    >>> split_values("3,5")
    ['3', '5']
    >>> split_values("[lr, rf],[lr]")
    ['[lr, rf]', '[lr]']
    """
    values, depth, quote, current = [], 0, "", ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "[{(":
            depth += 1
        elif char in "]})":
            depth -= 1
        elif char == "," and depth == 0:
            values.append(current.strip())
            current = ""
            continue
        current += char
    values.append(current.strip())
    return [v for v in values if v]


def expand(files: list[Path], overrides: list[str], sweeps: list[str]) -> list[Variant]:
    """Every combination of params file and swept values, params checked (exit 2 on the first bad one)."""
    from nblib.factory import app

    axes = []
    for spec in sweeps:
        key, sep, values = spec.partition("=")
        if not sep or not key.strip() or not split_values(values):
            raise ParamsError(f"--sweep {spec!r}: expected SECTION.KEY=V1,V2,..., e.g. --sweep train.cv_folds=3,5")
        axes.append([(key.strip(), v) for v in split_values(values)])
    variants = []
    for path in files:
        for combo in itertools.product(*axes) if axes else [()]:
            swept = [f"{k}={v}" for k, v in combo]
            params = app.load([path], [*overrides, *swept])  # ParamsError names the file and the key
            label = app.run_label(params, [*overrides, *swept])
            variants.append(Variant(Path(path), [*overrides, *swept], dict(combo), label))
    labels = [v.label for v in variants]
    for v in variants:  # two files with the same name: tell them apart by file
        if labels.count(v.label) > 1:
            v.label = f"{v.label} · {v.params_file.name}"
    return variants


def run_sweep(
    files: list[Path],
    overrides: list[str],
    sweeps: list[str],
    *,
    jobs: int | None = None,
    stages: list[str] | None = None,
    force: bool | list[str] = False,
    quiet: bool = False,
) -> int:
    """Run every variant (``jobs`` at a time), write the sweep page; the exit code of the worst run."""
    from nblib.factory import app

    variants = expand(files, overrides, sweeps)
    jobs = max(1, min(jobs or 1, len(variants)))
    cluster = _cluster_settings(variants) if jobs > 1 else None
    where = " as tasks on a Dask cluster" if cluster else ""
    print(f"sweep: {len(variants)} runs, {jobs} at a time{where}", flush=True)
    started = time.perf_counter()
    try:
        if jobs == 1:
            _in_process(variants, stages, force, quiet)
        elif cluster is not None:
            with app.compute_cluster(cluster, app.reports_dir()) as joined:
                _on_cluster(variants, jobs, stages, force, joined)
        else:
            _in_subprocesses(variants, jobs, stages, force)
    finally:
        page = write_sweep_page(app.reports_dir(), variants, sweeps, time.perf_counter() - started)
        print(f"sweep page: {page}")
    codes = [v.exit_code for v in variants if v.exit_code]
    return 130 if 130 in codes else 143 if 143 in codes else max(codes, default=0)


def write_sweep_page(reports_dir: Path, variants: list[Variant], sweeps: list[str], seconds: float) -> Path:
    """``reports/sweeps/<date>-<time>/index.html`` (and ``sweep.json``): one row per run."""
    from nblib.engine import artifacts as io
    from nblib.factory.pages import sweep_rows, write_sweep_html

    stamp = dt.datetime.now().strftime("%Y-%m-%d-%H%M%S")
    folder = Path(reports_dir) / "sweeps" / stamp
    n = 1
    while folder.exists():
        n += 1
        folder = Path(reports_dir) / "sweeps" / f"{stamp}-{n}"
    keys = [s.partition("=")[0].strip() for s in sweeps]
    if len({v.params_file for v in variants}) > 1:
        keys = ["params file", *keys]
    rows = sweep_rows(
        [
            {
                "label": v.label,
                "run_dir": v.run_dir,
                "status": v.status,
                "seconds": v.seconds,
                "swept": {**({"params file": v.params_file.name}), **v.swept},
            }
            for v in variants
        ]
    )
    io.write_json(folder / "sweep.json", {"keys": keys, "seconds": round(seconds, 1), "runs": rows})
    return write_sweep_html(folder / "index.html", rows, keys, seconds)


# --------------------------------------------------------------------------- helpers


def _marks(run_dir: Path | None) -> str:
    """`` leak?``: the marks a finished run carries (its manifest's ``flags``), for the progress lines."""
    from nblib.engine.artifacts import read_json_or_none

    try:
        manifest = read_json_or_none(Path(run_dir) / "manifest.json") if run_dir else None
    except (OSError, ValueError):
        manifest = None
    return "".join(f" {f}" for f in manifest.get("flags") or []) if isinstance(manifest, dict) else ""


def _in_process(variants: list[Variant], stages, force, quiet: bool) -> None:
    from nblib.factory import app

    for i, v in enumerate(variants, 1):
        print(f"[{i}/{len(variants)}] {v.label}", flush=True)
        t0 = time.perf_counter()
        result = app.start_run(
            app.load([v.params_file], v.overrides), stages=stages, force=force, progress=not quiet, label=v.label
        )
        v.run_dir, v.status, v.exit_code = result.run_dir, result.status, result.exit_code
        v.seconds = round(time.perf_counter() - t0, 1)
        print(
            f"[{i}/{len(variants)}] {v.label}: {v.status}{_marks(v.run_dir)} ({v.seconds:.0f} s) {v.run_dir}",
            flush=True,
        )
        if v.status == "interrupted":
            raise KeyboardInterrupt


def _in_subprocesses(variants: list[Variant], jobs: int, stages, force) -> None:
    """``nblib run`` per variant, ``jobs`` at a time; each run gets its share of the cores
    (``compute.n_jobs``, unless the command line set it)."""
    share = max(1, (os.cpu_count() or 1) // jobs)

    def launch(v: Variant) -> _Local:
        return _Local(_command(v, stages, force, [] if _sets(v, "compute.n_jobs") else [f"compute.n_jobs={share}"]))

    _schedule(variants, jobs, launch)


def _on_cluster(variants: list[Variant], jobs: int, stages, force, cluster) -> None:
    """``nblib run`` per variant as a task on the Dask cluster's workers, ``jobs`` at a time. Each run joins the
    same cluster for its own work (the task secedes from its worker thread while its run goes on), writes into
    the shared reports folder, and shares the stage cache through its per-key file locks as local runs do."""
    from distributed import Event

    address = cluster.client.scheduler.address
    stop = Event(f"nblib-sweep-{os.getpid()}-{time.time_ns()}", client=cluster.client)
    env = {"NBLIB_REPORTS": str(_reports_dir()), "PYTHONWARNINGS": os.environ.get("PYTHONWARNINGS", "")}

    def launch(v: Variant) -> _Task:
        joined = ["compute.backend=dask", f"compute.dask.address={address}"]
        future = cluster.client.submit(
            run_command, _command(v, stages, force, joined), env, os.getcwd(), stop.name, key=_key(v), pure=False
        )
        return _Task(future, stop)

    _schedule(variants, jobs, launch)


def _schedule(variants: list[Variant], jobs: int, launch) -> None:
    """Start runs ``jobs`` at a time with ``launch`` and report each as it ends, wherever it ran."""
    todo, running = list(enumerate(variants, 1)), []
    try:
        while todo or running:
            while todo and len(running) < jobs:
                i, v = todo.pop(0)
                running.append((i, v, launch(v), time.perf_counter()))
                print(f"[{i}/{len(variants)}] started: {v.label}", flush=True)
            for item in list(running):
                i, v, job, t0 = item
                if not job.done():
                    continue
                running.remove(item)
                code, out = job.result()
                v.exit_code, v.seconds = code, round(time.perf_counter() - t0, 1)
                v.run_dir, v.status = _outcome(out, code)
                print(
                    f"[{i}/{len(variants)}] {v.label}: {v.status}{_marks(v.run_dir)} ({v.seconds:.0f} s) "
                    f"{v.run_dir or ''}",
                    flush=True,
                )
                if v.status != "succeeded":
                    tail = [line for line in out.splitlines() if line.startswith("nblib: error")]
                    if tail:
                        print(f"    {tail[-1]}", flush=True)
            time.sleep(0.2)
    except KeyboardInterrupt:
        for _, _v, job, _ in running:
            job.stop()
        for _, v, job, _ in running:
            job.result()
            v.status, v.exit_code = "interrupted", 130
        raise


class _Local:
    """A run in a subprocess here."""

    def __init__(self, cmd: list[str]):
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def done(self) -> bool:
        return self.proc.poll() is not None

    def result(self) -> tuple[int, str]:
        out = self.proc.stdout.read() if self.proc.stdout else ""
        return self.proc.wait(), out

    def stop(self) -> None:
        self.proc.terminate()


class _Task:
    """A run as a task on a Dask worker."""

    def __init__(self, future, stop):
        self.future, self.event = future, stop

    def done(self) -> bool:
        return self.future.done()

    def result(self) -> tuple[int, str]:
        try:
            return self.future.result()
        except Exception as exc:  # noqa: BLE001 -- the worker or the cluster was lost: reported like a failed run
            return 1, f"nblib: error: the run's task on the Dask cluster failed: {type(exc).__name__}: {exc}"

    def stop(self) -> None:
        self.event.set()  # the task terminates its run, which stops as at a Ctrl-C (exit 143)


def run_command(cmd: list[str], env: dict[str, str], cwd: str, stop: str) -> tuple[int, str]:
    """On a worker: run ``cmd`` (an ``nblib run``, with the worker's own Python, from the sweep's working folder
    on the shared file system), its thread seceded from the worker's pool while it runs, so that the run's own
    tasks can use it; terminate it when the sweep sets the Dask event ``stop``."""
    from distributed import Event, rejoin, secede

    secede()
    try:
        event = Event(stop)
        if event.is_set():
            return 130, "interrupted: the sweep was stopped before this run started"
        proc = subprocess.Popen(
            [sys.executable, *cmd[1:]],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            # the worker's environment, less the one-thread limits its nanny set for the worker's own tasks
            env={**{k: v for k, v in os.environ.items() if k not in _NANNY_LIMITS}, **env},
            cwd=cwd,
            preexec_fn=_end_with_parent if sys.platform == "linux" else None,
        )
        while True:
            try:
                out, _ = proc.communicate(timeout=0.5)
                return proc.returncode, out
            except subprocess.TimeoutExpired:
                if event.is_set():
                    proc.terminate()
    finally:
        rejoin()


def _key(v: Variant) -> str:
    """The run's task name on the dashboard (unique: a label can repeat across sweeps)."""
    return f"nblib-run-{v.label}-{time.time_ns()}"


#: What distributed's nanny sets for a worker's own tasks (``distributed.nanny.pre-spawn-environ``).
_NANNY_LIMITS = frozenset({"OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MALLOC_TRIM_THRESHOLD_"})


def _end_with_parent() -> None:
    """In the run's process (Linux): SIGTERM it when the worker that started it dies, so that a run whose
    worker was lost does not go on beside the retry Dask starts elsewhere."""
    import ctypes
    import signal

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _command(v: Variant, stages, force, extra: list[str]) -> list[str]:
    cmd = [sys.executable, "-m", "nblib", "run", str(Path(v.params_file).resolve()), "--quiet", "--label", v.label]
    for o in [*v.overrides, *extra]:
        cmd += ["-p", o]
    if stages:
        cmd += ["--stages", ",".join(stages)]
    if force is True:
        cmd += ["--force"]
    for name in force if isinstance(force, list) else []:
        cmd += ["--force", name]
    return cmd


def _sets(v: Variant, key: str) -> bool:
    return any(o.startswith(f"{key}=") for o in v.overrides)


def _cluster_settings(variants: list[Variant]):
    """The params whose ``compute`` section starts or joins the sweep's cluster (``backend: dask``), else ``None``.

    Every run of the sweep must agree on the backend and its cluster."""
    from nblib.factory import app

    loaded = [app.load([v.params_file], v.overrides) for v in variants]
    backends = {p.compute.backend for p in loaded}
    if len(backends) > 1:
        raise ParamsError("--sweep: the runs differ in compute.backend; a sweep runs on one backend")
    if backends != {"dask"}:
        return None
    if len({p.compute.dask.model_dump_json() for p in loaded}) > 1:
        raise ParamsError("--sweep: the runs differ in compute.dask; a sweep runs on one cluster")
    return loaded[0]


def _reports_dir() -> Path:
    from nblib.factory import app

    return app.reports_dir()


def _outcome(output: str, code: int) -> tuple[Path | None, str]:
    """The run folder and status from ``nblib run``'s last lines (``succeeded: RUN (...)``)."""
    for line in reversed(output.splitlines()):
        word, sep, rest = line.partition(": ")
        if sep and word in ("succeeded", "failed", "gated", "interrupted"):
            return Path(rest.split(" (")[0]), word
    return None, "failed" if code else "unknown"
