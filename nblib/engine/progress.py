"""The live progress display of a run: one line per stage with status, cells done and seconds.

On a terminal (or with ``NBLIB_PROGRESS=1``) it is a ``rich`` display; otherwise
plain ``[nblib] ...`` lines on stderr, one when a stage starts and one when it ends.
"""

from __future__ import annotations

import os
import sys
from typing import Any

__all__ = ["Progress"]


class Progress:
    """A live display: one line per stage with status, cells done and seconds."""

    def __init__(self, enabled: bool, names: list[str]):
        self.enabled = enabled and (sys.stderr.isatty() or os.environ.get("NBLIB_PROGRESS") == "1")
        self.plain = enabled and not self.enabled
        self.names = names
        self._tasks: dict[str, Any] = {}

    def __enter__(self):
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
            )
            from rich.progress import Progress as RichProgress

            self._progress = RichProgress(
                TextColumn("{task.description:<16}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[status]}"), TimeElapsedColumn(), transient=False,
            )
            self._progress.start()
            for name in self.names:
                self._tasks[name] = self._progress.add_task(name, total=None, start=False, status="waiting")
        return self

    def __exit__(self, *exc):
        if self.enabled:
            self._progress.stop()
        return False

    def start(self, name: str, n_cells: int) -> None:
        if self.enabled:
            self._progress.start_task(self._tasks[name])
            self._progress.update(self._tasks[name], status="running", total=n_cells)
        elif self.plain:
            print(f"[nblib] {name} ...", file=sys.stderr, flush=True)

    def cell_callback(self, name: str):
        def on_cell(cell, cell_index, **_):
            if self.enabled:
                self._progress.update(self._tasks[name], completed=cell_index + 1)
        return on_cell

    def note(self, text: str) -> None:
        """A one-line message to the user (e.g. why a stage runs again), above the display."""
        if self.enabled:
            self._progress.console.print(f"nblib: {text}", markup=False, highlight=False)
        else:
            print(f"nblib: {text}", file=sys.stderr, flush=True)

    def done(self, name: str, status: str, seconds: float | None) -> None:
        if self.enabled:
            task = self._tasks[name]
            self._progress.update(task, status=status, total=self._progress.tasks[task].completed or 1)
            self._progress.stop_task(task)
        elif self.plain:
            print(f"[nblib] {name} {status} ({seconds or 0:.1f}s)", file=sys.stderr, flush=True)
