"""What a run folder says about its model, read for tracking: the chosen-model record, the likely
leaks it keeps, and which test rows it was scored on.

These change when the run folder's records change (``metrics.json``, ``cv_results.json``,
``leaks.json``, ``predictions.parquet``), not when MLflow does.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from nblib.engine.artifacts import read_json_or_none

__all__ = ["kept_leaks", "test_rows_sha256"]


def _chosen(metrics: dict[str, Any] | None, cv: dict[str, Any] | None = None) -> dict[str, Any]:
    """The chosen model's record (``metrics.json``'s, else ``cv_results.json``'s ``chosen``); older runs
    without one give ``{"name", "label", "kind": "single"}`` from ``best_model`` and the CV of that family.

    >>> _chosen({"chosen": {"name": "voting", "kind": "voting", "members": ["mlp", "ridge"]}})["label"]
    'voting'
    >>> _chosen({"best_model": "mlp"}, {"models": {"mlp": {"mean": 0.8, "std": 0.02}}})["cv_mean"]
    0.8
    """
    record = (metrics or {}).get("chosen") or (cv or {}).get("chosen")
    if record:
        return {"members": [], "label": record.get("name", ""), **record}
    name = str((metrics or {}).get("best_model") or (cv or {}).get("best_model") or "")
    family = ((cv or {}).get("models") or {}).get(name) or {}
    return {
        "name": name,
        "label": name,
        "kind": "single" if name else "",
        "members": [],
        "cv_mean": family.get("mean"),
        "cv_std": family.get("std"),
    }


def kept_leaks(run_art: str | Path) -> list[str]:
    """The likely leaks a run keeps, from its ``artifacts/leaks.json`` (none when there is none)."""
    return _kept_likely(read_json_or_none(Path(run_art) / "leaks.json"))


def _kept_likely(leaks: dict[str, Any] | None) -> list[str]:
    from nblib.ml.data.leaks import kept_likely

    return kept_likely(leaks)


def test_rows_sha256(predictions) -> str:
    """Which test rows with which truth: a hash of ``predictions.parquet``'s index and truth column.

    Two runs compare paired only when this and the data hash are equal.
    """
    import pandas as pd

    truth = [c for c in predictions.columns if c != "score" and not str(c).startswith("proba_")]
    frame = predictions[truth].astype(str) if truth else pd.DataFrame(index=predictions.index)
    hashed = pd.util.hash_pandas_object(frame, index=True).to_numpy()
    return hashlib.sha256(hashed.tobytes() + str(len(frame)).encode()).hexdigest()


def _read_frame(path):
    import pandas as pd

    return pd.read_parquet(path)
