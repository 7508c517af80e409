"""Measure a whole pipeline run: wall time, per-stage seconds, peak memory, quality vs the oracle.

    python benchmarks/bench_pipeline.py [params/default.yaml ...] [--jobs N]

Writes one JSON per params file into benchmarks/results/pipeline_<name>.json. Runs go into a
temporary reports folder so the project's reports/ is left alone.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def bench(params: Path, jobs: int | None) -> dict:
    with tempfile.TemporaryDirectory() as reports:
        env = {**os.environ, "NBLIB_REPORTS": reports}
        cmd = [sys.executable, "-m", "nblib", "run", str(params)] + (["--jobs", str(jobs)] if jobs else [])
        started = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - started
        if proc.returncode != 0:
            raise SystemExit(f"run failed ({proc.returncode}): {proc.stderr[-2000:]}")
        (run,) = [p for p in Path(reports).glob("*/*") if p.is_dir()]
        manifest = json.loads((run / "manifest.json").read_text())
        metrics = json.loads((run / "artifacts" / "metrics.json").read_text())
        cv = json.loads((run / "artifacts" / "cv_results.json").read_text())
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {
        "params": params.name,
        "measured": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "wall_seconds": round(wall, 2),
        "stage_seconds": {s["name"]: s["seconds"] for s in manifest["stages"]},
        "stage_seconds_total": round(sum(s["seconds"] for s in manifest["stages"]), 2),
        "overhead_seconds": round(wall - sum(s["seconds"] for s in manifest["stages"]), 2),
        "peak_rss_mb_largest_child": round(peak_kb / 1024, 1),
        "test": metrics["test"],
        "oracle": metrics.get("oracle"),
        "oracle_gap": metrics.get("oracle_gap"),
        "best_model": metrics["best_model"],
        "threshold": metrics.get("threshold"),
        "threshold_by": metrics.get("threshold_by"),
        "at_threshold_0.5": metrics.get("at_threshold_0.5"),
        "cv": {
            k: {"mean": round(v["mean"], 4), "fit_seconds_per_fold": v["fit_seconds"]} for k, v in cv["models"].items()
        },
        "training_seconds": cv.get("seconds"),
        "training_notes": cv.get("notes", []),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("params", nargs="*", type=Path, default=[ROOT / "params" / "default.yaml"])
    parser.add_argument("--jobs", type=int, default=None)
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    for params in args.params:
        result = bench(params.resolve(), args.jobs)
        out = RESULTS / f"pipeline_{params.stem}.json"
        out.write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result, indent=2))
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
