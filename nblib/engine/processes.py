"""Processes a run starts, and how they end with it.

A kernel is launched as the leader of its own process group (Jupyter's
launcher starts it in a new session), and what it starts — joblib/loky
workers, resource trackers — stays in that group. So ending a kernel means
ending its group, plus any descendant that left it.

The :class:`Reaper` covers the case where the runner cannot clean up: it is a
tiny separate process that holds the read end of a pipe from the runner and
the list of process groups the run started. When the runner exits — normally,
by an exception, or by SIGKILL — the pipe closes and the reaper kills every
group still on its list, then exits itself.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["Reaper", "alive", "descendants", "kill_tree"]

# Runs in its own session with nothing imported but os/signal/sys, so it starts
# in a few milliseconds and a Ctrl-C at the terminal does not reach it.
_REAPER_CODE = r"""
import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
groups = set()
for line in sys.stdin:
    sign, _, number = line.strip().partition(" ")
    if number.isdigit():
        (groups.add if sign == "+" else groups.discard)(int(number))
for group in groups:
    try:
        os.killpg(group, signal.SIGKILL)
    except OSError:
        pass
"""


class Reaper:
    """A watchdog process that kills the run's process groups when the runner goes.

    Use as a context manager; :meth:`watch` a group when it starts,
    :meth:`forget` it once it was ended. Leaving the ``with`` block (or the
    runner dying) closes the pipe and the reaper kills what is left.
    """

    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None

    def __enter__(self) -> Reaper:
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-S", "-c", _REAPER_CODE],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                text=True,
                bufsize=1,
            )
        except OSError:  # no reaper: the runner's own clean-up still runs
            self._proc = None
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def watch(self, group: int) -> None:
        self._send(f"+ {group}")

    def forget(self, group: int) -> None:
        self._send(f"- {group}")

    def close(self, timeout: float = 5.0) -> None:
        """Close the pipe: the reaper kills the groups still watched and exits."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            proc.stdin.close()
            proc.wait(timeout=timeout)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()

    def _send(self, line: str) -> None:
        if self._proc is not None:
            try:
                self._proc.stdin.write(line + "\n")
                self._proc.stdin.flush()
            except (OSError, ValueError):  # the reaper died: nothing to tell it
                pass


def alive(pid: int) -> bool:
    """Whether a process with ``pid`` exists (zombies count as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, grandchildren, ...)."""
    try:
        import psutil
    except ImportError:
        return _descendants_from_proc(pid)
    try:
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []


def kill_tree(pid: int, group: int | None = None, *, grace: float = 0.0) -> list[int]:
    """Kill ``pid``, its process group and every descendant; return the pids signalled.

    With ``grace`` > 0, send SIGTERM first and SIGKILL to what is still alive
    after ``grace`` seconds.
    """
    pids = [pid, *descendants(pid)]
    for sig in (signal.SIGTERM, signal.SIGKILL) if grace > 0 else (signal.SIGKILL,):
        if group is not None:
            try:
                os.killpg(group, sig)
            except OSError:
                pass
        for p in pids:
            try:
                os.kill(p, sig)
            except OSError:
                pass
        if sig == signal.SIGTERM:
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and any(alive(p) for p in pids):
                time.sleep(0.05)
    return pids


def _descendants_from_proc(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found
