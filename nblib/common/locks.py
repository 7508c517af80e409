"""One file lock for every layer: an exclusive ``flock`` on a lock file for a ``with`` block.

It serializes short critical sections between processes: rewriting ``reports/index.html``,
computing one cache entry, opening (and perhaps creating) one tracking store. The kernel
drops the lock when the holder's process ends, however it ends, so a dead holder never
blocks anyone. (A run folder's ownership, with its holder note and heartbeat, is
:class:`nblib.engine.lock.RunLock`, built for that purpose.)

>>> import tempfile, pathlib
>>> with file_lock(pathlib.Path(tempfile.mkdtemp()) / ".lock") as held:
...     held
True
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["file_lock"]


@contextlib.contextmanager
def file_lock(path: str | Path, *, on_wait: Callable[[], object] | None = None) -> Iterator[bool]:
    """Hold an exclusive lock on ``path`` for the ``with`` block; wait while another process holds it.

    Parameters
    ----------
    path : str or Path
        The lock file; it and its folder are created when missing, and it stays after the
        block (waiters must share one file).
    on_wait : callable, optional
        Called once, before waiting, when another holder has the lock (to tell the user why
        nothing moves).

    Yields
    ------
    bool
        Whether the lock is held. Where the lock file cannot be created (a read-only folder)
        the block runs unlocked: whatever it writes there fails on its own.
    """
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield True
    finally:
        os.close(fd)  # closing the descriptor drops the lock
