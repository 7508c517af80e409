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

from nblib.ml.evaluation.gates import GateFailed, check_gates, check_promotion  # noqa: F401 (re-exported: notebooks call them here)
from nblib.ml.evaluation.registry import TASKS, primary_metric, test_metrics
from nblib.ml.evaluation.scoring import LOWER_IS_BETTER

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
    "check_promotion",
    "METRICS",
    "per_class_metrics",
    "cv_vs_test",
    "predictions_frame",
    "ovr_roc_auc",
]

#: The headline metric of each task (from :data:`nblib.ml.evaluation.registry.METRIC_REGISTRY`).
PRIMARY_METRIC = {task: primary_metric(task) for task in TASKS}
#: The test metrics each task computes, in the order :func:`classification_metrics` and
#: :func:`regression_metrics` return them (what ``evaluate.gates`` may name).
METRICS = {task: test_metrics(task) for task in TASKS}


def classification_metrics(y_true, proba, threshold: float = 0.5) -> dict[str, float]:
    """ROC-AUC, PR-AUC, F1, balanced accuracy and Brier score.

    ``proba`` is the positive-class probability (two classes, codes 0/1) or a
    matrix with one column per class code (three or more): then ROC-AUC and
    PR-AUC are one-vs-rest macro averages, F1 is the macro F1 of the most
    probable class, and Brier the mean squared error of the probability vector.
    """
    y_true = np.asarray(y_true)
    proba = np.asarray(proba, dtype=float)
    if proba.ndim == 2:
        return _multiclass_metrics(y_true, proba)
    pred = (proba >= threshold).astype(int)
    return {
        "roc_auc": float(roc_auc_score(y_true, proba)),
        "pr_auc": float(average_precision_score(y_true, proba)),
        "f1": float(f1_score(y_true, pred, zero_division=0)),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, pred)),
        "brier": float(brier_score_loss(y_true, proba)),
    }


def ovr_roc_auc(y_true, proba) -> float:
    """Macro one-vs-rest ROC-AUC over the classes present in ``y_true``.

    ``proba`` has one column per class code ``0 .. k-1``; a class with no row in
    ``y_true`` (a rare class absent from a test sample or a resample) has no
    one-vs-rest ROC-AUC and is left out of the average instead of failing, as
    scikit-learn's ``roc_auc_score(multi_class="ovr")`` does. Needs at least two
    classes present.

    >>> ovr_roc_auc([0, 0, 1, 1], [[.9, .1, 0], [.6, .3, .1], [.2, .7, .1], [.3, .5, .2]])
    1.0
    """
    y_true, proba = np.asarray(y_true).astype(int), np.asarray(proba, dtype=float)
    onehot = np.eye(proba.shape[1])[y_true]
    present = onehot.sum(axis=0) > 0
    if present.sum() < 2:
        raise ValueError("one class only: ROC-AUC undefined")
    return float(roc_auc_score(onehot[:, present], proba[:, present], average="macro"))


def _multiclass_metrics(y_true, proba) -> dict[str, float]:
    k = proba.shape[1]
    onehot = np.eye(k)[y_true.astype(int)]
    present = onehot.sum(axis=0) > 0
    pred = proba.argmax(axis=1)
    return {
        "roc_auc": ovr_roc_auc(y_true, proba),
        "pr_auc": float(average_precision_score(onehot[:, present], proba[:, present], average="macro")),
        "f1": float(f1_score(y_true, pred, average="macro", labels=np.flatnonzero(present), zero_division=0)),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, pred)),
        "brier": float(np.mean(np.sum((proba - onehot) ** 2, axis=1)) / 2),
    }


def per_class_metrics(y_true, proba, classes: list[Any]) -> pd.DataFrame:
    """Precision, recall, F1, support and one-vs-rest ROC-AUC of each class (most probable class predicted)."""
    from sklearn.metrics import precision_recall_fscore_support

    y_true, proba = np.asarray(y_true).astype(int), np.asarray(proba, dtype=float)
    pred = proba.argmax(axis=1)
    codes = np.arange(len(classes))
    p, r, f, n = precision_recall_fscore_support(y_true, pred, labels=codes, zero_division=0)
    auc = [
        float(roc_auc_score(y_true == c, proba[:, c])) if 0 < (y_true == c).sum() < len(y_true) else np.nan
        for c in codes
    ]
    return pd.DataFrame(
        {"precision": p, "recall": r, "f1": f, "support": n, "roc_auc_ovr": auc},
        index=pd.Index([str(c) for c in classes], name="class"),
    ).round(4)


def predictions_frame(test: pd.DataFrame, target: str, scores, classes: list[Any] | None = None) -> pd.DataFrame:
    """Test rows' target (in the user's labels) and scores: ``score`` (two classes, regression) or ``proba_<class>``."""
    scores = np.asarray(scores, dtype=float)
    y = test[target]
    out = pd.DataFrame({target: np.asarray(classes, dtype=object)[y.astype(int)] if classes else y}, index=test.index)
    if scores.ndim == 2:
        for j, name in enumerate(classes):
            out[f"proba_{name}"] = scores[:, j]
    else:
        out["score"] = scores
    return out


