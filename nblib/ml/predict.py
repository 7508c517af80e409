"""Scoring new data with a trained run's model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from nblib.engine import artifacts as io
from nblib.ml.datasets import load_table
from nblib.ml.preprocess import ColumnRoles, normalize_columns
from nblib.pipeline import TRUSTED_TYPES

__all__ = ["predict_frame", "predict_file"]


def predict_frame(model, frame: pd.DataFrame, roles: ColumnRoles, task: str, threshold: float = 0.5) -> pd.DataFrame:
    """Clean ``frame`` like the training data and add prediction columns.

    Classification adds ``proba`` (positive class) and ``prediction`` at ``threshold``.

    Raises
    ------
    KeyError
        When a feature column the model was trained on is absent.
    """
    missing = [c for c in roles.features if c not in frame.columns]
    if missing:
        raise KeyError(f"missing columns the model needs: {', '.join(missing)}")
    X = normalize_columns(frame[roles.features], roles.to_dict())
    out = frame.copy()
    if task == "classification":
        proba = model.predict_proba(X)[:, 1]
        out["proba"] = proba
        out["prediction"] = np.where(proba >= threshold, model.classes_[1], model.classes_[0])
    else:
        out["prediction"] = model.predict(X)
    return out


def predict_file(model_path: str | Path, data_path: str | Path, output: str | Path) -> Path:
    """Score ``data_path`` with the model at ``model_path``.

    ``columns.json`` (and, for the decision threshold, ``metrics.json``) of the
    same run must sit beside the model, as in a run's ``artifacts/``.
    """
    model_path = Path(model_path)
    columns = io.read_json(model_path.parent / "columns.json")
    metrics_path = model_path.parent / "metrics.json"
    threshold = io.read_json(metrics_path).get("threshold", 0.5) if metrics_path.exists() else 0.5
    model = io.read_model(model_path, TRUSTED_TYPES)
    scored = predict_frame(model, load_table(data_path), ColumnRoles.from_dict(columns["roles"]),
                           columns["task"], threshold)
    output = Path(output)
    if output.suffix.lower() in (".parquet", ".pq"):
        return io.write_frame(output, scored)
    with io.atomic_path(output) as tmp:
        scored.to_csv(tmp, index=False)
    return output
