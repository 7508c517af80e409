"""How a score is shown: scikit-learn's scorers are "greater is better" (RMSE is scored as
``neg_root_mean_squared_error``, a negative number), but every page, table and plot shows the
metric itself, RMSE positive, with its own direction.

>>> shown_scoring("neg_root_mean_squared_error")
('rmse', -1.0)
>>> shown_scoring("roc_auc")
('roc_auc', 1.0)
>>> lower_is_better("rmse"), lower_is_better("neg_root_mean_squared_error"), lower_is_better("roc_auc")
(True, True, False)
"""

from __future__ import annotations

from typing import Any

from nblib.ml.evaluation.registry import lower_names, scorer_names

__all__ = ["LOWER_IS_BETTER", "shown_scoring", "shown_score", "lower_is_better", "shown_cv", "shown_frame"]

#: Metrics (as pages name them) for which a smaller value is better, from
#: :data:`nblib.ml.evaluation.registry.METRIC_REGISTRY`.
LOWER_IS_BETTER = lower_names()

_NAMES = scorer_names()


def shown_scoring(scoring: Any) -> tuple[str, float]:
    """The name a page gives a scikit-learn scorer, and the sign that turns its scores into that metric.

    Parameters
    ----------
    scoring : str or None
        A scorer name such as ``"neg_root_mean_squared_error"`` or ``"roc_auc"``.

    Returns
    -------
    tuple of (str, float)
        ``("rmse", -1.0)`` for ``neg_root_mean_squared_error``; the name unchanged and ``1.0``
        for a scorer that is already the metric.
    """
    text = str(scoring or "")
    if text.startswith("neg_"):
        return _NAMES.get(text, text[4:]), -1.0
    return text, 1.0


def shown_score(value: Any, scoring: Any) -> Any:
    """``value`` (a score of ``scoring``) as the metric a page shows; non-numbers pass through."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    return shown_scoring(scoring)[1] * value


def lower_is_better(metric: Any) -> bool:
    """Whether a smaller value of ``metric`` (a page's name or a scorer's) is better."""
    return shown_scoring(metric)[0] in LOWER_IS_BETTER or str(metric or "") in LOWER_IS_BETTER


def shown_frame(frame: Any, scoring: Any, columns: tuple[str, ...] = ("mean",)) -> Any:
    """A copy of a table of CV scores (search trials, ensemble candidates) with ``columns`` as the
    metric itself, best first: RMSE positive and ascending, a "greater is better" score unchanged
    and descending.

    >>> import pandas as pd
    >>> shown_frame(pd.DataFrame({"mean": [-2.0, -1.5]}), "neg_root_mean_squared_error")
       mean
    1   1.5
    0   2.0
    """
    _, sign = shown_scoring(scoring)
    out = frame.copy()
    for column in columns:
        if column in out:
            out[column] = sign * out[column]
    if columns and columns[0] in out:
        out = out.sort_values(columns[0], ascending=lower_is_better(scoring), kind="stable")
    return out


def shown_cv(cv: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``cv_results.json`` with every score as the metric itself (RMSE positive):
    the models' means and folds, the chosen model's CV, search best scores and trials, ensemble
    candidates. ``scoring`` becomes the shown name (``rmse``) and ``scorer`` keeps the original."""
    scoring = cv.get("scoring")
    name, sign = shown_scoring(scoring)
    if sign == 1.0:
        return dict(cv)

    def flip(value: Any) -> Any:
        if isinstance(value, list):
            return [flip(v) for v in value]
        return shown_score(value, scoring)

    out = {**cv, "scoring": name, "scorer": scoring}
    out["models"] = {
        k: {**m, **{f: flip(m[f]) for f in ("mean", "scores") if f in m}}
        for k, m in (cv.get("models") or {}).items()
        if isinstance(m, dict)
    }
    if isinstance(cv.get("chosen"), dict):
        out["chosen"] = {
            **cv["chosen"],
            "cv_mean": flip(cv["chosen"].get("cv_mean")),
            "cv_scores": flip(cv["chosen"].get("cv_scores") or []),
        }
    if isinstance(cv.get("search"), dict):
        out["search"] = {
            k: {**s, "best_score": flip(s.get("best_score"))} if isinstance(s, dict) else s
            for k, s in cv["search"].items()
        }
    ensemble = cv.get("ensemble")
    if isinstance(ensemble, dict) and isinstance(ensemble.get("candidates"), dict):
        out["ensemble"] = {
            **ensemble,
            "candidates": {
                k: {**c, "mean": flip(c.get("mean"))} if isinstance(c, dict) else c
                for k, c in ensemble["candidates"].items()
            },
        }
    return out
