"""Measure nblib's notebook runner against plain Papermill, and against itself on a second run.

    python benchmarks/bench_engine.py [--repeats 3] [--quick] [--only NAME[,NAME]] [--out FILE]

Measurements (each the median of ``--repeats`` runs unless said otherwise):

- ``engine``: five trivial notebooks run by ``nblib.engine.runner.Runner`` (forced), from calling
  ``run`` until it returns, HTML included; a fresh Runner and run folder each time.
- ``cli``: the same five notebooks by a loop of ``papermill`` then ``jupyter nbconvert --to html``.
- ``warm``: the floor: ``papermill.execute_notebook`` on kernels started and warmed before the clock.
- ``rerun``: ``nblib run params/default.yaml`` (``params/smoke.yaml`` with ``--quick``) once, then
  the same again (timed), then once with one ``evaluate.*`` change (``evaluate.bootstrap``, timed).
- ``bad_params``: ``nblib run`` on a params file with a misspelled key, until it exits 2 (median of 5).

Writes benchmarks/results/engine.json (``--out`` for elsewhere) with every measurement, the
machine and each target with pass/fail, then prints a short table. Runs go into temporary
folders so the project's reports/ is left alone. ``OMP_NUM_THREADS`` defaults to 1 here.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy/sklearn load, here and in every child

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
BIN = Path(sys.executable).parent  # the venv's bin/: papermill, jupyter, nblib
STAGES = [f"s{i}" for i in range(1, 6)]
WARMUP = "import pandas, sklearn"
MEASUREMENTS = ("engine", "cli", "warm", "rerun", "bad_params")
PACKAGES = (
    "nblib",
    "papermill",
    "nbclient",
    "nbconvert",
    "jupyter_client",
    "ipykernel",
    "pandas",
    "numpy",
    "scikit-learn",
)


# --------------------------------------------------------------------------- measurements


def bench_engine(repeats: int) -> dict:
    """Five trivial stages through nblib's Runner, forced; a fresh Runner and run folder per repeat."""
    from nblib.engine.dag import Pipeline, Stage
    from nblib.engine.runner import Runner

    pipeline = Pipeline(
        [
            Stage(name, inputs={prev: f"{prev}.json"} if prev else {}, outputs={name: f"{name}.json"})
            for prev, name in zip([None, *STAGES], STAGES, strict=False)
        ]
    )
    times, stage_seconds = [], []
    with tempfile.TemporaryDirectory() as tmp:
        notebooks = _write_notebooks(Path(tmp) / "notebooks")
        for i in range(repeats):
            runner = Runner(
                pipeline=pipeline,
                notebooks_dir=notebooks,
                reports_dir=Path(tmp) / "reports",
                progress=False,
                warmup_code=WARMUP,
            )
            run_dir = Path(tmp) / "reports" / "day" / f"run-{i}"
            started = time.perf_counter()
            result = runner.run(run_dir, "name: bench\n", params_hash="x", sections=lambda names: {}, force=True)
            times.append(time.perf_counter() - started)
            if result.exit_code != 0:
                raise SystemExit(f"engine: run failed: {result.error}")
            stage_seconds.append({r["name"]: r["seconds"] for r in result.manifest["stages"]})
    return {**_summary(times), "stage_seconds_last": stage_seconds[-1]}


def bench_cli(repeats: int) -> dict:
    """The same five notebooks by ``papermill IN OUT -p run_dir DIR`` then ``jupyter nbconvert --to html OUT``."""
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        notebooks = _write_notebooks(Path(tmp) / "notebooks")
        for i in range(repeats):
            run_dir = Path(tmp) / f"run-{i}"
            (run_dir / "artifacts").mkdir(parents=True)
            started = time.perf_counter()
            for name in STAGES:
                out = run_dir / f"{name}.ipynb"
                _check_call([BIN / "papermill", notebooks / f"{name}.ipynb", out, "-p", "run_dir", run_dir])
                _check_call([BIN / "jupyter", "nbconvert", "--to", "html", out])
            times.append(time.perf_counter() - started)
    return _summary(times)


def bench_warm(repeats: int) -> dict:
    """Only the five ``papermill.execute_notebook`` calls, on kernels started and warmed beforehand."""
    import papermill as pm
    from jupyter_client import KernelManager

    times = []
    with tempfile.TemporaryDirectory() as tmp:
        notebooks = _write_notebooks(Path(tmp) / "notebooks")
        for i in range(repeats):
            run_dir = Path(tmp) / f"run-{i}"
            (run_dir / "artifacts").mkdir(parents=True)
            kernels = [_warm_kernel(KernelManager(kernel_name="python3"), str(notebooks)) for _ in STAGES]
            try:
                started = time.perf_counter()
                for name, km in zip(STAGES, kernels, strict=False):
                    pm.execute_notebook(
                        str(notebooks / f"{name}.ipynb"),
                        str(run_dir / f"{name}.ipynb"),
                        parameters={"run_dir": str(run_dir)},
                        km=km,
                        progress_bar=False,
                        cwd=str(notebooks),
                    )
                times.append(time.perf_counter() - started)
            finally:
                for km in kernels:
                    km.shutdown_kernel(now=True)
    return _summary(times)


