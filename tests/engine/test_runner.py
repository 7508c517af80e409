"""The run loop on a tiny two-notebook pipeline: hashes, reuse, tampering, locks, failing writes."""

from __future__ import annotations

import datetime as dt
import errno
import json
import threading

import pytest
from runner_helpers import make_runner, run

from nblib.engine import artifacts as io
from nblib.engine.integrity import verify_run
from nblib.engine.lock import RunLock, RunLocked, effective_status
from nblib.engine.runner import new_run_dir


@pytest.fixture
def done(tmp_path):
    """A finished run of the tiny pipeline."""
    runner = make_runner(tmp_path)
    run_dir = tmp_path / "reports" / "day" / "run"
    result = run(runner, run_dir)
    assert result.exit_code == 0, result.error
    return runner, run_dir, result.manifest


def test_manifest_records_runner_and_output_hashes(done):
    _, run_dir, manifest = done
    assert manifest["status"] == "succeeded"
    assert manifest["runner"]["pid"] > 0 and manifest["runner"]["host"] and manifest["runner"]["heartbeat"]
    a, b = manifest["stages"]
    assert a["outputs"] == {"artifacts/a.json": io.sha256_file(run_dir / "artifacts" / "a.json")}
    assert list(b["outputs"]) == ["artifacts/b.json"]
    assert verify_run(run_dir, manifest) == (2, [])
    assert not list(run_dir.rglob("*.tmp*")), "executed notebooks are written atomically"
    assert (run_dir / "a.ipynb").exists() and (run_dir / "b.html").exists()
    executed = json.loads((run_dir / "a.ipynb").read_text())
    assert executed["metadata"]["papermill"]["output_path"] == str(run_dir / "a.ipynb")


def test_tampered_artifact_is_reported_and_its_stage_runs_again(done, capsys):
    runner, run_dir, _ = done
    (run_dir / "artifacts" / "a.json").write_text('{"value": 41}')
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert verify_run(run_dir, manifest)[1] == ["artifacts/a.json changed since it was written (stage a)"]

    again = run(runner, run_dir, force=False)
    assert again.exit_code == 0, again.error
    assert "artifacts/a.json changed since it was written; running a again" in capsys.readouterr().err
    assert [s["status"] for s in again.manifest["stages"]] == ["succeeded", "cached"]
    assert json.loads((run_dir / "artifacts" / "a.json").read_text()) == {"value": 1}  # rewritten, not trusted
    assert verify_run(run_dir, again.manifest) == (2, [])


def test_unchanged_outputs_are_reused(done):
    runner, run_dir, first = done
    again = run(runner, run_dir, force=False)
    assert [s["status"] for s in again.manifest["stages"]] == ["cached", "cached"]
    assert all(s["outputs"] for s in again.manifest["stages"])
    # what each stage took when it ran in this folder, kept through later attempts (an Airflow task per stage)
    took = [s["seconds"] for s in first["stages"]]
    assert [s["ran_here"] for s in again.manifest["stages"]] == took and all(t > 0 for t in took)
    assert [s["ran_here"] for s in run(runner, run_dir, force=False).manifest["stages"]] == took


def test_a_deleted_downstream_artifact_is_restored_from_the_cache(done):
    runner, run_dir, _ = done
    (run_dir / "artifacts" / "b.json").unlink()
    again = run(runner, run_dir, force=False)
    assert [s["status"] for s in again.manifest["stages"]] == ["cached", "cached"]
    assert json.loads((run_dir / "artifacts" / "b.json").read_text()) == {"value": 2}
    assert verify_run(run_dir, again.manifest) == (2, [])


def test_a_deleted_downstream_artifact_reruns_only_its_stage_when_the_cache_is_empty(done):
    runner, run_dir, _ = done
    runner.cache.prune(0)
    (run_dir / "artifacts" / "b.json").unlink()
    again = run(runner, run_dir, force=False)
    assert [s["status"] for s in again.manifest["stages"]] == ["cached", "succeeded"]


def test_a_second_run_on_a_locked_folder_is_refused_at_once(done):
    runner, run_dir, manifest = done
    with RunLock(run_dir), pytest.raises(RunLocked, match=r"in use by another run \(pid \d+ on "):
        run(runner, run_dir)
    assert json.loads((run_dir / "manifest.json").read_text()) == manifest  # nothing touched
    assert RunLocked.exit_code == 2


