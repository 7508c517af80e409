"""Kernels forked from a pre-imported server: separate, fresh, interruptible, gone after close()."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import nbformat
import psutil
import pytest

from nblib.engine.forkserver import ForkProvisioner, preload_modules
from nblib.engine.kernels import KernelPool
from nblib.engine.processes import Reaper, alive

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forking kernels needs Linux")


def run_code(km, code: str, timeout: float = 30) -> tuple[dict, str]:
    """Execute ``code`` in ``km``'s kernel; its reply content and what it printed."""
    kc = km.client()
    kc.start_channels()
    printed: list[str] = []
    try:
        kc.wait_for_ready(timeout=timeout)
        reply = kc.execute_interactive(
            code,
            timeout=timeout,
            output_hook=lambda msg: (
                printed.append(msg["content"].get("text", "")) if msg["msg_type"] == "stream" else None
            ),
        )
    finally:
        kc.stop_channels()
    return reply["content"], "".join(printed)


def wait_gone(pids, timeout=5.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


@pytest.fixture
def pool(tmp_path):
    with (
        Reaper() as reaper,
        KernelPool("python3", str(tmp_path), "import json", tmp_path / "kernels.log", reaper) as pool,
    ):
        yield pool


def test_a_forked_kernel_runs_code_in_a_process_group_of_its_own(pool, tmp_path):
    km = pool.take()
    assert pool.forking and isinstance(km.provisioner, ForkProvisioner) and km.provisioner.forked
    content, printed = run_code(km, "import os, sys; print(os.getpid(), os.getpgid(0), os.getcwd(), sys.argv[1])")
    assert content["status"] == "ok"
    pid, group, cwd, flag = printed.split()
    assert int(pid) == km.provisioner.pid == int(group)  # a process group (and session) of its own
    assert int(group) != os.getpgrp()
    assert cwd == str(tmp_path) and flag == "-f"
    assert psutil.Process(int(pid)).ppid() == pool._server.pid
    assert km.is_alive()
    pool.stop(km)
    assert wait_gone([int(pid)]) == [] and not km.is_alive()
    log = (tmp_path / "kernels.log").read_text()
    assert "Ctrl-C will not work" not in log  # started as jupyter_client starts a kernel (JPY_PARENT_PID)


def test_two_kernels_of_one_pool_share_no_state(pool):
    first, second = pool.take(), pool.take()
    assert first.provisioner.pid != second.provisioner.pid
    run_code(first, "secret = 42")
    draws = []
    for km in (first, second):
        content, printed = run_code(
            km, "import numpy, random\nprint('secret' in dir(), numpy.random.rand(), random.random())"
        )
        assert content["status"] == "ok"
        draws.append(printed.split())
    assert draws[0][0] == "True" and draws[1][0] == "False"
    assert draws[0][1:] != draws[1][1:], "each kernel draws its own random numbers"
    pool.stop(first)
    pool.stop(second)


def test_a_pyplot_figure_shows_inline_in_a_papermill_notebook(tmp_path):
    import papermill as pm

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import matplotlib.pyplot as plt\nplt.plot([1, 2, 3]);"),
        nbformat.v4.new_code_cell("fig, ax = plt.subplots()\nax.bar(['a', 'b'], [1, 2]);"),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "plot.ipynb")
    # pyplot in the warm-up code: the server imports it before any kernel exists
    with (
        Reaper() as reaper,
        KernelPool("python3", str(tmp_path), "import matplotlib.pyplot", tmp_path / "kernels.log", reaper) as pool,
    ):
        km = pool.take()
        assert km.provisioner.forked
        out = pm.execute_notebook(str(tmp_path / "plot.ipynb"), str(tmp_path / "out.ipynb"), km=km, progress_bar=False)
        pool.stop(km)
    for cell in out.cells:
        assert any("image/png" in output.get("data", {}) for output in cell.outputs), cell.outputs