def regression_metrics(y_true, pred) -> dict[str, float]:
    """RMSE, MAE and R²."""
    return {
        "rmse": float(root_mean_squared_error(y_true, pred)),
        "mae": float(mean_absolute_error(y_true, pred)),
        "r2": float(r2_score(y_true, pred)),
    }


def score_model(model, X: pd.DataFrame, task: str) -> np.ndarray:
    """Positive-class probability (two classes), a probability per class (three or
    more: one column per class code), or the prediction (regression)."""
    if task == "classification":
        proba = model.predict_proba(X)
        return proba[:, 1] if proba.shape[1] == 2 else proba
    return model.predict(X)


def bootstrap_intervals(
    y_true,
    scores,
    task: str,
    *,
    n_boot: int = 500,
    confidence: float = 0.95,
    threshold: float = 0.5,
    random_state: int = 0,
    n_jobs: int | None = None,
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
        if task == "classification" and len(np.unique(y_true[idx])) < len(np.unique(y_true)):
            continue
        values = (
            classification_metrics(y_true[idx], scores[idx], threshold)
            if task == "classification"
            else regression_metrics(y_true[idx], scores[idx])
        )
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
        rows[name] = {
            "test": value,
            "ci_low": low,
            "ci_high": high,
            "oracle": report.get("oracle", {}).get(name, np.nan),
        }
    table = pd.DataFrame(rows).T
    return table.dropna(axis=1, how="all").round(4)


def evaluation_report(
    y_true: pd.Series,
    scores: np.ndarray,
    *,
    task: str,
    best_model: str | None = None,
    cv: dict[str, Any],
    oracle_proba: pd.Series | None = None,
    oracle_train: tuple[Any, Any] | None = None,
    classes: list[Any] | None = None,
    positive_class: Any = None,
    n_boot: int = 500,
    confidence: float = 0.95,
    threshold: float = 0.5,
    threshold_by: str = "fixed",
    random_state: int = 0,
    n_jobs: int | None = None,
) -> dict[str, Any]:
    """Everything ``metrics.json`` holds (see DESIGN.md), JSON-ready.

    Keys: ``task``, ``primary_metric``, ``test``, ``test_ci``, ``cv``,
    ``best_model``, ``n_test``, ``confidence``, ``oracle`` (generated data only),
    ``classes``, ``positive_class``, ``threshold`` (two classes),
    ``confusion_matrix`` (classification), ``cv_vs_test`` and ``warnings``.

    ``cv`` is ``cv_results.json``. Its ``chosen`` record (the saved model: a family or an
    ensemble, with the CV of that model) is copied as ``chosen``; ``best_model`` is its name,
    and the CV-versus-test check compares the test score with *its* CV. ``best_model`` as an
    argument is only used for older results without ``chosen``.
    """
    if task == "classification":
        test = classification_metrics(y_true, scores, threshold)
    else:
        test = regression_metrics(y_true, scores)
    chosen = cv.get("chosen") or None
    if chosen:
        best_model = chosen["name"]
    report: dict[str, Any] = {
        "task": task,
        "primary_metric": PRIMARY_METRIC[task],
        "best_model": best_model,
        "chosen": chosen,
        "n_test": int(len(y_true)),
        "confidence": confidence,
        "test": test,
        "test_ci": bootstrap_intervals(
            y_true,
            scores,
            task,
            n_boot=n_boot,
            confidence=confidence,
            threshold=threshold,
            random_state=random_state,
            n_jobs=n_jobs,
        ),
        "cv": {name: {"mean": r["mean"], "std": r["std"]} for name, r in cv.get("models", {}).items()},
        "cv_scoring": cv.get("scoring"),
        "warnings": [],
    }
    if task == "classification":
        scores_arr = np.asarray(scores, dtype=float)
        report["classes"] = list(classes) if classes is not None else sorted(np.unique(y_true).tolist())
        report["positive_class"] = positive_class
        if scores_arr.ndim == 1:
            report["threshold"] = threshold
            report["threshold_by"] = threshold_by
            at_half = classification_metrics(y_true, scores_arr, 0.5)
            report["at_threshold_0.5"] = {k: at_half[k] for k in ("f1", "balanced_accuracy")}
            predicted = (scores_arr >= threshold).astype(int)
        else:
            predicted = scores_arr.argmax(axis=1)
        labels = list(range(len(report["classes"])))
        counts = np.bincount(np.asarray(y_true).astype(int), minlength=len(labels))
        absent = [str(report["classes"][c]) for c in labels if counts[c] == 0]
        if absent:
            report["warnings"].append(
                f"class {', '.join(map(repr, absent))} has no row in the test split: its scores are not measured "
                f"(the macro averages leave it out); with so few rows, merge or remove it, or raise "
                f"preprocess.test_size"
            )
        report["confusion_matrix"] = confusion_matrix(np.asarray(y_true).astype(int), predicted, labels=labels).tolist()
    if oracle_proba is not None and task == "classification":
        oracle = classification_metrics(y_true, oracle_proba, threshold)
        report["oracle"] = {"roc_auc": oracle["roc_auc"], "pr_auc": oracle["pr_auc"]}
        gap = oracle["roc_auc"] - test["roc_auc"]
        report["oracle_gap"] = {"roc_auc": gap}
        if oracle_train is not None:  # how hard the test rows are, compared with the training rows
            report["oracle_split"] = {
                "test": oracle["roc_auc"],
                "train": float(roc_auc_score(*map(np.asarray, oracle_train))),
            }
        if gap > 0.03:
            report["warnings"].append(
                f"test ROC-AUC is {gap:.3f} below the oracle (Bayes) ROC-AUC "
                f"{oracle['roc_auc']:.3f}: there is signal left to learn"
            )
    if chosen and chosen.get("cv_mean") is not None:
        best_cv = {"mean": chosen["cv_mean"], "std": chosen.get("cv_std") or 0.0}
    else:
        best_cv = report["cv"].get(best_model, {})
    primary = PRIMARY_METRIC[task]
    same_metric = {"roc_auc", "roc_auc_ovr"} if task == "classification" else {"neg_root_mean_squared_error"}
    if best_cv and cv.get("scoring") in same_metric:  # same metric on both sides
        cv_value = -best_cv["mean"] if task == "regression" else best_cv["mean"]
        report["cv_vs_test"] = cv_vs_test(
            cv_value,
            best_cv.get("std", 0.0),
            cv.get("folds", 5),
            test[primary],
            report["test_ci"].get(primary),
            primary,
            report.get("oracle_split"),
        )
        report["cv_vs_test"]["model"] = best_model
        if chosen and chosen.get("cv_note"):
            report["cv_vs_test"]["cv_note"] = chosen["cv_note"]
            report["cv_vs_test"]["explanation"] += (
                f"; the CV is that of the chosen model, {chosen.get('label') or best_model} ({chosen['cv_note']})"
            )
        if report["cv_vs_test"]["far"]:
            report["warnings"].append(report["cv_vs_test"]["explanation"])
    return report


def cv_vs_test(
    cv_mean: float,
    cv_std: float,
    folds: int,
    test: float,
    test_ci: tuple[float, float] | None,
    metric: str,
    oracle_split: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Is the test score where cross-validation said it would be? With the reasons a gap can have.

    The test score is "far" when the difference exceeds both the spread of the
    fold scores (2 standard deviations) and the test score's own bootstrap
    interval half-width, the two noises that make CV and test disagree by chance.
    With ``oracle_split`` (the true probabilities' score on the test and on the
    training rows, generated data only) the part of the gap due to an easier or
    harder test split is measured rather than guessed.
    """
    diff = test - cv_mean
    half = (test_ci[1] - test_ci[0]) / 2 if test_ci else 0.0
    noise = max(2 * cv_std, half)
    far = abs(diff) > noise
    better = (diff > 0) != (metric in LOWER_IS_BETTER)
    if not far:
        why = (
            f"test {metric} {test:.4f} is within noise of the CV mean {cv_mean:.4f} "
            f"(difference {diff:+.4f}; fold spread ±{2 * cv_std:.4f}, test interval ±{half:.4f})"
        )
    elif better:
        why = (
            f"test {metric} {test:.4f} is better than the CV mean {cv_mean:.4f} by {abs(diff):.4f}, beyond the "
            f"fold spread (±{2 * cv_std:.4f}) and the test interval (±{half:.4f}). Usual reasons: the final model "
            f"is fit on all training rows, CV models on {folds - 1}/{folds} of them (more data helps a model "
            f"still learning); a test split that happens to be easier; duplicate groups split in CV but not in test"
        )
    else:
        why = (
            f"test {metric} {test:.4f} is worse than the CV mean {cv_mean:.4f} by {abs(diff):.4f}, beyond the "
            f"fold spread (±{2 * cv_std:.4f}) and the test interval (±{half:.4f}). Usual reasons: information "
            f"shared between CV folds but not with the test split (duplicates, a leak), a model chosen for its "
            f"lucky CV score among many, or test rows unlike the training rows (drift)"
        )
    if oracle_split:
        easier = oracle_split["test"] - oracle_split["train"]
        why += (
            f". Measured here: the oracle (true probabilities) scores {oracle_split['test']:.4f} on the test rows "
            f"and {oracle_split['train']:.4f} on the training rows, so the test split is "
            f"{'easier' if easier > 0 else 'harder'} by {abs(easier):.4f} by chance"
            + (
                f"; that accounts for {min(abs(easier) / abs(diff), 1):.0%} of the gap"
                if diff and easier * diff > 0
                else ""
            )
        )
    return {
        "cv": cv_mean,
        "cv_std": cv_std,
        "test": test,
        "difference": diff,
        "noise": noise,
        "far": bool(far),
        "explanation": why,
    }
