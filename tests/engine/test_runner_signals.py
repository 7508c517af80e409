"""Signals during a run: Ctrl-C / SIGTERM end it within seconds, SIGKILL leaves no process behind.

Each test starts a runner process on the tiny pipeline whose second stage starts
joblib/loky workers and then sleeps in a long cell.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest
from runner_helpers import make_runner, run, runner_command

from nblib.engine.lock import effective_status
from nblib.engine.processes import alive, descendants


def sigint_as_at_a_terminal():
    """The runner leaves SIGINT alone when it starts with SIGINT ignored (``nohup``, ``cmd &``); a test
    harness may run tests that way, so the runner under test starts with SIGINT as a terminal gives it."""
    signal.signal(signal.SIGINT, signal.default_int_handler)  # SIG_DFL after exec


def start_and_wait_for_the_long_cell(tmp_path):
    proc = subprocess.Popen(
        runner_command(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=sigint_as_at_a_terminal,
    )
    run_dir = tmp_path / "reports" / "day" / "run"
    marker = run_dir / "children.json"
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the long cell never started"
        time.sleep(0.1)
    time.sleep(0.2)
    started = json.loads(marker.read_text())
    processes = set(descendants(proc.pid)) | {started["kernel"], *started["children"]}
    assert len(started["children"]) >= 2, started  # loky workers and resource trackers
    return proc, run_dir, processes


def wait_gone(pids, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


@pytest.mark.parametrize("signum, code, name", [(signal.SIGINT, 130, "SIGINT"), (signal.SIGTERM, 143, "SIGTERM")])
def test_a_signal_interrupts_the_running_cell_and_leaves_nothing(tmp_path, signum, code, name):
    proc, run_dir, processes = start_and_wait_for_the_long_cell(tmp_path)
    sent = time.monotonic()
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=30)
    took = time.monotonic() - sent
    assert proc.returncode == code, stderr
    assert took < 5, f"took {took:.1f} s"
    assert f"interrupted by {name}" in stderr and "Traceback" not in stderr
    assert wait_gone(processes, timeout=2) == [], "no kernel or worker may outlive the run"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "interrupted" and manifest["finished"]
    assert [s["status"] for s in manifest["stages"]] == ["succeeded", "interrupted"]
    assert not (run_dir / "artifacts" / "b.json").exists()


def test_sigkill_of_the_runner_kills_its_kernels_and_the_run_reads_abandoned(tmp_path):
    proc, run_dir, processes = start_and_wait_for_the_long_cell(tmp_path)
    proc.kill()
    proc.wait()
    assert wait_gone(processes, timeout=5) == [], "the reaper ends every process of a killed run"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "running" and effective_status(manifest) == "abandoned"

    # picked up again (what --resume / --run-dir do): the finished stage is reused, the killed one re-runs
    again = run(make_runner(tmp_path), run_dir, force=False)
    assert again.exit_code == 0, again.error
    assert [s["status"] for s in again.manifest["stages"]] == ["cached", "succeeded"]
