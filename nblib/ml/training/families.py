"""Model families: a small registry from a name in params to an estimator.

Each family says whether it accepts sparse input; those that do not get the
dense feature variant (TF-IDF reduced by TruncatedSVD) from
:func:`nblib.ml.features.densify_for`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from sklearn.base import BaseEstimator
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge

from nblib.ml.training.nn import MLPClassifier, MLPRegressor  # imports no torch until fit

__all__ = ["ModelFamily", "FAMILIES", "DEFAULT_FAMILIES", "family_names", "make_model", "check_hyperparameters"]

#: The multilayer perceptron's defaults (both tasks); opt-in through ``train.models``.
_MLP_DEFAULTS = {"hidden_sizes": (64,), "dropout": 0.1, "batch_size": 128, "lr": 1e-3, "max_epochs": 60,
                 "patience": 8, "lr_schedule": "cosine", "weight_decay": 1e-4}

#: What ``train.models`` compares when the params name no models.
DEFAULT_FAMILIES = {
    "classification": ("logistic_regression", "random_forest", "hist_gradient_boosting"),
    "regression": ("ridge", "random_forest", "hist_gradient_boosting"),
}


@dataclass(frozen=True)
class ModelFamily:
    """One model family for one task."""

    name: str
    task: str
    factory: Callable[..., BaseEstimator]
    accepts_sparse: bool
    defaults: dict[str, Any]
    parallel: bool = False


def _families() -> dict[tuple[str, str], ModelFamily]:
    specs = [
        ModelFamily("logistic_regression", "classification", LogisticRegression, True,
                    {"C": 0.3, "max_iter": 2000}),
        ModelFamily("random_forest", "classification", RandomForestClassifier, True,
                    {"n_estimators": 200, "min_samples_leaf": 5, "max_samples": 0.5}, parallel=True),
        ModelFamily("extra_trees", "classification", ExtraTreesClassifier, True,
                    {"n_estimators": 300, "min_samples_leaf": 3}, parallel=True),
        ModelFamily("hist_gradient_boosting", "classification", HistGradientBoostingClassifier, False,
                    {"learning_rate": 0.03, "max_iter": 600, "max_leaf_nodes": 8, "l2_regularization": 1.0,
                     "early_stopping": True}),
        ModelFamily("mlp", "classification", MLPClassifier, False, dict(_MLP_DEFAULTS)),
        ModelFamily("dummy", "classification", DummyClassifier, True, {"strategy": "prior"}),
        ModelFamily("ridge", "regression", Ridge, True, {"alpha": 3.0}),
        # sklearn's regression forests try every feature at each split; with thousands of
        # TF-IDF columns that is ~20x slower for no gain, so sample like the classifiers do
        ModelFamily("random_forest", "regression", RandomForestRegressor, True,
                    {"n_estimators": 200, "min_samples_leaf": 5, "max_samples": 0.5, "max_features": "sqrt"},
                    parallel=True),
        ModelFamily("extra_trees", "regression", ExtraTreesRegressor, True,
                    {"n_estimators": 300, "min_samples_leaf": 3, "max_features": "sqrt"}, parallel=True),
        ModelFamily("hist_gradient_boosting", "regression", HistGradientBoostingRegressor, False,
                    {"learning_rate": 0.05, "max_iter": 400, "max_leaf_nodes": 15, "early_stopping": True}),
        ModelFamily("mlp", "regression", MLPRegressor, False, dict(_MLP_DEFAULTS)),
        ModelFamily("dummy", "regression", DummyRegressor, True, {"strategy": "mean"}),
    ]
    return {(f.name, f.task): f for f in specs}


FAMILIES = _families()


def family_names(task: str) -> list[str]:
    """Names of the model families available for ``task``."""
    return sorted(name for name, t in FAMILIES if t == task)


def make_model(
    name: str,
    task: str,
    params: dict[str, Any] | None = None,
    *,
    random_state: int = 0,
    n_jobs: int | None = None,
    class_weight: str | None = None,
) -> BaseEstimator:
    """Build an unfitted estimator of family ``name`` for ``task``.

    Parameters
    ----------
    name : str
        A family from :func:`family_names`.
    task : {"classification", "regression"}
    params : dict, optional
        Hyperparameters; they override the family defaults.
    random_state : int, default=0
    n_jobs : int, optional
        Passed to families that parallelize internally.
    class_weight : {"balanced"}, optional
        Passed to classifiers that support it.
    """
    try:
        family = FAMILIES[(name, task)]
    except KeyError:
        raise ValueError(
            f"Unknown model family {name!r} for {task}; choose from {family_names(task)}"
        ) from None
    kwargs = {**family.defaults, **(params or {})}
    accepted = family.factory().get_params()
    if "random_state" in accepted:
        kwargs.setdefault("random_state", random_state)
    if family.parallel and n_jobs is not None:
        kwargs.setdefault("n_jobs", n_jobs)
    if class_weight and task == "classification" and "class_weight" in accepted:
        kwargs.setdefault("class_weight", class_weight)
    return family.factory(**kwargs)


def check_hyperparameters(name: str, task: str, params: dict[str, Any]) -> str | None:
    """Why ``params`` cannot configure family ``name``, as ``"key: reason"``; None if they can.

    Unknown names and values outside scikit-learn's declared constraints are
    caught here, before any data is touched.

    >>> check_hyperparameters("random_forest", "classification", {"n_estimator": 5})
    "n_estimator: unknown hyperparameter of RandomForestClassifier (did you mean 'n_estimators'?)"
    """
    import difflib

    from sklearn.utils._param_validation import InvalidParameterError

    family = FAMILIES[(name, task)]
    accepted = family.factory().get_params()
    for key in params:
        if key not in accepted:
            close = difflib.get_close_matches(key, list(accepted), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            return f"{key}: unknown hyperparameter of {family.factory.__name__}{hint}"
    model = make_model(name, task, params)
    try:
        model._validate_params()  # scikit-learn's own declared constraints, checked without fitting
    except InvalidParameterError as exc:
        key = next((k for k in params if f"'{k}'" in str(exc)), "")
        return f"{key}: {exc}" if key else str(exc)
    except AttributeError:  # an estimator without declared constraints
        pass
    return None
