"""The one registry of metrics: name, task, direction, range, page label and scikit-learn scorer.

Every other list of metric names is derived from :data:`METRIC_REGISTRY`: the test metrics a
task computes (:data:`nblib.ml.evaluation.metrics.METRICS`), the primary metric, the metrics for
which lower is better (:data:`nblib.ml.evaluation.scoring.LOWER_IS_BETTER`, read by gates,
promotion, ``nblib list``/``diff``, pages and tracking), the scorer names pages translate
(``neg_root_mean_squared_error`` is shown as ``rmse``) and the ranges that the params schema
checks ``evaluate.gates`` against. This module imports nothing but the standard library, so
params are validated without importing scikit-learn.

>>> METRIC_REGISTRY["log_loss"].direction, METRIC_REGISTRY["log_loss"].range
('min', (0.0, inf))
>>> test_metrics("regression")
('rmse', 'mae', 'r2')
>>> primary_metric("classification")
'roc_auc'
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "Metric",
    "METRIC_REGISTRY",
    "TASKS",
    "test_metrics",
    "primary_metric",
    "metric_range",
    "lower_names",
    "scorer_names",
]

#: The tasks nblib knows.
TASKS = ("classification", "regression")

_INF = math.inf


@dataclass(frozen=True)
class Metric:
    """One metric.

    Attributes
    ----------
    name : str
        The name pages, gates and ``metrics.json`` use (``rmse``, not scikit-learn's scorer name).
    task : {"classification", "regression"}
    direction : {"max", "min"}
        ``"min"``: a smaller value is better (errors, losses).
    range : tuple of (float, float)
        The values it can take: a gate outside them can never be met (or never missed).
    label : str
        How a page titles it.
    scorer : str or None
        The scikit-learn scorer that computes it (greater is better, so ``neg_…`` for a
        ``"min"`` metric); None when there is none.
    tested : bool
        Computed on the test split (``metrics.json["test"]``), so ``evaluate.gates`` may name it.
        Metrics that only CV scorers and learning curves use (``log_loss``, ``mse``) are not.
    primary : bool
        The task's headline metric.
    """

    name: str
    task: str
    direction: str
    range: tuple[float, float]
    label: str
    scorer: str | None = None
    tested: bool = True
    primary: bool = False

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"metric {self.name}: task must be one of {', '.join(TASKS)}; got {self.task!r}")
        if self.direction not in ("max", "min"):
            raise ValueError(f"metric {self.name}: direction must be 'max' or 'min'; got {self.direction!r}")
        if not self.range[0] < self.range[1]:
            raise ValueError(f"metric {self.name}: range {self.range} is empty")

    @property
    def lower_is_better(self) -> bool:
        """Whether a smaller value is better."""
        return self.direction == "min"


def _registry() -> dict[str, Metric]:
    specs = [
        Metric("roc_auc", "classification", "max", (0.0, 1.0), "ROC-AUC", "roc_auc", primary=True),
        Metric("pr_auc", "classification", "max", (0.0, 1.0), "PR-AUC", "average_precision"),
        Metric("f1", "classification", "max", (0.0, 1.0), "F1", "f1"),
        Metric("balanced_accuracy", "classification", "max", (0.0, 1.0), "balanced accuracy", "balanced_accuracy"),
        Metric("brier", "classification", "min", (0.0, 1.0), "Brier score", "neg_brier_score"),
        Metric("log_loss", "classification", "min", (0.0, _INF), "log loss", "neg_log_loss", tested=False),
        Metric("rmse", "regression", "min", (0.0, _INF), "RMSE", "neg_root_mean_squared_error", primary=True),
        Metric("mae", "regression", "min", (0.0, _INF), "MAE", "neg_mean_absolute_error"),
        Metric("r2", "regression", "max", (-_INF, 1.0), "R²", "r2"),
        Metric("mse", "regression", "min", (0.0, _INF), "MSE", "neg_mean_squared_error", tested=False),
    ]
    return {m.name: m for m in specs}


#: Every metric by name.
METRIC_REGISTRY: dict[str, Metric] = _registry()


def test_metrics(task: str) -> tuple[str, ...]:
    """The metrics the evaluation computes on the test split for ``task`` (what gates may name), in order."""
    return tuple(m.name for m in METRIC_REGISTRY.values() if m.task == task and m.tested)


test_metrics.__test__ = False  # a name pytest would otherwise collect as a test


def primary_metric(task: str) -> str:
    """The headline metric of ``task``."""
    return next(m.name for m in METRIC_REGISTRY.values() if m.task == task and m.primary)


def metric_range(name: str) -> tuple[float, float]:
    """The values metric ``name`` can take; ``(-inf, inf)`` for a name not in the registry."""
    metric = METRIC_REGISTRY.get(name)
    return metric.range if metric else (-_INF, _INF)


def lower_names() -> frozenset[str]:
    """The metrics for which a smaller value is better."""
    return frozenset(m.name for m in METRIC_REGISTRY.values() if m.lower_is_better)


def scorer_names() -> dict[str, str]:
    """``neg_…`` scorer → the metric a page shows (``neg_root_mean_squared_error`` → ``rmse``)."""
    return {m.scorer: m.name for m in METRIC_REGISTRY.values() if m.scorer and m.scorer.startswith("neg_")}
