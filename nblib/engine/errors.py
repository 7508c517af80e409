"""Errors the engine turns into exit codes.

0 success · 1 a stage failed · 2 bad usage, params or input data · 3 a gate said no.
"""

from __future__ import annotations

from nblib.common.text import clip

__all__ = ["GateFailed", "InputDataError", "NblibError", "ParamsError", "StageFailed"]


class NblibError(Exception):
    """Base class; ``exit_code`` is what the CLI exits with."""

    exit_code = 1


class _OneLine(NblibError):
    """An error whose message is one line of readable length, whatever values it echoes.

    Line breaks become ``\\n``; a message longer than :attr:`max_chars` keeps its
    start and end, cut in the middle with ``…``.
    """

    max_chars = 600

    def __init__(self, message: str = ""):
        text = str(message)
        if not text.isprintable():
            text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
        super().__init__(clip(text, self.max_chars))


class ParamsError(_OneLine, ValueError):
    """Bad params or usage: one line naming the file and key."""

    exit_code = 2


class InputDataError(_OneLine, ValueError):
    """Bad input data: one line naming the file and column."""

    exit_code = 2


class StageFailed(NblibError):
    """A stage raised; the executed notebook and its HTML keep the traceback."""

    exit_code = 1

    def __init__(self, stage: str, reason: str):
        super().__init__(f"stage {stage} failed: {reason}")
        self.stage = stage
        self.reason = reason


class GateFailed(NblibError):
    """A quality or evaluation gate said no."""

    exit_code = 3
