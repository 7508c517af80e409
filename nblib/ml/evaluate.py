"""Evaluation on the held-out test split: metrics, bootstrap intervals, oracle ceiling.

The test split is scored once, here. Metrics come with percentile bootstrap
confidence intervals so a reviewer can tell a real difference from noise.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import (
    average_precision_score,
    balanced_accuracy_score,
    brier_score_loss,
    confusion_matrix,
    f1_score,
    mean_absolute_error,
    r2_score,
    roc_auc_score,
    root_mean_squared_error,
)

__all__ = [
    "PRIMARY_METRIC",
    "classification_metrics",
    "regression_metrics",
    "score_model",
    "bootstrap_intervals",
    "evaluation_report",
    "metrics_table",
    "check_gates",
    "GateFailed",
    "METRICS",
]

PRIMARY_METRIC = {"classification": "roc_auc", "regression": "rmse"}
METRICS = {
    "classification": ("roc_auc", "pr_auc", "f1", "balanced_accuracy", "brier"),
    "regression": ("rmse", "mae", "r2"),
}
LOWER_IS_BETTER = frozenset({"rmse", "mae", "brier"})


class GateFailed(Exception):
    """A test metric missed its gate (the runner exits 3 and marks the run ``gated``)."""


def check_gates(test: dict[str, float], gates: dict[str, float]) -> None:
    """Raise :class:`GateFailed` naming every metric that misses its gate.

    A gate is a minimum for scores and a maximum for errors (rmse, mae, brier).

    >>> check_gates({"roc_auc": 0.8}, {"roc_auc": 0.75})
    >>> check_gates({"rmse": 5.0}, {"rmse": 4.0})
    Traceback (most recent call last):
    ...
    nblib.ml.evaluate.GateFailed: test rmse 5.0000 > gate 4.0000
    """
    misses = []
    for metric, bound in gates.items():
        value = test[metric]
        if metric in LOWER_IS_BETTER and value > bound:
            misses.append(f"test {metric} {value:.4f} > gate {bound:.4f}")
        elif metric not in LOWER_IS_BETTER and value < bound:
            misses.append(f"test {metric} {value:.4f} < gate {bound:.4f}")
    if misses:
        raise GateFailed("; ".join(misses))


def classification_metrics(y_true, proba, threshold: float = 0.5) -> dict[str, float]:
    """ROC-AUC, PR-AUC, F1, balanced accuracy and Brier score of positive-class probabilities."""
    y_true = np.asarray(y_true)
    proba = np.asarray(proba, dtype=float)
    pred = (proba >= threshold).astype(int)
    return {
        "roc_auc": float(roc_auc_score(y_true, proba)),
        "pr_auc": float(average_precision_score(y_true, proba)),
        "f1": float(f1_score(y_true, pred, zero_division=0)),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, pred)),
        "brier": float(brier_score_loss(y_true, proba)),
    }


def regression_metrics(y_true, pred) -> dict[str, float]:
    """RMSE, MAE and R²."""
    return {
        "rmse": float(root_mean_squared_error(y_true, pred)),
        "mae": float(mean_absolute_error(y_true, pred)),
        "r2": float(r2_score(y_true, pred)),
    }


def score_model(model, X: pd.DataFrame, task: str) -> np.ndarray:
    """Positive-class probability (classification) or prediction (regression)."""
    if task == "classification":
        return model.predict_proba(X)[:, 1]
    return model.predict(X)


def bootstrap_intervals(
    y_true, scores, task: str, *, n_boot: int = 500, confidence: float = 0.95,
    threshold: float = 0.5, random_state: int = 0, n_jobs: int | None = None,
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap interval of every metric (resampling test rows).

    Resamples are drawn up front from ``random_state``, so the result does not
    depend on ``n_jobs``.
    """
    if n_boot <= 0:
        return {}
    from joblib import Parallel, delayed

    y_true, scores = np.asarray(y_true), np.asarray(scores, dtype=float)
    rng = np.random.default_rng(random_state)
    resamples = rng.integers(0, len(y_true), (n_boot, len(y_true)))
    n_chunks = max(1, min(n_boot, _n_workers(n_jobs)))
    chunks = Parallel(n_jobs=n_chunks)(
        delayed(_metrics_on_resamples)(y_true, scores, part, task, threshold)
        for part in np.array_split(resamples, n_chunks)
    )
    samples: dict[str, list[float]] = {}
    for chunk in chunks:
        for k, v in chunk.items():
            samples.setdefault(k, []).extend(v)
    alpha = (1 - confidence) / 2
    return {k: (float(np.quantile(v, alpha)), float(np.quantile(v, 1 - alpha))) for k, v in samples.items()}


