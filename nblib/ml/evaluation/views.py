"""What ``05_evaluate`` decides before it scores and shows: the oracle's rows, the threshold,
the per-class table, the lines it prints. Values in, values out (no params, no run folder).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["oracle_parts", "chosen_threshold", "per_class_table", "report_lines"]


def oracle_parts(
    oracle: pd.DataFrame | None, test_index: pd.Index, train_y: pd.Series
) -> tuple[pd.Series | None, tuple[pd.Series, pd.Series] | None]:
    """The oracle's true probabilities on the test rows, and ``(train_y, its true probabilities)``
    on the training rows; ``(None, None)`` when the data has no oracle (a user's file).

    ``oracle`` is the ``oracle`` artifact (a ``true_proba`` column indexed like the raw rows).

    >>> truth = pd.DataFrame({"true_proba": [0.1, 0.2, 0.9]})
    >>> test, (y, train) = oracle_parts(truth, pd.Index([2]), pd.Series([0, 1], index=[0, 1]))
    >>> test.tolist(), train.tolist()
    ([0.9], [0.1, 0.2])
    >>> oracle_parts(None, pd.Index([2]), pd.Series([0]))
    (None, None)
    """
    if oracle is None:
        return None, None
    truth = oracle["true_proba"]
    return truth.loc[test_index], (train_y, truth.loc[train_y.index])


def chosen_threshold(cv: dict[str, Any], fixed: float | None = None) -> dict[str, Any]:
    """The decision threshold ``04_train`` chose (``cv_results.json``'s ``threshold``: ``threshold``,
    ``by`` and its evidence), else ``fixed`` (``evaluate.threshold``) with ``by: fixed``.

    >>> chosen_threshold({}, 0.4)
    {'threshold': 0.4, 'by': 'fixed'}
    >>> chosen_threshold({"threshold": {"threshold": 0.2, "by": "f1"}}, 0.4)["by"]
    'f1'
    """
    return cv.get("threshold") or {"threshold": fixed, "by": "fixed"}


def per_class_table(y_true, scores, task: str, classes: list[Any] | None) -> pd.DataFrame | None:
    """:func:`~nblib.ml.evaluation.metrics.per_class_metrics` for three or more classes; ``None``
    otherwise (two classes and regression have their headline metrics)."""
    if task != "classification" or classes is None or len(classes) <= 2:
        return None
    from nblib.ml.evaluation.metrics import per_class_metrics

    return per_class_metrics(y_true, scores, classes)


def report_lines(report: dict[str, Any]) -> list[str]:
    """What the evaluation warns about (``WARNING: ...``, one line each), then how the test
    score compares with cross-validation's estimate (``cv_vs_test``), when known.

    >>> report_lines({"warnings": ["few rows"], "cv_vs_test": {"explanation": "as expected"}})
    ['WARNING: few rows', 'as expected']
    """
    lines = [f"WARNING: {warning}" for warning in report.get("warnings", [])]
    if "cv_vs_test" in report:
        lines.append(report["cv_vs_test"]["explanation"])
    return lines
