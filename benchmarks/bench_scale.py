"""compute.backend: dask against local, on this machine (issue 17), by hand.

    python benchmarks/bench_scale.py [--parts cv_search sweep] [--trials 8]

* ``cv_search``: ``params/big.yaml`` (100,000 generated rows), training only (01-03 run once and are
  reused from the cache by both), one family (``hist_gradient_boosting``) with a bayes search of
  ``--trials`` trials, no time budget (so the clock cuts neither run short). Local ``n_jobs: 2``
  against Dask (a LocalCluster of 2 workers x 1 thread). Target: the same best params and CV, and
  Dask's ``04_train`` at most 15 % slower.
* ``sweep``: ``params/smoke.yaml`` swept over ``seed=1,2,3,4``, ``--jobs 2``: local subprocesses
  against runs as tasks on a LocalCluster. Target: the same metrics per run.
* ``million``: 1,000,000 generated rows (one Parquet file, 4 partitions for Dask): ``01_eda`` to
  ``03_features`` (quality checks, cleaning, split, leak check, preprocessing and features fitted)
  with nblib locally (``n_jobs: 2``) and on Dask (2 workers, the table handled partition by partition:
  ``data.in_memory_rows: 500000``), against the textbook code a user would write (``dropna``, then
  ``StandardScaler`` on the numbers, ``TfidfVectorizer`` on the text, year and month of the date).
  Rows per second and peak memory of all processes, beside the raw frame's size.
* ``big_table``: ``--rows`` rows (default 10,000,000) of the generator as partitioned Parquet
  (``--partition-rows`` a file; one generated block, each file's copy with new ids, shuffled and with
  its amounts nudged, so no two files hold the same rows), bigger than ``data.in_memory_rows``:
  ``01_eda`` and ``02_preprocess`` on a LocalCluster of 2 workers capped at ``--memory-limit`` each.
  Reports the raw frame's size in memory, wall time, and peak memory per worker and of all processes.
* ``real``: whole runs of real tables (``--real PARAMS.yaml ...``, e.g. the params and data that
  ``bench_automl.py --keep DIR`` leaves), local against Dask, each in a fresh reports folder: the same
  test metrics, and each stage's seconds.

Writes ``benchmarks/results/scale.json``. Runs go into a temporary reports folder.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
OVERHEAD = 0.15
DASK = ["-p", "compute.backend=dask", "-p", "compute.dask.n_workers=2", "-p", "compute.dask.threads_per_worker=1"]


def nblib(*args: str, reports: str) -> tuple[float, subprocess.CompletedProcess]:
    env = {**os.environ, "NBLIB_REPORTS": reports, "PYTHONWARNINGS": "ignore"}
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "nblib", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"nblib {' '.join(args)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return wall, proc


def runs(reports: str) -> list[Path]:
    return sorted(p for p in Path(reports).glob("*/*") if (p / "manifest.json").exists())


def cv_search(trials: int) -> dict:
    args = [
        "run", "params/big.yaml", "--quiet",
        "-p", "train.models={hist_gradient_boosting: {}}", "-p", "train.cv_folds=3",
        "-p", "train.search.method=bayes", "-p", f"train.search.n_trials={trials}", "-p", "train.time_budget_s=null",
        "-p", "train.learning_curve=false", "-p", "compute.n_jobs=2",
    ]  # fmt: skip
    out = {}
    with tempfile.TemporaryDirectory() as reports:
        nblib(*args, "--stages", "01_eda,02_preprocess,03_features", reports=reports)  # shared by both, cached
        for name, extra in (("local", []), ("dask", DASK)):
            wall, _ = nblib(*args, *extra, "--force", "04_train", "--stages", "04_train", reports=reports)
            run = runs(reports)[-1]
            manifest = json.loads((run / "manifest.json").read_text())
            cv = json.loads((run / "artifacts" / "cv_results.json").read_text())
            search = cv["search"]["hist_gradient_boosting"]
            out[name] = {
                "wall_seconds": round(wall, 1),
                "train_seconds": next(s["seconds"] for s in manifest["stages"] if s["name"] == "04_train"),
                "best_params": search["best_params"],
                "best_cv": search["best_score"],
                "cv_mean": cv["models"]["hist_gradient_boosting"]["mean"],
                "trials": len(search["trials"]),
                "dask_tasks": (manifest.get("compute") or {}).get("tasks"),
            }
    local, dask = out["local"], out["dask"]
    overhead = dask["train_seconds"] / local["train_seconds"] - 1
    return {
        **out,
        "same_best_params": local["best_params"] == dask["best_params"],
        "same_cv": local["cv_mean"] == dask["cv_mean"] and local["best_cv"] == dask["best_cv"],
        "dask_overhead": round(overhead, 3),
        "target": f"same best params and CV; Dask 04_train at most {OVERHEAD:.0%} slower",
        "met": local["best_params"] == dask["best_params"]
        and local["cv_mean"] == dask["cv_mean"]
        and overhead <= OVERHEAD,
    }


def sweep() -> dict:
    args = ["run", "params/smoke.yaml", "--sweep", "seed=1,2,3,4", "--jobs", "2", "--quiet"]
    out = {}
    for name, extra in (("local", []), ("dask", DASK)):
        with tempfile.TemporaryDirectory() as reports:
            wall, _ = nblib(*args, *extra, reports=reports)
            metrics = {}
            for run in runs(reports):
                label = json.loads((run / "manifest.json").read_text())["label"]
                metrics[label] = json.loads((run / "artifacts" / "metrics.json").read_text())["test"]
            out[name] = {"wall_seconds": round(wall, 1), "runs": len(metrics), "test": metrics}
    same = out["local"]["test"] == out["dask"]["test"] and out["local"]["runs"] == 4
    return {
        "local": {k: v for k, v in out["local"].items() if k != "test"},
        "dask": {k: v for k, v in out["dask"].items() if k != "test"},
        "roc_auc": {label: m["roc_auc"] for label, m in sorted(out["dask"]["test"].items())},
        "same_metrics": same,
        "target": "the same metrics per run",
        "met": same,
    }


def make_big_table(rows: int, partition_rows: int) -> Path:
    """The big table's folder (made once, kept in the temporary folder for the next run)."""
    import numpy as np

    from nblib.ml.data.datasets import make_product_launches

    folder = Path(tempfile.gettempdir()) / f"nblib-bench-big-{rows}-{partition_rows}"
    parts = -(-rows // partition_rows)
    if len(list(folder.glob("part-*.parquet"))) == parts:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    block = make_product_launches(partition_rows, random_state=0).frame
    for i in range(parts):
        rng = np.random.default_rng(i)
        part = block.sample(frac=1.0, random_state=i).reset_index(drop=True)
        part["launch_id"] = [f"L{i * partition_rows + k:09d}" for k in range(len(part))]
        part["price"] = (part["price"] * rng.uniform(0.8, 1.25, len(part))).round(2)
        part["marketing_budget"] = (part["marketing_budget"] * rng.uniform(0.8, 1.25, len(part))).round(-1)
        part.iloc[: rows - i * partition_rows].to_parquet(folder / f"part-{i:04d}.parquet")
    return folder


TEXTBOOK = """
import sys, time, pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import StandardScaler
frame = pd.read_parquet(sys.argv[1])
started = time.perf_counter()
kept = frame.dropna()
numbers = kept.drop(columns=["is_hit", "revenue_k"]).select_dtypes("number")
scaled = StandardScaler().fit_transform(numbers)
text = TfidfVectorizer().fit_transform(kept["description"])
dates = pd.to_datetime(kept["release_date"], errors="coerce", format="mixed")
parts = pd.DataFrame({"year": dates.dt.year, "month": dates.dt.month})
print(time.perf_counter() - started, len(kept))
"""


def _watched(command: list[str], env: dict[str, str]) -> tuple[float, int, dict[int, int], str]:
    """Run ``command``; its wall time, the peak memory of it and its descendants together, each Dask
    worker's peak (by pid), and its stdout."""
    import psutil

    started = time.perf_counter()
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    root, peak, workers = psutil.Process(proc.pid), 0, {}
    while proc.poll() is None:
        try:
            family = [root, *root.children(recursive=True)]
            rss = {p.pid: p.memory_info().rss for p in family}
            for p in family:
                if "spawn_main" in " ".join(p.cmdline()):
                    workers[p.pid] = max(workers.get(p.pid, 0), rss[p.pid])
            peak = max(peak, sum(rss.values()))
        except psutil.Error:
            pass
        time.sleep(0.25)
    wall = time.perf_counter() - started
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({proc.returncode}): {err[-3000:]}")
    return wall, peak, workers, out


def million(rows: int = 1_000_000) -> dict:
    import pandas as pd
    import yaml

    from nblib.ml.data.datasets import make_product_launches

    gib = 1 << 30
    folder = Path(tempfile.gettempdir()) / f"nblib-bench-million-{rows}"
    whole = folder / "whole.parquet"
    if not whole.exists():
        folder.mkdir(parents=True, exist_ok=True)
        frame = make_product_launches(rows, random_state=0).frame
        frame.to_parquet(whole)
        (folder / "parts").mkdir(exist_ok=True)
        for i, start in enumerate(range(0, rows, rows // 4)):
            frame.iloc[start : start + rows // 4].reset_index(drop=True).to_parquet(folder / "parts" / f"p{i}.parquet")
    raw_bytes = int(pd.read_parquet(whole).memory_usage(deep=True).sum())
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    wall, peak, _, out = _watched([sys.executable, "-c", TEXTBOOK, str(whole)], env)
    seconds, kept = out.split()
    result = {
        "rows": rows,
        "raw_frame_gib": round(raw_bytes / gib, 3),
        "textbook": {
            "seconds": round(float(seconds), 1),
            "rows_per_second": round(rows / float(seconds)),
            "rows_kept": int(kept),
            "peak_gib": round(peak / gib, 3),
        },
    }
    settings = {
        "local": ({"source": str(whole)}, {"n_jobs": 2}),
        "dask": (
            {"source": str(folder / "parts"), "in_memory_rows": rows // 2},
            {"backend": "dask", "n_jobs": -1, "dask": {"n_workers": 2, "threads_per_worker": 1, "dashboard": False}},
        ),
    }
    for name, (data, compute) in settings.items():
        with tempfile.TemporaryDirectory() as reports:
            params = Path(reports) / f"million_{name}.yaml"
            spec = {"seed": 0, "data": {**data, "target": "is_hit", "drop_columns": ["revenue_k"]}, "compute": compute}
            params.write_text(yaml.safe_dump(spec))
            command = [
                sys.executable,
                "-m",
                "nblib",
                "run",
                str(params),
                "--stages",
                "01_eda,02_preprocess,03_features",
            ]
            wall, peak, _, _ = _watched([*command, "--quiet"], {**env, "NBLIB_REPORTS": reports})
            (run,) = runs(reports)
            manifest = json.loads((run / "manifest.json").read_text())
            seconds = {s["name"]: s["seconds"] for s in manifest["stages"]}
            cleaning = json.loads((run / "artifacts" / "cleaning.json").read_text())
        busy = sum(v for v in seconds.values() if v)
        result[name] = {
            "wall_seconds": round(wall, 1),
            "stage_seconds": seconds,
            "rows_per_second": round(rows / busy),
            "rows_kept": cleaning.get("rows_out"),
            "peak_gib": round(peak / gib, 3),
            "peak_over_raw_frame": round(peak / raw_bytes, 2),
        }
        print(name, result[name], flush=True)
    return result


def big_table(rows: int, partition_rows: int, memory_limit: str) -> dict:
    import pandas as pd
    import yaml

    folder = make_big_table(rows, partition_rows)
    files = sorted(folder.glob("part-*.parquet"))
    raw_bytes = sum(int(pd.read_parquet(f).memory_usage(deep=True).sum()) for f in files)
    with tempfile.TemporaryDirectory() as reports:
        params = Path(reports) / "big_table.yaml"
        spec = {
            "seed": 0,
            "data": {
                "source": str(folder),
                "target": "is_hit",
                "drop_columns": ["revenue_k"],
                "in_memory_rows": min(2_000_000, rows // 2),
            },
            "compute": {
                "backend": "dask",
                "dask": {"n_workers": 2, "threads_per_worker": 1, "memory_limit": memory_limit, "dashboard": False},
            },
        }
        params.write_text(yaml.safe_dump(spec))
        env = {**os.environ, "NBLIB_REPORTS": reports, "PYTHONWARNINGS": "ignore"}
        command = [sys.executable, "-m", "nblib", "run", str(params), "--stages", "01_eda,02_preprocess", "--quiet"]
        wall, total, workers, _ = _watched(command, env)
        (run,) = runs(reports)
        manifest = json.loads((run / "manifest.json").read_text())
        seconds = {s["name"]: s["seconds"] for s in manifest["stages"]}
        quality = json.loads((run / "artifacts" / "quality.json").read_text())
    gib = 1 << 30
    return {
        "rows": rows,
        "partitions": len(files),
        "parquet_gib": round(sum(f.stat().st_size for f in files) / gib, 3),
        "raw_frame_gib": round(raw_bytes / gib, 3),
        "workers": 2,
        "memory_limit": memory_limit,
        "wall_seconds": round(wall, 1),
        "stage_seconds": seconds,
        "rows_per_second": {k: round(rows / v) for k, v in seconds.items() if v},
        "peak_worker_gib": sorted(round(v / gib, 3) for v in workers.values()),
        "peak_all_processes_gib": round(total / gib, 3),
        "found": {k: quality[k] for k in ("exact_duplicates", "near_duplicates", "n_rows")},
    }


def real(params: list[str]) -> dict:
    out = {}
    for path in params:
        row = {}
        for name, extra in (("local", []), ("dask", DASK)):
            with tempfile.TemporaryDirectory() as reports:
                wall, _ = nblib("run", path, "--quiet", *extra, reports=reports)
                (run,) = runs(reports)
                manifest = json.loads((run / "manifest.json").read_text())
                row[name] = {
                    "wall_seconds": round(wall, 1),
                    "stage_seconds": {s["name"]: s["seconds"] for s in manifest["stages"]},
                    "test": json.loads((run / "artifacts" / "metrics.json").read_text())["test"],
                }
        row["same_metrics"] = row["local"]["test"] == row["dask"]["test"]
        row["train_overhead"] = round(
            row["dask"]["stage_seconds"]["04_train"] / row["local"]["stage_seconds"]["04_train"] - 1, 3
        )
        out[Path(path).stem] = row
        print(Path(path).stem, row["same_metrics"], row["train_overhead"], flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--parts",
        nargs="+",
        default=["cv_search", "sweep"],
        choices=["cv_search", "sweep", "million", "big_table", "real"],
    )
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows of the big_table part")
    parser.add_argument("--partition-rows", type=int, default=250_000)
    parser.add_argument("--memory-limit", default="2GB", help="each worker's memory_limit in the big_table part")
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--real", nargs="*", default=[], metavar="PARAMS", help="params files for the real part")
    args = parser.parse_args()
    path = RESULTS / "scale.json"
    result = json.loads(path.read_text()) if path.exists() else {}
    result.update(
        measured=dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        machine={"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        commit=subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip(),
    )
    for part in args.parts:
        print(f"{part} ...", flush=True)
        result[part] = {
            "cv_search": lambda: cv_search(args.trials),
            "sweep": sweep,
            "million": million,
            "big_table": lambda: big_table(args.rows, args.partition_rows, args.memory_limit),
            "real": lambda: real(args.real),
        }[part]()
        print(json.dumps(result[part], indent=1), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
