"""Reading values the way a person wrote them: numbers with thousands separators,
currency or percent signs, and dates in several formats mixed within a column.

Parsing is decided once per column from its values (:func:`infer_parsers`) and
then applied by :func:`apply_parsers`, a stateless function: the same decisions,
stored with the run, prepare new rows for prediction.

>>> parse_numbers(pd.Series(["116,270.00", "$1,200", "45%", None])).tolist()
[116270.0, 1200.0, 45.0, nan]
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "parse_numbers",
    "number_share",
    "parse_dates",
    "date_format_counts",
    "infer_parsers",
    "apply_parsers",
    "is_string",
]

# An amount as people write it: optional sign or parentheses, currency symbol or
# code, thousands separators, decimals, a trailing percent sign.
_NUMBER = re.compile(
    r"^\(?[-+]?\s*(?:[$€£¥₹]|USD|EUR|GBP)?\s*[-+]?"
    r"(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?\s*%?\)?$"
)
_DIGIT = re.compile(r"\d")

# Explicit formats tried in order (fast, vectorised); what none of them reads is
# left to pandas' per-value "mixed" parser. Day-first and month-first slash
# formats are ordered per column by :func:`_day_first`.
_DATE_FORMATS = {
    "YYYY-MM-DD": "%Y-%m-%d",
    "YYYY-MM-DD hh:mm:ss": "%Y-%m-%d %H:%M:%S",
    "YYYY-MM-DDThh:mm:ss": "%Y-%m-%dT%H:%M:%S",
    "YYYY/MM/DD": "%Y/%m/%d",
    "YYYY.MM.DD": "%Y.%m.%d",
    "DD/MM/YYYY": "%d/%m/%Y",
    "MM/DD/YYYY": "%m/%d/%Y",
    "DD.MM.YYYY": "%d.%m.%Y",
    "DD-MM-YYYY": "%d-%m-%Y",
    "MM-DD-YYYY": "%m-%d-%Y",
    "DD/MM/YY": "%d/%m/%y",
    "MM/DD/YY": "%m/%d/%y",
    "DD Mon YYYY": "%d %b %Y",
    "DD-Mon-YYYY": "%d-%b-%Y",
    "DD-Mon-YY": "%d-%b-%y",
    "DD Month YYYY": "%d %B %Y",
    "Mon DD, YYYY": "%b %d, %Y",
    "Month DD, YYYY": "%B %d, %Y",
    "Mon DD YYYY": "%b %d %Y",
}
_MONTH_FIRST = ("MM/DD/YYYY", "MM-DD-YYYY", "MM/DD/YY")
_DAY_FIRST = ("DD/MM/YYYY", "DD-MM-YYYY", "DD/MM/YY")


def is_string(series: pd.Series) -> bool:
    """True for object and string columns (the ones that may hold anything)."""
    return pd.api.types.is_string_dtype(series) or series.dtype == object


def parse_numbers(series: pd.Series) -> pd.Series:
    """Numbers written as text ("116,270.00", "$1,200", "(3.5)", "45%") as floats.

    A percent sign is dropped, not divided by 100 ("45%" → 45.0), so a column
    mixing "45%" and "45" reads consistently. Parentheses mean a negative
    amount, as in accounts. What cannot be read becomes NaN.
    """
    text = series.astype("string").str.strip()
    negative = text.str.startswith("(") & text.str.endswith(")")
    cleaned = text.str.replace(r"[()$€£¥₹%,\s]|USD|EUR|GBP", "", regex=True)
    values = pd.to_numeric(cleaned.replace("", pd.NA), errors="coerce").astype(float)
    values[negative.fillna(False).to_numpy()] *= -1
    return pd.Series(values.to_numpy(dtype=float), index=series.index, name=series.name)


def number_share(series: pd.Series) -> float:
    """Share of non-missing values that read as a number written by a person."""
    values = series.dropna().astype(str).str.strip()
    values = values[values != ""]
    if values.empty:
        return 0.0
    sample = values.sample(min(len(values), 5000), random_state=0)
    ok = sample.str.match(_NUMBER) & sample.str.contains(_DIGIT)
    return float(ok.mean())


def parse_dates(series: pd.Series, day_first: bool | None = None) -> pd.Series:
    """Dates written in several formats, read value by value.

    Parameters
    ----------
    series : Series of str
    day_first : bool, optional
        How to read ambiguous slash dates (03/04/2021); decided from the column
        itself when None (a first number above 12 means day first).

    Each distinct value is read once (a date column repeats its values: a table of millions of rows
    may hold a few thousand dates).

    >>> parse_dates(pd.Series(["2021-03-04", "4 Mar 2021", None, "2021-03-04"])).dt.day.tolist()
    [4.0, 4.0, nan, 4.0]
    """
    values = series.dropna()
    uniques = pd.unique(values)
    if len(uniques) * 2 > len(values):
        return _parse_dates(series, day_first)[0]
    parsed = _parse_dates(pd.Series(uniques, dtype=series.dtype), day_first)[0].to_numpy()
    positions = pd.Index(uniques).get_indexer(series)
    out = np.where(positions >= 0, parsed[np.maximum(positions, 0)], np.datetime64("NaT", "ns"))
    return pd.Series(out, index=series.index, name=series.name, dtype="datetime64[ns]")


def date_format_counts(series: pd.Series, day_first: bool | None = None) -> dict[str, int]:
    """How many values of ``series`` were written in each date format."""
    return _parse_dates(series, day_first)[1]


def infer_parsers(
    frame: pd.DataFrame,
    exclude: list[str] = (),
    *,
    dates: list[str] = (),
    numbers: list[str] = (),
    min_share: float = 0.95,
) -> dict[str, dict[str, Any]]:
    """Decide, per string column, whether it holds numbers or dates written as text.

    Parameters
    ----------
    frame : DataFrame
    exclude : list of str
        Columns never parsed (the target).
    dates, numbers : list of str
        Columns the user declared as dates or numbers: parsed whatever their share.
    min_share : float, default=0.95
        Share of values that must read as numbers (or dates) for a column to be parsed.

    Returns
    -------
    dict
        ``column -> {"kind": "number"|"date", ...}``; dates also record
        ``day_first`` and the ``formats`` found with their counts, numbers the
        ``examples`` that were rewritten.
    """
    out: dict[str, dict[str, Any]] = {}
    for column in frame.columns:
        s = frame[column]
        if column in exclude or not is_string(s):
            continue
        values = s.dropna().astype(str)
        if values.empty:
            continue
        if column in numbers or (column not in dates and number_share(values) >= min_share):
            changed = values[~values.str.fullmatch(r"[-+]?\d+(\.\d+)?")]
            out[column] = {"kind": "number", "examples": changed.drop_duplicates().head(3).tolist()}
        elif column in dates or _looks_like_dates(values, min_share):
            day_first = _day_first(values)
            counts = date_format_counts(values, day_first)
            out[column] = {"kind": "date", "day_first": day_first, "formats": counts}
    return out


def apply_parsers(frame: pd.DataFrame, parsers: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """Apply :func:`infer_parsers` decisions (stateless; returns a copy)."""
    out = frame.copy()
    for column, rule in parsers.items():
        if column not in out.columns:
            continue
        if rule["kind"] == "number" and not pd.api.types.is_numeric_dtype(out[column]):
            out[column] = parse_numbers(out[column])
        elif rule["kind"] == "date" and not pd.api.types.is_datetime64_any_dtype(out[column]):
            out[column] = parse_dates(out[column], rule.get("day_first"))
    return out


# --------------------------------------------------------------------------- helpers


def _looks_like_dates(values: pd.Series, min_share: float) -> bool:
    sample = values.str.strip().sample(min(len(values), 500), random_state=0)
    if not sample.str.contains(_DIGIT).mean() >= min_share:
        return False
    # a date has a year (4 digits, or 2 after a separator) and at least two parts
    if (
        not sample.str.contains(
            r"\d{4}|\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2}|[A-Za-z]{3}[\s\-]\d{1,2}|\d{1,2}[\s\-][A-Za-z]{3}"
        ).mean()
        >= min_share
    ):
        return False
    if sample.str.fullmatch(r"[-+]?\d+(\.\d+)?").mean() > 0.5:
        return False  # plain numbers (years, counts) are numbers
    parsed, _ = _parse_dates(sample, _day_first(sample))
    return parsed.notna().mean() >= min_share


def _day_first(values: pd.Series) -> bool:
    """Slash dates are day first when some first number exceeds 12 and no second one does."""
    parts = values.astype(str).str.extract(r"^\s*(\d{1,2})[/.\-](\d{1,2})[/.\-]\d{2,4}")
    parts = parts.dropna().astype(int)
    if parts.empty:
        return False
    first_over, second_over = (parts[0] > 12).any(), (parts[1] > 12).any()
    return bool(first_over and not second_over)


def _parse_dates(series: pd.Series, day_first: bool | None) -> tuple[pd.Series, dict[str, int]]:
    text = series.astype("string").str.strip()
    if day_first is None:
        day_first = _day_first(text.dropna())
    result = pd.Series(pd.NaT, index=series.index, dtype="datetime64[ns]", name=series.name)
    todo = text.notna() & (text != "")
    counts: dict[str, int] = {}
    skip = _MONTH_FIRST if day_first else _DAY_FIRST
    for name, fmt in _DATE_FORMATS.items():
        if name in skip or not todo.any():
            continue
        parsed = pd.to_datetime(text[todo], format=fmt, errors="coerce")
        hit = parsed.notna()
        if hit.any():
            idx = hit[hit].index
            result.loc[idx] = parsed[hit].astype("datetime64[ns]")
            todo.loc[idx] = False
            counts[name] = int(hit.sum())
    if todo.any():  # anything else pandas can read, value by value
        rest = pd.to_datetime(text[todo].astype(object), format="mixed", dayfirst=day_first, errors="coerce")
        rest = rest.dt.tz_localize(None) if getattr(rest.dt, "tz", None) is not None else rest
        hit = rest.notna()
        if hit.any():
            result.loc[hit[hit].index] = rest[hit].astype("datetime64[ns]")
            counts["other"] = int(hit.sum())
        if (~hit).any():
            counts["unreadable"] = int((~hit).sum())
    return result, dict(sorted(counts.items(), key=lambda kv: -kv[1]))
