"""The decision threshold of a binary classifier, chosen on out-of-fold training predictions.

A model's ``predict`` calls a row positive when its positive-class probability
reaches 0.5; with a rare positive class that misses most positives. Here the
threshold is chosen on the out-of-fold (OOF) probabilities of the training rows
— never on the test split — by one of three rules:

* ``"f1"``: the threshold with the highest F1 of the positive class;
* ``"cost"``: the lowest expected cost per row, ``(fp_cost * FP + fn_cost * FN) / n``;
* ``"fixed"``: a number given by the user.

:func:`with_threshold` wraps the fitted model so that ``predict`` applies it
(``predict_proba`` is unchanged), and the wrapped model saves with skops.

A row is positive when ``probability >= threshold``. Among the cut points that
give the same OOF predictions, the threshold reported is the midpoint between
the lowest score called positive and the highest called negative: the widest
margin on both sides for rows not seen yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from nblib.common.jsonsafe import finite

__all__ = ["RULES", "ThresholdChoice", "choose_threshold", "plot_threshold", "threshold_of", "with_threshold"]

#: How the threshold can be chosen (params ``evaluate.threshold_by``).
RULES = ("f1", "cost", "fixed")

_GRID_POINTS = 200
_BLUE, _ORANGE, _GREEN, _GREY, _RED = "#1f77b4", "#ff7f0e", "#2ca02c", "#8c959f", "#d62728"


@dataclass
class ThresholdChoice:
    """The chosen threshold, the metrics it gives on the OOF predictions, and the sweep behind it.

    Attributes
    ----------
    threshold : float
        Rows with positive-class probability ``>=`` this are predicted positive.
    by : {"f1", "cost", "fixed"}
        The rule that chose it.
    at_threshold, at_default : dict
        ``f1``, ``precision``, ``recall``, ``balanced_accuracy`` (and ``cost``, the
        expected cost per row, when costs were given) at the chosen threshold and at 0.5.
    table : DataFrame
        Same metrics over a grid of at most 200 thresholds (the distinct OOF scores,
        thinned evenly), for the plot.
    cost : dict or None
        ``{"fp": ..., "fn": ...}`` when given.
    rows, positives : int
        How many OOF predictions the choice rests on, and how many of them are positive.
    """

    threshold: float
    by: str
    at_threshold: dict[str, float]
    at_default: dict[str, float]
    table: pd.DataFrame = field(repr=False)
    cost: dict[str, float] | None = None
    rows: int = 0
    positives: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: plain floats, no NaN; the table as one list per column."""
        return {
            "threshold": float(self.threshold),
            "by": self.by,
            "cost": None if self.cost is None else {k: float(v) for k, v in self.cost.items()},
            "rows": int(self.rows),
            "positives": int(self.positives),
            "at_threshold": _plain(self.at_threshold),
            "at_default": _plain(self.at_default),
            "table": {column: [finite(v) for v in self.table[column]] for column in self.table.columns},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ThresholdChoice:
        """The record :meth:`to_dict` wrote (``cv_results.json["threshold"]``); a missing key raises
        :class:`~nblib.ml.evaluation.records.RecordError` naming it."""
        from nblib.ml.evaluation.records import require_keys

        require_keys(data, ("threshold", "by", "at_threshold", "at_default"), "threshold record")
        nan = float("nan")
        table = pd.DataFrame(
            {c: [nan if v is None else v for v in values] for c, values in (data.get("table") or {}).items()}
        )
        return cls(
            threshold=float(data["threshold"]),
            by=str(data["by"]),
            at_threshold={k: nan if v is None else float(v) for k, v in data["at_threshold"].items()},
            at_default={k: nan if v is None else float(v) for k, v in data["at_default"].items()},
            table=table,
            cost=data.get("cost"),
            rows=int(data.get("rows") or 0),
            positives=int(data.get("positives") or 0),
        )


def choose_threshold(
    y,
    oof_proba,
    *,
    by: str = "f1",
    fixed: float = 0.5,
    cost: dict[str, float] | None = None,
) -> ThresholdChoice:
    """Choose the decision threshold on out-of-fold predictions of the training rows.

    Parameters
    ----------
    y : array-like of shape (n,)
        True classes, coded 0/1 (1 is the positive class).
    oof_proba : array-like of shape (n,) or (n, 2)
        Out-of-fold positive-class probabilities (or both columns of ``predict_proba``).
    by : {"f1", "cost", "fixed"}
        ``"f1"``: maximise F1; ``"cost"``: minimise the expected cost per row;
        ``"fixed"``: use ``fixed``. Ties go to the threshold nearest 0.5.
    fixed : float
        The threshold when ``by="fixed"``, in [0, 1].
    cost : dict, optional
        ``{"fp": cost of a false positive, "fn": cost of a false negative}``; required
        for ``by="cost"``, otherwise only reported.

    Returns
    -------
    ThresholdChoice

    Examples
    --------
    >>> choice = choose_threshold([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> round(choice.threshold, 3), round(choice.at_threshold["f1"], 3), round(choice.at_default["f1"], 3)
    (0.225, 0.8, 0.667)
    """
    y, scores = _check_inputs(y, oof_proba)
    if by not in RULES:
        raise ValueError(f"threshold rule must be one of {', '.join(RULES)}; got {by!r}")
    cost = _check_cost(cost, required=by == "cost")
    if by == "fixed" and not (isinstance(fixed, (int, float)) and 0 <= fixed <= 1):
        raise ValueError(f"fixed threshold must be a number in [0, 1]; got {fixed!r}")

    if by == "fixed":
        threshold = float(fixed)
    else:
        cuts, reported = _cut_points(scores)
        counts = _counts(y, scores, cuts)
        target = _f1(counts) if by == "f1" else -_cost(counts, cost)
        best = np.flatnonzero(np.isclose(target, target.max(), rtol=0, atol=1e-12))
        threshold = float(reported[best[np.argmin(np.abs(reported[best] - 0.5))]])

    grid = np.unique(scores)
    if len(grid) > _GRID_POINTS:
        grid = np.unique(grid[np.linspace(0, len(grid) - 1, _GRID_POINTS).round().astype(int)])
    table = pd.DataFrame({"threshold": grid, **_metrics(_counts(y, scores, grid), cost)})
    return ThresholdChoice(
        threshold=threshold,
        by=by,
        at_threshold=_at(y, scores, threshold, cost),
        at_default=_at(y, scores, 0.5, cost),
        table=table,
        cost=cost,
        rows=len(y),
        positives=int(y.sum()),
    )


def with_threshold(model, threshold: float):
    """The fitted binary ``model`` with ``predict`` at ``threshold``; ``predict_proba`` is unchanged.

    A scikit-learn ``FixedThresholdClassifier`` around a ``FrozenEstimator``: the
    model is not refit (cloning or fitting the wrapper leaves it as it is), and both
    types load with skops without being trusted by hand.

    Parameters
    ----------
    model : fitted classifier with ``predict_proba`` and two classes.
    threshold : float
        Rows with positive-class probability ``>= threshold`` are predicted as the
        second class of ``model.classes_`` (1 for classes coded 0/1).

    Returns
    -------
    FixedThresholdClassifier
        Fitted; its ``estimator`` is the frozen ``model`` (kept once: no ``estimator_`` copy).
    """
    from sklearn.frozen import FrozenEstimator
    from sklearn.model_selection import FixedThresholdClassifier

    classes = getattr(model, "classes_", None)
    if classes is None or len(classes) != 2:
        raise ValueError("with_threshold needs a fitted binary classifier (classes_ with two classes)")
    wrapped = FixedThresholdClassifier(
        FrozenEstimator(model), threshold=float(threshold), pos_label=classes[1], response_method="predict_proba"
    )
    # FixedThresholdClassifier.fit only checks that y is binary and "fits" the frozen model, which
    # ignores X: one placeholder row per class marks the wrapper fitted without any training rows.
    wrapped.fit(np.zeros((2, 1)), np.asarray(classes))
    # fit left the frozen model in both ``estimator`` and ``estimator_``; skops would write it twice. The
    # wrapper reads ``estimator_`` or, when absent, the (prefit) ``estimator``, so one reference is enough.
    del wrapped.estimator_
    return wrapped


def threshold_of(model) -> float | None:
    """The decision threshold a binary ``model`` carries (set by :func:`with_threshold`), else None.

    The model is the one place the threshold lives: scoring reads it here, never from
    ``metrics.json``. None means the model decides by its own ``predict``.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    >>> threshold_of(model) is None, threshold_of(with_threshold(model, 0.3))
    (True, 0.3)
    """
    from sklearn.model_selection import FixedThresholdClassifier

    if not isinstance(model, FixedThresholdClassifier) or model.response_method != "predict_proba":
        return None
    classes = getattr(model, "classes_", None)
    if classes is None or len(classes) != 2 or model.pos_label not in (None, classes[1]):
        return None
    return 0.5 if model.threshold == "auto" else float(model.threshold)


def plot_threshold(choice: ThresholdChoice | dict[str, Any]) -> Figure:
    """Precision, recall and F1 (and the expected cost) against the threshold; chosen and 0.5 marked.

    ``choice`` is a :class:`ThresholdChoice` or its :meth:`~ThresholdChoice.to_dict`.
    """
    d = choice.to_dict() if isinstance(choice, ThresholdChoice) else choice
    table = pd.DataFrame(d["table"])
    fig = Figure(figsize=(6.4, 4.6), layout="constrained")
    ax = fig.subplots()
    for column, color in (("precision", _BLUE), ("recall", _GREEN), ("f1", _ORANGE)):
        ax.plot(table["threshold"], table[column], color=color, lw=1.4, label=column if column != "f1" else "F1")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("threshold (predicted positive when probability ≥ threshold)")
    ax.set_ylabel("precision, recall, F1")
    chosen, default = d["at_threshold"], d["at_default"]
    what = (
        f"cost {chosen['cost']:.3g} per row"
        if d["by"] == "cost" and chosen.get("cost") is not None
        else f"F1 {chosen['f1']:.3f}"
    )
    ax.axvline(d["threshold"], color="black", lw=1.2, label=f"chosen {d['threshold']:.3f} ({d['by']}): {what}")
    ax.axvline(0.5, color=_GREY, lw=1, ls="--", label=f"0.5: F1 {default['f1']:.3f}")
    handles, labels = ax.get_legend_handles_labels()
    if d.get("cost") and "cost" in table:
        twin = ax.twinx()
        line = twin.plot(
            table["threshold"],
            table["cost"],
            color=_RED,
            lw=1.2,
            ls=":",
            label=f"expected cost per row (fp {d['cost']['fp']:g}, fn {d['cost']['fn']:g})",
        )
        twin.set_ylabel("expected cost per row")
        twin.set_ylim(bottom=0)
        handles, labels = handles + line, labels + [line[0].get_label()]
    fig.legend(handles, labels, fontsize=7, loc="outside lower center", ncols=3)
    ax.set_title(
        f"Decision threshold on out-of-fold training predictions ({d['rows']:,} rows, {d['positives']:,} positive)",
        fontsize=9,
    )
    return fig


# --------------------------------------------------------------------------- helpers


def _check_inputs(y, oof_proba) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y)
    scores = np.asarray(oof_proba, dtype=float)
    if scores.ndim == 2 and scores.shape[1] == 2:
        scores = scores[:, 1]
    if scores.ndim != 1:
        raise ValueError(
            f"oof_proba must be positive-class probabilities of shape (n,) or (n, 2); got shape {scores.shape}"
        )
    if len(y) != len(scores):
        raise ValueError(f"y and oof_proba differ in length: {len(y)} and {len(scores)}")
    if not np.isfinite(scores).all():
        raise ValueError("oof_proba has missing or infinite values")
    labels = set(pd.unique(y).tolist())
    if not labels <= {0, 1} or len(labels) < 2:
        raise ValueError(f"y must hold both classes coded 0 and 1; got {sorted(labels, key=str)[:5]}")
    return y.astype(int), scores


