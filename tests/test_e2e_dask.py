"""End-to-end: compute.backend: dask on a real LocalCluster (2 worker processes x 1 thread, no mocks).

One smoke run with a bayes search runs locally; the same params run on Dask while one worker is
killed in the middle of 04_train. The Dask run must succeed with the local run's numbers, its
tasks must have run on the workers, and no cluster process may outlive it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import psutil
import pytest
from conftest import ROOT, run_cli, run_folders

from nblib.engine.processes import alive, descendants

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("dask-e2e")]

# a bayes search too: its trials are Dask futures; no time budget, so neither run is cut short by the clock
ARGS = ("params/smoke.yaml", "-p", "train.search.method=bayes", "-p", "train.search.n_trials=6", "--quiet")
DASK = ("-p", "compute.backend=dask", "-p", "compute.n_jobs=-1", "-p", "compute.dask.dashboard=false")


def _workers(pid: int) -> list[psutil.Process]:
    """The LocalCluster's worker processes: children of the runner started by multiprocessing's spawn."""
    return [p for p in psutil.Process(pid).children() if "spawn_main" in " ".join(p.cmdline())]


@pytest.mark.timeout(600)
def test_dask_run_survives_a_killed_worker_with_the_local_numbers(tmp_path):
    local_reports, dask_reports = tmp_path / "local", tmp_path / "dask"
    local = run_cli("run", *ARGS, reports=local_reports)
    assert local.returncode == 0, local.stderr

    env = {**os.environ, "NBLIB_REPORTS": str(dask_reports), "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "nblib", "run", *ARGS, *DASK],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 300
    while True:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        manifests = list(dask_reports.glob("*/*/manifest.json"))
        try:
            stages = json.loads(manifests[0].read_text())["stages"] if manifests else []
        except ValueError:
            stages = []
        if any(s["name"] == "04_train" and s["status"] == "running" for s in stages):
            break
        time.sleep(0.1)
    time.sleep(2.0)  # inside the notebook, with trials and folds on the workers
    workers = _workers(proc.pid)
    assert len(workers) == 2
    killed = workers[0].pid
    os.kill(killed, signal.SIGKILL)
    processes = set(descendants(proc.pid))
    _, stderr = proc.communicate(timeout=400)
    assert proc.returncode == 0, stderr
    assert "dask: LocalCluster, 2 worker(s), 2 thread(s)" in stderr

    (local_run,) = run_folders(local_reports)
    (dask_run,) = run_folders(dask_reports)
    local_metrics = json.loads((local_run / "artifacts" / "metrics.json").read_text())
    dask_metrics = json.loads((dask_run / "artifacts" / "metrics.json").read_text())
    assert dask_metrics["test"] == local_metrics["test"] and dask_metrics["cv"] == local_metrics["cv"]
    local_search = json.loads((local_run / "artifacts" / "cv_results.json").read_text())["search"]
    dask_search = json.loads((dask_run / "artifacts" / "cv_results.json").read_text())["search"]
    for family, found in local_search.items():
        assert dask_search[family]["best_params"] == found["best_params"], family

    compute = json.loads((dask_run / "manifest.json").read_text())["compute"]
    assert compute["backend"] == "dask" and compute["started"] == "LocalCluster"
    assert compute["tasks"] > 0 and len(compute["workers"]) == 2
    assert killed not in {w["pid"] for w in compute["workers"]}  # its nanny started a new one
    pids = {w["pid"] for w in compute["workers"]} | processes
    time.sleep(0.5)
    assert [p for p in pids if alive(p)] == [], "no kernel, worker or nanny outlives the run"


def test_an_unreachable_scheduler_is_exit_2_in_under_5_s_before_anything_runs(reports):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    result = run_cli(
        "run", "params/smoke.yaml", "-p", "compute.backend=dask", "-p", f"compute.dask.address=tcp://127.0.0.1:{port}",
        reports=reports,
    )  # fmt: skip
    assert time.monotonic() - started < 5
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("nblib: error: compute.dask.address: no Dask scheduler answers at tcp://127.0.0.1:")
    assert run_folders(reports) == []
