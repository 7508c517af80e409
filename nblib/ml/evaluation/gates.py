"""Gates: the bounds a run's test metrics must meet, and the promotion a run may require.

Light on purpose (the standard library and the metric registry only): the params check and the
tracking layer import it without loading scikit-learn.
"""

from __future__ import annotations

from typing import Any

from nblib.ml.evaluation.scoring import LOWER_IS_BETTER

__all__ = ["GateFailed", "check_gates", "check_promotion"]


class GateFailed(Exception):
    """A test metric missed its gate (the runner exits 3 and marks the run ``gated``)."""


def check_gates(test: dict[str, float], gates: dict[str, float]) -> None:
    """Raise :class:`GateFailed` naming every metric that misses its gate.

    A gate is a minimum for scores and a maximum for errors (:data:`LOWER_IS_BETTER`: rmse, mae, brier).

    >>> check_gates({"roc_auc": 0.8}, {"roc_auc": 0.75})
    >>> check_gates({"rmse": 5.0}, {"rmse": 4.0})
    Traceback (most recent call last):
    ...
    nblib.ml.evaluation.gates.GateFailed: test rmse 5.0000 > gate 4.0000
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


def check_promotion(promotion: dict[str, Any], required: bool) -> None:
    """The ``evaluate.require_promotion`` gate: raise :class:`GateFailed` (exit 3)
    unless this run's model is to become champion."""
    if required and promotion.get("decision") != "promote":
        raise GateFailed(f"evaluate.require_promotion: the model does not become champion: {promotion.get('reason')}")