def test_run_folders_made_at_the_same_second_never_collide(tmp_path):
    now = dt.datetime(2026, 11, 29, 10, 15, 0)
    made, errors = [], []

    def make():
        try:
            made.append(new_run_dir(tmp_path, "smoke", now))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=make) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(set(made)) == 40
    assert sorted(p.name for p in made)[:2] == ["101500-smoke", "101500-smoke-10"]


def test_a_failing_notebook_write_fails_the_stage_in_one_line(tmp_path, monkeypatch):
    import papermill.engines
    import papermill.execute

    def full_disk(nb, path, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(papermill.execute, "write_ipynb", full_disk)
    monkeypatch.setattr(papermill.engines, "write_ipynb", full_disk)
    run_dir = tmp_path / "reports" / "day" / "run"
    result = run(make_runner(tmp_path), run_dir)
    assert result.exit_code == 1 and result.status == "failed"
    assert str(result.error) == "stage a failed: OSError: [Errno 28] No space left on device"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "failed" and [s["status"] for s in manifest["stages"]] == ["failed", "skipped"]
    assert not (run_dir / "a.ipynb").exists() and not list(run_dir.glob(".*.ipynb"))


def test_an_unwritable_manifest_is_one_line_and_the_run_reads_abandoned(tmp_path, monkeypatch):
    from nblib.engine import manifest as manifest_module

    real, calls = io.write_json, []

    def failing_after_start(path, data):
        calls.append(path)
        if path.name == "manifest.json" and len(calls) > 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, data)

    monkeypatch.setattr(manifest_module.io, "write_json", failing_after_start)
    run_dir = tmp_path / "reports" / "day" / "run"
    result = run(make_runner(tmp_path), run_dir)
    assert result.exit_code == 1
    assert str(result.error).endswith(
        "manifest.json: cannot write (No space left on device); the run's record is "
        "stale, nblib list will show it as abandoned"
    )
    on_disk = json.loads((run_dir / "manifest.json").read_text())
    assert on_disk["status"] == "running"
    on_disk["runner"]["pid"] = _dead_pid()
    assert effective_status(on_disk) == "abandoned"


def test_effective_status():
    import socket

    now = dt.datetime.now().astimezone()
    beat = now.isoformat(timespec="seconds")
    old = (now - dt.timedelta(minutes=5)).isoformat(timespec="seconds")
    here, there = socket.gethostname(), "elsewhere.example"
    assert effective_status({"status": "succeeded"}) == "succeeded"
    assert effective_status({"status": "running"}) == "unknown"
    assert (
        effective_status({"status": "running", "runner": {"pid": _dead_pid(), "host": here, "heartbeat": beat}})
        == "abandoned"
    )
    import os

    alive = {"pid": os.getpid(), "host": here, "heartbeat": old}
    assert effective_status({"status": "running", "runner": alive}) == "running"
    assert effective_status({"status": "running", "runner": {**alive, "host": there}}) == "abandoned"
    assert effective_status({"status": "running", "runner": {**alive, "host": there, "heartbeat": beat}}) == "running"


def _dead_pid() -> int:
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_rerun_in_the_same_folder_keeps_each_earlier_attempt(done, capsys):
    runner, run_dir, first = done
    second = run(runner, run_dir, force=False).manifest
    third = run(runner, run_dir, force=True).manifest
    assert len(third["history"]) == 2 and third["history"][0] == second["history"][0]
    kept = [json.loads((run_dir / rel).read_text()) for rel in third["history"]]
    assert [k["started"] for k in kept] == [first["started"], second["started"]]
    assert [s["status"] for s in kept[1]["stages"]] == ["cached", "cached"]
    assert "attempt 3; the earlier attempt's record is kept in history/manifest-" in capsys.readouterr().err


@pytest.mark.skipif(not hasattr(__import__("os"), "getpriority"), reason="no thread priorities here")
def test_finishing_a_stage_yields_the_cpu_to_the_stage_beside_it():
    import os
    import sys

    from nblib.engine.runner import _Finisher

    seen = []
    with _Finisher() as finisher:
        finisher.submit(lambda: seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id())))
        assert finisher.wait() is None
    own = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())  # the caller's thread keeps its own
    if sys.platform.startswith("linux"):
        assert seen[0] == min(19, own + 10)