def _metrics_on_resamples(y_true, scores, resamples, task: str, threshold: float) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for idx in resamples:
        if task == "classification" and len(np.unique(y_true[idx])) < 2:
            continue
        values = (classification_metrics(y_true[idx], scores[idx], threshold) if task == "classification"
                  else regression_metrics(y_true[idx], scores[idx]))
        for k, v in values.items():
            out.setdefault(k, []).append(v)
    return out


def _n_workers(n_jobs: int | None) -> int:
    import os

    if n_jobs is None or n_jobs == 0:
        return 1
    return os.cpu_count() or 1 if n_jobs < 0 else n_jobs


def metrics_table(report: dict[str, Any]) -> pd.DataFrame:
    """Test metrics with their interval and, when known, the oracle value."""
    rows = {}
    for name, value in report["test"].items():
        low, high = report.get("test_ci", {}).get(name, (np.nan, np.nan))
        rows[name] = {"test": value, "ci_low": low, "ci_high": high,
                      "oracle": report.get("oracle", {}).get(name, np.nan)}
    table = pd.DataFrame(rows).T
    return table.dropna(axis=1, how="all").round(4)


def evaluation_report(
    y_true: pd.Series,
    scores: np.ndarray,
    *,
    task: str,
    best_model: str,
    cv: dict[str, Any],
    oracle_proba: pd.Series | None = None,
    n_boot: int = 500,
    confidence: float = 0.95,
    threshold: float = 0.5,
    random_state: int = 0,
    n_jobs: int | None = None,
) -> dict[str, Any]:
    """Everything ``metrics.json`` holds (see DESIGN.md), JSON-ready.

    Keys: ``task``, ``primary_metric``, ``test``, ``test_ci``, ``cv``,
    ``best_model``, ``n_test``, ``confidence``, ``oracle`` (generated data only),
    ``confusion_matrix`` (classification) and ``warnings``.
    """
    if task == "classification":
        test = classification_metrics(y_true, scores, threshold)
    else:
        test = regression_metrics(y_true, scores)
    report: dict[str, Any] = {
        "task": task,
        "primary_metric": PRIMARY_METRIC[task],
        "best_model": best_model,
        "n_test": int(len(y_true)),
        "confidence": confidence,
        "test": test,
        "test_ci": bootstrap_intervals(y_true, scores, task, n_boot=n_boot, confidence=confidence,
                                       threshold=threshold, random_state=random_state, n_jobs=n_jobs),
        "cv": {name: {"mean": r["mean"], "std": r["std"]} for name, r in cv.get("models", {}).items()},
        "cv_scoring": cv.get("scoring"),
        "warnings": [],
    }
    if task == "classification":
        report["threshold"] = threshold
        report["confusion_matrix"] = confusion_matrix(y_true, (np.asarray(scores) >= threshold).astype(int)).tolist()
    if oracle_proba is not None and task == "classification":
        oracle = classification_metrics(y_true, oracle_proba, threshold)
        report["oracle"] = {"roc_auc": oracle["roc_auc"], "pr_auc": oracle["pr_auc"]}
        gap = oracle["roc_auc"] - test["roc_auc"]
        report["oracle_gap"] = {"roc_auc": gap}
        if gap > 0.03:
            report["warnings"].append(f"test ROC-AUC is {gap:.3f} below the oracle (Bayes) ROC-AUC "
                                      f"{oracle['roc_auc']:.3f}: there is signal left to learn")
    best_cv = report["cv"].get(best_model, {}).get("mean")
    primary = PRIMARY_METRIC[task]
    default_scorer = "roc_auc" if task == "classification" else "neg_root_mean_squared_error"
    if best_cv is not None and cv.get("scoring") == default_scorer:  # same metric on both sides
        cv_value = -best_cv if task == "regression" else best_cv
        report["cv_vs_test"] = {"cv": cv_value, "test": test[primary]}
    return report
