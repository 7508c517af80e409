"""Scoring new data with a trained run's model.

The output holds every input column unchanged plus the predictions: for two
classes ``proba`` (of the positive class) and ``prediction``; for three or more
one ``proba_<class>`` column per class and ``prediction``; for regression
``prediction``. Labels are written in the user's own values. CSV output quotes
every text field, so newlines, carriage returns, quotes and commas inside text
read back as they were.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nblib.engine import artifacts as io
from nblib.ml.datasets import load_table
from nblib.ml.preprocess import ColumnRoles, normalize_columns
from nblib.pipeline import TRUSTED_TYPES

__all__ = ["predict_frame", "predict_file", "check_output_path", "write_table", "OUTPUT_KINDS"]

OUTPUT_KINDS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def predict_frame(model, frame: pd.DataFrame, columns: dict[str, Any], threshold: float = 0.5) -> pd.DataFrame:
    """Clean ``frame`` like the training data and add prediction columns.

    Parameters
    ----------
    model : fitted Pipeline
    frame : DataFrame
        New rows with (at least) the columns the model was trained on.
    columns : dict
        The run's ``columns.json``: ``roles``, ``task``, and for classification
        ``classes``; ``parsers`` says how text was read as numbers or dates.
    threshold : float, default=0.5
        Decision threshold on the positive-class probability (two classes).

    Raises
    ------
    KeyError
        When a feature column the model was trained on is absent.
    """
    roles = ColumnRoles.from_dict(columns["roles"])
    missing = [c for c in roles.features if c not in frame.columns]
    if missing:
        raise KeyError(f"missing columns the model needs: {', '.join(map(repr, missing))}")
    X = normalize_columns(frame[roles.features], roles.to_dict(), parsers=columns.get("parsers"))
    out = frame.copy()
    if columns["task"] != "classification":
        out[_free(out, "prediction")] = model.predict(X)
        return out
    classes = columns.get("classes") or list(model.classes_)
    proba = model.predict_proba(X)
    if proba.shape[1] == 2:
        out[_free(out, "proba")] = proba[:, 1]
        codes = (proba[:, 1] >= threshold).astype(int)
    else:
        for j, name in enumerate(classes):
            out[_free(out, f"proba_{name}")] = proba[:, j]
        codes = proba.argmax(axis=1)
    out[_free(out, "prediction")] = np.asarray(classes, dtype=object)[codes]
    return out


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


def write_table(frame: pd.DataFrame, output: str | Path) -> Path:
    """Write ``frame`` atomically as CSV (every text field quoted) or Parquet, by extension."""
    output = Path(output)
    if OUTPUT_KINDS.get(output.suffix.lower()) == "parquet":
        return io.write_frame(output, frame)
    with io.atomic_path(output) as tmp:
        frame.to_csv(tmp, index=False, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
    return output


def predict_file(model_path: str | Path, data_path: str | Path, output: str | Path) -> Path:
    """Score ``data_path`` with the model at ``model_path`` into ``output``.

    ``columns.json`` (and, for the decision threshold, ``metrics.json``) of the
    same run must sit beside the model, as in a run's ``artifacts/``.
    """
    check_output_path(data_path, output)
    model_path = Path(model_path)
    columns = io.read_json(model_path.parent / "columns.json")
    metrics_path = model_path.parent / "metrics.json"
    threshold = io.read_json(metrics_path).get("threshold") if metrics_path.exists() else None
    model = io.read_model(model_path, TRUSTED_TYPES)
    scored = predict_frame(model, load_table(data_path), columns, threshold if threshold is not None else 0.5)
    return write_table(scored, output)


# --------------------------------------------------------------------------- helpers


def _free(frame: pd.DataFrame, name: str) -> str:
    """``name``, or ``name_1``, ``name_2`` ... when the input already has such a column."""
    candidate, i = name, 0
    while candidate in frame.columns:
        i += 1
        candidate = f"{name}_{i}"
    return candidate