def test_interrupting_a_forked_kernel_stops_its_long_cell(pool):
    km = pool.take()
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=30)
        msg_id = kc.execute("import time\ntime.sleep(60)")
        while True:  # the cell is running
            msg = kc.get_iopub_msg(timeout=30)
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "busy":
                break
        time.sleep(0.3)
        sent = time.monotonic()
        km.interrupt_kernel()
        reply = kc.get_shell_msg(timeout=10)
        assert reply["parent_header"]["msg_id"] == msg_id
        assert reply["content"]["status"] == "error" and reply["content"]["ename"] == "KeyboardInterrupt"
        assert time.monotonic() - sent < 5
    finally:
        kc.stop_channels()
    _, printed = run_code(km, "print('still here')")
    assert printed.strip() == "still here"
    pool.stop(km, interrupt=True)


def test_close_leaves_no_server_and_no_kernel(tmp_path):
    with Reaper() as reaper:
        pool = KernelPool("python3", str(tmp_path), "import json", tmp_path / "kernels.log", reaper)
        km = pool.take()
        pool.prestart()  # kernels on their way are stopped too
        run_code(
            km,
            "import subprocess, sys\nchild = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])",
        )
        server = pool._server.pid
        processes = [server, *(p.pid for p in psutil.Process(server).children(recursive=True))]
        assert len(processes) >= 3  # the server, the taken kernel and its child (and pending kernels)
        pool.close()
        assert wait_gone(processes) == []


def test_a_pool_closed_before_any_kernel_ends_its_server_at_once(tmp_path):
    pool = KernelPool("python3", str(tmp_path), "import pandas", tmp_path / "kernels.log")
    assert pool.forking
    server = pool._server.pid
    started = time.monotonic()
    pool.close()  # e.g. every stage was cached: the server is still importing pandas
    assert time.monotonic() - started < 0.5
    assert wait_gone([server], timeout=1) == []


def test_the_server_dies_with_a_killed_runner(tmp_path):
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from nblib.engine.kernels import KernelPool
        pool = KernelPool("python3", {str(tmp_path)!r}, "import json", Path({str(tmp_path)!r}) / "kernels.log")
        km = pool.take()
        print(pool._server.pid, km.provisioner.pid, flush=True)
        time.sleep(60)
    """)
    runner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        server, kernel = map(int, runner.stdout.readline().split())
    finally:
        runner.send_signal(signal.SIGKILL)
        runner.wait()
    # no reaper here: the server sees its pipe close, kills its kernels and exits
    assert wait_gone([server, kernel]) == []


@pytest.mark.parametrize("how", ["argument", "environment", "server fails"])
def test_kernels_start_plainly_when_they_cannot_be_forked(tmp_path, monkeypatch, how):
    fork = how != "argument"
    if how == "environment":
        monkeypatch.setenv("NBLIB_FORK_KERNELS", "0")
    if how == "server fails":
        from nblib.engine import forkserver

        def fail(self):
            raise OSError("no such interpreter")

        monkeypatch.setattr(forkserver.ForkServer, "start", fail)
    log = tmp_path / "kernels.log"
    with Reaper() as reaper, KernelPool("python3", str(tmp_path), "import json", log, reaper, fork=fork) as pool:
        pool.prestart()
        km = pool.take()
        assert not pool.forking and not getattr(km.provisioner, "forked", False)
        content, printed = run_code(km, "import os; print(os.getpgid(0) == os.getpid())")
        assert content["status"] == "ok" and printed.strip() == "True"
        pool.stop(km)
    notes = [line for line in log.read_text().splitlines() if line.startswith("nblib: kernels start without")]
    assert len(notes) == 1, log.read_text()


def test_the_server_preloads_the_imports_of_the_warmup_code():
    code = "import pandas, numpy as np\nfrom sklearn import metrics\nimport matplotlib.pyplot\nfrom . import x"
    assert preload_modules(code) == ["pandas", "numpy", "sklearn", "matplotlib.pyplot"]
    assert preload_modules("this is not python") == []


def test_ahead_must_be_a_positive_int(tmp_path):
    with pytest.raises(ValueError, match="'ahead' parameter of KernelPool must be an int >= 1. Got 0"):
        KernelPool("python3", str(tmp_path), "", tmp_path / "kernels.log", ahead=0)
