"""The live progress display of a run: one line per stage with status, cells done and seconds.

While a stage runs its line shows the markdown heading of the running cell and
whatever the library reports from inside it (folds, trials: see
:func:`report_progress`). On a terminal (or with ``NBLIB_PROGRESS=1``) it is a
``rich`` display; otherwise plain ``[nblib] ...`` lines on stderr: one when a
stage starts (with why it runs), one per section heading it reaches, inner
progress at most every 15 s, and one when it ends.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from nblib.common.text import one_line

__all__ = ["Progress", "progress_file", "report_progress"]


def progress_file(run_dir: str | Path, stage: str) -> Path:
    """Where a running stage says what it is doing, one short line (``.progress/<stage>`` in the run folder)."""
    return Path(run_dir) / ".progress" / stage


def report_progress(run_dir: str | Path, stage: str, text: str) -> None:
    """Replace the stage's progress line (atomically; a reader never sees half a line). Never raises."""
    path = progress_file(run_dir, stage)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(one_line(text, 200), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass


class Progress:
    """A live display: one line per stage with status, cells done and seconds."""

    def __init__(self, enabled: bool, names: list[str]):
        self.enabled = enabled and (sys.stderr.isatty() or os.environ.get("NBLIB_PROGRESS") == "1")
        self.plain = enabled and not self.enabled
        self.names = names
        self._tasks: dict[str, Any] = {}
        self._started: dict[str, float] = {}
        self._heading: dict[str, str] = {}
        self._inner: dict[str, str] = {}
        self._cell: dict[str, int] = {}

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
                TextColumn("{task.description:<16}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[status]}"),
                TimeElapsedColumn(),
                transient=False,
            )
            self._progress.start()
            for name in self.names:
                self._tasks[name] = self._progress.add_task(name, total=None, start=False, status="waiting")
        return self

    def __exit__(self, *exc):
        if self.enabled:
            self._progress.stop()
        return False

    def start(self, name: str, n_cells: int, why: str = "") -> None:
        self._started[name] = time.monotonic()
        if self.enabled:
            self._progress.start_task(self._tasks[name])
            self._progress.update(self._tasks[name], status="running", total=n_cells)
            if why:
                self.note(f"{name} runs: {why}")
        elif self.plain:
            print(f"[nblib] {name} runs: {why}" if why else f"[nblib] {name} ...", file=sys.stderr, flush=True)

    def cell_hooks(self, name: str) -> dict[str, Any]:
        """nbclient hooks (``on_cell_start``, ``on_cell_executed``) that follow stage ``name``."""

        def on_start(cell, cell_index, **_):
            self._cell[name] = cell_index
            if cell.get("cell_type") == "markdown":
                heading = _heading(cell.get("source", ""))
                if heading and heading != self._heading.get(name):
                    self._heading[name] = heading
                    self._inner.pop(name, None)  # what the library said belongs to the section before
                    self._show(name, plain_line=True)

        def on_executed(cell, cell_index, **_):
            if self.enabled:
                self._progress.update(self._tasks[name], completed=cell_index + 1)

        return {"on_cell_start": on_start, "on_cell_executed": on_executed}

    def where(self, name: str) -> str:
        """Where stage ``name`` is: ``cell 7 (under "Search")``, for error messages."""
        if name not in self._cell:
            return "before its first cell"
        heading = self._heading.get(name)
        return f"cell {self._cell[name]}" + (f' (under "{heading}")' if heading else "")

    def _show(self, name: str, *, plain_line: bool = False) -> None:
        parts = [p for p in (self._heading.get(name), self._inner.get(name)) if p]
        if self.enabled and name in self._tasks:
            self._progress.update(self._tasks[name], status=" · ".join(parts) or "running")
        elif self.plain and plain_line:
            elapsed = time.monotonic() - self._started.get(name, time.monotonic())
            print(f"[nblib] {name}: {' · '.join(parts)} ({elapsed:.0f}s)", file=sys.stderr, flush=True)

    @contextlib.contextmanager
    def watch(self, name: str, path: Path, every: float = 0.5, plain_every: float = 15.0):
        """While a stage runs, show the line it writes to ``path`` (see :func:`report_progress`).

        On a terminal the line replaces the stage's status; in plain mode a changed
        line is printed at most every ``plain_every`` seconds.
        """
        stop = threading.Event()
        path.unlink(missing_ok=True)

        def poll():
            last, printed = "", 0.0
            while not stop.wait(every):
                try:
                    text = path.read_text(encoding="utf-8").strip()
                except OSError:
                    continue
                if not text or text == last:
                    continue
                last = self._inner[name] = text
                due = time.monotonic() - printed >= plain_every
                if due:
                    printed = time.monotonic()
                self._show(name, plain_line=due)

        thread = threading.Thread(target=poll, name=f"progress-{name}", daemon=True)
        if self.enabled or self.plain:
            thread.start()
        try:
            yield
        finally:
            stop.set()
            if thread.is_alive():
                thread.join(timeout=2)
            path.unlink(missing_ok=True)
            self._inner.pop(name, None)

    def note(self, text: str) -> None:
        """A one-line message to the user (e.g. why a stage runs again), above the display."""
        if self.enabled:
            self._progress.console.print(f"nblib: {text}", markup=False, highlight=False)
        else:
            print(f"nblib: {text}", file=sys.stderr, flush=True)

    def done(self, name: str, status: str, seconds: float | None) -> None:
        """Stage ``name`` ended with ``status`` (a word, or e.g. ``cached from RUN``)."""
        if self.enabled:
            task = self._tasks[name]
            self._progress.update(task, status=status, total=self._progress.tasks[task].completed or 1)
            self._progress.stop_task(task)
        elif self.plain:
            print(f"[nblib] {name} {status} ({seconds or 0:.1f}s)", file=sys.stderr, flush=True)


def _heading(source: Any) -> str:
    """The first markdown heading of a cell, without its ``#`` marks (cut to 60 characters)."""
    text = "".join(source) if isinstance(source, list) else str(source)
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            title = line.strip().lstrip("#").strip()
            return title if len(title) <= 60 else title[:59] + "…"
    return ""
