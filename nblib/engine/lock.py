"""Who is writing a run folder: a lock, a heartbeat, and telling live runs from dead ones.

* :class:`RunLock` holds an exclusive ``flock`` on ``RUN/.nblib.lock`` while a
  run writes the folder. The kernel drops the lock when the process ends, however
  it ends, so a dead runner never blocks the folder. A second run is refused at
  once with one line naming the holder's pid.
* :func:`file_lock` (from :mod:`nblib.common.locks`) serializes short critical sections
  between processes (e.g. rewriting ``reports/index.html``).
* :class:`Heartbeat` calls a function every few seconds from a thread; the
  runner uses it to refresh ``runner.heartbeat`` in the manifest.
* :func:`effective_status` is what a reader should believe about a manifest
  that says ``running``: a runner whose pid is gone (same host) or whose
  heartbeat is stale is ``abandoned``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nblib.common.locks import file_lock
from nblib.engine.artifacts import NotWritable
from nblib.engine.errors import NblibError
from nblib.engine.processes import alive

__all__ = [
    "LOCK_NAME",
    "HEARTBEAT_SECONDS",
    "RunLocked",
    "RunLock",
    "file_lock",
    "Heartbeat",
    "runner_info",
    "effective_status",
]

LOCK_NAME = ".nblib.lock"
HEARTBEAT_SECONDS = 5.0
#: A heartbeat older than this from another host means its runner is gone.
STALE_SECONDS = 60.0
#: On the same host a live pid wins, unless its heartbeat is this old (the pid was reused).
STALE_SAME_HOST_SECONDS = 600.0


class RunLocked(NblibError):
    """Another live run holds the run folder."""

    exit_code = 2


class RunLock:
    """Exclusive lock on a run folder, held from ``acquire`` until ``release`` or process exit.

    Parameters
    ----------
    run_dir : Path
        The folder; it is created if missing.

    Raises
    ------
    RunLocked
        Another process holds the lock (``RUN: in use by another run (pid 123 on host)``).
    NotWritable
        The folder or its lock file cannot be created.
    """

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise NotWritable(f"{self.run_dir}: cannot write here ({exc.strerror}); choose a writable folder") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _read_holder(fd)
            os.close(fd)
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise NotWritable(f"{self.run_dir}: cannot lock the run folder ({exc.strerror})") from None
            raise RunLocked(
                f"{self.run_dir}: in use by another run ({holder}); wait for it to finish or stop it"
            ) from None
        try:  # tell a refused run who holds it
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        except OSError:  # a full disk: the lock still holds, only the note is missing
            pass
        self._fd = fd
        return self

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> bool:
        self.release()
        return False


class Heartbeat:
    """Call ``beat()`` every ``interval`` seconds from a daemon thread while in the ``with`` block.

    Exceptions from ``beat`` are swallowed: a missed heartbeat must never
    stop a run.
    """

    def __init__(self, beat: Callable[[], Any], interval: float = HEARTBEAT_SECONDS):
        self._beat = beat
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="nblib-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> bool:
        self._stop.set()
        self._thread.join(timeout=self._interval + 1)
        return False

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            with contextlib.suppress(Exception):
                self._beat()


def runner_info() -> dict[str, Any]:
    """What the manifest records about the process writing it."""
    return {"pid": os.getpid(), "host": socket.gethostname(), "heartbeat": now()}


def effective_status(manifest: dict[str, Any], *, at: dt.datetime | None = None) -> str:
    """The manifest's ``status``, except that a ``running`` run whose runner is gone is ``abandoned``.

    Gone means: on this host, its pid no longer exists, or its heartbeat is over
    10 minutes old; on another host, its heartbeat is over a minute old. A
    ``running`` manifest without runner information (written before runners
    recorded themselves) is ``unknown``.
    """
    status = manifest.get("status", "?")
    if status != "running":
        return status
    runner = manifest.get("runner") or {}
    pid, host = runner.get("pid"), runner.get("host")
    if not isinstance(pid, int) or not host:
        return "unknown"
    age = _age_seconds(runner.get("heartbeat"), at)
    if host == socket.gethostname():
        gone = not alive(pid) or (age is not None and age > STALE_SAME_HOST_SECONDS)
    else:
        gone = age is None or age > STALE_SECONDS
    return "abandoned" if gone else "running"


def now() -> str:
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


def _age_seconds(stamp: Any, at: dt.datetime | None) -> float | None:
    try:
        then = dt.datetime.fromisoformat(str(stamp))
    except ValueError:
        return None
    at = at or dt.datetime.now().astimezone()
    if then.tzinfo is None:
        then = then.astimezone()
    return (at - then).total_seconds()


def _read_holder(fd: int) -> str:
    try:
        text = os.pread(fd, 200, 0).decode(errors="replace").strip()
    except OSError:
        text = ""
    return text or "pid unknown"
