"""Run-folder locks, the heartbeat, and index writes from runs finishing together."""

from __future__ import annotations

import os
import threading
import time

import pytest

from nblib.engine import artifacts as io
from nblib.engine.lock import Heartbeat, RunLock, RunLocked, file_lock
from nblib.factory.pages import find_runs, write_index


def test_a_held_folder_is_refused_with_the_holders_pid(tmp_path):
    with RunLock(tmp_path / "run"), pytest.raises(RunLocked) as info:
        RunLock(tmp_path / "run").acquire()
    assert str(info.value).startswith(f"{tmp_path / 'run'}: in use by another run (pid {os.getpid()} on ")
    with RunLock(tmp_path / "run"):  # released on exit: the next run gets it
        pass


def test_file_lock_serializes(tmp_path):
    inside, overlaps = [], []

    def work():
        with file_lock(tmp_path / ".lock"):
            inside.append(1)
            overlaps.append(len(inside))
            time.sleep(0.01)
            inside.pop()

    threads = [threading.Thread(target=work) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlaps == [1] * 10


def test_heartbeat_beats_and_stops():
    beats = []
    with Heartbeat(lambda: beats.append(1), interval=0.02):
        time.sleep(0.2)
    n = len(beats)
    time.sleep(0.05)
    assert n >= 3 and len(beats) == n


def test_index_written_by_runs_finishing_together_lists_them_all(tmp_path):
    for i in range(12):
        io.write_json(
            tmp_path / "2026-11-29" / f"10150{i:02d}-r" / "manifest.json",
            {"run_id": f"r{i}", "name": f"run{i}", "status": "succeeded", "stages": [], "metrics": {}},
        )
    errors = []

    def finish():
        try:
            write_index(tmp_path)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=finish) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    page = (tmp_path / "index.html").read_text()
    assert errors == [] and all(f">run{i}<" in page for i in range(12))
    assert len(find_runs(tmp_path)) == 12 and not list(tmp_path.glob(".index.html.*"))
