"""Duplicate records: found, counted and kept together, never dropped silently.

An *exact* duplicate repeats every column, target and text included. A *near*
duplicate repeats every column once identifiers are set aside, labels and text
are compared without case or extra spaces, and numbers to three significant
digits. Free text is always compared: two rows with different titles are two
records.

Rows in one duplicate group share a group id, so the split and the CV folds keep
each group on one side (:func:`nblib.ml.data.preprocess.split_train_test`).

>>> frame = pd.DataFrame({"id": ["a1", "b2", "c3"], "price": [1.0001, 1.0002, 5.0],
...                       "text": ["A  b", "a b", "c"]})
>>> duplicate_groups(frame).tolist()
[0, 0, 2]
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from nblib.ml.data.parse import is_string

__all__ = [
    "identifier_columns",
    "index_columns",
    "row_number_note",
    "entity_key_columns",
    "entity_overlap",
    "duplicate_groups",
    "duplicate_report",
    "near_duplicate_key",
]


def identifier_columns(frame: pd.DataFrame, exclude: list[str] = ()) -> list[str]:
    """Columns that name a record rather than describe it.

    Row numbers (:func:`index_columns`), strings unique per row written as one
    token with a digit (``L000123``, ``a1b2-77``), and whole numbers unique per
    row whose name says id, key or number. Names and titles (several words) are
    not identifiers.
    """
    rows = index_columns(frame, exclude)
    out = []
    for column in frame.columns:
        if column in exclude:
            continue
        if column in rows:
            out.append(column)
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


def index_columns(frame: pd.DataFrame, exclude: list[str] = ()) -> list[str]:
    """Row numbers kept as a column (R's ``rownames``, pandas' ``Unnamed: 0``): never a feature.

    A column is a row number when it has a value in every row, no two alike, and

    - its name says row names (``rownames``, ``row.names``, ``Unnamed: 0``, ``...1``, an
      empty name): whatever the values, R's row labels included;
    - or its name is an index name (``index``, ``idx``, ``id``, ``X``, ``row``, ``obs`` ...)
      and its whole numbers strictly increase or decrease down the table;
    - or, whatever its name, every value is the row's position counted from 0 or 1
      (positions are read from an integer index, so a training split keeps them).

    A year repeats and a measurement is not a whole number, so neither is a row number;
    a count that happens to equal the position on *every* row cannot be told from one.

    >>> index_columns(pd.DataFrame({"rownames": [1, 2, 3], "year": [2001, 2001, 2002]}))
    ['rownames']
    """
    out = []
    positions = frame.index.to_numpy() if pd.api.types.is_integer_dtype(frame.index) else np.arange(len(frame))
    for column in frame.columns:
        if column in exclude:
            continue
        s = frame[column]
        if len(s) < 3 or s.isna().any() or pd.api.types.is_bool_dtype(s) or not s.is_unique:
            continue
        name = _name_tokens(str(column))
        if _row_names_name(str(column)):
            out.append(column)
            continue
        values = _whole_numbers(s)
        if values is None:
            continue
        monotone = bool(np.all(np.diff(values) > 0) or np.all(np.diff(values) < 0))
        weak = "".join(name) in _INDEX_NAMES or (bool(name) and name[-1] in _INDEX_NAMES and len(name) <= 2)
        if (weak and monotone) or (len(s) >= 20 and _is_position(values, positions)):
            out.append(column)
    return out


def row_number_note(series: pd.Series) -> str:
    """How a row-number column reads on the page: ``row number (1..150, increasing, unique)``."""
    values = _whole_numbers(series.dropna())
    if values is None or len(values) < 2:
        return "row names (one per row): not used as a feature"
    direction = "increasing, " if np.all(np.diff(values) > 0) else "decreasing, " if np.all(np.diff(values) < 0) else ""
    span = f"{values.min():,}..{values.max():,}"
    return f"row number ({span}, {direction}unique): not used as a feature"


def entity_key_columns(
    frame: pd.DataFrame, exclude: list[str] = (), *, min_values: int = 10, max_rows_per_code: float = 20
) -> list[dict[str, Any]]:
    """Columns that look like the key of an entity seen in several rows (a patient, a vehicle).

    Such a column has values repeated in several rows (most rows share their value with
    another row), many distinct values (at least ``min_values``; 50 when only the format
    speaks), and an id-like name (``id``, ``*_id``, ``patient``, ``subject``, ``vehicle``,
    ``customer`` ...) or id-like values (one-token codes with letters and digits, such as
    ``P0042``) seen a few times each (at most ``max_rows_per_code`` rows per value: a code
    shared by dozens of rows, like a brand, is a category). A number counting members within an entity
    (person 1, 2, 3 of a family:
    small numbers from 0 or 1, the larger the rarer) is not a key. Rows of one entity split
    between training and test make the test score look better than it will be on new entities.

    Returns
    -------
    list of dict
        ``column``, ``values`` (distinct), ``rows_per_value`` (mean), ``why``; most values first.
    """
    out = []
    for column in frame.columns:
        if column in exclude:
            continue
        s = frame[column].dropna()
        if len(s) < 4 or pd.api.types.is_bool_dtype(s) or pd.api.types.is_datetime64_any_dtype(s):
            continue
        counts = s.value_counts()
        n_values = len(counts)
        row_median = float(np.median(counts.reindex(s.to_numpy()).to_numpy()))  # rows sharing a row's value
        if n_values < min_values or row_median < 2:
            continue
        name_says = _entity_name(str(column))
        if pd.api.types.is_numeric_dtype(s):
            if not name_says or _whole_numbers(s) is None or _member_number(counts):
                continue
            why = "id-like name, whole numbers"
        else:
            text = s.astype(str).str.strip()
            coded = text.str.fullmatch(r"(?=[\w\-.:/#]*[A-Za-z])(?=[\w\-.:/#]*\d)[\w\-.:/#]{2,40}").mean() > 0.98
            if not (name_says or (coded and n_values >= 50 and len(s) / n_values <= max_rows_per_code)):
                continue
            why = " and ".join(
                w for w, ok in (("id-like name", name_says), ("codes with letters and digits", coded)) if ok
            )
        out.append(
            {
                "column": column,
                "values": int(n_values),
                "rows_per_value": round(len(s) / n_values, 2),
                "why": f"{why}; {n_values:,} values, {len(s) / n_values:.1f} rows each",
            }
        )
    return sorted(out, key=lambda d: -d["values"])


def entity_overlap(train: pd.Series, test: pd.Series) -> tuple[int, int]:
    """``(test rows, distinct values)`` of ``test`` whose value also occurs in ``train``.

    Missing values never match.
    """
    shared = pd.Index(train.dropna().unique()).intersection(pd.Index(test.dropna().unique()))
    return int(test.isin(shared).sum()), int(len(shared))


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
    tokens = _name_tokens(name)
    return bool(tokens) and tokens[-1] in {"id", "ids", "key", "uuid", "number", "no", "nr", "num", "code"}


#: Names R, pandas and readr give a file's row names; any unique values under them are row labels.
_ROW_NAMES = re.compile(
    r"\s*(rownames|row\.?names|row_names|unnamed:?\s*\d+(\.\d+)?|\.\.\.1|level_0)?\s*", re.IGNORECASE
)
#: Names of a column that may hold row numbers (then it must also be monotone whole numbers).
_INDEX_NAMES = {
    "index",
    "idx",
    "id",
    "x",
    "row",
    "rowid",
    "rownum",
    "rowno",
    "rownumber",
    "obs",
    "observation",
    "n",
    "no",
    "nr",
    "number",
    "record",
    "recno",
    "seq",
    "sn",
    "sno",
}
#: Last words of a column name saying it names an entity (a patient, a vehicle) rather than describes it.
_ENTITY_WORDS = {
    "id",
    "ids",
    "key",
    "uuid",
    "guid",
    "code",
    "no",
    "nr",
    "num",
    "number",
    "ref",
    "reference",
    "index",
    "pid",
    "uid",
    "sid",
    "cid",
    "hhid",
    "subjid",
    "custid",
    "userid",
    "idno",
    "idnum",
    "patient",
    "subject",
    "vehicle",
    "customer",
    "client",
    "user",
    "person",
    "individual",
    "participant",
    "respondent",
    "household",
    "family",
    "chick",
    "animal",
    "member",
    "account",
    "student",
    "pupil",
    "school",
    "hospital",
    "clinic",
    "site",
    "county",
    "driver",
    "player",
    "firm",
    "company",
    "store",
    "shop",
    "device",
    "machine",
    "case",
    "cluster",
    "plot",
    "herd",
    "tree",
    "mouse",
    "rat",
    "dog",
    "cow",
    "pig",
    "horse",
    "child",
}


def _name_tokens(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()
    return [t for t in re.split(r"[^a-z0-9]+", spaced) if t]


def _row_names_name(name: str) -> bool:
    return _ROW_NAMES.fullmatch(name) is not None


def _entity_name(name: str) -> bool:
    tokens = _name_tokens(name)
    if not tokens:
        return False
    last = tokens[-1]
    return last in _ENTITY_WORDS or (len(last) <= 7 and last.endswith("num") and last != "num")


def _whole_numbers(series: pd.Series) -> np.ndarray | None:
    """The values as int64 when every one is a whole number (ints, or floats without a fraction), else None."""
    if pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
        return None
    values = series.to_numpy()
    if pd.api.types.is_integer_dtype(series):
        return values.astype(np.int64)
    values = values.astype(float)
    if not np.all(np.isfinite(values)) or not np.all(values == np.round(values)) or np.abs(values).max() > 2**53:
        return None
    return values.astype(np.int64)


def _member_number(counts: pd.Series) -> bool:
    """Small whole numbers from 0 or 1, each rarer the larger: a member's number within an entity."""
    values = counts.index.to_numpy(dtype=float)
    if values.min() not in (0, 1) or values.max() > values.min() + 1.5 * len(values):
        return False
    rho = pd.Series(values).corr(pd.Series(counts.to_numpy(dtype=float)), method="spearman")
    return bool(rho <= -0.8)


def _is_position(values: np.ndarray, positions: np.ndarray) -> bool:
    """Every value is its row's position counted from 0 or 1."""
    if len(values) != len(positions):
        return False
    offset = values - positions.astype(np.int64)
    return bool(offset[0] in (0, 1) and np.all(offset == offset[0]))


def _round_significant(values: np.ndarray, digits: int) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        magnitude = np.where(np.isfinite(values) & (values != 0), np.floor(np.log10(np.abs(values))), 0)
    scale = 10.0 ** (digits - 1 - magnitude)
    return np.round(values * scale) / scale
