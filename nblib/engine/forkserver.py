"""Jupyter kernels forked from a server that imported the heavy modules once.

Starting an IPython kernel and importing pandas and scikit-learn in it costs
seconds of CPU; forking a process that already did both costs a fraction of
one. A :class:`ForkServer` is a small process started once per run with
``python -m nblib.engine.forkserver``: it imports the modules named by the
run's warm-up code plus ``ipykernel.kernelapp`` (nothing that starts a thread,
a zmq context or an event loop), then waits on a pipe from the runner. Each
request makes it fork a child that becomes the leader of a new session (as
Jupyter's own launcher does), sends its output to the run's ``kernels.log``,
moves to the kernel's working directory and environment, and runs
``IPKernelApp`` on the connection file Jupyter wrote.

``matplotlib_inline`` is kept out of the server: imported before the kernel's
shell exists, it would not install the hook that shows figures inline.
``matplotlib`` and ``matplotlib.pyplot`` are imported with the inline backend
chosen (as ``ipykernel`` chooses it) but not yet loaded: pyplot loads it on
the first figure, in the kernel, where the hook then installs itself.

The server exits when the pipe from the runner closes, killing whatever
kernel it forked that is still alive: when the runner ends normally, and
when it is killed outright.

:class:`ForkProvisioner` is the Jupyter side: a ``LocalProvisioner`` whose
launch asks the server for a fork, and falls back to a plain launch when the
kernel command is not this interpreter's ``ipykernel_launcher`` or the server
cannot fork.
"""

from __future__ import annotations

import ast
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jupyter_client.provisioning import LocalProvisioner

from nblib.engine.processes import alive

__all__ = ["ForkFailed", "ForkProvisioner", "ForkServer", "ForkedProcess", "fork_unavailable", "preload_modules"]

#: Imported by the server whatever the warm-up code says: what a kernel needs to start.
KERNEL_MODULES = (
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "ipykernel.zmqshell",
    "IPython.core.completer",
    "jupyter_client.session",
    "comm",
)

#: Never imported by the server (see the module docstring): a module that needs it is left to the kernel.
_KEPT_OUT = ("matplotlib_inline",)

_INLINE_BACKEND = "module://matplotlib_inline.backend_inline"

#: Seconds a fork may wait for the server (which may still be importing).
FORK_TIMEOUT = 120.0


class ForkFailed(RuntimeError):
    """The server could not fork a kernel (``closed``: because the pool closed it)."""

    def __init__(self, message: str, *, closed: bool = False):
        super().__init__(message)
        self.closed = closed


def fork_unavailable() -> str | None:
    """Why kernels cannot be forked on this system, or ``None`` when they can."""
    if not sys.platform.startswith("linux"):
        return f"forking kernels needs Linux (this is {sys.platform})"
    if not hasattr(os, "fork") or not hasattr(os, "setsid"):
        return "os.fork is unavailable"
    if os.environ.get("NBLIB_FORK_KERNELS", "1").strip().lower() in ("0", "false", "no", "off"):
        return "NBLIB_FORK_KERNELS=0"
    return None


def preload_modules(warmup_code: str) -> list[str]:
    """The top-level imports of ``warmup_code`` (``import a.b`` gives ``a.b``; relative imports are skipped)."""
    try:
        tree = ast.parse(warmup_code)
    except SyntaxError:
        return []
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
    return list(dict.fromkeys(names))


