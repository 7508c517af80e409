"""Exploratory summaries: one table that says what each column holds."""

from __future__ import annotations

import pandas as pd

__all__ = ["overview", "warnings_frame", "numeric_columns"]


def overview(frame: pd.DataFrame, examples: int = 2) -> pd.DataFrame:
    """One row per column: dtype, missing share, distinct values and example values."""
    rows = []
    for column in frame.columns:
        s = frame[column]
        sample = s.dropna().drop_duplicates().head(examples).astype(str).str.slice(0, 40)
        rows.append(
            {
                "column": column,
                "dtype": str(s.dtype),
                "missing": round(float(s.isna().mean()), 4),
                "distinct": int(s.nunique()),
                "examples": " | ".join(sample),
            }
        )
    return pd.DataFrame(rows).set_index("column")


def warnings_frame(warnings: list[str]) -> pd.DataFrame:
    """Warnings as a one-column table (empty table when there are none)."""
    return pd.DataFrame({"warning": warnings}, index=pd.RangeIndex(1, len(warnings) + 1))


def numeric_columns(frame: pd.DataFrame, exclude: list[str] = ()) -> list[str]:
    """Names of the numeric columns of ``frame``, in order, leaving out ``exclude`` (the target).

    >>> numeric_columns(pd.DataFrame({"a": [1], "b": ["x"], "y": [0.5]}), exclude=["y"])
    ['a']
    """
    return list(frame.drop(columns=[c for c in exclude if c in frame.columns]).select_dtypes("number").columns)
