"""Duplicate records: found, counted and kept together, never dropped silently.

An *exact* duplicate repeats every column, target and text included. A *near*
duplicate repeats every column once identifiers are set aside, labels and text
are compared without case or extra spaces, and numbers to three significant
digits. Free text is always compared: two rows with different titles are two
records.

Rows in one duplicate group share a group id, so the split and the CV folds keep
each group on one side (:func:`nblib.ml.preprocess.split_train_test`).

>>> frame = pd.DataFrame({"id": ["a1", "b2", "c3"], "price": [1.0001, 1.0002, 5.0],
...                       "text": ["A  b", "a b", "c"]})
>>> duplicate_groups(frame).tolist()
[0, 0, 2]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from nblib.ml.parse import is_string

__all__ = ["identifier_columns", "duplicate_groups", "duplicate_report", "near_duplicate_key"]


def identifier_columns(frame: pd.DataFrame, exclude: list[str] = ()) -> list[str]:
    """Columns that name a record rather than describe it.

    Strings unique per row written as one token with a digit (``L000123``,
    ``a1b2-77``), and whole numbers unique per row whose name says id, key or
    number. Names and titles (several words) are not identifiers.
    """
    out = []
    for column in frame.columns:
        if column in exclude:
            continue
        s = frame[column].dropna()
        if len(s) < 2 or s.nunique() < 0.98 * len(s):
            continue
        if is_string(s):
            text = s.astype(str).str.strip()
            if text.str.fullmatch(r"[\w\-.:/#]*\d[\w\-.:/#]*").mean() > 0.98:
                out.append(column)
        elif pd.api.types.is_integer_dtype(s) and _id_like_name(str(column)):
            out.append(column)
    return out


def near_duplicate_key(frame: pd.DataFrame, exclude: list[str] = ()) -> pd.DataFrame:
    """The values two near duplicates share: labels and text normalized, numbers rounded."""
    key = pd.DataFrame(index=frame.index)
    for column in frame.columns:
        if column in exclude:
            continue
        s = frame[column]
        if pd.api.types.is_float_dtype(s):
            key[column] = _round_significant(s.to_numpy(dtype=float), 3)
        elif is_string(s):
            key[column] = s.astype("string").str.casefold().str.replace(r"\s+", " ", regex=True).str.strip()
        else:
            key[column] = s
    return key


def duplicate_groups(frame: pd.DataFrame, exclude: list[str] = (), *, ids: list[str] | None = None) -> pd.Series:
    """A group id per row: rows that are exact or near duplicates of each other share one.

    The id is the position of the group's first row, so a row without duplicates
    keeps its own position.

    Parameters
    ----------
    frame : DataFrame
    exclude : list of str
        Columns left out of the near-duplicate comparison (the target: two rows
        alike in every feature but with different outcomes are still one record
        seen twice).
    ids : list of str, optional
        Identifier columns to ignore; found by :func:`identifier_columns` when None.
    """
    ids = identifier_columns(frame, exclude) if ids is None else ids
    key = near_duplicate_key(frame, [*exclude, *ids])
    if key.shape[1] == 0:
        return pd.Series(np.arange(len(frame)), index=frame.index, name="group")
    codes = key.groupby(list(key.columns), dropna=False, sort=False).ngroup().to_numpy()
    first = pd.Series(np.arange(len(frame))).groupby(codes).transform("min").to_numpy()
    return pd.Series(first, index=frame.index, name="group")


def duplicate_report(frame: pd.DataFrame, target: str | None = None) -> dict[str, Any]:
    """Counts of exact and near duplicates, and of near-duplicate groups whose outcomes differ.

    Returns
    -------
    dict
        ``exact_duplicates`` (rows repeating an earlier row in every column),
        ``near_duplicates`` (further rows equal to an earlier one once ids, case,
        spacing and number noise are set aside), ``groups`` (groups with more than
        one row), ``largest_group``, ``conflicting_groups`` (groups whose target
        differs) and ``identifier_columns``.
    """
    exclude = [target] if target else []
    ids = identifier_columns(frame, exclude)
    exact = int(frame.duplicated().sum())
    groups = duplicate_groups(frame, exclude, ids=ids)
    sizes = groups.value_counts()
    repeated = int((sizes - 1).sum())
    conflicting = 0
    if target is not None and (sizes > 1).any():
        multi = groups[groups.isin(sizes[sizes > 1].index)]
        conflicting = int((frame.loc[multi.index, target].astype(str).groupby(multi).nunique() > 1).sum())
    return {
        "exact_duplicates": exact,
        "near_duplicates": max(0, repeated - exact),
        "groups": int((sizes > 1).sum()),
        "largest_group": int(sizes.max()) if len(sizes) else 0,
        "conflicting_groups": conflicting,
        "identifier_columns": ids,
    }


# --------------------------------------------------------------------------- helpers


def _id_like_name(name: str) -> bool:
    tokens = [t for t in pd.Series([name]).str.replace(r"([a-z])([A-Z])", r"\1_\2", regex=True)
              .str.lower().str.split(r"[^a-z0-9]+").iloc[0] if t]
    return bool(tokens) and tokens[-1] in {"id", "ids", "key", "uuid", "number", "no", "nr", "num", "code"}


def _round_significant(values: np.ndarray, digits: int) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        magnitude = np.where(np.isfinite(values) & (values != 0),
                             np.floor(np.log10(np.abs(values))), 0)
    scale = 10.0 ** (digits - 1 - magnitude)
    return np.round(values * scale) / scale
