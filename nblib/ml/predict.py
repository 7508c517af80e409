"""Scoring new data with a trained run's model.

The output holds every input column unchanged plus the predictions: for two
classes ``proba`` (of the positive class) and ``prediction``, decided by the model
itself (at the threshold it carries, :func:`nblib.ml.training.threshold.threshold_of`;
nothing else holds it); for three or more
one ``proba_<class>`` column per class and ``prediction``; for regression
``prediction``. Labels are written in the user's own values. CSV output quotes
every text field, so newlines, carriage returns, quotes and commas inside text
read back as they were.

Rows are checked before the model sees them: a cell that cannot be read as the
number or date its column holds is named by column and row (rows count from 1,
the header not counted). By default one bad cell refuses the file; with
``on_bad_rows="skip"`` the other rows are scored and the bad ones returned with
the reason (``nblib predict --on-bad-rows skip`` writes them to
``OUT.rejects.csv``, see :mod:`nblib.factory.predict`). Categories the model never saw and input columns it does
not use are counted for a one-line digest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nblib.ml.data.preprocess import ColumnRoles, normalize_columns

__all__ = ["predict_frame", "predict_rows", "check_output_path", "BadRows", "Prediction", "OUTPUT_KINDS", "ON_BAD_ROWS"]

OUTPUT_KINDS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
ON_BAD_ROWS = ("fail", "skip")


class BadRows(ValueError):
    """Some cells cannot be read as their column's kind; the message names the first by column and row.
    When every row is bad under ``on_bad_rows="skip"``, ``rejects`` holds them all."""

    rejects: pd.DataFrame | None = None
    #: The first bad cell and the count, without the advice for ``nblib predict``'s options (what
    #: ``nblib serve`` answers a request with); ``None`` when the message is all there is.
    reason: str | None = None


@dataclass
class Prediction:
    """What :func:`predict_rows` made of a file's rows.

    Attributes
    ----------
    scored : DataFrame
        The rows that were scored, every input column unchanged plus the prediction columns.
    rejects : DataFrame
        The rows that were not (``on_bad_rows="skip"``): ``row`` (from 1), ``reason`` and their input values.
    unseen : dict
        Categorical column -> number of scored rows holding a value the model never saw in training.
    ignored : list of str
        Input columns the model does not use.
    """

    scored: pd.DataFrame
    rejects: pd.DataFrame
    unseen: dict[str, int] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)

    def digest(self) -> str:
        """One line: rows scored and rejected, unseen categories per column, ignored columns.

        >>> Prediction(pd.DataFrame({"a": [1, 2]}), pd.DataFrame({"row": [3]}), {"plan": 2}, ["id"]).digest()
        "scored 2 rows, rejected 1 · unseen categories: 'plan' 2 rows · ignored columns: 'id'"
        """
        parts = [
            f"scored {len(self.scored)} row{'s' * (len(self.scored) != 1)}"
            + (f", rejected {len(self.rejects)}" if len(self.rejects) else "")
        ]
        unseen = {c: n for c, n in self.unseen.items() if n}
        if unseen:
            parts.append("unseen categories: " + ", ".join(f"{c!r} {n} row{'s' * (n != 1)}" for c, n in unseen.items()))
        if self.ignored:
            shown = ", ".join(map(repr, self.ignored[:8])) + (
                f" and {len(self.ignored) - 8} more" if len(self.ignored) > 8 else ""
            )
            parts.append(f"ignored columns: {shown}")
        return " · ".join(parts)


def predict_frame(model, frame: pd.DataFrame, columns: dict[str, Any]) -> pd.DataFrame:
    """Clean ``frame`` like the training data and add prediction columns (a bad cell raises :class:`BadRows`).

    See :func:`predict_rows`, of which this is the scored frame with ``on_bad_rows="fail"``.
    """
    return predict_rows(model, frame, columns).scored


def predict_rows(model, frame: pd.DataFrame, columns: dict[str, Any], *, on_bad_rows: str = "fail") -> Prediction:
    """Check ``frame``'s cells, clean the rows like the training data and add prediction columns.

    Parameters
    ----------
    model : fitted Pipeline
        A binary classifier decides at the threshold it carries (``with_threshold``), or by its
        own ``predict`` when it carries none.
    frame : DataFrame
        New rows with (at least) the columns the model was trained on.
    columns : dict
        The run's ``columns.json``: ``roles``, ``task``, and for classification
        ``classes``; ``parsers`` says how text was read as numbers or dates.
    on_bad_rows : {"fail", "skip"}, default="fail"
        What a cell that cannot be read as its column's number or date does: refuse
        the whole frame, or leave its row out (in ``rejects``, with the reason).

    Raises
    ------
    KeyError
        When a feature column the model was trained on is absent.
    BadRows
        A bad cell with ``on_bad_rows="fail"`` (naming the column and the row), or no row left to score.
    ValueError
        When ``frame`` has no rows.
    """
    if on_bad_rows not in ON_BAD_ROWS:
        raise ValueError(f"on_bad_rows must be one of {', '.join(ON_BAD_ROWS)}; got {on_bad_rows!r}")
    roles = ColumnRoles.from_dict(columns["roles"])
    missing = [c for c in roles.features if c not in frame.columns]
    if missing:
        raise KeyError(f"missing columns the model needs: {', '.join(map(repr, missing))}")
    if frame.empty:
        raise ValueError("no rows to score (the file has a header only)")
    ignored = [str(c) for c in frame.columns if c not in set(roles.features)]
    X, problems = _read_cells(frame[roles.features], roles, columns.get("parsers"))
    bad = np.zeros(len(frame), dtype=bool)
    rejects = pd.DataFrame({"row": pd.Series(dtype=int), "reason": pd.Series(dtype=object)})
    if problems:
        if on_bad_rows == "fail":
            reason = _bad_rows_message(problems)
            error = BadRows(
                f"{reason}; fix the file, or pass --on-bad-rows skip to score the other rows and write these to a "
                f"rejects file"
            )
            error.reason = reason
            raise error
        reasons: dict[int, list[str]] = {}
        for position, text in problems:
            reasons.setdefault(position, []).append(text)
        bad[list(reasons)] = True
        rejects = frame.iloc[sorted(reasons)].copy()
        rejects.insert(0, _free(rejects, "reason"), ["; ".join(reasons[i]) for i in sorted(reasons)])
        rejects.insert(0, _free(rejects, "row"), [i + 1 for i in sorted(reasons)])
        if bad.all():
            error = BadRows(
                f"no row left to score: every one of the {len(frame)} rows has a cell that cannot be "
                f"read (first: data row {problems[0][0] + 1}, {problems[0][1]})"
            )
            error.rejects = rejects
            raise error
        X = X[~bad]
    unseen = _unseen_categories(model, X, roles)
    out = _add_predictions(model, frame[~bad].copy(), X, columns)
    return Prediction(scored=out, rejects=rejects, unseen=unseen, ignored=ignored)


def _add_predictions(model, out: pd.DataFrame, X: pd.DataFrame, columns: dict[str, Any]) -> pd.DataFrame:
    if columns["task"] != "classification":
        out[_free(out, "prediction")] = model.predict(X)
        return out
    classes = columns.get("classes") or list(model.classes_)
    proba = model.predict_proba(X)
    if proba.shape[1] == 2:
        out[_free(out, "proba")] = proba[:, 1]
        codes = _binary_codes(model, X, proba[:, 1])
    else:
        for j, name in enumerate(classes):
            out[_free(out, f"proba_{name}")] = proba[:, j]
        codes = proba.argmax(axis=1)
    out[_free(out, "prediction")] = np.asarray(classes, dtype=object)[codes]
    return out


def _binary_codes(model, X: pd.DataFrame, positive: np.ndarray) -> np.ndarray:
    """0/1 per row as ``model`` decides: at the threshold it carries, else by its own ``predict``."""
    from nblib.ml.training.threshold import threshold_of

    threshold = threshold_of(model)
    if threshold is not None:
        return (positive >= threshold).astype(int)
    position = {value: i for i, value in enumerate(model.classes_)}
    return np.array([position[value] for value in model.predict(X)], dtype=int)


def check_output_path(data: str | Path, output: str | Path) -> str:
    """The output kind for ``output`` ("csv" or "parquet"), or ValueError saying why it cannot be written."""
    data, output = Path(data), Path(output)
    kind = OUTPUT_KINDS.get(output.suffix.lower())
    if output.is_dir():
        raise ValueError(f"{output}: is a folder; name an output file (.csv or .parquet)")
    if kind is None:
        raise ValueError(f"{output}: unknown output type {output.suffix or '(none)'!r}; use .csv or .parquet")
    if output.exists() and data.exists() and output.resolve() == data.resolve():
        raise ValueError(f"{output}: is the input file; write the scores to another file")
    if not output.parent.exists():
        raise ValueError(f"{output}: folder {output.parent} does not exist")
    return kind


# --------------------------------------------------------------------------- helpers


def _read_cells(
    X: pd.DataFrame, roles: ColumnRoles, parsers: dict[str, Any] | None
) -> tuple[pd.DataFrame, list[tuple[int, str]]]:
    """The feature frame cleaned like the training data, and the cells that cannot be read:
    ``(position, "column 'x': 'abc' is not a number")``, by row then column."""
    from nblib.ml.data.parse import parse_dates, parse_numbers

    parsers = parsers or {}
    out = normalize_columns(X, roles.to_dict(), parsers=parsers)
    problems: list[tuple[int, str]] = []
    kinds = [(c, "number") for c in roles.numeric] + [(c, "date") for c in roles.date]
    for column, kind in kinds:
        raw = X[column]
        if kind == "number" and pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
            continue
        if kind == "date" and pd.api.types.is_datetime64_any_dtype(raw):
            continue
        read = out[column]
        if kind == "number" and not pd.api.types.is_numeric_dtype(read):  # numbers in training, text here
            read = out[column] = parse_numbers(raw)
        elif kind == "date" and not pd.api.types.is_datetime64_any_dtype(read):
            read = out[column] = parse_dates(raw, (parsers.get(column) or {}).get("day_first"))
        given = raw.notna().to_numpy() & (raw.astype("string").str.strip().fillna("") != "").to_numpy()
        for position in np.flatnonzero(given & read.isna().to_numpy()):
            value = str(raw.iloc[position])
            shown = value if len(value) <= 40 else value[:37] + "..."
            problems.append((int(position), f"column {column!r}: {shown!r} is not a {kind}"))
    problems.sort(key=lambda p: p[0])
    return out, problems


def _bad_rows_message(problems: list[tuple[int, str]]) -> str:
    position, text = problems[0]
    rows = sorted({p for p, _ in problems})
    more = ""
    if len(problems) > 1:
        shown = ", ".join(str(r + 1) for r in rows[:5]) + (", ..." if len(rows) > 5 else "")
        more = f" ({len(problems)} bad cells in {len(rows)} row{'s' * (len(rows) != 1)}: {shown})"
    return f"data row {position + 1}, {text}{more}"


def _unseen_categories(model, X: pd.DataFrame, roles: ColumnRoles) -> dict[str, int]:
    """Per categorical column, how many rows hold a value the fitted model never saw (after its own
    cleaning and label merges); columns the model's structure does not show are left out."""
    counts: dict[str, int] = {}
    for transformer in _column_transformers(model):
        for name, pipe, cols in getattr(transformer, "transformers_", []):
            if name not in ("categorical", "high_cardinality") or not hasattr(pipe, "steps"):
                continue
            encoder = pipe.steps[-1][1]
            known = getattr(encoder, "categories_", None)
            cols = [c for c in cols if c in X.columns]
            if known is None or len(known) != len(cols):
                continue
            try:
                seen = np.asarray(pipe[:-1].transform(X[cols]), dtype=object)
            except Exception:  # noqa: BLE001 - a digest, never a reason to fail scoring
                continue
            for j, column in enumerate(cols):
                if column not in counts:
                    counts[column] = int((~pd.Series(seen[:, j]).astype(str).isin({str(v) for v in known[j]})).sum())
    return {c: n for c, n in counts.items() if n}


def _column_transformers(model, depth: int = 0) -> list:
    """The fitted ColumnTransformers inside ``model`` (a pipeline, an ensemble of pipelines ...)."""
    if depth > 6 or model is None:
        return []
    if hasattr(model, "transformers_"):
        return [model]
    found = []
    children = [s for _, s in getattr(model, "steps", [])]
    for attr in ("estimators_", "estimator", "estimator_", "final_estimator_", "base_estimator"):
        value = getattr(model, attr, None)
        children.extend(value if isinstance(value, list | tuple) else [value])
    for child in children:
        if child is not None and not isinstance(child, str):
            found.extend(_column_transformers(child, depth + 1))
        if found:
            break
    return found


def _free(frame: pd.DataFrame, name: str) -> str:
    """``name``, or ``name_1``, ``name_2`` ... when the input already has such a column."""
    candidate, i = name, 0
    while candidate in frame.columns:
        i += 1
        candidate = f"{name}_{i}"
    return candidate
