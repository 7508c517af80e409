"""End-to-end: the whole Dask cluster (scheduler and workers, started apart from the run) is lost in the
middle of 04_train. The stage fails in one line that says so and how to go on; once a scheduler answers at
the same address again, ``--resume`` finishes the run without repeating the stages that had finished."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time

import psutil
import pytest
from conftest import run_cli, run_folders, start_cli, wait_for_stage

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("dask-cluster-loss")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cluster(address: str, port: int) -> list[subprocess.Popen]:
    """``dask scheduler`` and ``dask worker`` (2 processes x 1 thread), as an operator would start them."""
    bin_dir = f"{sys.prefix}/bin"
    scheduler = subprocess.Popen(
        [f"{bin_dir}/dask", "scheduler", "--port", str(port), "--no-dashboard"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    ends = time.monotonic() + 60
    while time.monotonic() < ends:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    worker = subprocess.Popen(
        [f"{bin_dir}/dask", "worker", address, "--nworkers", "2", "--nthreads", "1", "--no-dashboard"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    return [scheduler, worker]


def _kill(processes: list[subprocess.Popen]) -> None:
    for proc in processes:
        try:
            family = [proc.pid, *(p.pid for p in psutil.Process(proc.pid).children(recursive=True))]
        except psutil.Error:  # ended already
            family = [proc.pid]
        for pid in family:
            try:
                psutil.Process(pid).send_signal(signal.SIGKILL)
            except psutil.Error:
                pass
        proc.wait(timeout=30)


@pytest.mark.timeout(600)
def test_a_lost_cluster_fails_the_stage_in_one_line_and_the_run_resumes(tmp_path):
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    reports = tmp_path / "reports"
    args = ("run", "params/smoke.yaml", "--quiet", "-p", "compute.backend=dask", "-p", "compute.n_jobs=-1")
    args += ("-p", f"compute.dask.address={address}")
    cluster = _cluster(address, port)
    try:
        proc = start_cli(*args, reports=reports)
        wait_for_stage(proc, reports, "04_train")
        time.sleep(2)
        _kill(cluster)  # scheduler and every worker at once
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 1, stderr
        line = stderr.strip().splitlines()[-1]
        assert line.startswith("nblib: error: stage 04_train failed:"), line
        assert f"the Dask cluster at {address} was lost" in line and "--resume" in line, line
        (run,) = run_folders(reports)
        before = {s["name"]: s for s in json.loads((run / "manifest.json").read_text())["stages"]}
        assert [before[s]["status"] for s in ("03_features", "04_train")] == ["succeeded", "failed"]

        cluster = _cluster(address, port)
        resumed = run_cli(*args, "--resume", str(run), reports=reports)
        assert resumed.returncode == 0, resumed.stderr
        assert run_folders(reports) == [run]
        manifest = json.loads((run / "manifest.json").read_text())
        after = {s["name"]: s for s in manifest["stages"]}
        assert manifest["status"] == "succeeded" and after["05_evaluate"]["status"] == "succeeded"
        for stage in ("01_eda", "02_preprocess", "03_features"):  # finished before the loss: not run again
            assert after[stage]["status"] == "cached" and after[stage]["outputs"] == before[stage]["outputs"], stage
    finally:
        _kill(cluster)
