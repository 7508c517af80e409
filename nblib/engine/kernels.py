"""Jupyter kernels for a run: started one stage ahead, stopped with everything they started.

A :class:`KernelPool` starts the next stage's kernel in a background thread
(heavy imports already done, so the stage does not wait for start-up), hands
each kernel to exactly one stage, and stops it afterwards. Every kernel's
process group is registered with the run's :class:`~nblib.engine.processes.Reaper`,
so it dies with the runner even when the runner is killed outright.

On Linux each kernel is a fork of one :class:`~nblib.engine.forkserver.ForkServer`
per run, which imported the warm-up modules once: a kernel is ready in a
fraction of a second instead of seconds. When forking is not possible (another
system, a kernel that is not this interpreter's ipykernel, a server that
failed, ``NBLIB_FORK_KERNELS=0``) kernels start plainly, with a one-line note
in ``kernels.log``.

Stopping a kernel on an interrupt sends it a kernel interrupt (SIGINT to its
process group, through the kernel manager), then shuts it down and kills
whatever of its process tree is left (joblib/loky workers, resource trackers).
Kernel-manager calls made while stopping run in a short-lived helper thread:
after an interrupt, the main thread's event loop still holds nbclient's
half-finished tasks, one of them blocked on the dead kernel's socket.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nblib.common.text import one_line
from nblib.engine.errors import NblibError
from nblib.engine.processes import Reaper, descendants, kill_tree

__all__ = ["KernelPool", "KernelStartFailed", "imported_modules", "reset_event_loop"]

#: Seconds an interrupted cell gets to stop by itself before its kernel is killed.
INTERRUPT_GRACE = 0.3


class KernelStartFailed(NblibError):
    """A kernel did not start (the stage cannot run)."""


class KernelPool:
    """Kernels for one run.

    Parameters
    ----------
    kernel_name : str
        Kernel spec name, e.g. ``"python3"``.
    cwd : str
        Working directory of the kernels.
    warmup_code : str
        Run in each kernel before it is handed out (imports).
    log : Path
        File that receives what the kernels print outside notebooks.
    reaper : Reaper, optional
        Told about every kernel's process group (and the fork server's).
    ahead : int, optional
        How many kernels :meth:`prestart` keeps on their way; default 2 when
        kernels are forked (a start costs less than a stage), else 1.
    fork : bool
        Fork kernels from a server that imported the warm-up modules once
        (started here, in the background); ``False`` starts each kernel plainly.
    """

    def __init__(
        self,
        kernel_name: str,
        cwd: str,
        warmup_code: str,
        log: Path,
        reaper: Reaper | None = None,
        *,
        ahead: int | None = None,
        fork: bool = True,
    ):
        if ahead is not None and (not isinstance(ahead, int) or ahead < 1):
            raise ValueError(f"The 'ahead' parameter of KernelPool must be an int >= 1. Got {ahead!r} instead.")
        self._spec = (kernel_name, cwd, warmup_code, Path(log))
        self._reaper = reaper
        self._ahead = ahead
        self._pending: deque[_Starter] = deque()
        self._live: list[Any] = []
        self._closed = False
        self._server: Any = None  # a ForkServer once started
        self._server_lock = threading.Lock()
        self._server_known = threading.Event()  # started, or known not to be
        self._notes: set[str] = set()
        if fork:
            threading.Thread(target=self._start_server, daemon=True, name="nblib-fork-server").start()
        else:
            self._note("kernels start without a fork server: fork=False")
            self._server_known.set()

    def __enter__(self) -> KernelPool:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        self.close(interrupt=exc_type is not None and issubclass(exc_type, KeyboardInterrupt))
        return False

    @property
    def forking(self) -> bool:
        """Whether kernels are forked from a server (waits until that is known)."""
        self._server_known.wait(timeout=60)
        return self._server is not None

    def prestart(self) -> None:
        """Start kernels in the background for the next stages, up to ``ahead`` on their way."""
        if self._ahead is None:
            self._ahead = 2 if self.forking else 1
        while len(self._pending) < self._ahead and not self._closed:
            self._pending.append(_Starter(self._spec, self._reaper, self._fork_server, self._note))

    def take(self) -> Any:
        """A started kernel manager for one stage; start one now if none is ready.

        Raises
        ------
        KernelStartFailed
            The kernel did not start (its output is in the run's ``kernels.log``).
        """
        starter = (
            self._pending.popleft()
            if self._pending
            else _Starter(self._spec, self._reaper, self._fork_server, self._note)
        )
        try:
            km = starter.result()
        except BaseException:  # interrupted while waiting: the kernel on its way must not survive
            starter.cancel()
            raise
        if km is None:  # the warm start failed: one plain attempt, reporting why
            try:
                km = _start_kernel(self._spec, self._reaper, warm=False, server=None)
            except Exception as exc:  # noqa: BLE001 - any failure to launch is one line
                raise KernelStartFailed(
                    f"kernel {self._spec[0]!r} did not start: {one_line(exc, first=True, typed=True)}"
                ) from None
        self._live.append(km)
        return km

    def stop(self, km: Any, *, interrupt: bool = False) -> None:
        """Stop a kernel taken from this pool and everything it started."""
        if km in self._live:
            self._live.remove(km)
        _stop_kernel(km, self._reaper, interrupt=interrupt)

    def close(self, *, interrupt: bool = False) -> None:
        """Stop every kernel of the run (interrupting running ones first if asked)."""
        self._closed = True
        for km in list(self._live):
            self.stop(km, interrupt=interrupt)
        with self._server_lock:
            server, self._server = self._server, None
        if server is not None:
            server.closing()  # a start waiting for the server gives up now
        while self._pending:
            self._pending.popleft().cancel()
        if server is not None:
            pid = server.pid
            server.close()
            if self._reaper is not None and pid:
                self._reaper.forget(pid)

    # ------------------------------------------------------------------ the fork server

    def _start_server(self) -> None:
        kernel_name, cwd, warmup_code, log = self._spec
        reason: str | None = "unknown"
        try:
            from nblib.engine.forkserver import (
                ForkFailed,
                ForkServer,
                fork_unavailable,
                preload_modules,
            )

            reason = fork_unavailable() or _not_forkable(kernel_name)
            if reason is None:
                server = ForkServer(preload_modules(warmup_code), cwd, log)
                with self._server_lock:
                    if self._closed:
                        raise ForkFailed("the pool is closed")
                    server.start()
                    self._server = server
                    if self._reaper is not None:
                        self._reaper.watch(server.pid)
        except Exception as exc:  # noqa: BLE001 - kernels then start plainly
            reason = f"the fork server did not start ({type(exc).__name__}: {exc})"
        finally:
            if reason is not None:
                self._note(f"kernels start without a fork server: {reason}")
            self._server_known.set()

    def _fork_server(self) -> Any:
        self._server_known.wait(timeout=60)
        return self._server

    def _note(self, line: str) -> None:
        if line not in self._notes:
            self._notes.add(line)
            try:
                with open(self._spec[3], "a", encoding="utf-8") as log:
                    log.write(f"nblib: {line}\n")
            except OSError:
                pass


def reset_event_loop() -> None:
    """Drop the event loop an interrupted notebook execution left behind in this thread.

    nbclient's tasks are still pending in it (one blocked on a kernel socket);
    the next Papermill call in this thread would run them first. Closing the
    loop makes ``jupyter_core`` start a fresh one.
    """
    import asyncio

    try:
        from jupyter_core.utils import ensure_event_loop

        loop = ensure_event_loop()
        if loop.is_running():
            return
        # dropped on purpose: no "Task exception was never retrieved" / "Task was destroyed" noise
        loop.set_exception_handler(lambda loop, context: None)
        for task in asyncio.all_tasks(loop):
            task._log_destroy_pending = False
            task.get_coro().close()  # no "coroutine was never awaited" warning either
        loop.close()
    except Exception:  # noqa: BLE001 - best effort; nothing else runs in this thread after a CLI interrupt
        pass


#: Evaluated in a kernel (as a user expression: no cell, no output, no history): its
#: top-level modules and their files, as JSON (a string's repr is never abbreviated).
_MODULES_EXPRESSION = (
    "__import__('json').dumps({k: getattr(v, '__file__', None) for k, v in "
    "list(__import__('sys').modules.items()) if '.' not in k and isinstance(k, str)})"
)


def imported_modules(km: Any, timeout: float = 10.0) -> dict[str, str | None] | None:
    """The top-level modules a running kernel has imported (name → file), or ``None`` if it cannot say.

    Asks with a silent execute request whose ``user_expressions`` read ``sys.modules``;
    a kernel that is not IPython, is busy past ``timeout`` or has died gives ``None``.
    """
    import ast
    import json

    import zmq
    from jupyter_client.blocking import BlockingKernelClient

    kc, context = None, zmq.Context()  # its own, closed here: nothing left open per stage
    try:
        kc = BlockingKernelClient(context=context, **km.get_connection_info(session=True))
        kc.start_channels(shell=True, iopub=False, stdin=False, hb=False, control=False)
        msg_id = kc.execute("", silent=True, store_history=False, user_expressions={"m": _MODULES_EXPRESSION})
        deadline = time.monotonic() + timeout
        while True:
            reply = kc.get_shell_msg(timeout=max(0.01, deadline - time.monotonic()))
            if reply.get("parent_header", {}).get("msg_id") == msg_id:
                break
            if time.monotonic() > deadline:
                return None
        found = reply["content"]["user_expressions"]["m"]
        if found.get("status") != "ok":
            return None
        modules = json.loads(ast.literal_eval(found["data"]["text/plain"]))
        return (
            {str(k): (v if isinstance(v, str) else None) for k, v in modules.items()}
            if isinstance(modules, dict)
            else None
        )
    except Exception:  # noqa: BLE001 - no answer (timeout, dead kernel, another language): the caller falls back
        return None
    finally:
        try:
            if kc is not None:
                kc.stop_channels()
        except Exception:  # noqa: BLE001
            pass
        context.destroy(linger=0)


# --------------------------------------------------------------------------- helpers


class _Starter:
    """Start one kernel in a background thread; hand it out once, or stop it if cancelled."""

    def __init__(self, spec: tuple, reaper: Reaper | None, server: Callable[[], Any], note: Callable[[str], None]):
        self._km = None
        self._server = server
        self._note = note
        self._cancelled = threading.Event()
        self._launched = threading.Event()  # the process exists and is known to the reaper (or failed)
        self._reaper = reaper
        self._thread = threading.Thread(target=self._run, args=(spec,), daemon=True, name="nblib-kernel-start")
        self._thread.start()

    def _run(self, spec: tuple) -> None:
        try:
            server = self._server()
            if self._cancelled.is_set():  # closed while the fork server was being set up
                return
            km = _start_kernel(
                spec,
                self._reaper,
                warm=True,
                launched=self._launched,
                cancelled=self._cancelled,
                server=server,
                note=self._note,
            )
        except Exception:  # noqa: BLE001 - take() retries plainly and reports the reason
            km = None
        finally:
            self._launched.set()
        if km is not None and self._cancelled.is_set():
            _stop_kernel(km, self._reaper, interrupt=False)
            km = None
        self._km = km

    def result(self) -> Any:
        self._thread.join()
        return self._km

    def cancel(self, wait: float = 3.0) -> None:
        """Stop the kernel when it is up; wait (briefly) until its process is registered."""
        self._cancelled.set()
        self._launched.wait(timeout=wait)
        if not self._thread.is_alive() and self._km is not None:
            km, self._km = self._km, None
            _stop_kernel(km, self._reaper, interrupt=False)


def _start_kernel(
    spec: tuple,
    reaper: Reaper | None,
    *,
    warm: bool,
    launched: threading.Event | None = None,
    cancelled: threading.Event | None = None,
    server: Any = None,
    note: Callable[[str], None] | None = None,
) -> Any:
    from jupyter_client.manager import KernelManager

    kernel_name, cwd, warmup_code, log = spec
    km = KernelManager(kernel_name=kernel_name)
    if server is not None:  # launched as a fork of the server (or plainly, if that fails)
        import uuid

        from nblib.engine.forkserver import ForkProvisioner

        km.kernel_id = str(uuid.uuid4())
        km.provisioner = ForkProvisioner(kernel_id=km.kernel_id, kernel_spec=km.kernel_spec, parent=km)
        km.provisioner.server, km.provisioner.log, km.provisioner.note = server, log, note
    try:
        with open(log, "ab") as sink:  # kernel chatter goes to the run's kernels.log
            km.start_kernel(cwd=cwd, stdout=sink, stderr=sink)
        km._nblib_group = _group(km)
        if reaper is not None and km._nblib_group:
            reaper.watch(km._nblib_group)
        if launched is not None:
            launched.set()
        if warm and not (cancelled is not None and cancelled.is_set()):
            kc = km.client()
            kc.start_channels()
            try:
                kc.wait_for_ready(timeout=60)
                kc.execute_interactive(warmup_code, timeout=60, store_history=False)
            finally:
                kc.stop_channels()
    except BaseException:
        if km.has_kernel:
            _stop_kernel(km, reaper, interrupt=False)
        raise
    return km


def _stop_kernel(km: Any, reaper: Reaper | None, *, interrupt: bool) -> None:
    """Interrupt (optionally), shut down and kill the kernel's whole process tree.

    Every step runs even if a signal arrives meanwhile; that signal's
    ``KeyboardInterrupt`` is raised once the kernel is gone.
    """
    if km is None:
        return
    pid = getattr(getattr(km, "provisioner", None), "pid", None)
    group = getattr(km, "_nblib_group", None)
    tree: list[int] = []

    def interrupt_cell():
        if interrupt and km.has_kernel:
            _in_thread(km.interrupt_kernel, timeout=1.0)
            time.sleep(INTERRUPT_GRACE)

    def shut_down():
        tree.extend(descendants(pid) if pid else [])
        _in_thread(lambda: km.shutdown_kernel(now=True), timeout=3.0)

    def kill_leftovers():
        # A reaped kernel's pid (and an empty group's id) may already belong to someone else:
        # signal the leader only while it lives, the group only while it has members.
        process = getattr(getattr(km, "provisioner", None), "process", None)
        if process is not None and process.poll() is None:
            kill_tree(pid, group)
        if tree:  # workers, reparented when the kernel died
            kill_tree(tree[0], group)
            for child in tree[1:]:
                kill_tree(child)

    pending: KeyboardInterrupt | None = None
    for step in (interrupt_cell, shut_down, kill_leftovers):
        try:
            step()
        except KeyboardInterrupt as exc:
            pending = pending or exc
        except Exception:  # noqa: BLE001 - clean-up goes on with the next step
            pass
    if reaper is not None and group:
        reaper.forget(group)
    if pending is not None:
        raise pending


def _not_forkable(kernel_name: str) -> str | None:
    """Why kernel ``kernel_name`` cannot be forked from this interpreter, or ``None``."""
    import os
    import sys

    from jupyter_client.kernelspec import KernelSpecManager

    try:
        spec = KernelSpecManager().get_kernel_spec(kernel_name)
    except Exception as exc:  # noqa: BLE001 - the plain start reports it properly
        return f"no kernel spec {kernel_name!r} ({type(exc).__name__})"
    argv = list(spec.argv)
    pythons = {"python", f"python{sys.version_info[0]}", "python{}.{}".format(*sys.version_info[:2])}
    same_python = bool(argv) and (argv[0] in pythons or os.path.abspath(argv[0]) == os.path.abspath(sys.executable))
    if not same_python or argv[1:3] != ["-m", "ipykernel_launcher"]:
        return f"kernel {kernel_name!r} is not ipykernel on {sys.executable} ({' '.join(argv)})"
    if spec.metadata.get("kernel_provisioner"):
        return f"kernel {kernel_name!r} names its own provisioner"
    if spec.env:  # modules the server imported would not have seen them
        return f"kernel {kernel_name!r} sets environment variables ({', '.join(sorted(spec.env))})"
    return None


def _group(km: Any) -> int | None:
    import os

    provisioner = getattr(km, "provisioner", None)
    group = getattr(provisioner, "pgid", None)
    pid = getattr(provisioner, "pid", None)
    if not group and pid:
        try:
            group = os.getpgid(pid)
        except OSError:
            return None
    # never our own group: killing it would kill the runner
    return group if group and group != os.getpgrp() else None


def _in_thread(func, timeout: float) -> None:
    """Call ``func`` in a fresh thread (fresh event loop); give up waiting after ``timeout``."""
    errors: list[BaseException] = []

    def target():
        try:
            func()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True, name="nblib-kernel-stop")
    thread.start()
    thread.join(timeout)