class ForkServer:
    """A process that imports ``modules`` once and forks kernels from itself.

    Parameters
    ----------
    modules : list of str
        Imported before the first fork (failures are skipped; the kernel reports them).
    cwd : str
        Working directory of the server (that of the kernels: imports resolve the same).
    log : Path
        File that receives what the server prints.
    """

    def __init__(self, modules: list[str], cwd: str, log: Path):
        self.modules = list(modules)
        self.cwd = cwd
        self.log = Path(log)
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._buffer = b""
        self._closed = False
        self._asked = False  # for a fork, ever
        self.exit_dir = Path(tempfile.mkdtemp(prefix="nblib-kernels-"))  # the server writes exit codes here

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> None:
        """Start the server; it imports in the background while the caller goes on."""
        with open(self.log, "ab") as sink:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "nblib.engine.forkserver"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=sink,
                cwd=self.cwd,
                start_new_session=True,
            )
        self._send({"preload": self.modules})

    def fork(self, argv: list[str], *, cwd: str, env: dict[str, str], log: Path, timeout: float = FORK_TIMEOUT) -> int:
        """Fork a kernel running ``IPKernelApp`` with ``argv``; return its pid (its process group too).

        Raises
        ------
        ForkFailed
            The server is closed, gone, or did not answer within ``timeout`` seconds.
        """
        with self._lock:
            if self._closed or self._proc is None:
                raise ForkFailed("the fork server is closed", closed=self._closed)
            self._asked = True
            self._send({"argv": argv, "cwd": cwd, "env": env, "log": str(log), "exit_dir": str(self.exit_dir)})
            reply = self._receive(timeout)
        if "pid" not in reply:
            raise ForkFailed(f"the fork server could not fork: {reply.get('error', reply)}")
        return int(reply["pid"])

    def closing(self) -> None:
        """Make a fork that waits for an answer give up (within half a second), and refuse new ones."""
        self._closed = True

    def close(self, timeout: float = 1.0) -> None:
        """Close the pipe: the server kills the kernels it still has and exits (killed if it does not).

        A server never asked for a fork is killed at once (it may still be importing); one still
        importing after ``timeout`` seconds has forked nothing yet and is killed too.
        """
        self._closed = True
        with self._lock:  # after a fork in progress gave up
            proc, self._proc = self._proc, None
        if proc is None:
            shutil.rmtree(self.exit_dir, ignore_errors=True)
            return
        try:
            proc.stdin.close()
            if not self._asked:
                proc.kill()
            proc.wait(timeout=timeout)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
        finally:
            proc.stdout.close()
            shutil.rmtree(self.exit_dir, ignore_errors=True)

    def _send(self, message: dict) -> None:
        try:
            self._proc.stdin.write(json.dumps(message).encode() + b"\n")
            self._proc.stdin.flush()
        except (OSError, ValueError) as exc:
            raise ForkFailed(f"the fork server is gone ({exc})", closed=self._closed) from None

    def _receive(self, timeout: float) -> dict:
        fd = self._proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ForkFailed(f"the fork server did not answer within {timeout:.0f} s")
            ready, _, _ = select.select([fd], [], [], min(left, 0.5))
            if self._closed:
                raise ForkFailed("the fork server is closed", closed=True)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise ForkFailed(
                        f"the fork server exited (status {self._proc.wait()}; see kernels.log)", closed=self._closed
                    )
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)


class ForkedProcess:
    """A kernel forked by the server, with the part of ``Popen`` that Jupyter and nblib use.

    It is the server's child, not ours: the server reaps it and writes its exit code
    (negative: the signal that killed it, as ``Popen`` has it) to ``exit_file``.
    """

    stdin = stdout = stderr = None

    def __init__(self, pid: int, exit_file: Path | None = None):
        self.pid = pid
        self.exit_file = exit_file
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None and not alive(self.pid):
            self.returncode = self._exit_code()
        return self.returncode

    def _exit_code(self, wait: float = 1.5) -> int:
        """What the server recorded (it reaps within a fraction of a second); 0 if it never says."""
        deadline = time.monotonic() + wait
        while self.exit_file is not None:
            try:
                return int(self.exit_file.read_text())
            except (OSError, ValueError):
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)
        return 0

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"kernel {self.pid}", timeout)
            time.sleep(0.02)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class ForkProvisioner(LocalProvisioner):
    """Launch the kernel as a fork of :attr:`server`; launch it plainly when that is not possible.

    Set :attr:`server` (a :class:`ForkServer` or ``None``), :attr:`log` (the
    kernels' log file) and :attr:`note` (called with a one-line reason when
    the kernel is launched plainly) before starting the kernel.
    """

    server: ForkServer | None = None
    log: Path | None = None
    note: Callable[[str], None] | None = None
    forked = False

    async def launch_kernel(self, cmd: list[str], **kwargs: Any):
        argv = _kernel_argv(cmd)
        reason = "the fork server did not start" if self.server is None else None
        if argv is None:
            reason = f"the kernel command is not {sys.executable} -m ipykernel_launcher: {' '.join(cmd)}"
        if reason is None:
            cwd = str(kwargs.get("cwd") or os.getcwd())
            log = self.log or Path(os.devnull)
            try:
                env = dict(kwargs.get("env") or os.environ)
                env["JPY_PARENT_PID"] = str(os.getpid())  # as jupyter_client's launcher sets it
                pid = self.server.fork(argv, cwd=cwd, env=env, log=log)
            except ForkFailed as exc:
                if exc.closed:
                    raise
                reason = str(exc)
            else:
                self.process = ForkedProcess(pid, self.server.exit_dir / str(pid))
                self.pid = self.pgid = pid  # the child leads a new session before the server answers
                self.cwd = cwd
                self.forked = True
                return self.connection_info
        if self.note is not None:
            self.note(f"kernel started without the fork server: {reason}")
        return await super().launch_kernel(cmd, **kwargs)


# --------------------------------------------------------------------------- helpers


def _kernel_argv(cmd: list[str]) -> list[str] | None:
    """The arguments for ``IPKernelApp`` when ``cmd`` runs this interpreter's ``ipykernel_launcher``."""
    if len(cmd) < 3 or cmd[1:3] != ["-m", "ipykernel_launcher"]:
        return None
    if os.path.abspath(cmd[0]) != os.path.abspath(sys.executable):
        return None
    return list(cmd[3:])


