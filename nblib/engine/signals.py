"""Ctrl-C and SIGTERM during a run: raise once, then let the clean-up finish.

Inside :func:`interrupts`, the first SIGINT or SIGTERM raises
:class:`InterruptSignal` (a ``KeyboardInterrupt``, so no ``except Exception``
in Papermill or nbclient swallows it) wherever the main thread is; further
signals while the runner cleans up are remembered but raise nothing. The run
then ends with :class:`Interrupted`, whose exit code is 130 (SIGINT) or
143 (SIGTERM), as a shell reports a process killed by that signal.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

from nblib.engine.errors import NblibError

__all__ = ["Interrupted", "InterruptSignal", "interrupts"]

_NAMES = {signal.SIGINT: "SIGINT (Ctrl-C)", signal.SIGTERM: "SIGTERM"}


class InterruptSignal(KeyboardInterrupt):
    """Raised in the main thread by the first SIGINT/SIGTERM of a run."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signum)
        self.signum = signum


class Interrupted(NblibError):
    """The run was stopped by a signal; exit code 128 + the signal number."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(f"interrupted by {_NAMES.get(signum, f'signal {signum}')}")
        self.signum = signum
        self.exit_code = 128 + signum

    @classmethod
    def from_exception(cls, exc: BaseException) -> Interrupted:
        return cls(getattr(exc, "signum", signal.SIGINT))


@contextlib.contextmanager
def interrupts() -> Iterator[None]:
    """Turn the first SIGINT/SIGTERM into :class:`InterruptSignal`; restore handlers after.

    Outside the main thread (signals cannot be handled there) this does
    nothing. A SIGINT that the caller ignores (``nohup``, a background job)
    stays ignored.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired: list[int] = []

    def handler(signum, frame):
        fired.append(signum)
        if len(fired) == 1:
            raise InterruptSignal(signum)

    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(signum) is signal.SIG_IGN and signum == signal.SIGINT:
            continue
        previous[signum] = signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