def bench_rerun(repeats: int, params: Path) -> dict:
    """``nblib run PARAMS`` once, then again (timed ``repeats`` times), then with one ``evaluate.*`` change."""
    with tempfile.TemporaryDirectory() as reports:
        env = {**os.environ, "NBLIB_REPORTS": reports}
        first = _nblib_run([params], env)
        second = [_nblib_run([params], env) for _ in range(repeats)]
        # A different evaluate section each repeat, so that no repeat can reuse another's result. Only
        # 05_evaluate reads evaluate.bootstrap; the evaluate.threshold* keys are read by 04_train too
        # (the threshold is chosen there, on out-of-fold predictions), so changing them retrains.
        changes = [["-p", f"evaluate.bootstrap={300 + 50 * i}"] for i in range(repeats)]
        changed = [_nblib_run([params, *change], env) for change in changes]
    first_s = first["seconds"]
    return {
        "params": str(params.relative_to(ROOT)),
        "first_seconds": round(first_s, 3),
        "first_stage_seconds": first["stage_seconds"],
        "second": {**_summary([r["seconds"] for r in second]), "stage_status_last": second[-1]["stage_status"]},
        "second_ratio": round(statistics.median(r["seconds"] for r in second) / first_s, 4),
        "evaluate_change": {
            **_summary([r["seconds"] for r in changed]),
            "changes": [" ".join(change) for change in changes],
            "stage_status_last": changed[-1]["stage_status"],
        },
        "evaluate_change_ratio": round(statistics.median(r["seconds"] for r in changed) / first_s, 4),
    }


def bench_bad_params(repeats: int = 5) -> dict:
    """Time until ``nblib run`` refuses a params file with a misspelled key (exit code 2)."""
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        bad = Path(tmp) / "bad.yaml"
        bad.write_text("data: {source: generated, n_rows: 600, target: is_hit}\ntrain: {cv_fold: 3}\n")
        env = {**os.environ, "NBLIB_REPORTS": str(Path(tmp) / "reports")}
        for _ in range(repeats):
            started = time.perf_counter()
            proc = subprocess.run(
                [BIN / "nblib", "run", bad, "--quiet"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
            )
            times.append(time.perf_counter() - started)
            if proc.returncode != 2:
                raise SystemExit(f"bad_params: exit code {proc.returncode}, expected 2: {proc.stderr[-1000:]}")
    return {**_summary(times), "message": proc.stderr.strip().splitlines()[-1]}


# --------------------------------------------------------------------------- targets and output


def targets(m: dict) -> list[dict]:
    """Each target with its value and pass/fail (``None`` where its measurement was not run)."""

    def target(name: str, rule: str, value, ok) -> dict:
        return {"name": name, "target": rule, "value": value, "pass": ok}

    engine, cli = m.get("engine", {}).get("median"), m.get("cli", {}).get("median")
    speedup = round(cli / engine, 2) if engine and cli else None
    rerun, bad = m.get("rerun", {}), m.get("bad_params", {}).get("median")
    second, changed = rerun.get("second_ratio"), rerun.get("evaluate_change_ratio")
    return [
        target("engine vs cli loop", ">= 3x faster", speedup, None if speedup is None else speedup >= 3),
        target("engine five trivial stages", "< 5 s", engine, None if engine is None else engine < 5),
        target("second run / first run", "<= 0.05", second, None if second is None else second <= 0.05),
        target("evaluate change / first run", "<= 0.30", changed, None if changed is None else changed <= 0.30),
        target("bad params to exit 2", "< 0.5 s", bad, None if bad is None else bad < 0.5),
    ]


def machine() -> dict:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "packages": versions,
    }