def _check_cost(cost, *, required: bool) -> dict[str, float] | None:
    if cost is None:
        if required:
            raise ValueError("threshold rule 'cost' needs cost={'fp': ..., 'fn': ...}")
        return None
    if not isinstance(cost, dict) or set(cost) != {"fp", "fn"}:
        raise ValueError(f"cost must be a dict with keys 'fp' and 'fn'; got {cost!r}")
    values = {k: float(cost[k]) for k in ("fp", "fn")}
    if min(values.values()) < 0 or max(values.values()) <= 0 or not all(np.isfinite(list(values.values()))):
        raise ValueError(f"cost values must be finite, non-negative and not both zero; got {cost!r}")
    return values


def _cut_points(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every distinct way to split the OOF rows: ``score >= cut`` for each distinct score, and nobody.

    Returns the cuts and the threshold reported for each (midpoints between neighbours).
    """
    unique = np.unique(scores)
    above = unique[-1] + max(1.0 - unique[-1], 0.0) / 2 if unique[-1] < 1 else np.nextafter(unique[-1], np.inf)
    cuts = np.append(unique, np.nextafter(unique[-1], np.inf))
    reported = np.concatenate([[unique[0]], (unique[:-1] + unique[1:]) / 2, [above]])
    return cuts, reported


def _counts(y: np.ndarray, scores: np.ndarray, thresholds: np.ndarray) -> dict[str, np.ndarray]:
    """True/false positives and negatives when ``score >= t``, for each ``t`` (vectorised)."""
    order = np.sort(scores)
    positives = np.sort(scores[y == 1])
    predicted = len(order) - np.searchsorted(order, thresholds, side="left")
    tp = len(positives) - np.searchsorted(positives, thresholds, side="left")
    fp = predicted - tp
    fn = len(positives) - tp
    tn = len(order) - len(positives) - fp
    return {"tp": tp, "fp": fp, "fn": fn, "tn": tn}


def _f1(c: dict[str, np.ndarray]) -> np.ndarray:
    return np.divide(
        2 * c["tp"],
        2 * c["tp"] + c["fp"] + c["fn"],
        out=np.zeros(len(c["tp"])),
        where=(2 * c["tp"] + c["fp"] + c["fn"]) > 0,
    )


def _cost(c: dict[str, np.ndarray], cost: dict[str, float]) -> np.ndarray:
    rows = c["tp"] + c["fp"] + c["fn"] + c["tn"]
    return (cost["fp"] * c["fp"] + cost["fn"] * c["fn"]) / rows


def _metrics(c: dict[str, np.ndarray], cost: dict[str, float] | None) -> dict[str, np.ndarray]:
    def ratio(a, b):
        return np.divide(a, b, out=np.zeros(len(a)), where=b > 0)

    recall = ratio(c["tp"], c["tp"] + c["fn"])
    out = {
        "precision": ratio(c["tp"], c["tp"] + c["fp"]),
        "recall": recall,
        "f1": _f1(c),
        "balanced_accuracy": (recall + ratio(c["tn"], c["tn"] + c["fp"])) / 2,
    }
    if cost is not None:
        out["cost"] = _cost(c, cost)
    return out


def _at(y, scores, threshold: float, cost) -> dict[str, float]:
    return {k: float(v[0]) for k, v in _metrics(_counts(y, scores, np.array([threshold])), cost).items()}


def _plain(metrics: dict[str, float]) -> dict[str, float | None]:
    return {k: finite(v) for k, v in metrics.items()}
