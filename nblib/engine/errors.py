"""Errors the engine turns into exit codes.

0 success · 1 a stage failed · 2 bad usage, params or input data · 3 a gate said no.
"""

from __future__ import annotations

__all__ = ["NblibError", "ParamsError", "InputDataError", "StageFailed", "GateFailed"]


class NblibError(Exception):
    """Base class; ``exit_code`` is what the CLI exits with."""

    exit_code = 1


class ParamsError(NblibError, ValueError):
    """Bad params or usage: one line naming the file and key."""

    exit_code = 2


class InputDataError(NblibError, ValueError):
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
