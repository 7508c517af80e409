"""End-to-end: Ctrl-C during 04_train on the real pipeline, then --resume picks the run up."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT, run_cli, sigint_as_at_a_terminal

from nblib.engine.processes import alive, descendants

pytestmark = pytest.mark.e2e


def test_ctrl_c_during_training_then_resume(reports):
    env = {**os.environ, "NBLIB_REPORTS": str(reports), "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "nblib", "run", "params/smoke.yaml", "--quiet"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=sigint_as_at_a_terminal,
    )
    deadline = time.monotonic() + 300
    while True:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        manifests = list(reports.glob("*/*/manifest.json"))
        try:
            stages = json.loads(manifests[0].read_text())["stages"] if manifests else []
        except ValueError:
            stages = []
        if any(s["name"] == "04_train" and s["status"] == "running" for s in stages):
            break
        time.sleep(0.1)
    time.sleep(1.0)  # inside the notebook
    processes = set(descendants(proc.pid))
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130 and time.monotonic() - sent < 5, stderr
    assert stderr.strip().splitlines()[-1] == "nblib: error: interrupted by SIGINT (Ctrl-C)"
    time.sleep(0.5)
    assert [p for p in processes if alive(p)] == [], "no kernel or worker outlives the run"
    run = manifests[0].parent
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    assert {s["name"]: s["status"] for s in manifest["stages"]}["04_train"] == "interrupted"

    resumed = run_cli("run", "--resume", manifest["run_id"], "--quiet", reports=reports)
    assert resumed.returncode == 0, resumed.stderr
    statuses = [s["status"] for s in json.loads((run / "manifest.json").read_text())["stages"]]
    assert statuses == ["cached"] * 3 + ["succeeded"] * 2
    assert run_cli("verify", str(run), reports=reports).returncode == 0