class _KeepOut:
    """An import hook that refuses :data:`_KEPT_OUT` while the server imports."""

    @staticmethod
    def find_spec(name, path=None, target=None):  # None: the other finders look for it
        if any(name == kept or name.startswith(kept + ".") for kept in _KEPT_OUT):
            raise ImportError(f"{name} is left to the kernel")


def _preload(modules: list[str]) -> None:
    import importlib

    os.environ.setdefault("MPLBACKEND", _INLINE_BACKEND)  # what IPKernelApp.init_gui_pylab sets
    sys.meta_path.insert(0, _KeepOut)
    try:
        for name in [*modules, *KERNEL_MODULES]:
            try:
                importlib.import_module(name)
            except BaseException as exc:  # noqa: BLE001 - a module the kernel will import (and report) itself
                print(f"nblib fork server: not preloaded: {name} ({type(exc).__name__}: {exc})", file=sys.stderr)
    finally:
        sys.meta_path.remove(_KeepOut)
    for name in [m for m in sys.modules if any(m == k or m.startswith(k + ".") for k in _KEPT_OUT)]:
        del sys.modules[name]  # half-imported by a refused import: the kernel imports them afresh
    threads = [Path(f"/proc/self/task/{task}/comm").read_text().strip() for task in os.listdir("/proc/self/task")]
    if len(threads) > 1:  # native threads (allocators, BLAS) are known to handle fork; Python ones would not
        print(
            f"nblib fork server: threads besides the main one after preloading: {', '.join(threads[1:])}",
            file=sys.stderr,
        )


def _serve() -> None:
    """The server's loop: read requests from stdin, answer on stdout, exit at end of input."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the runner decides when kernels stop
    if sys.path and (sys.path[0] in ("", os.getcwd())):
        del sys.path[0]  # as ipykernel_launcher does; IPython adds '' back in the kernel
    requests, answer = sys.stdin.buffer.fileno(), sys.stdout.buffer.fileno()
    sys.stdout = sys.stderr  # stray prints go to the log, never into the answers
    children: dict[int, str | None] = {}  # pid -> folder for its exit code
    buffer = b""
    while True:
        ready, _, _ = select.select([requests], [], [], 0.2)
        _reap(children)
        if not ready:
            continue
        chunk = os.read(requests, 65536)
        if not chunk:
            break
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            request = json.loads(line)
            if "preload" in request:
                _preload(request["preload"])
                continue
            try:
                pid = _fork(request)
            except OSError as exc:
                reply = {"error": f"{type(exc).__name__}: {exc}"}
            else:
                children[pid] = request.get("exit_dir")
                reply = {"pid": pid}
            os.write(answer, json.dumps(reply).encode() + b"\n")
    for pid in children:  # the runner is gone: so are its kernels
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
    _reap(children)


def _reap(children: dict[int, str | None]) -> None:
    """Collect kernels that ended; write each one's exit code where its provisioner looks."""
    for pid in list(children):
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done, status = pid, None
        if not done:
            continue
        folder = children.pop(pid)
        if folder and status is not None:
            try:
                tmp = Path(folder) / f".{pid}.tmp"
                tmp.write_text(str(os.waitstatus_to_exitcode(status)))
                os.replace(tmp, Path(folder) / str(pid))
            except OSError:
                pass


def _fork(request: dict) -> int:
    """Fork a kernel; return once it leads its own session."""
    sys.stderr.flush()
    started_r, started_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the kernel
        code = 1
        try:
            os.close(started_r)
            _become_kernel(request, started_w)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:  # noqa: BLE001 - reported in kernels.log
            import traceback

            traceback.print_exc()
        finally:
            try:
                import atexit

                atexit._run_exitfuncs()
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)
    os.close(started_w)
    try:
        ready, _, _ = select.select([started_r], [], [], 10.0)
        if not ready or not os.read(started_r, 1):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
            raise OSError("the forked kernel died before it started")
    finally:
        os.close(started_r)
    return pid


def _become_kernel(request: dict, started: int) -> None:
    os.setsid()
    for signum in (signal.SIGTERM, signal.SIGCHLD):
        signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    out = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(out)
    os.close(null)
    os.write(started, b"1")
    os.close(started)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.stdout = sys.__stdout__
    if "numpy.random" in sys.modules:  # a fresh seed, as a freshly started kernel has
        sys.modules["numpy.random"].seed()
    import ipykernel_launcher
    from ipykernel import kernelapp

    sys.argv = [ipykernel_launcher.__file__, *request["argv"]]
    argv = list(request["argv"])
    if os.environ.get("JPY_PARENT_PID"):  # ipykernel read its default when the server imported it
        argv.append(f"--IPKernelApp.parent_handle={int(os.environ['JPY_PARENT_PID'])}")
    kernelapp.launch_new_instance(argv=argv)


if __name__ == "__main__":
    _serve()
    os._exit(0)  # no interpreter teardown of everything preloaded: the runner waits for this exit