def print_table(result: dict) -> None:
    m = result["measurements"]
    print(f"\n{'measurement':<34}{'seconds':>10}")
    for name in ("engine", "cli", "warm", "bad_params"):
        if name in m:
            print(f"{name:<34}{m[name]['median']:>10.3f}")
    if "rerun" in m:
        r = m["rerun"]
        print(f"{'first run (' + r['params'] + ')':<34}{r['first_seconds']:>10.3f}")
        print(f"{'second run':<34}{r['second']['median']:>10.3f}")
        print(f"{'evaluate change':<34}{r['evaluate_change']['median']:>10.3f}")
    print(f"\n{'target':<34}{'rule':<14}{'value':>10}  result")
    for t in result["targets"]:
        value = "-" if t["value"] is None else f"{t['value']:.3f}"
        verdict = {True: "pass", False: "FAIL", None: "not measured"}[t["pass"]]
        print(f"{t['name']:<34}{t['target']:<14}{value:>10}  {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement; the median is reported")
    parser.add_argument("--quick", action="store_true", help="rerun with params/smoke.yaml instead of default.yaml")
    parser.add_argument(
        "--only",
        default=",".join(MEASUREMENTS),
        metavar="NAME[,NAME]",
        help=f"measurements to run, of: {', '.join(MEASUREMENTS)}",
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "engine.json")
    parser.add_argument(
        "--keep", action="store_true", help="keep the measurements already in --out that --only does not repeat"
    )
    args = parser.parse_args()
    only = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = sorted(set(only) - set(MEASUREMENTS))
    if unknown or args.repeats < 1:
        parser.error(
            f"--only: unknown {', '.join(unknown)}; choose from {', '.join(MEASUREMENTS)}"
            if unknown
            else "--repeats: give at least 1"
        )
    params = ROOT / "params" / ("smoke.yaml" if args.quick else "default.yaml")
    runs = {
        "engine": lambda: bench_engine(args.repeats),
        "cli": lambda: bench_cli(args.repeats),
        "warm": lambda: bench_warm(args.repeats),
        "rerun": lambda: bench_rerun(args.repeats, params),
        "bad_params": bench_bad_params,
    }
    measurements = json.loads(args.out.read_text())["measurements"] if args.keep and args.out.exists() else {}
    for name in MEASUREMENTS:
        if name in only:
            print(f"measuring {name} ...", flush=True)
            measurements[name] = runs[name]()
    result = {
        "measured": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "quick": args.quick,
        "repeats": args.repeats,
        "machine": machine(),
        "measurements": measurements,
        "targets": targets(measurements),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print_table(result)
    print(f"\nwrote {args.out}")


# --------------------------------------------------------------------------- helpers


def _write_notebooks(folder: Path) -> Path:
    """Five notebooks: each imports pandas and sklearn, reads the previous stage's JSON and writes its own."""
    import nbformat

    folder.mkdir(parents=True, exist_ok=True)
    for prev, name in zip([None, *STAGES], STAGES, strict=False):
        read = f'value = json.loads((art / "{prev}.json").read_text())["value"]' if prev else "value = 0"
        code = (
            f"import json, pathlib\n{WARMUP}\n"
            f'art = pathlib.Path(run_dir) / "artifacts"\n{read}\n'
            f'(art / "{name}.json").write_text(json.dumps({{"value": value + 1}}))'
        )
        nb = nbformat.v4.new_notebook()
        params = nbformat.v4.new_code_cell("run_dir = ''\nparams_path = ''")
        params.metadata["tags"] = ["parameters"]
        nb.cells = [params, nbformat.v4.new_code_cell(code)]
        for i, cell in enumerate(nb.cells):  # fixed ids: the same notebook hashes the same
            cell.id = f"{name}-{i}"
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, folder / f"{name}.ipynb")
    return folder


def _warm_kernel(km, cwd: str):
    """Start ``km`` in ``cwd`` and import pandas and sklearn in it."""
    km.start_kernel(cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # no start-up chatter
    client = km.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        reply = client.execute_interactive(WARMUP, timeout=120, output_hook=lambda msg: None)
        if reply["content"]["status"] != "ok":
            raise SystemExit(f"warm: warmup failed in a kernel: {reply['content']}")
    finally:
        client.stop_channels()
    return km


def _nblib_run(args: list, env: dict) -> dict:
    """``nblib run ARGS --quiet``: seconds to exit, and per-stage seconds and status from its manifest."""
    started = time.perf_counter()
    proc = subprocess.run(
        [BIN / "nblib", "run", *args, "--quiet"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"nblib run {args} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    summaries = [line.split(": ", 1)[1] for line in proc.stdout.splitlines() if line.startswith("summary: ")]
    if not summaries:
        raise SystemExit(f"nblib run {args}: no 'summary: PATH' line in its output: {proc.stdout[-1000:]}")
    run_dir = Path(summaries[-1]).parent
    manifest = json.loads((run_dir / "manifest.json").read_text())
    return {
        "seconds": seconds,
        "stage_seconds": {s["name"]: s["seconds"] for s in manifest["stages"]},
        "stage_status": {s["name"]: s["status"] for s in manifest["stages"]},
    }


def _check_call(cmd: list) -> None:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{Path(cmd[0]).name} failed ({proc.returncode}): {proc.stderr[-2000:]}")


def _summary(times: list[float]) -> dict:
    return {"median": round(statistics.median(times), 3), "runs": [round(t, 3) for t in times]}


if __name__ == "__main__":
    main()
