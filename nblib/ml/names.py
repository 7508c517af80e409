"""Names params may use (metrics, model families), importable without scikit-learn.

The params schema checks names against these lists, so that a params file with a
wrong value is refused in a fraction of a second; the modules that implement the
names (:mod:`nblib.ml.evaluation.metrics`, :mod:`nblib.ml.training.families`) must agree with them, and a
test makes sure they do.
"""

from __future__ import annotations

import math

__all__ = ["DEFAULT_FAMILIES", "FAMILY_NAMES", "METRICS", "METRIC_RANGES"]

#: Test metrics by task (what ``evaluate.gates`` may name).
METRICS = {
    "classification": ("roc_auc", "pr_auc", "f1", "balanced_accuracy", "brier"),
    "regression": ("rmse", "mae", "r2"),
}

#: The values each metric can take: a gate outside them can never be met (or never missed).
METRIC_RANGES = {
    "roc_auc": (0.0, 1.0),
    "pr_auc": (0.0, 1.0),
    "f1": (0.0, 1.0),
    "balanced_accuracy": (0.0, 1.0),
    "brier": (0.0, 1.0),
    "rmse": (0.0, math.inf),
    "mae": (0.0, math.inf),
    "r2": (-math.inf, 1.0),
}

#: What ``train.models`` compares when the params name no models.
DEFAULT_FAMILIES = {
    "classification": ("logistic_regression", "random_forest", "hist_gradient_boosting"),
    "regression": ("ridge", "random_forest", "hist_gradient_boosting"),
}

#: Every model family by task, sorted.
FAMILY_NAMES = {
    "classification": (
        "dummy", "extra_trees", "hist_gradient_boosting", "logistic_regression", "mlp", "random_forest"
    ),
    "regression": ("dummy", "extra_trees", "hist_gradient_boosting", "mlp", "random_forest", "ridge"),
}
